#!/usr/bin/env bash
# Times sync imports (issue 15, point 4) of a 100,000-row file into a space over HTTP: the first import, a sync of the
# same file (nothing changes), then a sync of the file without 5,000 of its rows (5,000 invitations revoked).
# Usage: EMAIL=bench@example.com bench/sync.sh http://127.0.0.1:8080 FILE.csv   (as bench/import.sh)
set -euo pipefail
B=${1:-http://127.0.0.1:8080}; FILE=${2:-/tmp/import100k.csv}
EMAIL=${EMAIL:?set EMAIL to a verified account made with roster accounts create}; PASSWORD=${PASSWORD:-long enough password}
S=$(curl -sf -X POST "$B/v1/sessions" -H 'content-type: application/json' -d "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}" | sed -E 's/.*"token":"([^"]+)".*/\1/')
ORG=$(curl -sf -X POST "$B/v1/orgs" -H "Authorization: Bearer $S" -H 'content-type: application/json' -d '{"name":"Sync Bench"}' | sed -E 's/.*"id":"([^"]+)".*/\1/')
SP=$(curl -sf -X POST "$B/v1/orgs/$ORG/spaces" -H "Authorization: Bearer $S" -H 'content-type: application/json' \
  -d '{"name":"Big Course","attributes":[{"key":"timeline","type":"enum","values":["fixed","fomo","stragglers","otot"],"default":"fixed"}]}' | sed -E 's/.*"id":"([^"]+)".*/\1/')
SMALLER=$(mktemp /tmp/sync-smaller.XXXX.csv)
head -n $(( $(wc -l < "$FILE") - 5000 )) "$FILE" > "$SMALLER"
post() {
  curl -s -o "/tmp/sync-$1.json" -w "$1: HTTP %{http_code} in %{time_total} s\n" -X POST "$B/v1/spaces/$SP/imports$2" \
    -H "Authorization: Bearer $S" -H 'content-type: text/csv' -H 'Expect:' --data-binary @"$3"
  python3 -c "import json,sys; r=json.load(open('/tmp/sync-$1.json')); s=r.get('sync') or {}; print('  ', r.get('summary'), {k: len(s[k]) for k in ('removed','revoked','kept') if k in s})" 2>/dev/null || head -c 300 "/tmp/sync-$1.json"
}
post first "" "$FILE"
sleep "${PAUSE:-5}"   # let `roster serve` index the first import's rows for search
post unchanged "?mode=sync" "$FILE"
post minus5000 "?mode=sync" "$SMALLER"
rm -f "$SMALLER"
