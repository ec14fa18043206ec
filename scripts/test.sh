#!/usr/bin/env bash
# The test command: install what the tests need, then run every test
# (the GPU ones on the emulated device; scripts/gpu-check.sh runs them on a
# real GPU).
#   scripts/test.sh            # all tests (what CI runs)
#   scripts/test.sh -short     # skip the slow ones
# Extra arguments go to the final `go test`.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
go vet ./...
# The fast build (scripts/fast-tags.sh: -tags "dnnl openblas" where oneDNN
# 2.6 to 3.x is installed, as on Debian 12 and 13 and in CI): the oneDNN engine against
# the gorgonia engine and PyTorch, OpenBLAS's gradient checks, and a few
# benchmark steps of each engine (no timing asserted), so both stay compiled
# and exercised. Elsewhere, what of it the machine can build.
fast=$(bash scripts/fast-tags.sh)
if [[ " $fast " != *" dnnl "* && "${CI:-}" = true ]]; then
  echo "test: CI needs the oneDNN build (libdnnl-dev 2.6 to 3.x); this machine builds -tags \"$fast\"" >&2
  exit 1
fi
if [ -n "$fast" ]; then
  go vet -tags "$fast" ./...
  go test -count=1 -tags "$fast" -run 'OneDNN|Gradients|CrossCheck|TestTrainLearns' ./train/...
  if [[ " $fast " == *" dnnl "* ]]; then
    go run -tags "$fast" ./cmd/evoswarm bench train --steps 5 --json --engine onednn
  fi
  go run -tags "$fast" ./cmd/evoswarm bench train --steps 5 --json --engine gorgonia
fi
# The oneDNN engine against oneDNN 3.x too (Debian 13's 3.7, in a trixie
# chroot: scripts/onednn3-check.sh), in CI, whose machine is Debian 12 with
# 2.6: the two APIs the engine is written for stay built and tested.
if [ "${CI:-}" = true ] && grep -q '^VERSION_CODENAME=bookworm' /etc/os-release 2>/dev/null; then
  bash scripts/onednn3-check.sh -- -run 'OneDNN' ./train/
fi
# The GPU build (-tags gpu): compiled against CUDA headers and stub
# libraries from Debian's nvidia-cuda-dev (scripts/cuda-sdk.sh, which
# deps.sh ran), vetted, and its host side run without a GPU
# (scripts/gpu-build-check.sh). Skipped where that SDK could not be made.
if bash scripts/cuda-sdk.sh --check; then
  bash scripts/gpu-build-check.sh
elif [ "${CI:-}" = true ]; then
  echo "test: CI needs the CUDA build SDK (scripts/cuda-sdk.sh)" >&2
  exit 1
else
  echo "test: no CUDA build SDK (scripts/cuda-sdk.sh): the GPU build check is skipped" >&2
fi
go test -count=1 -timeout 20m "$@" ./...
