#!/usr/bin/env bash
# CI's check of the GPU build on a machine without a GPU or CUDA: builds
# evoswarm and the GPU kernel tests with -tags gpu against the SDK of
# scripts/cuda-sdk.sh (scripts/build-gpu.sh), vets the tagged code, then
# runs what can run without a GPU, with the stub libraries standing in for
# the driver and cuBLAS:
#   - the GPU test binary with EVOSWARM_CUDA_TEST_EMU=1: its host-side code
#     (argument checks, launch configuration, sticky errors, threads) with
#     the emulated kernels in the GPU's place, and the stub driver's
#     refusal reported as an error, not an exit;
#   - evoswarm --device auto: one line, then training on the CPU, both
#     where the driver is missing and where it is a stub;
#   - evoswarm --device cuda: a clear error.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
BUILD_GPU_XZ= BUILD_GPU_TRIMPATH= bash scripts/build-gpu.sh "$dir/bin" >/dev/null
# The SDK's folders (in the user's cache; build-gpu.sh made it if needed).
# The flags are build-gpu.sh's, so that vet reuses the packages it compiled.
sdk=$(bash scripts/cuda-sdk.sh --env)
eval "$sdk"
CGO_CFLAGS="-I$CUDA_SDK_INCLUDE -DEVOSWARM_CUBLAS_MAJOR=13" CGO_LDFLAGS="-L$CUDA_SDK_STUBS" go vet -tags gpu ./train/cuda/ ./cmd/evoswarm/
# No driver at all: the binary starts (the libraries are loaded with
# dlopen, not NEEDED) and auto says why it uses the CPU.
if readelf -d "$dir/bin/evoswarm" | grep -E 'NEEDED.*(libcuda|libcublas)'; then
  echo "gpu-build-check: the binary still needs the CUDA libraries to start" >&2
  exit 1
fi
env -u LD_LIBRARY_PATH "$dir/bin/evoswarm" bench train --device auto --steps 1 --json >/dev/null 2>"$dir/err"
grep -q "libcuda.so.1: cannot open shared object file" "$dir/err" && grep -q "training on the CPU" "$dir/err" || {
  echo "gpu-build-check: without libcuda.so.1, --device auto did not fall back to the CPU:" >&2
  cat "$dir/err" >&2
  exit 1
}
mkdir -p "$dir/lib"
ln -s "$CUDA_SDK_STUBS/libcuda.so" "$dir/lib/libcuda.so.1"
ln -s "$CUDA_SDK_STUBS/libcublas.so" "$dir/lib/libcublas.so.13"
export LD_LIBRARY_PATH="$dir/lib"
EVOSWARM_CUDA_TEST_EMU=1 "$dir/bin/cuda.test" -test.count=1
out=$("$dir/bin/evoswarm" bench train --device auto --steps 2 --json 2>"$dir/err")
grep -q "CUDA_ERROR_STUB_LIBRARY" "$dir/err" && grep -q "training on the CPU" "$dir/err" && [ "$(wc -l <"$dir/err")" -eq 1 ] || {
  echo "gpu-build-check: --device auto did not fall back to the CPU with one line:" >&2
  cat "$dir/err" >&2
  exit 1
}
echo "$out" | grep -q '"steps":2' || { echo "gpu-build-check: no training result: $out" >&2; exit 1; }
if "$dir/bin/evoswarm" bench train --device cuda --steps 1 2>"$dir/err"; then
  echo "gpu-build-check: --device cuda succeeded on a stub driver" >&2
  exit 1
fi
grep -q "did not initialise" "$dir/err" || { cat "$dir/err" >&2; exit 1; }
echo "gpu-build-check: the -tags gpu build compiles, vets, and falls back or refuses cleanly without a GPU"
