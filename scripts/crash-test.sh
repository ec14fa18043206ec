#!/usr/bin/env bash
# Crash storm: start a daemon, kill it with SIGKILL at a random moment,
# check the stopped store, restart; --kills times (default 100). Checked
# after every kill, and the run stops at the first failure:
#
#   - the store opens and `evoswarm verify` is clean (records, indexes,
#     counters, history, weights checksums);
#   - trained_total (read from the stopped store) never goes back, and is at
#     least what the daemon reported just before the kill;
#   - every individual the daemon reported alive before the kill is alive or
#     recorded dead after it, every one it reported dead stays dead, and no
#     individual it ever reported is lost (compared as ID sets: the API's
#     list before the kill against verify's and the restarted daemon's);
#   - no ID appears twice in the store.
#
# It prints one line per kill and the totals at the end.
#
#   scripts/crash-test.sh [--kills N] [--preset NAME] [--max-wait S] [--start-wait S]
#
#   --kills N      SIGKILLs to survive (default 100)
#   --preset NAME  the experiment preset (default cpu-small)
#   --max-wait S   the kill comes 0.2 to S seconds after the daemon is ready
#                  (default 8: long enough for children to finish and be
#                  committed, short enough to land inside commits too)
#   --start-wait S a start not ready within S seconds (default 180; 1-2 s is
#                  usual) is diagnosed, counted and killed during startup
set -euo pipefail
cd "$(dirname "$0")/.."

kills=100
preset=cpu-small
maxwait=8
startwait=180
while [ $# -gt 0 ]; do
  case "$1" in
    --kills) kills="$2"; shift 2 ;;
    --preset) preset="$2"; shift 2 ;;
    --max-wait) maxwait="$2"; shift 2 ;;
    --start-wait) startwait="$2"; shift 2 ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "crash-test.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
py=/usr/bin/python3
[ -x "$py" ] || py=python3

tmp=$(mktemp -d)
trap 'kill -9 "${pid:-0}" 2>/dev/null || true; rm -rf "$tmp"' EXIT
go build -o "$tmp/evoswarm" ./cmd/evoswarm
ev="$tmp/evoswarm"
repo="$tmp/repo"
"$ev" init --repo "$repo" --preset "$preset" --loopback > /dev/null
echo "crash-test.sh: $kills kills, preset $preset, kill 0.2-${maxwait} s after ready; $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores, commit $(git rev-parse --short HEAD)"
echo '{}' > "$tmp/before.json" # the API's view just before the previous kill
echo 0 > "$tmp/trained_max"
start=$(date +%s)

# check.py MODE FILES...: the set comparisons, in one place.
cat > "$tmp/check.py" <<'PY'
import json, sys, collections
mode = sys.argv[1]
def load(p):
    with open(p) as f:
        return json.load(f)
if mode == "after-restart":
    # before.json: {id: status} just before the kill; list.json: the
    # restarted daemon's individuals.
    before, now = load(sys.argv[2]), load(sys.argv[3])
    have = collections.Counter(x["id"] for x in now)
    status = {x["id"]: x["status"] for x in now}
    bad = []
    for i, s in before.items():
        if have[i] == 0:
            bad.append(f"{i} ({s} before the kill) is gone")
        elif s == "alive" and status[i] not in ("alive", "dead"):
            bad.append(f"{i} was alive, now {status[i]}")
        elif s == "dead" and status[i] != "dead":
            bad.append(f"{i} was dead, now {status[i]}")
    bad += [f"{i} listed {n} times" for i, n in have.items() if n > 1]
    for b in bad[:10]:
        print("  " + b)
    sys.exit(1 if bad else 0)
if mode == "snapshot":
    # list.json -> {id: status}
    now = load(sys.argv[2])
    json.dump({x["id"]: x["status"] for x in now}, sys.stdout)
    sys.exit(0)
if mode == "after-kill":
    # before.json, verify.json, status.json, trained before the kill, the
    # highest trained_total seen so far, round.
    before, v, st = load(sys.argv[2]), load(sys.argv[3]), load(sys.argv[4])
    trained_pre, trained_max, rnd = int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
    have = collections.Counter(v["ids"])
    lost = [i for i in before if have[i] == 0]
    dup = [i for i, n in have.items() if n > 1]
    t = st["trained_total"]
    alive_before = sum(1 for s in before.values() if s == "alive")
    print(f"kill {rnd}: before {alive_before} alive / {len(before)} records, trained {trained_pre}; "
          f"after {v['alive']} alive, {v['dead']} dead, {v['training']} training, trained {t}; "
          f"lost {len(lost)}, duplicated {len(dup)}, verify {'ok' if v['ok'] else 'FAILED'}")
    ok = True
    if not v["ok"]:
        ok = False
        for p in v.get("problems") or []:
            print("  verify: " + p)
    if lost or dup:
        ok = False
        for i in (lost + dup)[:10]:
            print("  lost or duplicated: " + i)
    if t < trained_max or t < trained_pre:
        ok = False
        print(f"  trained_total went back: {t} after the kill, {trained_pre} reported before it, {trained_max} the highest seen")
    with open(sys.argv[8], "w") as f:
        f.write(str(max(t, trained_max)))
    sys.exit(0 if ok else 1)
PY

survived=0
slow=0
for i in $(seq 1 "$kills"); do
  "$ev" daemon --repo "$repo" --log-level error > "$tmp/out" 2> "$tmp/err" &
  pid=$!
  # A start normally takes 1-2 s. One that has not reached "ready" within
  # --start-wait is diagnosed (its native and Go stacks are kept), then
  # killed like any other: a kill during startup is one more random moment,
  # and the store is checked after it as after every kill.
  for _ in $(seq 1 $((startwait * 10))); do grep -q '^ready$' "$tmp/out" && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if ! grep -q '^ready$' "$tmp/out"; then
    kill -0 "$pid" 2>/dev/null || { echo "kill $i: the daemon exited instead of starting:"; tail -20 "$tmp/err"; exit 1; }
    slow=$((slow + 1))
    keep=$(mktemp -d /tmp/crash-test-slow.XXXXXX)
    grep -E '^(State|Threads|voluntary|nonvoluntary)' "/proc/$pid/status" > "$keep/proc-status" 2>/dev/null || true
    # Native stacks (a start stuck before Go's runtime runs has no Go dump).
    if command -v gdb > /dev/null; then
      timeout 60 gdb -p "$pid" -batch -ex "thread apply all bt 20" > "$keep/gdb.txt" 2>&1 || true
    fi
    cp -a "$tmp/out" "$tmp/err" "$keep/"
    echo "kill $i: not ready after ${startwait} s; killed during startup (stacks and /proc status in $keep)"
    kill -9 "$pid"
    wait "$pid" 2>/dev/null || true
    trained_pre=0 # before.json stays the previous kill's snapshot
  else
    api=$(sed -n 's|^API listening on http://||p' "$tmp/out")
    # The restarted daemon must still hold everything the previous one showed.
    curl -sf "http://$api/api/v1/individuals" > "$tmp/list.json"
    "$py" "$tmp/check.py" after-restart "$tmp/before.json" "$tmp/list.json" ||
      { echo "kill $i: the restarted daemon lost or changed individuals"; exit 1; }

    sleep "$(awk -v s="$RANDOM" -v m="$maxwait" 'BEGIN { srand(s); printf "%.2f", 0.2 + rand() * (m - 0.2) }')"
    curl -sf "http://$api/api/v1/status" > "$tmp/status-pre.json" || echo '{"trained_total":0}' > "$tmp/status-pre.json"
    curl -sf "http://$api/api/v1/individuals" > "$tmp/list.json" || echo '[]' > "$tmp/list.json"
    kill -9 "$pid"
    wait "$pid" 2>/dev/null || true
    "$py" "$tmp/check.py" snapshot "$tmp/list.json" > "$tmp/before.json"
    trained_pre=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1])).get("trained_total", 0))' "$tmp/status-pre.json")
  fi

  "$ev" verify --repo "$repo" --json > "$tmp/verify.json" || true
  "$ev" status --repo "$repo" --json > "$tmp/status.json" || { echo "kill $i: status of the stopped store failed"; exit 1; }
  "$py" "$tmp/check.py" after-kill "$tmp/before.json" "$tmp/verify.json" "$tmp/status.json" \
    "$trained_pre" "$(cat "$tmp/trained_max")" "$i" "$tmp/trained_max" || { echo "kill $i: FAILED"; exit 1; }
  survived=$i
done
mins=$(awk -v s="$(( $(date +%s) - start ))" 'BEGIN { printf "%.1f", s / 60 }')
echo "crash storm passed: $survived of $kills SIGKILLs survived in $mins min; trained_total $(cat "$tmp/trained_max") at the end; store verified after every kill; $slow starts not ready within ${startwait} s (killed during startup)"
