#!/usr/bin/env bash
# Measure evoswarm's training engine against PyTorch on the same networks,
# in one run: batch 50, Fashion-MNIST, at 1 and 2 threads.
#
#   scripts/bench/train.sh [--steps N] [--threads "1 2"] [--genome FILE]
#                          [--reference-only] [--gorgonia] [--repeat K]
#
# Networks: the reference CNN and the evolved genomes of
# scripts/bench/genomes/evolved (taken from real runs; see ORIGIN.md there),
# or one --genome. For each network and thread count it runs
# `evoswarm bench train` of the fast build (-tags "dnnl openblas": the
# oneDNN engine) and scripts/bench/torch_ref.py (PyTorch 1.13, the same
# network built from the same genome JSON), --repeat times each, taking
# the best run of each side, and prints training and evaluation images/s
# and their ratios. --gorgonia adds the gorgonia engine (OpenBLAS) as a third
# column. The ratios are the figure: compare them within one run on an
# otherwise idle machine. Needs libdnnl-dev, libopenblas-dev and
# python3-torch (scripts/deps.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/../.."

steps=300
threads="1 2"
genome=""
evolved=1
gorgonia=0
repeat=1
while [ $# -gt 0 ]; do
  case "$1" in
    --steps) steps="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --genome) genome="$2"; evolved=0; shift 2 ;;
    --reference-only) evolved=0; shift ;;
    --gorgonia) gorgonia=1; shift ;;
    --repeat) repeat="$2"; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "train.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bin="$tmp/evoswarm"
go build -tags "dnnl openblas" -o "$bin" ./cmd/evoswarm

# name|genome file
runs=()
if [ -n "$genome" ]; then
  runs+=("$(basename "$genome" .json)|$genome")
else
  "$bin" bench train --steps 0 --genome-out "$tmp/reference.json" > /dev/null
  runs+=("reference CNN|$tmp/reference.json")
fi
if [ "$evolved" = 1 ]; then
  for f in scripts/bench/genomes/evolved/*.json; do
    runs+=("$(basename "$f" .json)|$f")
  done
fi

i=0
for r in "${runs[@]}"; do
  IFS='|' read -r name file <<< "$r"
  for t in $threads; do
    echo "benchmarking $name at $t thread(s), $steps steps..." >&2
    for k in $(seq "$repeat"); do
      "$bin" bench train --json --steps "$steps" --threads "$t" --engine onednn --genome "$file" > "$tmp/$i.onednn.$k.json"
      /usr/bin/python3 scripts/bench/torch_ref.py --steps "$steps" --threads "$t" --genome "$file" --json > "$tmp/$i.torch.$k.json"
      if [ "$gorgonia" = 1 ]; then
        "$bin" bench train --json --steps "$steps" --threads "$t" --engine gorgonia --genome "$file" > "$tmp/$i.gorgonia.$k.json"
      fi
    done
    echo "$name|$t" > "$tmp/$i.name"
    i=$((i + 1))
  done
done

cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
/usr/bin/python3 - "$tmp" "$i" "$repeat" "$cpu" <<'PY'
import glob, json, sys
d, n, repeat, cpu = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def best(i, eng):
    rs = [json.load(open(f)) for f in sorted(glob.glob(f"{d}/{i}.{eng}.*.json"))]
    if not rs:
        return None
    return {"train": max(r["train_images_per_second"] for r in rs),
            "eval": max(r["eval_images_per_second"] for r in rs),
            "rss": max(r["peak_rss_mib"] for r in rs), "raw": rs[0]}
first = best(0, "onednn")["raw"]
print(f"CPU: {cpu}; oneDNN ISA {first.get('isa', '?')}; batch 50; best of {repeat}; ratios are evoswarm / PyTorch on the same network")
hdr = f"{'network':<16}{'thr':>4}{'evoswarm train':>15}{'torch train':>12}{'ratio':>7}{'evoswarm eval':>15}{'torch eval':>12}{'ratio':>7}{'RSS MiB':>14}"
if glob.glob(f"{d}/0.gorgonia.*.json"):
    hdr += f"{'gorgonia train':>16}{'ratio':>7}"
print(hdr)
worst_t = worst_e = float("inf")
for i in range(n):
    name, t = open(f"{d}/{i}.name").read().strip().split("|")
    o, p, g = best(i, "onednn"), best(i, "torch"), best(i, "gorgonia")
    rt, re = o["train"] / p["train"], o["eval"] / p["eval"]
    if name != "reference CNN":
        worst_t, worst_e = min(worst_t, rt), min(worst_e, re)
    line = (f"{name:<16}{t:>4}{o['train']:>15.0f}{p['train']:>12.0f}{rt:>7.2f}"
            f"{o['eval']:>15.0f}{p['eval']:>12.0f}{re:>7.2f}{o['rss']:>7.0f}/{p['rss']:<6.0f}")
    if g:
        line += f"{g['train']:>16.0f}{g['train'] / p['train']:>7.2f}"
    print(line)
if worst_t != float("inf"):
    print(f"evolved networks: lowest training ratio {worst_t:.2f}x, lowest evaluation ratio {worst_e:.2f}x")
PY
