#!/usr/bin/env bash
# No-regression check for the fast engine: trains the reference CNN and an
# evolved genome (scripts/bench/genomes/evolved/15m-best.json) on
# Fashion-MNIST for --steps steps with the gorgonia engine (the reference
# implementation) and the oneDNN engine, on --seeds seeds, and prints the
# validation accuracy of each with the mean and standard deviation, and the
# paired difference with its t statistic. Both engines start from the same
# weights and see the same batches; SGD amplifies their float32 rounding
# differences over a few hundred steps, so single seeds differ, but the
# means must agree within the seeds' spread.
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
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "fitness.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bin="$tmp/evoswarm"
go build -tags "dnnl openblas" -o "$bin" ./cmd/evoswarm
"$bin" bench train --steps 0 --genome-out "$tmp/reference.json" > /dev/null
cp scripts/bench/genomes/evolved/15m-best.json "$tmp/evolved.json"
for net in reference evolved; do
  for s in $(seq 1 "$seeds"); do
    for e in gorgonia onednn; do
      echo "$net, seed $s, $e..." >&2
      "$bin" train --data fashion-mnist --genome "$tmp/$net.json" --steps "$steps" --seed "$s" --test=false --engine "$e" --json > "$tmp/$net.$e.$s.json"
    done
  done
done
/usr/bin/python3 - "$tmp" "$seeds" "$steps" <<'PY'
import json, statistics, sys
d, n, steps = sys.argv[1], int(sys.argv[2]), sys.argv[3]
# Two-sided 5% critical values of Student's t.
crit = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26}
for net in ("reference", "evolved"):
    print(f"{net} network, {steps} steps, validation accuracy")
    print(f"{'seed':<6}{'gorgonia':>10}{'oneDNN':>10}{'difference':>12}")
    acc = {"gorgonia": [], "onednn": []}
    for s in range(1, n + 1):
        for e in acc:
            acc[e].append(json.load(open(f"{d}/{net}.{e}.{s}.json"))["val_accuracy"])
        print(f"{s:<6}{acc['gorgonia'][-1]:>10.4f}{acc['onednn'][-1]:>10.4f}{acc['onednn'][-1]-acc['gorgonia'][-1]:>+12.4f}")
    for e, xs in acc.items():
        sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
        print(f"{e:<9} mean {statistics.mean(xs):.4f}  sd {sd:.4f}")
    diff = [o - g for g, o in zip(acc["gorgonia"], acc["onednn"])]
    if len(diff) > 1 and statistics.stdev(diff) > 0:
        df = len(diff) - 1
        t = statistics.mean(diff) / (statistics.stdev(diff) / len(diff) ** 0.5)
        c = crit.get(df, 2.0)
        print(f"paired difference {statistics.mean(diff):+.4f}, t = {t:.2f} with {df} degrees of freedom"
              f" ({'no significant difference' if abs(t) < c else 'SIGNIFICANT'} at 5%: |t| < {c})")
    print()
PY
