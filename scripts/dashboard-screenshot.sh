#!/usr/bin/env bash
# dashboard-screenshot.sh OUT.png [SECONDS [REPO]]: starts a smoke daemon on
# a fresh loopback-only repo (or on a copy of REPO, a stopped node's repo),
# lets it evolve SECONDS (default 20), and takes a PNG screenshot of its
# dashboard with headless Chromium. Chromium is
# installed from Debian if missing, and reaches nothing but 127.0.0.1.
set -euo pipefail
out=${1:?usage: $0 OUT.png [SECONDS]}
secs=${2:-20}
cd "$(dirname "$0")/.."
case "$out" in /*) ;; *) out="$OLDPWD/$out" ;; esac

if [ ! -x /usr/bin/chromium ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium > /dev/null
fi

tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2> /dev/null && wait "$pid" 2> /dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

go build -o "$tmp/evoswarm" ./cmd/evoswarm
if [ -n "${3:-}" ]; then
  cp -r "$3" "$tmp/repo"
  rm -f "$tmp/repo/daemon.json"
else
  "$tmp/evoswarm" init --repo "$tmp/repo" --preset smoke --loopback > /dev/null
fi
: > "$tmp/out"
"$tmp/evoswarm" daemon --repo "$tmp/repo" --log-level error > "$tmp/out" &
pid=$!
for _ in $(seq 1 600); do grep -q '^ready$' "$tmp/out" && break; sleep 0.1; done
grep -q '^ready$' "$tmp/out" || { echo "the daemon did not start" >&2; exit 1; }
api=$(sed -n 's|^API listening on http://||p' "$tmp/out")
echo "dashboard at http://$api/ ; evolving for ${secs}s" >&2
sleep "$secs"

/usr/bin/chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync --disable-dev-shm-usage \
  --user-data-dir="$tmp/profile" --host-resolver-rules="MAP * ~NOTFOUND, EXCLUDE 127.0.0.1" \
  --hide-scrollbars --window-size=1400,2400 --virtual-time-budget=8000 \
  --screenshot="$out" "http://$api/" 2> "$tmp/chromium.log" || { cat "$tmp/chromium.log" >&2; exit 1; }
[ -s "$out" ] || { echo "no screenshot was written" >&2; cat "$tmp/chromium.log" >&2; exit 1; }
echo "$out"
