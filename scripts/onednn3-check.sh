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
#
# Default DIR: /var/tmp/evoswarm-trixie. What runs in the chroot is only
# the tests: nothing is installed on this machine but debootstrap.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

dir=/var/tmp/evoswarm-trixie
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir="$2"; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "onednn3-check.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
args=("$@")
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
chroot "$dir" env PATH="$goroot/bin:/usr/bin:/bin" HOME=/root GOMODCACHE="$modcache" GOCACHE=/tmp/gocache \
  GOTOOLCHAIN=local GOPROXY=off \
  bash -c 'cd "$0" && tags=$(bash scripts/fast-tags.sh) && echo "onednn3-check: fast-tags: $tags" &&
    if [[ " $tags " != *" dnnl "* ]]; then echo "onednn3-check: no oneDNN build in the chroot" >&2; exit 1; fi &&
    go vet -tags "$tags" ./train/dnnl/ && go test -count=1 -tags "$tags" "$@"' "$repo" "${args[@]}"
