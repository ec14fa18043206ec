#!/usr/bin/env bash
# Collect real evolved genomes for the benchmarks: run one cpu-small node
# (one worker, GOMAXPROCS=1) on Fashion-MNIST and, at each checkpoint, save
# the best and the median live individual's genome as
# scripts/bench/genomes/evolved/<minute>m-{best,median}.json, with a line in
# that folder's ORIGIN.md (seed, minute, ID, accuracy, parameters, FLOPs,
# CPU, commit).
#
#   scripts/bench/collect-genomes.sh [--at 5,15,60] [--seed S] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."

at=5,15,60
seed=1
out=scripts/bench/genomes/evolved
while [ $# -gt 0 ]; do
  case "$1" in
    --at) at="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "collect-genomes.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

tmp=$(mktemp -d)
bin="$tmp/evoswarm"
go build -tags "${EVOSWARM_TAGS-dnnl openblas}" -o "$bin" ./cmd/evoswarm
printf '{"preset": "cpu-small", "workers": 1, "train": {"steps": 300}}\n' > "$tmp/exp.json"
"$bin" init --repo "$tmp/repo" --experiment "$tmp/exp.json" --seed "$seed" --loopback > /dev/null
GOMAXPROCS=1 "$bin" daemon --repo "$tmp/repo" --log-level warn > "$tmp/out" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q '^ready' "$tmp/out" && break; sleep 0.2; done
api=$(sed -n 's|^API listening on http://||p' "$tmp/out")
[ -n "$api" ] || { echo "collect-genomes.sh: the daemon did not start:" >&2; cat "$tmp/out" >&2; exit 1; }
mkdir -p "$out"
start=$(date +%s)
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
IFS=, read -ra mins <<< "$at"
for m in "${mins[@]}"; do
  sleep $((start + m * 60 - $(date +%s)))
  curl -sf "http://$api/api/v1/individuals" > "$tmp/inds.json"
  /usr/bin/python3 - "$tmp/inds.json" > "$tmp/pick" <<'PY'
import json, sys
live = [x for x in json.load(open(sys.argv[1])) if x["status"] == "alive"]
live.sort(key=lambda x: -x["val_accuracy"])
print("best", live[0]["id"])
print("median", live[len(live) // 2]["id"])
PY
  while read -r role id; do
    curl -sf "http://$api/api/v1/genome?id=$id" > "$tmp/view.json"
    /usr/bin/python3 - "$tmp/view.json" "$out/${m}m-$role.json" "$out/ORIGIN.md" "$m" "$role" "$seed" "$cpu" "$commit" <<'PY'
import json, sys
view, dst, origin, m, role, seed, cpu, commit = sys.argv[1:]
v = json.load(open(view))
json.dump(v["genome"], open(dst, "w"), indent=1)
open(dst, "a").write("\n")
convs = sum(1 for e in v["genome"]["edges"] if e["type"] == "conv")
with open(origin, "a") as f:
    f.write(f"| {dst.split('/')[-1]} | {seed} | {m} | {role} | {v['id'][:12]} | {v['val_accuracy']:.4f} | {v['params']} | {v['flops']} | {convs} | {cpu} | {commit} |\n")
PY
    echo "collect-genomes: minute $m: $role $id -> $out/${m}m-$role.json"
  done < "$tmp/pick"
done
kill -INT "$pid"; wait "$pid" || true
trap - EXIT
