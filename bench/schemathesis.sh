#!/usr/bin/env bash
# Runs schemathesis (from PyPI) against a live `roster serve` on a fresh SQLite data directory, signed in as a
# verified account: every phase (examples, coverage, fuzzing, stateful through the document's links), all checks.
# Seeds what no operation can create for a tester: an invitation token (tokens travel only by email) and a platform
# API key (for POST /v1/authorize); bench/schemathesis.toml hands them to the operations that take them.
# Usage: bench/schemathesis.sh [ROSTER_BINARY] [PORT] [extra st options]   (.ci/run runs it; VENV names the venv)
set -euo pipefail
BIN=${1:-.build/debug/roster}; PORT=${2:-18090}
VENV=${VENV:-/tmp/st-venv}
[ -x "$VENV/bin/st" ] || { python3 -m venv "$VENV" && "$VENV/bin/pip" install -q schemathesis; }
export ROSTER_DATA_DIR=$(mktemp -d /tmp/roster-st.XXXX) ROSTER_PORT=$PORT
API="http://127.0.0.1:$PORT"
for email in st@example.com inviter@example.com; do
  printf 'long enough password\n' | "$BIN" accounts create --email "$email" --name "Schema Tester" >/dev/null 2>&1
done
export ROSTER_ST_KEY=$("$BIN" keys create --name schemathesis 2>/dev/null | grep -o 'rk_[A-Za-z0-9_-]*' | head -1)
"$BIN" serve > "$ROSTER_DATA_DIR/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "$API/healthz" >/dev/null && break; sleep 0.1; done
sign_in() {
  curl -sf -X POST "$API/v1/sessions" -H 'content-type: application/json' -d "{\"email\":\"$1\",\"password\":\"long enough password\"}" \
    | python3 -c 'import sys, json; print(json.load(sys.stdin)["token"])'
}
export ROSTER_ST_TOKEN=$(sign_in st@example.com)
# Another account's organizations invite the tester; the tokens come from the emailed links: one to preview, one to
# accept and one to decline, so that no operation finds its token already used by another.
inviter=$(sign_in inviter@example.com)
for use in PREVIEW ACCEPT DECLINE; do
  curl -sf -X POST "$API/v1/orgs" -H "Authorization: Bearer $inviter" -H 'content-type: application/json' -d "{\"name\":\"$use\",\"slug\":\"$use\"}" >/dev/null
  curl -sf -X POST "$API/v1/orgs/$use/members" -H "Authorization: Bearer $inviter" -H 'content-type: application/json' -d '{"email":"st@example.com"}' >/dev/null
  token=
  for _ in $(seq 100); do
    token=$(grep -rla "$use" "$ROSTER_DATA_DIR/outbox" 2>/dev/null | xargs -r grep -hoa '/i/[A-Za-z0-9_-]*' | head -1 | cut -d/ -f3 || true)
    [ -n "$token" ] && break; sleep 0.1
  done
  [ -n "$token" ] || { echo "seeding the $use invitation failed" >&2; exit 1; }
  export "ROSTER_ST_$use=$token"
done
[ -n "$ROSTER_ST_KEY" ] || { echo "seeding the API key failed" >&2; exit 1; }
# Signing out or deleting the account would end the session the rest of the run uses.
"$VENV/bin/st" --config-file "$(dirname "$0")/schemathesis.toml" run "$API/openapi.json" --checks all \
  --max-examples "${MAX_EXAMPLES:-20}" --workers 1 --seed "${SEED:-1}" \
  --exclude-path /v1/sessions/current --exclude-method DELETE --exclude-path /v1/me "${@:3}"
