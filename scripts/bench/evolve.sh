#!/usr/bin/env bash
# Evolution at full speed, end to end: run one node (cpu-small unless
# --preset says otherwise) on Fashion-MNIST for N minutes and print, every
# minute and at the end, the children trained, children per minute since
# seeding ended, the best validation accuracy and the resident memory
# (anon / file-backed); then the mean split of a child's time into its
# phases (select, mutate, build, train, evaluate, store, emigrate), the
# peak RSS and the CPU model.
#
#   scripts/bench/evolve.sh [--minutes 15] [--seed 1] [--workers 1] [--preset cpu-small] [--tags "dnnl openblas"]
#
# The node has W workers and GOMAXPROCS=W, on 127.0.0.1 only, in a
# temporary repo removed at the end. Compare runs on an otherwise idle
# machine. Builds with --tags, else $TAGS, else $EVOSWARM_TAGS, else the
# fast build "dnnl openblas" (the oneDNN engine); --tags openblas gives the
# gorgonia engine over OpenBLAS, --tags "" the pure-Go build.
set -euo pipefail
cd "$(dirname "$0")/../.."

minutes=15
seed=1
workers=1
preset=cpu-small
tags="${TAGS-${EVOSWARM_TAGS-dnnl openblas}}"
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --workers) workers="$2"; shift 2 ;;
    --preset) preset="$2"; shift 2 ;;
    --tags) tags="$2"; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "evolve.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$minutes$seed$workers" in
  *[!0-9]*) echo "evolve.sh: --minutes, --seed and --workers take whole numbers" >&2; exit 2 ;;
esac
[ "$minutes" -ge 1 ] && [ "$workers" -ge 1 ] || { echo "evolve.sh: --minutes and --workers must be at least 1" >&2; exit 2; }

tmp=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -INT "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bin="$tmp/evoswarm"
go build -tags "$tags" -o "$bin" ./cmd/evoswarm
printf '{"preset": "%s", "workers": %d}\n' "$preset" "$workers" > "$tmp/exp.json"
"$bin" init --repo "$tmp/repo" --experiment "$tmp/exp.json" --seed "$seed" --loopback > /dev/null
GOMAXPROCS="$workers" "$bin" daemon --repo "$tmp/repo" --log-level warn > "$tmp/out" 2>&1 &
pid=$!
for _ in $(seq 300); do grep -q '^ready' "$tmp/out" && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
api=$(sed -n 's|^API listening on http://||p' "$tmp/out")
if [ -z "$api" ] || ! grep -q '^ready' "$tmp/out"; then
  echo "evolve.sh: the daemon did not start:" >&2
  cat "$tmp/out" >&2
  exit 1
fi
start=$(date +%s)
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "evolve: $preset, $workers worker(s), GOMAXPROCS=$workers, seed $seed, tags '${tags}', $minutes min; commit $commit; $cpu"
echo "evolve: dashboard and API at http://$api/ (profile: go tool pprof http://$api/debug/pprof/profile)"

# sample MINUTE: one row of the table from the API; the rows accumulate in
# $tmp/rows for the summary.
sample() {
  curl -sf -m 20 "http://$api/api/v1/status" > "$tmp/status.json" &&
    curl -sf -m 60 "http://$api/api/v1/individuals" > "$tmp/inds.json" || {
    echo "evolve.sh: the API did not answer at minute $1" >&2
    return 1
  }
  /usr/bin/python3 - "$1" "$tmp/status.json" "$tmp/inds.json" >> "$tmp/rows" <<'PY'
import datetime, json, sys
minute, st, inds = sys.argv[1], json.load(open(sys.argv[2])), json.load(open(sys.argv[3])) or []
def t(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
local = [i for i in inds if i["birth_seq"] > 0 and not i["immigrant"]]
children = [i for i in local if i.get("parent")]
now = datetime.datetime.now(datetime.timezone.utc)
# Seeding ends when the first child starts training (its birth time).
rate = "-"
if children:
    since = (now - min(t(c["born"]) for c in children)).total_seconds() / 60
    if since > 0:
        rate = f"{len(children) / since:.2f}"
best = st.get("best") or {}
acc = f"{best['val_accuracy']:.4f}" if best else "-"
print(f"{minute}\t{st['trained_total']}\t{len(children)}\t{rate}\t{acc}")
PY
  # Resident memory: anon (the Go heap, C allocations) / file (the
  # binary's pages, Badger's memory-mapped tables and value log), MiB.
  rss=$(awk '/^RssAnon:/ {a=$2} /^RssFile:/ {f=$2} END {printf "%.0f/%.0f", a/1024, f/1024}' "/proc/$pid/status" 2>/dev/null || echo "?")
  tail -1 "$tmp/rows" | awk -F'\t' -v r="$rss" '{printf "%6s %8s %9s %11s %9s %15s\n", $1, $2, $3, $4, $5, r}'
}

printf '%6s %8s %9s %11s %9s %15s\n' minute trained children child/min best_val rss_anon/file
: > "$tmp/rows"
for m in $(seq "$minutes"); do
  wait_s=$((start + m * 60 - $(date +%s)))
  if [ "$wait_s" -gt 0 ]; then
    sleep "$wait_s" & wait $! # in the background, so that a signal ends the run at once
  fi
  kill -0 "$pid" 2>/dev/null || { echo "evolve.sh: the daemon stopped:" >&2; tail -20 "$tmp/out" >&2; exit 1; }
  sample "$m"
done

# The summary: the best accuracy at the issue's checkpoints, children per
# minute, where a child's time went, and the node's peak RSS.
hwm=$(sed -n 's/^VmHWM: *//p' "/proc/$pid/status" 2>/dev/null || echo "?")
/usr/bin/python3 - "$tmp/rows" "$tmp/status.json" "$minutes" "$cpu" "$hwm" <<'PY'
import json, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
st, minutes, cpu, hwm = json.load(open(sys.argv[2])), int(sys.argv[3]), sys.argv[4], sys.argv[5]
at = {int(r[0]): r for r in rows}
marks = [m for m in (1, 2, 5, 10, 15, 30, 60) if m <= minutes]
if minutes not in marks:
    marks.append(minutes)
print()
print("best validation accuracy:", ", ".join(f"{m} min {at[m][4]}" for m in marks if m in at))
print("trained / best:          ", ", ".join(f"{m} min {at[m][1]} / {at[m][4]}" for m in marks if m in at))
last = rows[-1]
print(f"children per minute since seeding ended: {last[3]} ({last[2]} children, {last[1]} trained in {minutes} min)")
cp = st.get("child_phases") or {}
n = cp.get("children") or 0
if n:
    total = cp["seconds"]
    print(f"mean child: {total / n:.3f} s over {n} children")
    print(f"{'phase':>9} {'s/child':>9} {'share':>7}")
    for p in cp["phases"]:
        print(f"{p['phase']:>9} {p['seconds'] / n:9.4f} {100 * p['seconds'] / total:6.1f}%")
    outside = sum(p["seconds"] for p in cp["phases"] if p["phase"] not in ("train", "evaluate"))
    print(f"outside train+evaluate: {outside / n:.4f} s/child ({100 * outside / total:.1f}%)")
print("engine:", st.get("engine") or "?", "; peak RSS of the node:", hwm)
print("CPU:", cpu)
PY
