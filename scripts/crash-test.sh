#!/usr/bin/env bash
# Crash drill: start a daemon, kill it with SIGKILL at a random moment, check
# the store, restart; --kills times (default 20). After every kill, every
# individual the daemon had reported must be present exactly once and
# `evoswarm verify` (records, indexes, counters, history) must pass.
#
#   scripts/crash-test.sh [--kills N] [--preset NAME]
set -euo pipefail
cd "$(dirname "$0")/.."

kills=20
preset=smoke
while [ $# -gt 0 ]; do
  case "$1" in
    --kills) kills="$2"; shift 2 ;;
    --preset) preset="$2"; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "crash-test.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

tmp=$(mktemp -d)
trap 'kill -9 "${pid:-0}" 2>/dev/null || true; rm -rf "$tmp"' EXIT
go build -o "$tmp/evoswarm" ./cmd/evoswarm
ev="$tmp/evoswarm"
repo="$tmp/repo"
"$ev" init --repo "$repo" --preset "$preset" --loopback > /dev/null
: > "$tmp/seen"
for i in $(seq 1 "$kills"); do
  "$ev" daemon --repo "$repo" --log-level error > "$tmp/out" &
  pid=$!
  for _ in $(seq 1 600); do grep -q '^ready$' "$tmp/out" && break; sleep 0.1; done
  grep -q '^ready$' "$tmp/out" || { echo "round $i: daemon did not start"; exit 1; }
  api=$(sed -n 's|^API listening on http://||p' "$tmp/out")
  sleep "$(awk -v s="$RANDOM" 'BEGIN { srand(s); printf "%.2f", 0.2 + rand() * 2.5 }')"
  curl -sf "http://$api/api/v1/individuals" | /usr/bin/python3 -c 'import json,sys; [print(x["id"]) for x in json.load(sys.stdin)]' >> "$tmp/seen" || true
  kill -9 "$pid"
  wait "$pid" 2>/dev/null || true
  "$ev" verify --repo "$repo" --json > "$tmp/verify.json" || { echo "round $i: verify failed:"; cat "$tmp/verify.json"; exit 1; }
  /usr/bin/python3 - "$tmp/seen" "$tmp/verify.json" "$i" <<'PY'
import json, sys, collections
seen = set(open(sys.argv[1]).read().split())
v = json.load(open(sys.argv[2]))
have = collections.Counter(v["ids"])
lost = [s for s in seen if have[s] == 0]
dup = [s for s, n in have.items() if n > 1]
print(f"round {sys.argv[3]}: {len(seen)} reported so far, store holds {len(have)} "
      f"({v['alive']} alive, {v['dead']} dead, {v['training']} training), lost {len(lost)}, duplicated {len(dup)}")
sys.exit(1 if lost or dup or not v["ok"] else 0)
PY
done
echo "crash drill passed: $kills kills"
