#!/usr/bin/env bash
# Replay real children on two builds: for each genome (default: the random
# sample of real children in scripts/bench/genomes/sample), `evoswarm bench
# train --genome G --steps N --threads 1` on the old build and then on the
# new one, and the time a cpu-small child of that genome takes on each:
# 1,000 training steps of 50 images and 6,000 validation images, from the
# measured rates. Prints each genome's two times and their ratio, then the
# totals over the sample, the geometric mean of the ratios and how many
# moved by more than 5% either way. Run it on an otherwise idle machine.
#
#   scripts/bench/replay.sh --old BIN [--new BIN] [--steps 300] [GENOME.json ...]
#
# --old and --new are evoswarm binaries (--new: the fast build of this
# checkout, built now). To get an old build: git worktree add /tmp/old REV
# && (cd /tmp/old && go build -tags "$(scripts/fast-tags.sh)" -o /tmp/evoswarm-old ./cmd/evoswarm).
set -euo pipefail
cd "$(dirname "$0")/../.."

old="" new="" steps=300
while [ $# -gt 0 ]; do
  case "$1" in
    --old) old="$2"; shift 2 ;;
    --new) new="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    --*) echo "replay.sh: unknown argument $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
[ -n "$old" ] && [ -x "$old" ] || { echo "replay.sh: --old BIN: an evoswarm binary to compare against" >&2; exit 2; }
genomes=("$@")
[ ${#genomes[@]} -gt 0 ] || genomes=(scripts/bench/genomes/sample/*.json)
if [ -z "$new" ]; then
  new=$(mktemp -d)/evoswarm
  go build -tags "$(bash scripts/fast-tags.sh)" -o "$new" ./cmd/evoswarm
fi
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
echo "replay: ${#genomes[@]} genomes, $steps steps, 1 thread; old $old, new $new; $cpu"
rows=$(mktemp)
for g in "${genomes[@]}"; do
  for side in old new; do
    bin=$old
    [ "$side" = new ] && bin=$new
    "$bin" bench train --genome "$g" --steps "$steps" --threads 1 --json 2>/dev/null |
      python3 -c 'import json, sys; d = json.load(sys.stdin); print(sys.argv[1], sys.argv[2], d["train_images_per_second"], d["eval_images_per_second"])' "$(basename "$g")" "$side" >> "$rows"
  done
done
python3 - "$rows" <<'PY'
import collections, math, sys
rate = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    g, side, tr, ev = line.split()
    rate[g][side] = 1000 * 50 / float(tr) + 6000 / float(ev)
print(f"{'genome':>12} {'old s':>8} {'new s':>8} {'old/new':>8}")
ratios = []
for g in sorted(rate):
    o, n = rate[g]["old"], rate[g]["new"]
    ratios.append(o / n)
    print(f"{g:>12} {o:8.3f} {n:8.3f} {o / n:8.2f}")
to, tn = sum(r["old"] for r in rate.values()), sum(r["new"] for r in rate.values())
gm = math.exp(sum(map(math.log, ratios)) / len(ratios))
print(f"total child time: old {to:.1f} s, new {tn:.1f} s: {to / tn:.3f}x; geometric mean of the ratios {gm:.3f}; "
      f"{sum(r > 1.05 for r in ratios)} faster and {sum(r < 1 / 1.05 for r in ratios)} slower by more than 5%")
PY
rm -f "$rows"
