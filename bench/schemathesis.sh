#!/usr/bin/env bash
# Runs schemathesis (from PyPI) against a live `roster serve` on a fresh SQLite data directory, signed in as a
# verified account: every phase (examples, coverage, fuzzing, stateful through the document's links), all checks.
# Usage: bench/schemathesis.sh [ROSTER_BINARY] [PORT]      (.ci/run runs it; VENV names the venv to use)
set -euo pipefail
BIN=${1:-.build/debug/roster}; PORT=${2:-18090}
VENV=${VENV:-/tmp/st-venv}
[ -x "$VENV/bin/st" ] || { python3 -m venv "$VENV" && "$VENV/bin/pip" install -q schemathesis; }
export ROSTER_DATA_DIR=$(mktemp -d /tmp/roster-st.XXXX) ROSTER_PORT=$PORT
printf 'long enough password\n' | "$BIN" accounts create --email st@example.com --name "Schema Tester" >/dev/null 2>&1
"$BIN" serve > "$ROSTER_DATA_DIR/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
TOKEN=$(curl -sf -X POST "http://127.0.0.1:$PORT/v1/sessions" -H 'content-type: application/json' \
  -d '{"email":"st@example.com","password":"long enough password"}' | python3 -c 'import sys, json; print(json.load(sys.stdin)["token"])')
# Signing out or deleting the account would end the session the rest of the run uses.
"$VENV/bin/st" --config-file "$(dirname "$0")/schemathesis.toml" run "http://127.0.0.1:$PORT/openapi.json" --header "Authorization: Bearer $TOKEN" --checks all \
  --max-examples "${MAX_EXAMPLES:-20}" --workers 1 --seed "${SEED:-1}" \
  --exclude-path /v1/sessions/current --exclude-method DELETE --exclude-path /v1/me
