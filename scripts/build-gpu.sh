#!/usr/bin/env bash
# Builds the CUDA binaries on a machine with or without CUDA:
#
#   scripts/build-gpu.sh [DIR]      # default DIR: .gpu
#
# It makes the build SDK with scripts/cuda-sdk.sh (CUDA headers and stub
# libraries from Debian's nvidia-cuda-dev, cached once per user in
# ~/.cache/evoswarm/cuda-11.8), then builds
#   DIR/evoswarm    the CLI with -tags gpu; it loads libcuda.so.1 and
#                   $CUBLAS_SONAME (default libcublas.so.13) at start when
#                   they are there, and trains on the CPU when not
#   DIR/cuda.test   the GPU kernel tests (train/cuda), for scripts/gpu-check.sh
# and xz-compressed copies of both (DIR/*.xz) for carrying to a GPU machine.
# The default build (no tags) needs none of this.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-.gpu}"
mkdir -p "$dir"
sdk=$(bash scripts/cuda-sdk.sh --env)
eval "$sdk"
soname=${CUBLAS_SONAME:-libcublas.so.13}
export CGO_ENABLED=1
export CGO_CFLAGS="-I$CUDA_SDK_INCLUDE -DEVOSWARM_CUBLAS_MAJOR=${soname##*.so.}${CGO_CFLAGS:+ $CGO_CFLAGS}"
export CGO_LDFLAGS="-L$CUDA_SDK_STUBS${CGO_LDFLAGS:+ $CGO_LDFLAGS}"
# -trimpath for binaries that travel; BUILD_GPU_TRIMPATH= leaves it out, so
# that a check on this machine reuses the packages that go vet and go test
# compiled (-trimpath gives every package another build-cache key).
trim=(-trimpath)
[ -n "${BUILD_GPU_TRIMPATH-1}" ] || trim=()
go build -tags gpu "${trim[@]}" -ldflags "-s -w" -o "$dir/evoswarm" ./cmd/evoswarm
go test -tags gpu "${trim[@]}" -ldflags "-s -w" -c -o "$dir/cuda.test" ./train/cuda/
# The driver and cuBLAS leave the NEEDED list: train/cuda loads them with
# dlopen before the program starts, so the binary also runs (on the CPU)
# where they are missing.
if ! command -v patchelf >/dev/null; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get install -y -qq patchelf >/dev/null
fi
for b in "$dir/evoswarm" "$dir/cuda.test"; do
  patchelf --remove-needed libcuda.so.1 --remove-needed "$soname" "$b"
done
if [ -n "${BUILD_GPU_XZ-1}" ]; then
  xz -T0 -f -k "$dir/evoswarm" "$dir/cuda.test"
fi
ls -l "$dir"
