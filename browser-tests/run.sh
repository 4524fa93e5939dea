#!/usr/bin/env bash
# Browser tests: start ROSTER_BINARY serve on a free port with a fresh data dir, run browser-tests/test_web.py
# headless in Debian's Chromium, stop the server on exit. Screenshots go to test-artifacts/ (repo root).
#
#   browser-tests/run.sh .build/debug/roster [extra pytest args]
#
# Needs: chromium + chromium-driver (apt), selenium + pytest in $PYTHON (default: .venv/bin/python if present).
set -euo pipefail

if [ $# -lt 1 ]; then
  echo "usage: $0 ROSTER_BINARY [pytest args...]" >&2
  exit 2
fi
binary=$(realpath "$1")
shift
[ -x "$binary" ] || { echo "not an executable: $binary" >&2; exit 2; }

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$root/.venv/bin/python" ]; then PYTHON="$root/.venv/bin/python"; else PYTHON=python3; fi
fi

artifacts="$root/test-artifacts"
mkdir -p "$artifacts"
rm -f "$artifacts"/*.png "$artifacts"/server.log

data=$(mktemp -d /tmp/roster-browser.XXXXXX)
port=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
base="http://127.0.0.1:$port"
log="$data/server.log"

server=""
cleanup() {
  local status=$?
  if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
    kill "$server" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  cp "$log" "$artifacts/server.log" 2>/dev/null || true
  rm -rf "$data"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Run from the data dir so nothing (e.g. a default ./data) lands in the work tree.
(cd "$data" && exec env ROSTER_DATA_DIR="$data" ROSTER_PORT="$port" ROSTER_HOST=127.0.0.1 ROSTER_BASE_URL="$base" \
   ROSTER_MAIL_TRANSPORT=file "$binary" serve) >"$log" 2>&1 &
server=$!

ready=""
for _ in $(seq 600); do   # up to 60 s (first start migrates)
  if ! kill -0 "$server" 2>/dev/null; then
    echo "roster serve exited before answering /healthz:" >&2
    tail -n 50 "$log" >&2
    exit 1
  fi
  if "$PYTHON" - "$base/healthz" <<'EOF' 2>/dev/null; then ready=1; break; fi
import sys, urllib.request
sys.exit(0 if urllib.request.urlopen(sys.argv[1], timeout=2).status == 200 else 1)
EOF
  sleep 0.1
done
if [ -z "$ready" ]; then
  echo "roster serve did not answer 200 on $base/healthz within 60 s:" >&2
  tail -n 50 "$log" >&2
  exit 1
fi
echo "roster serve on $base (pid $server), data in $data"

set +e
PYTHONDONTWRITEBYTECODE=1 ROSTER_BASE_URL="$base" ROSTER_DATA_DIR="$data" ROSTER_ARTIFACTS="$artifacts" \
  "$PYTHON" -m pytest -p no:cacheprovider --rootdir "$here" -v -rfEs "$here/test_web.py" "$@"
status=$?
set -e
if [ "$status" -ne 0 ]; then
  echo "Browser tests failed (pytest exit $status). Last server log lines:" >&2
  tail -n 40 "$log" >&2
  echo "Screenshots and the full server log: $artifacts/" >&2
fi
exit "$status"
