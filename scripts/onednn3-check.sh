#!/usr/bin/env bash
# Build and test the oneDNN engine against Debian 13's oneDNN 3.x on a
# Debian 12 machine (whose own libdnnl-dev is 2.6): a Debian 13 (trixie)
# chroot made with debootstrap, with libdnnl-dev, libopenblas-dev and gcc;
# this checkout, Go, the module cache and the Fashion-MNIST data set
# bind-mounted into it; then `go test -tags "dnnl openblas" ./train/...`
# there. Needs root and apt's mirror (deb.debian.org); the chroot is kept
# for the next run.
#
#   scripts/onednn3-check.sh [--dir DIR] [-- go test arguments]
#   scripts/onednn3-check.sh [--dir DIR] --bench [--steps N] [--repeat K]
#   scripts/onednn3-check.sh [--dir DIR] --kernels GENOME [--steps N]
#
# --bench compares the two instead of testing: `evoswarm bench train` of the
# fast build against this machine's oneDNN (2.6 on Debian 12) and of the
# same build in the chroot (3.x), one thread, on the reference CNN and the
# evolved genomes (scripts/bench/genomes/evolved), alternating, best of K
# runs each, and prints training and evaluation images/s and the ratios
# 3.x / 2.6. Run it on an otherwise idle machine.
#
# --kernels runs GENOME (a genome JSON file) for N steps (default 100) on
# each build with ONEDNN_VERBOSE=1 and prints, for each, the time oneDNN
# reports per primitive summed over the run (ms, executions, primitive,
# implementation, propagation, shape), largest first: which kernels each
# version picks, and where a difference between them comes from.
#
# Default DIR: /var/tmp/evoswarm-trixie. What runs in the chroot is only
# the tests or the benchmark: nothing is installed on this machine but
# debootstrap.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

dir=/var/tmp/evoswarm-trixie
bench=0
kernels=""
steps=""
repeat=2
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir="$2"; shift 2 ;;
    --bench) bench=1; shift ;;
    --kernels) kernels="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --repeat) repeat="$2"; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
    *) echo "onednn3-check.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
args=("$@")
if [ -n "$kernels" ]; then
  [ -f "$kernels" ] || { echo "onednn3-check.sh: --kernels $kernels: no such genome file" >&2; exit 2; }
  kernels=$(realpath "$kernels")
  case "$kernels" in "$repo"/*) ;; *) echo "onednn3-check.sh: --kernels: the genome must be inside this checkout (the chroot sees only it)" >&2; exit 2 ;; esac
  steps=${steps:-100}
fi
steps=${steps:-300}
[ ${#args[@]} -gt 0 ] || args=(./train/...)

if [ "$(id -u)" != 0 ]; then
  echo "onednn3-check.sh: needs root (debootstrap, chroot, bind mounts)" >&2
  exit 1
fi
goroot=$(go env GOROOT)
modcache=$(go env GOMODCACHE)
data=/usr/share/datasets
go mod download

if [ ! -x "$dir/usr/bin/gcc" ] || [ ! -f "$dir/usr/include/oneapi/dnnl/dnnl.h" ]; then
  command -v debootstrap >/dev/null || { apt-get update -q && apt-get install -y -q debootstrap; }
  mkdir -p "$dir"
  debootstrap --variant=minbase --include=libdnnl-dev,libopenblas-dev,gcc,libc6-dev,ca-certificates \
    trixie "$dir" http://deb.debian.org/debian
fi

mounted=()
cleanup() {
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount "${mounted[$i]}" || true; done
}
trap cleanup EXIT
for src in /proc /dev "$goroot" "$modcache" "$repo" "$data"; do
  [ -e "$src" ] || continue
  mkdir -p "$dir$src"
  if ! mountpoint -q "$dir$src"; then
    mount --bind "$src" "$dir$src"
    mounted+=("$dir$src")
  fi
done

ver=$(chroot "$dir" sh -c "printf '#include <oneapi/dnnl/dnnl_version.h>\nDNNL_VERSION_MAJOR DNNL_VERSION_MINOR DNNL_VERSION_PATCH\n' | gcc -E -P -x c - | tail -n 1" | tr ' ' .)
echo "onednn3-check: oneDNN $ver in $dir, $(chroot "$dir" gcc --version | head -1)"
in_chroot() {
  chroot "$dir" env PATH="$goroot/bin:/usr/bin:/bin" HOME=/root GOMODCACHE="$modcache" GOCACHE=/tmp/gocache \
    GOTOOLCHAIN=local GOPROXY=off "$@"
}

if [ $bench = 1 ] || [ -n "$kernels" ]; then
  tags=$(bash scripts/fast-tags.sh)
  if [[ " $tags " != *" dnnl "* ]]; then
    echo "onednn3-check: this machine has no oneDNN build to compare with" >&2
    exit 1
  fi
  host_ver=$(printf '#include <oneapi/dnnl/dnnl_version.h>\nDNNL_VERSION_MAJOR DNNL_VERSION_MINOR DNNL_VERSION_PATCH\n' | gcc -E -P -x c - | tail -n 1 | tr ' ' .)
  go build -tags "$tags" -o "$dir/tmp/evoswarm-host" ./cmd/evoswarm
  in_chroot bash -c 'cd "$0" && go build -tags "dnnl openblas" -o /tmp/evoswarm-3 ./cmd/evoswarm' "$repo"
  cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
  if [ -n "$kernels" ]; then
    # Sum the exec lines of ONEDNN_VERBOSE (2.x: onednn_verbose,exec,cpu,...;
    # 3.x: onednn_verbose,primitive,exec,cpu,...; the time is the last field).
    agg() {
      awk -F, '/^onednn_verbose/ && /,exec,/ {
        k = 0; for (i = 1; i <= NF; i++) if ($i == "cpu") { k = i; break }
        if (!k) next
        key = $(k+1) " " $(k+2) " " $(k+3) " " $(NF-1); t[key] += $NF; c[key]++; tot += $NF
      } END { for (x in t) printf "%9.1f ms %6d  %s\n", t[x], c[x], x; printf "%9.1f ms total\n", tot }' | sort -rn
    }
    echo "onednn3-check --kernels: $(basename "$kernels"), $steps steps, 1 thread, $cpu, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "== oneDNN $host_ver (this machine)"
    ONEDNN_VERBOSE=1 "$dir/tmp/evoswarm-host" bench train --genome "$kernels" --steps "$steps" --threads 1 2>&1 | agg
    echo "== oneDNN $ver (chroot)"
    in_chroot env ONEDNN_VERBOSE=1 /tmp/evoswarm-3 bench train --genome "$kernels" --steps "$steps" --threads 1 2>&1 | agg
    exit 0
  fi
  echo "onednn3-check --bench: oneDNN $host_ver (this machine) against $ver (chroot), $cpu, $steps steps, 1 thread, best of $repeat, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  printf '%-16s %12s %12s %7s %12s %12s %7s\n' network "train $host_ver" "train $ver" ratio "eval $host_ver" "eval $ver" ratio
  field() { grep -o "\"$1\":[0-9.e+]*" | head -1 | cut -d: -f2; }
  best() { printf '%s\n' "$@" | sort -g | tail -n 1; }
  for g in reference scripts/bench/genomes/evolved/*.json; do
    gen=()
    [ "$g" = reference ] || gen=(--genome "$repo/$g")
    h_tr=() h_ev=() c_tr=() c_ev=()
    for _ in $(seq "$repeat"); do
      out=$("$dir/tmp/evoswarm-host" bench train "${gen[@]}" --steps "$steps" --threads 1 --json)
      h_tr+=("$(field train_images_per_second <<<"$out")") h_ev+=("$(field eval_images_per_second <<<"$out")")
      out=$(in_chroot /tmp/evoswarm-3 bench train "${gen[@]}" --steps "$steps" --threads 1 --json)
      c_tr+=("$(field train_images_per_second <<<"$out")") c_ev+=("$(field eval_images_per_second <<<"$out")")
    done
    ht=$(best "${h_tr[@]}") ct=$(best "${c_tr[@]}") he=$(best "${h_ev[@]}") ce=$(best "${c_ev[@]}")
    printf '%-16s %12.0f %12.0f %7.2f %12.0f %12.0f %7.2f\n' "$(basename "$g" .json)" "$ht" "$ct" "$(echo "$ct / $ht" | bc -l)" \
      "$he" "$ce" "$(echo "$ce / $he" | bc -l)"
  done
  exit 0
fi

in_chroot bash -c 'cd "$0" && tags=$(bash scripts/fast-tags.sh) && echo "onednn3-check: fast-tags: $tags" &&
    if [[ " $tags " != *" dnnl "* ]]; then echo "onednn3-check: no oneDNN build in the chroot" >&2; exit 1; fi &&
    go vet -tags "$tags" ./train/dnnl/ && go test -count=1 -tags "$tags" "$@"' "$repo" "${args[@]}"
