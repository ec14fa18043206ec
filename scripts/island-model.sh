#!/usr/bin/env bash
# The island model, measured: at equal compute, N connected islands (one
# `evoswarm local --nodes N` swarm exchanging migrants over 127.0.0.1) against
# N isolated islands (N daemons with the loopback config and no bootstrap
# peer, run at the same time so that they share the CPU the same way), on the
# same seeds. Every node has one worker. After each run it reads every node's
# `evoswarm progress --json` and prints the best validation accuracy over
# time (the max over the N nodes of a configuration, at 30 s marks, minutes
# counted from each node's first birth), averaged over the seeds.
#
#   scripts/island-model.sh [--seeds 3] [--minutes 3] [--nodes 4] [--steps 30]
#                           [--population 6] [--bin PATH] [--dir DIR] [--keep]
#
# The experiment is the smoke preset with more training steps per child:
#   {"preset":"smoke","train":{"steps":STEPS},"population":POP,"workers":1,"seed":S}
# Network traffic stays on 127.0.0.1. Needs the Fashion-MNIST data set
# (scripts/deps.sh installs it) and python3.
set -euo pipefail
cd "$(dirname "$0")/.."

seeds=3
minutes=3
nodes=4
steps=30
population=6
bin=""
dir=""
keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --seeds) seeds="$2"; shift 2 ;;
    --minutes) minutes="$2"; shift 2 ;;
    --nodes) nodes="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --population) population="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "island-model.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
for v in "$seeds" "$minutes" "$nodes" "$steps" "$population"; do
  case "$v" in ''|*[!0-9]*) echo "island-model.sh: numeric arguments only" >&2; exit 2 ;; esac
done
if [ "$seeds" -lt 1 ] || [ "$seeds" -gt 20 ] || [ "$minutes" -lt 1 ] || [ "$minutes" -gt 120 ] ||
   [ "$nodes" -lt 1 ] || [ "$nodes" -gt 16 ]; then
  echo "island-model.sh: want 1-20 seeds, 1-120 minutes, 1-16 nodes" >&2; exit 2
fi
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

if [ -z "$bin" ]; then
  # Build this checkout's evoswarm (never a stale binary from an earlier run).
  bin="$(mktemp -d)/evoswarm"
  go build -o "$bin" ./cmd/evoswarm
fi
if [ -z "$dir" ]; then
  dir=$(mktemp -d -t evoswarm-island-XXXX)
fi
mkdir -p "$dir"

# Processes we started, so the trap stops them (and only them).
pids=()
cleanup() {
  local p
  for p in "${pids[@]:-}"; do
    [ -n "$p" ] && kill -INT "$p" 2>/dev/null || true
  done
  for _ in $(seq 1 30); do
    local alive=0
    for p in "${pids[@]:-}"; do
      [ -n "$p" ] && kill -0 "$p" 2>/dev/null && alive=1
    done
    [ "$alive" = 0 ] && break
    sleep 1
  done
  for p in "${pids[@]:-}"; do
    [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true
  done
  if [ "$keep" = 0 ]; then
    rm -rf "$dir"
  else
    echo "repos kept in $dir"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_pids PID... : wait for them to exit, at most 60 s, then kill them.
wait_pids() {
  local p i alive
  for i in $(seq 1 60); do
    alive=0
    for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 1
  done
  for p in "$@"; do
    if kill -0 "$p" 2>/dev/null; then
      echo "  process $p did not stop within 60 s; killing it" >&2
      kill -KILL "$p" 2>/dev/null || true
    fi
    wait "$p" 2>/dev/null || true
  done
}

echo "island model: $nodes connected vs $nodes isolated islands, $seeds seeds, $minutes min each"
echo "experiment: smoke preset, $steps steps per child, population $population per node, 1 worker per node"
echo "repos in $dir"

for s in $(seq 1 "$seeds"); do
  exp="$dir/exp-seed$s.json"
  printf '{"preset":"smoke","train":{"steps":%d},"population":%d,"workers":1,"seed":%d}\n' \
    "$steps" "$population" "$s" > "$exp"

  # Connected: one local swarm of N nodes over 127.0.0.1.
  echo "seed $s: connected ($nodes nodes, evoswarm local) for $minutes min ..."
  cdir="$dir/seed$s/connected"
  mkdir -p "$cdir"
  "$bin" local --nodes "$nodes" --experiment "$exp" --workers 1 --duration "${minutes}m" \
    --every 60s --dir "$cdir" > "$dir/seed$s-connected.log" 2>&1 &
  lp=$!
  pids+=("$lp")
  # `local` stops its nodes itself; bound the wait anyway.
  limit=$(( minutes * 60 + 180 ))
  for _ in $(seq 1 "$limit"); do
    kill -0 "$lp" 2>/dev/null || break
    sleep 1
  done
  if kill -0 "$lp" 2>/dev/null; then
    echo "  evoswarm local overran; interrupting it" >&2
    kill -INT "$lp" 2>/dev/null || true
  fi
  wait_pids "$lp"
  grep -E "^(best individual|node [0-9]+ exited)" "$dir/seed$s-connected.log" | sed 's/^/  /' || true
  tail -6 "$dir/seed$s-connected.log" | grep -E "^[0-9]+ " | sed 's/^/  last table: /' || true

  # Isolated: N daemons, loopback config, no bootstrap, run together.
  echo "seed $s: isolated ($nodes daemons, no peers) for $minutes min ..."
  idir="$dir/seed$s/isolated"
  mkdir -p "$idir"
  ipids=()
  for i in $(seq 0 $((nodes - 1))); do
    "$bin" init --repo "$idir/node-$i" --experiment "$exp" --loopback > /dev/null
  done
  for i in $(seq 0 $((nodes - 1))); do
    "$bin" daemon --repo "$idir/node-$i" --log-level warn > "$idir/node-$i.log" 2>&1 &
    ipids+=("$!")
    pids+=("$!")
  done
  sleep $(( minutes * 60 ))
  for p in "${ipids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  wait_pids "${ipids[@]}"

  for cfg in connected isolated; do
    for i in $(seq 0 $((nodes - 1))); do
      r="$dir/seed$s/$cfg/node-$i"
      if ! "$bin" progress --repo "$r" --json > "$r.progress.json" 2> "$r.progress.err"; then
        echo "  $cfg node $i: progress failed: $(head -c 300 "$r.progress.err")" >&2
        echo '[]' > "$r.progress.json"
      fi
      "$bin" status --repo "$r" --json > "$r.status.json" 2>/dev/null || echo '{}' > "$r.status.json"
    done
  done
done

# The table: best-so-far (max over the nodes of a configuration) at 30 s
# marks, averaged over the seeds; plus per-seed finals and counters.
"$PY" - "$dir" "$seeds" "$nodes" "$minutes" <<'EOF'
import json, os, sys
d, seeds, nodes, minutes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
marks = [m / 2 for m in range(0, 2 * minutes + 1)]
cfgs = ["connected", "isolated"]

def load(p):
    try:
        with open(p) as f:
            return json.load(f)
    except Exception:
        return None

def best_at(points, t):
    b = None
    for p in points or []:
        if p["minutes"] <= t + 1e-9:
            v = p["best_val_accuracy"]
            b = v if b is None else max(b, v)
    return b

curves = {c: [] for c in cfgs}   # per seed: list of best at each mark
info = {c: [] for c in cfgs}     # per seed: (trained, migrants_in, received)
for s in range(1, seeds + 1):
    for c in cfgs:
        per_node = [load(os.path.join(d, f"seed{s}", c, f"node-{i}.progress.json")) or [] for i in range(nodes)]
        row = []
        for t in marks:
            vals = [v for v in (best_at(p, t) for p in per_node) if v is not None]
            row.append(max(vals) if vals else None)
        curves[c].append(row)
        trained = won = 0
        flops = 0.0
        for i in range(nodes):
            st = load(os.path.join(d, f"seed{s}", c, f"node-{i}.status.json")) or {}
            trained += st.get("trained_total", 0) or 0
            won += st.get("migrants_in", 0) or 0
            flops += st.get("flops_total", 0) or 0
        info[c].append((trained, won, flops))

def fmt(v):
    return "   -  " if v is None else f"{100*v:5.1f}%"

print()
print(f"best validation accuracy (max over {nodes} nodes), mean over {seeds} seeds")
print("minutes    " + " ".join(f"{t:6.1f}" for t in marks))
for c in cfgs:
    means = []
    for k in range(len(marks)):
        vs = [row[k] for row in curves[c] if row[k] is not None]
        means.append(sum(vs) / len(vs) if vs else None)
    print(f"{c:<10} " + " ".join(fmt(v) for v in means))
print()
print("per seed, at the end: best (max over nodes); children trained, compute (FLOPs) and immigrants")
print("that won a tournament, summed over the nodes, connected/isolated")
print(f"{'seed':<5} {'connected':>10} {'isolated':>10} {'trained c/i':>13} {'FLOPs c/i':>19} {'immigrants c/i':>15}")
for s in range(seeds):
    c, i = curves["connected"][s][-1], curves["isolated"][s][-1]
    tc, wc, fc = info["connected"][s]
    ti, wi, fi = info["isolated"][s]
    print(f"{s+1:<5} {fmt(c):>10} {fmt(i):>10} {f'{tc}/{ti}':>13} {f'{fc:.3g}/{fi:.3g}':>19} {f'{wc}/{wi}':>15}")
EOF
