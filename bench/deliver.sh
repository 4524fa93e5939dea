#!/usr/bin/env bash
# Times the delivery of every queued invitation email by N `roster worker` processes to an SMTP server.
# Usage: bench/deliver.sh ROSTER_BINARY DATABASE_URL SMTP_PORT [WORKERS]
#   Queue the emails first, e.g. `bench/import.sh` against `ROSTER_OUTBOX_WORKER=off roster serve` on that database
#   (10,000 rows: bench/generate-import.py 10000). The SMTP server: .ci/smtp_sink.py --port SMTP_PORT --dir DIR.
set -euo pipefail
BIN=$1; DB=$2; PORT=$3; WORKERS=${4:-2}
count() { psql "$DB" -Atc "select count(*) from outbox_messages where kind = 'invitation' and status $1"; }
queued=$(count "<> 'sent'")
echo "queued invitations: $queued"
start=$(date +%s.%N)
pids=()
for _ in $(seq "$WORKERS"); do
  DATABASE_URL=$DB ROSTER_MAIL_TRANSPORT=smtp ROSTER_SMTP_HOST=127.0.0.1 ROSTER_SMTP_PORT=$PORT ROSTER_SMTP_SECURITY=none \
    "$BIN" worker --log warning > /dev/null 2>&1 &
  pids+=($!)
done
trap 'kill ${pids[@]} 2>/dev/null || true' EXIT
while [ "$(count "<> 'sent'")" -gt 0 ]; do sleep 0.2; done
end=$(date +%s.%N)
echo "delivered $queued invitations with $WORKERS workers in $(echo "$end - $start" | bc) s"
psql "$DB" -Atc "select status, count(*) from outbox_messages group by 1 order by 1"
