#!/usr/bin/env bash
# How long switching a verified domain to `auto` keeps the request waiting, and how many existing accounts it joined
# before answering (the worker, off here, joins the rest). N verified accounts of the domain are written by SQL.
#   bench/domain-backfill.sh ROSTER_BINARY [N=1000] [PG_ADMIN_URL]   (the PostgreSQL of .ci/start-postgres by default)
set -euo pipefail
binary=$(realpath "$1"); n=${2:-1000}
admin=${3:-postgres://roster:roster@127.0.0.1:55432/roster?sslmode=disable}
db_url=${admin/\/roster\?/\/roster_backfill_bench?}
psql "$admin" -qc "DROP DATABASE IF EXISTS roster_backfill_bench" -c "CREATE DATABASE roster_backfill_bench" 2>/dev/null
data=$(mktemp -d /tmp/roster-backfill.XXXX)
port=18481
export DATABASE_URL=$db_url ROSTER_DATA_DIR=$data ROSTER_PORT=$port ROSTER_OUTBOX_WORKER=off
B=http://127.0.0.1:$port
printf 'long enough password\n' | "$binary" accounts create --email owner@acme.test --name Owner >/dev/null 2>&1
"$binary" serve --log notice > "$data/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "$B/healthz" >/dev/null && break; sleep 0.2; done
S=$(curl -sf -X POST "$B/v1/sessions" -H 'content-type: application/json' -d '{"email":"owner@acme.test","password":"long enough password"}' | sed -E 's/.*"token":"([^"]+)".*/\1/')
org=$(curl -sf -X POST "$B/v1/orgs" -H "Authorization: Bearer $S" -H 'content-type: application/json' -d '{"name":"Acme"}' | sed -E 's/.*"id":"([^"]+)".*/\1/')
dom=$(curl -sf -X POST "$B/v1/orgs/$org/domains" -H "Authorization: Bearer $S" -H 'content-type: application/json' -d '{"domain":"acme.test"}' | sed -E 's/.*"id":"([^"]+)".*/\1/')
psql "$db_url" -qc "UPDATE accounts SET email_verified_at = now()" -c "UPDATE organization_domains SET verified_at = now() WHERE id = '$dom'" \
  -c "INSERT INTO accounts (id, email, name, password_hash, email_verified_at, is_platform_admin, created_at) SELECT gen_random_uuid(), 'p' || n || '@acme.test', 'P ' || n, 'x', now(), false, now() FROM generate_series(1, $n) n" 2>&1 | head -3
start=$(date +%s.%N)
curl -s -o /dev/null -w "%{http_code} " -X PATCH "$B/v1/orgs/$org/domains/$dom" -H "Authorization: Bearer $S" -H 'content-type: application/json' -d '{"policy":"auto","role":"member"}'
end=$(date +%s.%N)
echo "PATCH took $(python3 -c "print(round($end-$start,2))") s; members $(psql "$db_url" -tAc "select count(*) from memberships where source='domain'")"
