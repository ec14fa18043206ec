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
go vet -tags "dnnl openblas" ./...
# The fast build (-tags "dnnl openblas"): the oneDNN engine against the
# gorgonia engine and PyTorch, OpenBLAS's gradient checks, and a few
# benchmark steps of each engine (no timing asserted), so both stay compiled
# and exercised.
go test -count=1 -tags "dnnl openblas" -run 'OneDNN|Gradients|CrossCheck|TestTrainLearns' ./train/...
go run -tags "dnnl openblas" ./cmd/evoswarm bench train --steps 5 --json --engine onednn
go run -tags "dnnl openblas" ./cmd/evoswarm bench train --steps 5 --json --engine gorgonia
# The GPU build (-tags gpu): compiled against CUDA headers and stub
# libraries from Debian's nvidia-cuda-dev (scripts/cuda-sdk.sh), vetted, and
# its host side run without a GPU (scripts/gpu-build-check.sh).
bash scripts/gpu-build-check.sh
go test -count=1 -timeout 20m "$@" ./...
