#!/usr/bin/env bash
# One node evolving classifiers on Fashion-MNIST with the cpu-small preset:
# runs a daemon for --minutes (default 20), stops it, and prints the best
# validation accuracy against time.
#
#   scripts/evolve-single.sh [--minutes M] [--repo DIR] [--preset NAME] [--seed S]
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=20
repo=""
preset=cpu-small
seed=1
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes="$2"; shift 2 ;;
    --repo) repo="$2"; shift 2 ;;
    --preset) preset="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "evolve-single.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

bin=$(mktemp -d)/evoswarm
go build -tags "$(bash scripts/fast-tags.sh)" -o "$bin" ./cmd/evoswarm
if [ -z "$repo" ]; then
  repo=$(mktemp -d)/repo
fi
"$bin" init --repo "$repo" --preset "$preset" --seed "$seed" --loopback
"$bin" daemon --repo "$repo" --log-level warn &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
sleep "$((minutes * 60))"
kill -INT "$pid"
wait "$pid" || true
trap - EXIT
echo
"$bin" status --repo "$repo"
echo
"$bin" progress --repo "$repo"
echo
echo "lineage of the best:"
"$bin" lineage --repo "$repo"
