#!/usr/bin/env bash
# Measure evoswarm's training engine against PyTorch on the same networks, in
# one run: batch 50, 2 threads, Fashion-MNIST.
#
#   scripts/bench/train.sh [--steps N] [--extra-steps N] [--genome FILE | --reference-only]
#
# Builds evoswarm twice (pure-Go BLAS and OpenBLAS) and, for the reference CNN
# and the evolved-looking genomes in scripts/bench/genomes (deep and narrow,
# wide, skips of mismatched shapes), runs `evoswarm bench train` with each
# build and scripts/bench/torch_ref.py, then prints images/s for training and
# evaluation, the ratios to PyTorch, and peak RSS. The ratios are the figure:
# compare them within one run on an otherwise idle machine. Needs
# libopenblas-dev and python3-torch (scripts/deps.sh installs both).
set -euo pipefail
cd "$(dirname "$0")/../.."

steps=200
extra_steps=60
genome=""
extras=1
while [ $# -gt 0 ]; do
  case "$1" in
    --steps) steps="$2"; shift 2 ;;
    --extra-steps) extra_steps="$2"; shift 2 ;;
    --genome) genome="$2"; extras=0; shift 2 ;;
    --reference-only) extras=0; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "train.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/evoswarm-gonum" ./cmd/evoswarm
go build -tags openblas -o "$tmp/evoswarm-openblas" ./cmd/evoswarm

# name|genome file|steps
runs=()
if [ -n "$genome" ]; then
  runs+=("$(basename "$genome" .json)|$genome|$steps")
else
  "$tmp/evoswarm-gonum" bench train --steps 0 --genome-out "$tmp/reference.json" > /dev/null
  runs+=("reference CNN|$tmp/reference.json|$steps")
fi
if [ "$extras" = 1 ]; then
  for f in scripts/bench/genomes/*.json; do
    runs+=("$(basename "$f" .json)|$f|$extra_steps")
  done
fi

i=0
for r in "${runs[@]}"; do
  IFS='|' read -r name file n <<< "$r"
  echo "benchmarking $name ($n steps): gorgonia pure Go, gorgonia OpenBLAS, PyTorch..." >&2
  "$tmp/evoswarm-gonum" bench train --json --steps "$n" --genome "$file" > "$tmp/$i.gonum.json"
  "$tmp/evoswarm-openblas" bench train --json --steps "$n" --genome "$file" > "$tmp/$i.openblas.json"
  /usr/bin/python3 scripts/bench/torch_ref.py --steps "$n" --threads 2 --genome "$file" --json > "$tmp/$i.torch.json"
  echo "$name" > "$tmp/$i.name"
  i=$((i + 1))
done

/usr/bin/python3 - "$tmp" "$i" <<'PY'
import json, sys
d, n = sys.argv[1], int(sys.argv[2])
print(f"batch 50, 2 threads; ratios are evoswarm / PyTorch on the same network")
print(f"{'network':<14}{'engine':<20}{'train img/s':>12}{'eval img/s':>12}{'train ratio':>13}{'eval/train':>12}{'peak RSS MiB':>14}")
for i in range(n):
    name = open(f"{d}/{i}.name").read().strip()
    g = json.load(open(f"{d}/{i}.gonum.json"))
    o = json.load(open(f"{d}/{i}.openblas.json"))
    t = json.load(open(f"{d}/{i}.torch.json"))
    for eng, r in (("gorgonia, gonum", g), ("gorgonia, OpenBLAS", o), ("PyTorch " + t.get("torch", ""), t)):
        print(f"{name:<14}{eng:<20}{r['train_images_per_second']:>12.1f}{r['eval_images_per_second']:>12.1f}"
              f"{r['train_images_per_second']/t['train_images_per_second']:>13.3f}"
              f"{r['eval_images_per_second']/r['train_images_per_second']:>12.2f}{r['peak_rss_mib']:>14.1f}")
        name = ""
PY
