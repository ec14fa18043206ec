#!/usr/bin/env bash
# The test command: install what the tests need, then run every test.
#   scripts/test.sh            # all tests (what CI runs)
#   scripts/test.sh -short     # skip the slow ones
# Extra arguments go to the final `go test`.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
go vet ./...
go vet -tags openblas ./train/... ./cmd/...
# The OpenBLAS fast path: its gradient and PyTorch checks, and a few
# benchmark steps (no timing asserted), so it stays compiled and exercised.
go test -count=1 -tags openblas -run 'Gradients|CrossCheck|TestTrainLearns' ./train/...
go run -tags openblas ./cmd/evoswarm bench train --steps 5 --json
go test -count=1 -timeout 20m "$@" ./...
