#!/usr/bin/env bash
# SCIM throughput on PostgreSQL (issue 16): creating 10,000 users one request at a time with 8 concurrent clients,
# then a `userName eq` filter at 100,000 provisioned members (8 connections, wrk --latency).
#   bench/scim.sh ROSTER_BINARY [PG_ADMIN_URL]    (the PostgreSQL of .ci/start-postgres by default)
# A fresh database roster_scim_bench is made for the run; the server runs with --log notice.
set -euo pipefail
binary=$(realpath "$1")
admin=${2:-postgres://roster:roster@127.0.0.1:55432/roster?sslmode=disable}
db_url=${admin/\/roster\?/\/roster_scim_bench?}
psql "$admin" -qc "DROP DATABASE IF EXISTS roster_scim_bench" -c "CREATE DATABASE roster_scim_bench"
data=$(mktemp -d /tmp/roster-scim-bench.XXXX)
port=${PORT:-18480}
export DATABASE_URL=$db_url ROSTER_DATA_DIR=$data ROSTER_PORT=$port
B=http://127.0.0.1:$port
printf 'long enough password\n' | "$binary" accounts create --email bench@example.com --name Bench >/dev/null
"$binary" serve --log notice > "$data/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "$B/healthz" >/dev/null && break; sleep 0.2; done
S=$(curl -sf -X POST "$B/v1/sessions" -H 'content-type: application/json' -d '{"email":"bench@example.com","password":"long enough password"}' | sed -E 's/.*"token":"([^"]+)".*/\1/')
new_org() {
  local org key
  org=$(curl -sf -X POST "$B/v1/orgs" -H "Authorization: Bearer $S" -H 'content-type: application/json' -d "{\"name\":\"$1\"}" | sed -E 's/.*"id":"([^"]+)".*/\1/')
  key=$(curl -sf -X POST "$B/v1/orgs/$org/api-keys" -H "Authorization: Bearer $S" -H 'content-type: application/json' \
    -d '{"name":"IdP","permissions":["scim"]}' | sed -E 's/.*"key":"([^"]+)".*/\1/')
  echo "$org $key"
}
here=$(cd "$(dirname "$0")" && pwd)

# 1. Creating users: invitations (the organization has not verified bench.test).
read -r ORG KEY < <(new_org "SCIM create")
python3 "$here/scim-create.py" "$B" "$ORG" "$KEY" "${USERS:-10000}" 8

# 2. The filter at 100,000 members: the file imported, each member made a SCIM user as provisioning would have.
read -r ORG KEY < <(new_org "SCIM filter")
members=$data/members.csv
python3 -c "print('email,name,external_id'); [print(f'student{n}@example.edu,Student {n},S{n}') for n in range(100000)]" > "$members"
curl -sf -o /dev/null -X POST "$B/v1/orgs/$ORG/imports" -H "Authorization: Bearer $S" -H 'content-type: text/csv' -H 'Expect:' \
  --data-binary @"$members"
psql "$db_url" -qc "INSERT INTO scim_users (id, org_id, user_name, external_id, membership_id, created_at, updated_at)
  SELECT gen_random_uuid(), org_id, email, external_id, id, now(), now() FROM memberships WHERE scope_id = '$ORG' AND source = 'invitation'" \
  -c "ANALYZE scim_users"
echo "SCIM users in the filter organization: $(psql "$db_url" -tAc "SELECT count(*) FROM scim_users WHERE org_id = '$ORG'")"
# The steady state at 100,000 members: the server's search index caught up with the import (its backlog, worked off
# in the background) and the tables vacuumed and analyzed as autovacuum would after the load. FILTER_AT_ONCE=1
# measures right after the import instead, with both still running.
if [ -z "${FILTER_AT_ONCE:-}" ]; then
  for _ in $(seq 600); do [ "$(psql "$db_url" -tAc "SELECT count(*) FROM search_backlog")" = 0 ] && break; sleep 0.5; done
  psql "$db_url" -qc "VACUUM ANALYZE memberships" -c "VACUUM ANALYZE memberships_search" -c "VACUUM ANALYZE scim_users"
fi
# FILTER_CONNECTIONS="1 8" measures each number of connections in turn (8 by default).
for connections in ${FILTER_CONNECTIONS:-8}; do
  ORG=$ORG KEY=$KEY wrk -t $((connections < 2 ? 1 : 2)) -c "$connections" -d "${SECONDS_FILTER:-15}s" --latency -s "$here/scim-filter.lua" "$B" | sed -n '1,20p'
done
