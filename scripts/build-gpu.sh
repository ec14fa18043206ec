#!/usr/bin/env bash
# Builds the CUDA binaries on a machine with or without CUDA:
#
#   scripts/build-gpu.sh [DIR]      # default DIR: .gpu
#
# It makes the build SDK with scripts/cuda-sdk.sh (CUDA headers and stub
# libraries in .cuda/, from Debian's nvidia-cuda-dev), then builds
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
bash scripts/cuda-sdk.sh >/dev/null
export CGO_ENABLED=1
export CGO_CFLAGS="-I$PWD/.cuda/include ${CGO_CFLAGS:-}"
export CGO_LDFLAGS="-L$PWD/.cuda/stubs ${CGO_LDFLAGS:-}"
soname=${CUBLAS_SONAME:-libcublas.so.13}
export CGO_CFLAGS="$CGO_CFLAGS -DEVOSWARM_CUBLAS_MAJOR=${soname##*.so.}"
go build -tags gpu -trimpath -ldflags "-s -w" -o "$dir/evoswarm" ./cmd/evoswarm
go test -tags gpu -trimpath -ldflags "-s -w" -c -o "$dir/cuda.test" ./train/cuda/
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
