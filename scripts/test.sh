#!/usr/bin/env bash
# The test command: install what the tests need, then run every test.
#   scripts/test.sh            # all tests (what CI runs)
#   scripts/test.sh -short     # skip the slow ones
# Extra arguments go to `go test`.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
go vet ./...
go test -count=1 -timeout 20m "$@" ./...
