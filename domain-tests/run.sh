#!/usr/bin/env bash
# Domain verification against a real DNS server: dnslib (PyPI) answers TXT queries on a local UDP port, and a live
# `roster serve` (ROSTER_DNS_SERVER pointing at it) verifies, re-checks and loses domains through it.
#
#   domain-tests/run.sh .build/debug/roster [extra pytest args]
#
# Needs dnslib + pytest in $PYTHON (default: .venv/bin/python if present).
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
ROSTER_BINARY=$binary "$PYTHON" -m pytest -q -s "$here/test_domains.py" "$@"
