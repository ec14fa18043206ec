#!/usr/bin/env bash
# Scale soak of the gossip layer (not run in CI): N evoswarm daemons on
# 127.0.0.1 with tiny training settings (the smoke preset), started with
# `evoswarm local` (bootstrapped to the first node, DHT discovery over
# loopback only), run for the given minutes, then a report:
#
#   - migrant delivery ratio: announcements accepted by the nodes / expected,
#     expected = each node's published announcements x (N-1); target >= 99%;
#   - p50 / p90 / p99 / max propagation delay (publish time to accept time at
#     the receivers, from the nodes' merged histograms; bucket upper bounds,
#     about 9% wide);
#   - RSS (now and peak) and CPU per node, from /proc, and PSS: RSS with
#     the pages the nodes share (the binary's) split between them, what
#     each node costs the machine.
#
# Counts and delays are taken over a measurement window that opens after a
# warm-up (all nodes started and connected) and closes at the end, as the
# difference of two snapshots of every node's GET /api/v1/status ("gossip"
# field): migrants in flight at either edge of the window make the ratio off
# by a few announcements at most.
#
#   scripts/swarm-soak.sh [--nodes 16] [--minutes 10] [--warmup-seconds 30]
#                         [--migrate-every 10] [--migrate-interval 10] [--dir DIR]
#
# Nothing leaves 127.0.0.1. Every wait is bounded; `evoswarm local` stops
# (and, after 30 s, kills) its daemons, and a timeout bounds the whole run.
set -euo pipefail
cd "$(dirname "$0")/.."

nodes=16
minutes=10
warmup=30
every=10
interval=10
dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) nodes="$2"; shift 2 ;;
    --minutes) minutes="$2"; shift 2 ;;
    --warmup-seconds) warmup="$2"; shift 2 ;;
    --migrate-every) every="$2"; shift 2 ;;
    --migrate-interval) interval="$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "swarm-soak.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$nodes$minutes$warmup" in *[!0-9.]*) echo "swarm-soak.sh: --nodes, --minutes and --warmup-seconds are numbers" >&2; exit 2 ;; esac
if [ "$nodes" -lt 2 ] || [ "$nodes" -gt 64 ]; then
  echo "swarm-soak.sh: --nodes $nodes: want 2 to 64" >&2; exit 2
fi
window=$(/usr/bin/python3 -c "print(max(1, round($minutes * 60)))")

if [ ! -d /usr/share/datasets/fashion-mnist ] && [ -z "${EVOSWARM_DATA:-}" ]; then
  bash scripts/deps.sh
fi
if [ -z "$dir" ]; then
  dir=$(mktemp -d -t evoswarm-soak-XXXX)
fi
mkdir -p "$dir"
bin="$dir/evoswarm"
echo "building evoswarm into $bin" >&2
go build -o "$bin" ./cmd/evoswarm
cat > "$dir/experiment.json" <<JSON
{"preset": "smoke", "migration": {"every_reproductions": $every, "interval_seconds": $interval}}
JSON

# The swarm runs for warm-up + window + a margin; we stop it ourselves at
# the end of the window. The outer timeout also covers the nodes' start
# (up to 2 minutes each, in practice seconds) and the 30 s clean stop.
run_s=$((warmup + window + 120))
timeout --signal=INT --kill-after=60 $((run_s + 120 + nodes * 10)) \
  "$bin" local --nodes "$nodes" --experiment "$dir/experiment.json" --workers 1 \
  --duration "${run_s}s" --every 24h --dir "$dir/repos" > "$dir/local.log" 2>&1 &
local_pid=$!
stop_local() {
  if kill -0 "$local_pid" 2>/dev/null; then
    kill -INT "$local_pid" 2>/dev/null || true
    for _ in $(seq 1 90); do kill -0 "$local_pid" 2>/dev/null || break; sleep 1; done
    kill -0 "$local_pid" 2>/dev/null && kill -KILL "$local_pid" 2>/dev/null || true
  fi
}
trap stop_local EXIT

echo "starting $nodes nodes (log: $dir/local.log)" >&2
for _ in $(seq 1 $((120 + nodes * 10))); do
  if grep -q "^node $((nodes - 1)): " "$dir/local.log" 2>/dev/null; then break; fi
  if ! kill -0 "$local_pid" 2>/dev/null; then echo "evoswarm local exited:" >&2; cat "$dir/local.log" >&2; exit 1; fi
  sleep 1
done
if ! grep -q "^node $((nodes - 1)): " "$dir/local.log"; then
  echo "the nodes did not all start in time" >&2; cat "$dir/local.log" >&2; exit 1
fi

snapshot() { # snapshot OUT.json: every node's status and /proc counters
  /usr/bin/python3 - "$dir/repos" "$nodes" "$1" <<'PY'
import json, os, sys, time, urllib.request
repos, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
tick = os.sysconf("SC_CLK_TCK")
snap = {"time": time.time(), "nodes": []}
for i in range(n):
    d = json.load(open(os.path.join(repos, f"node-{i}", "daemon.json")))
    with urllib.request.urlopen(f"http://{d['api']}/api/v1/status", timeout=15) as r:
        st = json.load(r)
    pid = d["pid"]
    stat = open(f"/proc/{pid}/stat").read()
    f = stat[stat.rindex(")") + 2:].split()
    cpu = (int(f[11]) + int(f[12])) / tick  # utime + stime, seconds
    mem = {}
    for line in open(f"/proc/{pid}/status"):
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM"):
            mem[k] = int(v.split()[0]) / 1024  # MiB
    try:
        for line in open(f"/proc/{pid}/smaps_rollup"):
            if line.startswith("Pss:"):
                mem["Pss"] = int(line.split()[1]) / 1024
    except OSError:
        pass
    snap["nodes"].append({"pid": pid, "api": d["api"], "cpu_s": cpu, "rss_mib": mem.get("VmRSS", 0),
                          "hwm_mib": mem.get("VmHWM", 0), "pss_mib": mem.get("Pss", 0), "peers": st.get("peers", 0), "gossip": st.get("gossip"),
                          "received": st.get("migrants_received", 0), "dropped": st.get("migrants_dropped", 0),
                          "trained": st.get("trained_total", 0), "rejected": st.get("rejected") or {}})
json.dump(snap, open(out, "w"))
PY
}

echo "all $nodes nodes started; warming up for ${warmup}s" >&2
sleep "$warmup"
snapshot "$dir/snap0.json"
echo "measuring for ${window}s" >&2
end=$((SECONDS + window))
while [ $SECONDS -lt $end ]; do
  if ! kill -0 "$local_pid" 2>/dev/null; then echo "evoswarm local exited early:" >&2; tail -20 "$dir/local.log" >&2; exit 1; fi
  sleep $(( end - SECONDS < 10 ? (end - SECONDS > 0 ? end - SECONDS : 1) : 10 ))
done
snapshot "$dir/snap1.json"
echo "stopping the swarm" >&2
stop_local
trap - EXIT

/usr/bin/python3 - "$dir/snap0.json" "$dir/snap1.json" "$nodes" <<'PY'
import json, math, sys
s0, s1, n = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), int(sys.argv[3])
win = s1["time"] - s0["time"]
pub = acc = 0
hist = {}
print(f"swarm soak: {n} nodes on 127.0.0.1, measured over {win:.0f} s after warm-up")
print(f"{'node':>4} {'peers':>5} {'published':>9} {'accepted':>8} {'p50_ms':>7} {'p99_ms':>7} {'fetched':>7} {'dropped':>7} {'rejected':>8} {'trained':>7} {'rss_MiB':>7} {'hwm_MiB':>7} {'pss_MiB':>7} {'cpu_%':>6}")
def bucket_delta(a, b):
    before = {x["le_ms"]: x["count"] for x in (a or {}).get("delay", {}).get("buckets", [])}
    return {x["le_ms"]: x["count"] - before.get(x["le_ms"], 0) for x in (b or {}).get("delay", {}).get("buckets", [])}
def quantile(h, q):
    total = sum(h.values())
    if total == 0:
        return float("nan")
    rank, seen = math.ceil(q * total), 0
    for le in sorted(h, key=lambda x: math.inf if x < 0 else x):
        seen += h[le]
        if seen >= rank:
            return math.inf if le < 0 else le
rss, hwm, pss = [], [], []
cpus = []
for i, (a, b) in enumerate(zip(s0["nodes"], s1["nodes"])):
    ga, gb = a["gossip"] or {}, b["gossip"] or {}
    p = gb.get("published", 0) - ga.get("published", 0)
    c = gb.get("accepted", 0) - ga.get("accepted", 0)
    h = bucket_delta(ga, gb)
    for k, v in h.items():
        hist[k] = hist.get(k, 0) + v
    pub += p; acc += c
    cpu = 100 * (b["cpu_s"] - a["cpu_s"]) / win
    rss.append(b["rss_mib"]); hwm.append(b["hwm_mib"]); pss.append(b.get("pss_mib", 0)); cpus.append(cpu)
    rej = sum(b["rejected"].values())
    print(f"{i:>4} {b['peers']:>5} {p:>9} {c:>8} {quantile(h, .5):>7.1f} {quantile(h, .99):>7.1f} {b['received'] - a['received']:>7} {b['dropped'] - a['dropped']:>7} {rej:>8} {b['trained'] - a['trained']:>7} {b['rss_mib']:>7.1f} {b['hwm_mib']:>7.1f} {b.get('pss_mib', 0):>7.1f} {cpu:>6.1f}")
expected = pub * (n - 1)
ratio = acc / expected if expected else float("nan")
# Since start, for reference (includes announcements sent before every node was up).
pub_all = sum((x["gossip"] or {}).get("published", 0) for x in s1["nodes"])
acc_all = sum((x["gossip"] or {}).get("accepted", 0) for x in s1["nodes"])
print()
print(f"delivery ratio: {acc} / ({pub} published x {n - 1}) = {100 * ratio:.2f}%  (target >= 99%: {'PASS' if ratio >= 0.99 else 'FAIL'})")
print(f"  since start, warm-up included: {acc_all} / ({pub_all} x {n - 1}) = {100 * acc_all / max(1, pub_all * (n - 1)):.2f}%")
mx = max((x["gossip"] or {}).get("delay", {}).get("max_ms", 0) for x in s1["nodes"])
qs = [min(quantile(hist, q), mx) for q in (.5, .9, .99)]
print(f"propagation delay (publish -> accept), {sum(hist.values())} deliveries: p50 <= {qs[0]:.1f} ms, p90 <= {qs[1]:.1f} ms, p99 <= {qs[2]:.1f} ms, max {mx:.1f} ms (max since start)")
print(f"RSS per node: mean {sum(rss) / len(rss):.1f} MiB, max {max(rss):.1f} MiB, peak (VmHWM) max {max(hwm):.1f} MiB; "
      f"PSS mean {sum(pss) / len(pss):.1f} MiB; CPU per node: mean {sum(cpus) / len(cpus):.1f}%, max {max(cpus):.1f}% of a core")
PY
echo "repos and logs kept in $dir"
