#!/usr/bin/env bash
# Times a 100,000-row import into an empty space over HTTP, then the same file again (all unchanged).
# Usage: bench/import.sh http://127.0.0.1:8080 FILE.csv   (server started with `roster serve --log notice`)
# Organizations are created by people with a verified address: make one first, with the server's data directory or
# DATABASE_URL, e.g.  printf 'long enough password\n' | roster accounts create --email bench@example.com --name Bench
# and pass EMAIL=bench@example.com (PASSWORD defaults to the one above).
set -euo pipefail
B=${1:-http://127.0.0.1:8080}; FILE=${2:-/tmp/import100k.csv}
EMAIL=${EMAIL:?set EMAIL to a verified account made with roster accounts create}; PASSWORD=${PASSWORD:-long enough password}
S=$(curl -sf -X POST "$B/v1/sessions" -H 'content-type: application/json' -d "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}" | sed -E 's/.*"token":"([^"]+)".*/\1/')
ORG=$(curl -sf -X POST "$B/v1/orgs" -H "Authorization: Bearer $S" -H 'content-type: application/json' -d '{"name":"Bench University"}' | sed -E 's/.*"id":"([^"]+)".*/\1/')
SP=$(curl -sf -X POST "$B/v1/orgs/$ORG/spaces" -H "Authorization: Bearer $S" -H 'content-type: application/json' \
  -d '{"name":"Big Course","attributes":[{"key":"timeline","type":"enum","values":["fixed","fomo","stragglers","otot"],"default":"fixed"}]}' | sed -E 's/.*"id":"([^"]+)".*/\1/')
for run in first again; do
  # Before the re-import, let `roster serve` index the first import's rows for search (about 2 s in the background).
  [ "$run" = again ] && sleep "${PAUSE:-5}"
  curl -s -o "/tmp/import-$run.json" -w "$run: HTTP %{http_code} in %{time_total} s\n" -X POST "$B/v1/spaces/$SP/imports" \
    -H "Authorization: Bearer $S" -H 'content-type: text/csv' -H 'Expect:' --data-binary @"$FILE"
  grep -o '"summary":{[^}]*}' "/tmp/import-$run.json"
done
