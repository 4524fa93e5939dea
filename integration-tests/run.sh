#!/usr/bin/env bash
# Against a live `roster serve`: domain verification through a real DNS server (dnslib from PyPI answers TXT queries
# on a local UDP port that ROSTER_DNS_SERVER points at), and the SCIM server checked by scim2-tester (PyPI), an
# independent compliance checker.
#
#   integration-tests/run.sh .build/debug/roster [extra pytest args]
#
# Needs dnslib, scim2-tester[httpx2] and pytest in $PYTHON (default: .venv/bin/python if present).
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
ROSTER_BINARY=$binary "$PYTHON" -m pytest -q -s "$here" "$@"
