#!/usr/bin/env bash
# The main job: a swarm of evoswarm nodes on this machine evolving image
# classifiers on Fashion-MNIST. Installs what it needs (scripts/deps.sh:
# the data set from Debian, oneDNN, OpenBLAS), builds evoswarm's fast build
# (-tags "dnnl openblas": training on oneDNN), and runs
# `evoswarm local`: N daemons over 127.0.0.1 exchanging migrants over libp2p.
# Prints a status table every 30 s and, at the end, the best individual and
# its lineage.
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

bash scripts/deps.sh
mkdir -p bin
go build -tags "dnnl openblas" -o bin/evoswarm ./cmd/evoswarm
if [ -z "$dir" ]; then
  dir=$(mktemp -d -t evoswarm-swarm-XXXX)
fi
# Each node trains with one worker: the nodes share this machine's cores.
bin/evoswarm local --nodes "$nodes" --preset "$preset" --workers 1 --duration "${minutes}m" --dir "$dir"
best=""
for repo in "$dir"/node-*; do
  acc=$(bin/evoswarm status --repo "$repo" --json | /usr/bin/python3 -c 'import json,sys; s=json.load(sys.stdin); print((s["best"] or {}).get("val_accuracy", 0))')
  if [ -z "$best" ] || /usr/bin/python3 -c "import sys; sys.exit(0 if $acc > $best_acc else 1)"; then
    best="$repo"; best_acc="$acc"
  fi
done
echo
# Diversity at the end: each node's best individual, the initial individual
# its lineage starts from, and where any two of those lineages meet (the
# latest common ancestor, in steps back from each best). Islands that
# became one population share a recent ancestor, or the same best.
/usr/bin/python3 - "$dir" <<'PY' || true
import glob, json, os, subprocess, sys
chains = {}
for repo in sorted(glob.glob(os.path.join(sys.argv[1], "node-*"))):
    out = subprocess.run(["bin/evoswarm", "lineage", "--repo", repo, "--json"], capture_output=True, text=True)
    chains[os.path.basename(repo)] = json.loads(out.stdout) if out.returncode == 0 and out.stdout.strip() else []
print("each node's best at the end, and the lineage it descends from:")
for name, c in chains.items():
    if not c:
        print("  %s: no lineage" % name)
        continue
    b, r = c[-1], c[0]
    print("  %s: best %s val %.4f, %d steps from initial individual %s of node ...%s"
          % (name, b["id"][:12], b.get("val_accuracy", 0), len(c) - 1, r["id"][:12], r.get("node", "?")[-6:]))
names = [n for n in chains if chains[n]]
for i, a in enumerate(names):
    for b in names[i + 1:]:
        ia = [x["id"] for x in chains[a]]
        ib = {x["id"]: k for k, x in enumerate(chains[b])}
        common = [k for k, x in enumerate(ia) if x in ib]
        if not common:
            print("  %s and %s: separate lineages (no common ancestor)" % (a, b))
        else:
            k = common[-1]
            print("  %s and %s: latest common ancestor %s, %d and %d steps back"
                  % (a, b, ia[k][:12], len(ia) - 1 - k, len(chains[b]) - 1 - ib[ia[k]]))
PY
echo
echo "best node: $best"
bin/evoswarm lineage --repo "$best"
echo "repos kept in $dir (inspect with: bin/evoswarm status --repo $dir/node-0)"
