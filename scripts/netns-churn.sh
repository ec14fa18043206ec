#!/usr/bin/env bash
# Churn soak across hosts (root): N evoswarm daemons (smoke preset), each in
# its own Linux network namespace on one bridge, fixed TCP port, bootstrap
# to hosts 1-3 (and mDNS, the DHT and peer exchange as configured by
# default). Every --kill-every seconds a random node is killed with SIGKILL
# and restarted --down seconds later. Reported and checked:
#
#   - no committed individual lost: every individual the node's API listed
#     just before its SIGKILL is in its store after the restart;
#   - delivery ratio among live nodes >= 99%: in each cycle, from --settle
#     seconds after the restart until just before the next kill (all N
#     nodes up, none restarted inside the window), announcements accepted /
#     (published x (N-1)), summed over the cycles;
#   - RSS of every daemon over time (mean / max per cycle, MiB), split into
#     anon (the process's own memory) and file (mapped files: the binary,
#     Badger's tables and value log); the Go heap of the longest-lived node
#     at the end, by allocation site;
#   - at the end every repo, its daemon stopped, passes `evoswarm verify`.
#
#   scripts/netns-churn.sh [--nodes 16] [--minutes 30] [--kill-every 60]
#                          [--down 10] [--settle 15] [--seed S] [--bin PATH] [--keep]
#
# Network namespaces esk-*; nothing leaves them. Bounded: the run ends
# after --minutes; a deadline of --minutes + 5 min ends the script.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/netns-lib.sh

nodes=16 minutes=30 every=60 down=10 settle=15 seed=$$
BIN=""
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) nodes="$2"; shift 2 ;;
    --minutes) minutes="$2"; shift 2 ;;
    --kill-every) every="$2"; shift 2 ;;
    --down) down="$2"; shift 2 ;;
    --settle) settle="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --bin) BIN="$2"; shift 2 ;;
    --keep) NL_KEEP=1; shift ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "netns-churn.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$nodes$minutes$every$down$settle$seed" in *[!0-9]*) echo "netns-churn.sh: the options want whole numbers" >&2; exit 2 ;; esac
[ "$nodes" -ge 4 ] && [ "$nodes" -le 64 ] || { echo "netns-churn.sh: --nodes 4 to 64" >&2; exit 2; }
[ $((down + settle + 10)) -lt "$every" ] || { echo "netns-churn.sh: --kill-every must exceed --down + --settle + 10" >&2; exit 2; }
nl_skip_unless_root netns-churn
nl_init netns-churn $((minutes * 60 + 300))
nl_build
W=$NL_WORK
RANDOM=$seed

nsl=(esk-hub)
for i in $(seq 1 "$nodes"); do nsl+=("esk-n$i"); done
nl_ns "${nsl[@]}"
nl_bridge esk-hub br0
for i in $(seq 1 "$nodes"); do nl_attach esk-n$i esk-hub br0 p$i 10.80.0.$i/24; done

echo '{"preset":"smoke","seed":31,"migration":{"every_reproductions":10,"interval_seconds":10}}' > "$W/swarm.json"
for i in $(seq 1 "$nodes"); do
  "$BIN" init --repo "$W/n$i" --experiment "$W/swarm.json" > "$W/n$i.init"
  P[$i]=$(nl_peer "$W/n$i")
  # A fixed port, so that the bootstrap addresses survive restarts.
  jq --arg a "/ip4/10.80.0.$i/tcp/4001" '.listen = [$a]' "$W/n$i/config.json" > "$W/c.json" && mv "$W/c.json" "$W/n$i/config.json"
done
for i in $(seq 1 "$nodes"); do
  for b in 1 2 3; do
    [ "$b" = "$i" ] || "$BIN" bootstrap add --repo "$W/n$i" "/ip4/10.80.0.$b/tcp/4001/p2p/${P[$b]}" > /dev/null
  done
done
declare -A PID
start() { nl_daemon esk-n$1 "$W/n$1"; PID[$1]=$(cat "$W/n$1.pid"); }
t0=$(date +%s)
for i in $(seq 1 "$nodes"); do start "$i"; done
echo "netns-churn: $nodes nodes up in $(nl_elapsed "$t0") s; churn for $minutes min, a SIGKILL every $every s, down $down s (seed $seed)"

# snap FILE: published, accepted and rejected (by reason) of every node,
# one JSON line each, asked of all nodes at once (a tight window edge).
snap() {
  local i w=()
  for i in $(seq 1 "$nodes"); do
    nl_status esk-n$i "$W/n$i" | jq -c --arg i "$i" '{i: ($i|tonumber), pub: (.gossip.published // -1), acc: (.gossip.accepted // -1),
      rej: ((.rejected // {}) | to_entries | map(.value) | add // 0), why: (.rejected // {}), peers: (.peers // 0)}' > "$1.$i" &
    w+=($!)
  done
  wait "${w[@]}"  # not a bare wait: the daemons are children too
  for i in $(seq 1 "$nodes"); do cat "$1.$i"; done > "$1"
}
# listing K: the sorted IDs of every individual node K's store holds (its
# API; up to 3 tries of 60 s: the list grows to thousands under load).
listing() {
  local api try
  api=$(jq -r '.api // empty' "$W/n$1/daemon.json" 2>/dev/null || true)
  for try in 1 2 3; do
    if nsx esk-n$1 curl -sf --max-time 60 "http://$api/api/v1/individuals" > "$W/list.json" 2>/dev/null &&
      jq -e 'type == "array" and length > 0' "$W/list.json" > /dev/null 2>&1; then
      jq -r '.[].id' "$W/list.json" | sort
      return 0
    fi
    sleep 1
  done
  return 1
}
# rss_line CYCLE: every node's resident memory, total, anon (the process's
# own memory) and file (mapped files), appended to $W/rss.tsv with the
# node's restarts so far; printed as mean/max over the nodes.
rss_line() {
  local i
  for i in $(seq 1 "$nodes"); do
    printf '%s\t%s\t%s\t%s\n' "$1" "$(nl_elapsed "$t0")" "$i" "${RESTARTS[$i]:-0}" | tr '\n' '\t'
    nl_rss_split "${PID[$i]}" | tr ' ' '\t'
  done | tee -a "$W/rss.tsv" | awk -F'\t' '{t+=$5; a+=$6; f+=$7; if ($5>mt) mt=$5; if ($6>ma) ma=$6; if ($7>mf) mf=$7}
    END {printf "%4.0f/%-4d %4.0f/%-4d %4.0f/%-4d", t/NR, mt, a/NR, ma, f/NR, mf}'
}

sleep "$settle"
end=$((t0 + minutes * 60))
cycle=0 unchecked=0 lost_total=0 checked_total=0 kills=0 sum_pub=0 sum_acc=0 sum_rej=0 sum_exp=0 bad_windows=0
declare -A RESTARTS
: > "$W/rss.tsv"
echo "cycle  time  killed  listed-before  lost  restart_s  window_s  published  accepted  rejected  ratio   peers(min)  RSS MiB mean/max: total     anon      file"
while [ $(( $(date +%s) + every )) -le "$end" ]; do
  cycle=$((cycle + 1))
  tc=$(date +%s)
  k=$(( RANDOM % nodes + 1 ))
  listing "$k" > "$W/before.$k" || : > "$W/before.$k"
  kill -KILL "${PID[$k]}"; wait "${PID[$k]}" 2>/dev/null || true
  kills=$((kills + 1)) RESTARTS[$k]=$(( ${RESTARTS[$k]:-0} + 1 ))
  sleep "$down"
  tr=$(date +%s)
  start "$k"
  rs=$(nl_elapsed "$tr")
  listed=$(wc -l < "$W/before.$k")
  if [ "$listed" = 0 ]; then
    lost=0 unchecked=$((unchecked + 1))  # the listing before the kill did not answer in time
  elif listing "$k" > "$W/after.$k"; then
    lost=$(comm -23 "$W/before.$k" "$W/after.$k" | wc -l)
  else
    lost=0 unchecked=$((unchecked + 1)) listed=0
  fi
  lost_total=$((lost_total + lost)); checked_total=$((checked_total + listed))
  sleep "$settle"
  snap "$W/s0"; ws=$(date +%s)
  # Until shortly before the next kill.
  while [ $(( $(date +%s) + 5 )) -lt $((tc + every)) ]; do sleep 1; done
  snap "$W/s1"; wl=$(nl_elapsed "$ws")
  read -r pub acc rej minpeers gone < <(jq -s -r 'group_by(.i) | map({d: (.[1].pub - .[0].pub), a: (.[1].acc - .[0].acc), r: (.[1].rej - .[0].rej), ok: (.[0].pub >= 0 and .[1].pub >= 0), peers: .[1].peers})
      | "\(map(.d) | add) \(map(.a) | add) \(map(.r) | add) \(map(.peers) | min) \(map(select(.ok | not)) | length)"' "$W/s0" "$W/s1")
  [ "$gone" = 0 ] || bad_windows=$((bad_windows + 1))
  sum_rej=$((sum_rej + rej))
  exp_=$((pub * (nodes - 1)))
  sum_pub=$((sum_pub + pub)); sum_acc=$((sum_acc + acc)); sum_exp=$((sum_exp + exp_))
  ratio=$(awk -v a="$acc" -v e="$exp_" 'BEGIN {if (e > 0) printf "%.2f%%", 100 * a / e; else print "-"}')
  printf '%5d %5d  n%-5d %13d %5d %10d %9d %10d %9d %9d  %-7s %10s  %s\n' "$cycle" "$(nl_elapsed "$t0")" "$k" "$listed" "$lost" "$rs" "$wl" "$pub" "$acc" "$rej" "$ratio" "$minpeers" "$(rss_line "$cycle")"
  while [ "$(date +%s)" -lt $((tc + every)) ]; do sleep 1; done
done
ran=$(nl_elapsed "$t0")
# The Go heap of the node that lived longest (fewest restarts, lowest
# number): what is still in use after a GC, by allocation site.
long=$(awk -F'\t' -v c="$cycle" '$1 == c' "$W/rss.tsv" | sort -t$'\t' -k4,4n -k3,3n | head -1 | cut -f3)
if [ -n "$long" ]; then
  api=$(jq -r '.api // empty' "$W/n$long/daemon.json" 2>/dev/null || true)
  if nsx esk-n$long curl -sf --max-time 60 "http://$api/debug/pprof/heap?gc=1" -o "$W/heap.pb.gz" &&
    nsx esk-n$long curl -sf --max-time 30 "http://$api/metrics" -o "$W/metrics.txt"; then
    echo "netns-churn: Go memory of n$long ($(awk -F'\t' -v n="$long" -v c="$cycle" '$3 == n && $1 == c {print $4}' "$W/rss.tsv") restarts) at the end, MiB:" \
      "$(awk '/^go_memstats_heap_inuse_bytes / {h=$2} /^go_memstats_heap_alloc_bytes / {l=$2} /^go_memstats_sys_bytes / {s=$2} /^go_goroutines / {g=$2}
        END {printf "heap in use %.1f, live objects %.1f, obtained from the OS %.1f; %d goroutines", h/1048576, l/1048576, s/1048576, g}' "$W/metrics.txt")"
    go tool pprof -top -nodecount 12 -sample_index=inuse_space "$BIN" "$W/heap.pb.gz" 2>/dev/null | sed -n '/flat%/,$p' | sed 's/^/  /' || true
  fi
fi
echo "netns-churn: stopping the daemons (SIGINT)"
nl_stop_daemons
verify_fail=0
for i in $(seq 1 "$nodes"); do
  if ! "$BIN" verify --repo "$W/n$i" > "$W/n$i.verify" 2>&1; then
    verify_fail=$((verify_fail + 1)); echo "  verify n$i FAILED: $(head -3 "$W/n$i.verify")"
  fi
done
ratio=$(awk -v a="$sum_acc" -v e="$sum_exp" 'BEGIN {if (e > 0) printf "%.2f", 100 * a / e; else print 0}')
echo
echo "=== netns-churn summary ==="
echo "$nodes nodes in network namespaces, ran $ran s ($((ran / 60)) min), $kills SIGKILLs and restarts (every $every s, down $down s)"
echo "committed individuals lost across kills: $lost_total of $checked_total listed just before the kills ($unchecked kills not checked: a listing did not answer)"
echo "delivery ratio among live nodes (windows with all $nodes up): $sum_acc / ($sum_pub x $((nodes - 1))) = $ratio%"
echo "  rejected in those windows (arrived, refused by validation): $sum_rej; by reason at the end: $(jq -s -c 'map(.why) | reduce .[] as $w ({}; reduce ($w | to_entries[]) as $e (.; .[$e.key] += $e.value))' "$W/s1")"
echo "repos passing evoswarm verify: $((nodes - verify_fail)) / $nodes"
# Memory over time: the mean over the nodes at each quarter of the cycles,
# and the same for the nodes never restarted (their memory has the whole
# run's age; a leak would show there first).
awk -F'\t' -v n="$cycle" 'BEGIN {if (n < 1) exit}
  {c=$1; a[c]+=$6; f[c]+=$7; k[c]++; if ($4 == 0) {a0[c]+=$6; f0[c]+=$7; k0[c]++}}
  END {
    if (n < 1) exit
    line = "RSS MiB, mean anon / file over all nodes at cycles"; line0 = "  ... over the nodes never restarted"
    for (q = 0; q <= 4; q++) {
      c = int(1 + (n - 1) * q / 4)
      line = line sprintf("  %d: %.0f / %.0f", c, a[c]/k[c], f[c]/k[c])
      line0 = line0 sprintf("  %d: %s", c, k0[c] ? sprintf("%.0f / %.0f (%d nodes)", a0[c]/k0[c], f0[c]/k0[c], k0[c]) : "-")
    }
    print line; print line0
  }' "$W/rss.tsv"
echo "  every node at every cycle: rss.tsv in the work directory, kept with --keep (cycle, seconds, node, restarts, total, anon, file MiB)"
ok=1
[ "$kills" -ge 1 ] || { echo "FAIL: no kill happened (--minutes too short)"; ok=0; }
[ "$lost_total" = 0 ] || { echo "FAIL: committed individuals were lost"; ok=0; }
[ "$checked_total" -gt 0 ] || { echo "FAIL: no kill could be checked for lost individuals"; ok=0; }
[ "$bad_windows" = 0 ] || { echo "FAIL: $bad_windows windows with a node not answering"; ok=0; }
awk -v r="$ratio" 'BEGIN {exit !(r >= 99)}' || { echo "FAIL: delivery ratio below 99%"; ok=0; }
[ "$verify_fail" = 0 ] || { echo "FAIL: $verify_fail repos failed verify"; ok=0; }
if [ "$ok" = 1 ]; then echo "netns-churn: PASS"; else echo "netns-churn: FAIL"; exit 1; fi
