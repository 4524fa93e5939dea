#!/usr/bin/env bash
# SCIM creates on PostgreSQL (issue 16), for comparing binaries: for each binary given, a fresh database and server,
# then `wrk -s bench/scim-create.lua` (CONNECTIONS, 8 by default, a new user per request) for SECONDS (15), printing the rate,
# the latency and the server's and PostgreSQL's CPU per create. Alternate old and new:
#   bench/scim-create.sh OLD_BINARY NEW_BINARY OLD_BINARY NEW_BINARY
# DOMAIN_POLICY=verified makes the organization verify the users' domain first (active members, no invitation email).
set -euo pipefail
admin=${PG_ADMIN_URL:-postgres://roster:roster@127.0.0.1:55432/roster?sslmode=disable}
db_url=${admin/\/roster\?/\/roster_scim_create?}
here=$(cd "$(dirname "$0")" && pwd)
port=${PORT:-18481}
B=http://127.0.0.1:$port
cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }
postgres_cpu() { local t=0; for p in $(pgrep -f 'postgres: roster roster_scim_create' || true); do t=$((t + $(cpu_of "$p" 2>/dev/null || echo 0))); done; echo $t; }
run=0
for binary in "$@"; do
  run=$((run + 1))
  label=$binary
  binary=$(realpath "$binary")
  psql "$admin" -qc "DROP DATABASE IF EXISTS roster_scim_create" -c "CREATE DATABASE roster_scim_create"
  data=$(mktemp -d /tmp/roster-scim-create.XXXX)
  export DATABASE_URL=$db_url ROSTER_DATA_DIR=$data ROSTER_PORT=$port ROSTER_OUTBOX_WORKER=off
  printf 'long enough password\n' | "$binary" accounts create --email bench@example.com --name Bench >/dev/null
  "$binary" serve --log notice > "$data/serve.log" 2>&1 &
  server=$!
  for _ in $(seq 100); do curl -sf "$B/healthz" >/dev/null && break; sleep 0.2; done
  S=$(curl -sf -X POST "$B/v1/sessions" -H 'content-type: application/json' -d '{"email":"bench@example.com","password":"long enough password"}' | sed -E 's/.*"token":"([^"]+)".*/\1/')
  ORG=$(curl -sf -X POST "$B/v1/orgs" -H "Authorization: Bearer $S" -H 'content-type: application/json' -d '{"name":"SCIM create"}' | sed -E 's/.*"id":"([^"]+)".*/\1/')
  KEY=$(curl -sf -X POST "$B/v1/orgs/$ORG/api-keys" -H "Authorization: Bearer $S" -H 'content-type: application/json' \
    -d '{"name":"IdP","permissions":["scim"]}' | sed -E 's/.*"key":"([^"]+)".*/\1/')
  domain=run$run.test
  if [ "${DOMAIN_POLICY:-}" = verified ]; then
    psql "$db_url" -qc "INSERT INTO organization_domains (id, org_id, domain, token, policy, verified_at, created_at)
      VALUES (gen_random_uuid(), '$ORG', '$domain', 'bench', 'suggest', now(), now())"
  fi
  # Warm-up (connections, caches), then the measured run.
  ORG=$ORG KEY=$KEY DOMAIN=warm$domain wrk -t 1 -c "${CONNECTIONS:-8}" -d 3s -s "$here/scim-create.lua" "$B" > /dev/null
  before_server=$(cpu_of $server); before_pg=$(postgres_cpu)
  out=$(ORG=$ORG KEY=$KEY DOMAIN=$domain wrk -t 1 -c "${CONNECTIONS:-8}" -d "${SECONDS_RUN:-15}s" --latency -s "$here/scim-create.lua" "$B")
  after_server=$(cpu_of $server); after_pg=$(postgres_cpu)
  created=$(psql "$db_url" -tAc "SELECT count(*) FROM scim_users WHERE user_name LIKE '%@$domain'")
  tick=$(getconf CLK_TCK)
  echo "$label: $(echo "$out" | grep -E 'Requests/sec' | awk '{print $2}') req/s," \
    "p50 $(echo "$out" | awk '/ 50%/{print $2}'), p99 $(echo "$out" | awk '/ 99%/{print $2}'), created $created," \
    "$(echo "$out" | grep -E 'Non-2xx' || echo 'all 201')," \
    "CPU per create: roster $(awk -v a=$before_server -v b=$after_server -v n=$created -v t=$tick 'BEGIN{printf "%.2f", (b-a)/t*1000/n}') ms," \
    "PostgreSQL $(awk -v a=$before_pg -v b=$after_pg -v n=$created -v t=$tick 'BEGIN{printf "%.2f", (b-a)/t*1000/n}') ms"
  kill $server; wait $server 2>/dev/null || true
  rm -rf "$data"
done
