#!/usr/bin/env bash
# The main job: a swarm of evoswarm nodes on this machine evolving image
# classifiers on Fashion-MNIST. Installs what it needs (scripts/deps.sh
# --main: the data set from Debian, a C compiler, oneDNN, OpenBLAS), builds
# the fastest build this machine supports (scripts/fast-tags.sh: -tags "dnnl
# openblas", training on oneDNN, where oneDNN 2.6 to 3.x is installed), and runs
# `evoswarm local`: N daemons over 127.0.0.1 exchanging migrants over libp2p.
# Prints a status table every 30 s and, at the end, the best individual,
# each node's best and where their lineages meet, and the best's lineage.
#
#   scripts/local-swarm.sh [--nodes N] [--minutes M] [--preset NAME] [--dir DIR]
set -euo pipefail
cd "$(dirname "$0")/.."

nodes=3
minutes=20
preset=cpu-small
dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) nodes="$2"; shift 2 ;;
    --minutes) minutes="$2"; shift 2 ;;
    --preset) preset="$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "local-swarm.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

bash scripts/deps.sh --main
mkdir -p bin
tags=$(bash scripts/fast-tags.sh)
echo "local-swarm: building with -tags \"$tags\""
go build -tags "$tags" -o bin/evoswarm ./cmd/evoswarm
if [ -z "$dir" ]; then
  dir=$(mktemp -d -t evoswarm-swarm-XXXX)
fi
# Each node trains with one worker: the nodes share this machine's cores.
bin/evoswarm local --nodes "$nodes" --preset "$preset" --workers 1 --duration "${minutes}m" --dir "$dir"
echo "repos kept in $dir (inspect with: bin/evoswarm status --repo $dir/node-0)"
