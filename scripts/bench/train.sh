#!/usr/bin/env bash
# Measure evoswarm's training engine against PyTorch on the same network, in
# one run: the reference CNN, Fashion-MNIST, batch 50, 2 threads.
#
#   scripts/bench/train.sh [--steps N] [--genome FILE]
#
# Builds evoswarm twice (pure-Go BLAS and OpenBLAS), runs `evoswarm bench
# train` with each and scripts/bench/torch_ref.py, and prints images/s,
# the ratios to PyTorch, and peak RSS. Needs libopenblas-dev and
# python3-torch (scripts/deps.sh installs both).
set -euo pipefail
cd "$(dirname "$0")/../.."

steps=200
genome=""
while [ $# -gt 0 ]; do
  case "$1" in
    --steps) steps="$2"; shift 2 ;;
    --genome) genome="$2"; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "train.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/evoswarm-gonum" ./cmd/evoswarm
go build -tags openblas -o "$tmp/evoswarm-openblas" ./cmd/evoswarm

gargs=(--steps "$steps")
if [ -n "$genome" ]; then
  gargs+=(--genome "$genome")
  cp "$genome" "$tmp/genome.json"
else
  gargs+=(--genome-out "$tmp/genome.json")
fi

echo "benchmarking gorgonia (pure-Go BLAS)..." >&2
"$tmp/evoswarm-gonum" bench train --json "${gargs[@]}" > "$tmp/gonum.json"
echo "benchmarking gorgonia (OpenBLAS)..." >&2
"$tmp/evoswarm-openblas" bench train --json "${gargs[@]}" > "$tmp/openblas.json"
echo "benchmarking PyTorch..." >&2
/usr/bin/python3 scripts/bench/torch_ref.py --steps "$steps" --threads 2 --genome "$tmp/genome.json" --json > "$tmp/torch.json"

/usr/bin/python3 - "$tmp" <<'PY'
import json, sys
d = sys.argv[1]
g = json.load(open(f"{d}/gonum.json"))
o = json.load(open(f"{d}/openblas.json"))
t = json.load(open(f"{d}/torch.json"))
print(f"network: genome {g['genome']}, {g['steps']} steps, batch 50, 2 threads")
print(f"{'engine':<28}{'train img/s':>12}{'eval img/s':>12}{'train ratio':>13}{'eval/train':>12}{'peak RSS MiB':>14}")
for name, r in (("evoswarm gorgonia, gonum", g), ("evoswarm gorgonia, OpenBLAS", o)):
    print(f"{name:<28}{r['train_images_per_second']:>12.1f}{r['eval_images_per_second']:>12.1f}"
          f"{r['train_images_per_second']/t['train_images_per_second']:>13.3f}"
          f"{r['eval_images_per_second']/r['train_images_per_second']:>12.2f}{r['peak_rss_mib']:>14.1f}")
print(f"{'PyTorch ' + t.get('torch', ''):<28}{t['train_images_per_second']:>12.1f}{t['eval_images_per_second']:>12.1f}"
      f"{1.0:>13.3f}{t['eval_images_per_second']/t['train_images_per_second']:>12.2f}{t['peak_rss_mib']:>14.1f}")
PY
