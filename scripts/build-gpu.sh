#!/usr/bin/env bash
# Builds the CUDA binaries on a machine with or without CUDA:
#
#   scripts/build-gpu.sh [DIR]      # default DIR: .gpu
#
# It makes the build SDK with scripts/cuda-sdk.sh (CUDA headers and stub
# libraries in .cuda/, from Debian's nvidia-cuda-dev), then builds
#   DIR/evoswarm    the CLI with -tags gpu (links libcuda.so.1 and
#                   $CUBLAS_SONAME, default libcublas.so.13)
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
go build -tags gpu -trimpath -ldflags "-s -w" -o "$dir/evoswarm" ./cmd/evoswarm
go test -tags gpu -trimpath -ldflags "-s -w" -c -o "$dir/cuda.test" ./train/cuda/
if [ -n "${BUILD_GPU_XZ-1}" ]; then
  xz -T0 -f -k "$dir/evoswarm" "$dir/cuda.test"
fi
ls -l "$dir"
