#!/usr/bin/env bash
# Time one convolution (forward, backward data, backward weights) and the
# batch norm after it in each activation layout oneDNN offers, on one
# thread: the measurement behind the engine's choice of blocked layouts
# (docs/performance.md, "What channel blocks cost"). Needs libdnnl-dev 2.x
# and a C compiler.
#
#   scripts/bench/conv-layouts.sh IC OC KH KW [H W] [--batch B] [--iters N]
#                                 [--layouts "b16 nhwc"] [--repeat K]
#
# e.g. scripts/bench/conv-layouts.sh 35 35 3 3 28 28: a stride-1 convolution
# of 35 to 35 channels, 3x3, at 28x28, batch 50 (the preset's).
set -euo pipefail
cd "$(dirname "$0")"

batch=50 iters=40 layouts="b16 nhwc" repeat=2
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --batch) batch="$2"; shift 2 ;;
    --iters) iters="$2"; shift 2 ;;
    --layouts) layouts="$2"; shift 2 ;;
    --repeat) repeat="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) args+=("$1"); shift ;;
  esac
done
if [ "${#args[@]}" -ne 4 ] && [ "${#args[@]}" -ne 6 ]; then
  echo "conv-layouts.sh: want IC OC KH KW [H W]; see --help" >&2
  exit 2
fi
h="${args[4]:-28}" w="${args[5]:-28}"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -O2 -Wall -o "$tmp/conv-layouts" conv-layouts.c -ldnnl
echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'); one thread; ms per call, each of $repeat runs of $iters calls"
for lay in $layouts; do
  for ((r = 0; r < repeat; r++)); do
    OMP_NUM_THREADS=1 "$tmp/conv-layouts" "$lay" "${args[0]}" "${args[1]}" "${args[2]}" "${args[3]}" "$h" "$w" "$batch" "$iters"
  done
done
