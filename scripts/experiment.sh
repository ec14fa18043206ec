#!/usr/bin/env bash
# Run an experiment plan with this checkout's fast build: K seeds x several
# configurations at equal compute, progress curves, a plot and two-sided
# tests (see docs/experiments.md, "Running an experiment").
#
#   scripts/experiment.sh --plan scripts/plans/inheritance.json --out DIR [--cores N] [--dry-run]
#
# Every argument goes to `evoswarm experiment`. Builds with $EVOSWARM_TAGS
# (default: scripts/fast-tags.sh's, "dnnl openblas" where oneDNN 2.6-3.x is
# installed; "" for the pure-Go build).
# Run it on an otherwise idle machine: the runs share its cores. Network
# traffic stays on 127.0.0.1. Needs the Fashion-MNIST data set
# (scripts/deps.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1-}" in
  ""|-h|--help) sed -n '2,12p' "$0"; exit 0 ;;
esac
bin="$(mktemp -d)/evoswarm"
trap 'rm -rf "$(dirname "$bin")"' EXIT
tags=$(bash scripts/fast-tags.sh)
# Stamp the commit into the binary, so that each run.json records the build
# that ran it, even under GOFLAGS=-buildvcs=false; not where git cannot read
# the checkout (none, or another user's), which would fail the build.
vcs=false
git status --porcelain >/dev/null 2>&1 && vcs=auto
go build -buildvcs=$vcs -tags "$tags" -o "$bin" ./cmd/evoswarm
echo "experiment: commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), tags '$tags', $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
"$bin" experiment "$@"
