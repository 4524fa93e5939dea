#!/usr/bin/env bash
# Webhook deliveries checked by a real receiver with the standardwebhooks library (PyPI):
#
#   webhook-tests/run.sh .build/debug/roster [extra pytest args]
#
# Needs standardwebhooks + pytest in $PYTHON (default: .venv/bin/python if present). With ROSTER_TEST_POSTGRES_URL
# set, two `roster worker`s on PostgreSQL deliver an import's events (ROSTER_WEBHOOK_EVENTS of them, default 300).
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: $0 ROSTER_BINARY [pytest args...]" >&2
  exit 2
fi
binary=$(realpath "$1")
shift
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$root/.venv/bin/python" ]; then PYTHON="$root/.venv/bin/python"; else PYTHON=python3; fi
fi
ROSTER_BINARY=$binary "$PYTHON" -m pytest -q -s "$here/test_webhooks.py" "$@"
