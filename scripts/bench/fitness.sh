#!/usr/bin/env bash
# No-regression check for the fast path: trains the reference CNN on
# Fashion-MNIST for --steps steps with the pure-Go BLAS build (the reference
# implementation) and the OpenBLAS build, on --seeds seeds, and prints the
# validation accuracy of each with the mean and standard deviation, and the
# paired difference. The two builds run the same kernels except for the
# matrix products; SGD amplifies their float32 rounding differences over a
# few hundred steps, so single seeds differ, but the means must agree within
# the seeds' spread.
#
#   scripts/bench/fitness.sh [--steps 300] [--seeds 3]
set -euo pipefail
cd "$(dirname "$0")/../.."

steps=300
seeds=3
while [ $# -gt 0 ]; do
  case "$1" in
    --steps) steps="$2"; shift 2 ;;
    --seeds) seeds="$2"; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "fitness.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/gonum" ./cmd/evoswarm
go build -tags openblas -o "$tmp/openblas" ./cmd/evoswarm
"$tmp/gonum" bench train --steps 0 --genome-out "$tmp/reference.json" > /dev/null
for s in $(seq 1 "$seeds"); do
  for b in gonum openblas; do
    echo "seed $s, $b..." >&2
    "$tmp/$b" train --data fashion-mnist --genome "$tmp/reference.json" --steps "$steps" --seed "$s" --test=false --json > "$tmp/$b.$s.json"
  done
done
/usr/bin/python3 - "$tmp" "$seeds" "$steps" <<'PY'
import json, statistics, sys
d, n, steps = sys.argv[1], int(sys.argv[2]), sys.argv[3]
print(f"reference CNN, {steps} steps, validation accuracy")
print(f"{'seed':<6}{'gonum':>10}{'OpenBLAS':>10}{'difference':>12}")
acc = {"gonum": [], "openblas": []}
for s in range(1, n + 1):
    for b in acc:
        acc[b].append(json.load(open(f"{d}/{b}.{s}.json"))["val_accuracy"])
    print(f"{s:<6}{acc['gonum'][-1]:>10.4f}{acc['openblas'][-1]:>10.4f}{acc['openblas'][-1]-acc['gonum'][-1]:>+12.4f}")
for b, xs in acc.items():
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    print(f"{b:<8} mean {statistics.mean(xs):.4f}  sd {sd:.4f}")
diff = [o - g for g, o in zip(acc["gonum"], acc["openblas"])]
if len(diff) > 1 and statistics.stdev(diff) > 0:
    t = statistics.mean(diff) / (statistics.stdev(diff) / len(diff) ** 0.5)
    print(f"paired difference {statistics.mean(diff):+.4f}, t = {t:.2f} with {len(diff) - 1} degrees of freedom"
          f" ({'no significant difference' if abs(t) < 4.30 else 'SIGNIFICANT'} at 5% for 2 d.f.: |t| < 4.30)")
PY
