#!/usr/bin/env bash
# A child in a running node against the same training done standalone:
# runs one cpu-small node (one worker, GOMAXPROCS=1) on Fashion-MNIST for
# N minutes, takes every child's whole wall time from its log (select,
# mutate, build, train, evaluate, store, emigrate), stops the node, then
# trains K of those children's genomes with `evoswarm train` (the same
# steps, batch and validation split, one thread) and prints, per genome and
# overall, the ratio of the child's time in the node to the standalone
# training's (build + steps + evaluation). The target is at most 1.15.
#
#   scripts/bench/child.sh [--minutes 5] [--sample 12] [--seed 1] [--tags "dnnl openblas"]
#
# The node and the standalone runs never overlap. Run it on an idle
# machine: both sides are timed.
set -euo pipefail
cd "$(dirname "$0")/../.."

minutes=5
sample=12
seed=1
tags="${TAGS-${EVOSWARM_TAGS-dnnl openblas}}"
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes="$2"; shift 2 ;;
    --sample) sample="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --tags) tags="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "child.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$minutes$sample$seed" in
  *[!0-9]*) echo "child.sh: --minutes, --sample and --seed take whole numbers" >&2; exit 2 ;;
esac
[ "$minutes" -ge 1 ] && [ "$sample" -ge 1 ] || { echo "child.sh: --minutes and --sample must be at least 1" >&2; exit 2; }

tmp=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -INT "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bin="$tmp/evoswarm"
go build -tags "$tags" -o "$bin" ./cmd/evoswarm
printf '{"preset": "cpu-small", "workers": 1, "train": {"steps": 300}}\n' > "$tmp/exp.json"
"$bin" init --repo "$tmp/repo" --experiment "$tmp/exp.json" --seed "$seed" --loopback > /dev/null
GOMAXPROCS=1 "$bin" daemon --repo "$tmp/repo" --log-level debug > "$tmp/out" 2>&1 &
pid=$!
for _ in $(seq 300); do grep -q '^ready' "$tmp/out" && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
api=$(sed -n 's|^API listening on http://||p' "$tmp/out")
if [ -z "$api" ] || ! grep -q '^ready' "$tmp/out"; then
  echo "child.sh: the daemon did not start:" >&2
  cat "$tmp/out" >&2
  exit 1
fi
engine=$(curl -sf "http://$api/api/v1/status" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin).get("engine", "?"))')
echo "child.sh: one cpu-small node, engine $engine, for $minutes minutes..." >&2
sleep $((minutes * 60))

# The children timed so far; K of them spread over the run, and their
# genomes, fetched while the node still serves its API.
/usr/bin/python3 - "$tmp/out" "$sample" > "$tmp/pick" <<'PY'
import re, sys
rows = []
for line in open(sys.argv[1]):
    if 'msg="child timed"' not in line:
        continue
    kv = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', line))
    rows.append((kv["id"], float(kv["seconds"]), float(kv["train_seconds"]), float(kv["evaluate_seconds"])))
k = int(sys.argv[2])
if not rows:
    sys.exit("child.sh: no child was timed")
step = max(1, len(rows) // k)
for r in rows[::step][:k]:
    print(*r)
print(f"# {len(rows)} children timed", file=sys.stderr)
PY
n=0
while read -r id secs tr ev; do
  n=$((n + 1))
  curl -sf "http://$api/api/v1/genome?id=$id" | /usr/bin/python3 -c 'import json,sys; json.dump(json.load(sys.stdin)["genome"], open(sys.argv[1], "w"))' "$tmp/g$n.json"
  echo "$n $id $secs $tr $ev" >> "$tmp/children"
done < "$tmp/pick"
kill -INT "$pid"
wait "$pid" 2>/dev/null || true
pid=""

# The same genomes trained standalone, one after another.
while read -r n id secs tr ev; do
  GOMAXPROCS=1 "$bin" train --data fashion-mnist --genome "$tmp/g$n.json" --steps 300 --test=false --json > "$tmp/r$n.json" 2>/dev/null
done < "$tmp/children"

cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
/usr/bin/python3 - "$tmp" "$cpu" "$engine" <<'PY'
import json, statistics, sys
d, cpu, engine = sys.argv[1:]
print(f"CPU {cpu}; engine {engine}; one worker, GOMAXPROCS=1; 300 steps of batch 50")
print(f"{'child':<14}{'MFLOPs':>8}{'in node s':>11}{'standalone s':>14}{'ratio':>8}{'train':>8}{'eval':>8}")
ratios = []
for line in open(f"{d}/children"):
    n, cid, secs, tr, ev = line.split()
    secs, tr, ev = float(secs), float(tr), float(ev)
    r = json.load(open(f"{d}/r{n}.json"))
    g = json.load(open(f"{d}/g{n}.json"))
    alone = r["build_seconds"] + r["seconds"] + r["eval_seconds"]
    ratios.append(secs / alone)
    mf = r["train_flops"] / (3 * 300 * 50) / 1e6
    print(f"{cid[:12]:<14}{mf:>8.2f}{secs:>11.2f}{alone:>14.2f}{secs / alone:>8.2f}{tr / r['seconds']:>8.2f}{ev / r['eval_seconds']:>8.2f}")
print(f"ratio of a child's time in the node to standalone training: median {statistics.median(ratios):.2f}, "
      f"mean {statistics.mean(ratios):.2f}, max {max(ratios):.2f} over {len(ratios)} children (target at most 1.15)")
PY
