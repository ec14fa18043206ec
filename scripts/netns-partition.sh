#!/usr/bin/env bash
# Partition and heal across hosts (root): two groups of Linux network
# namespaces, A (a1, a2) and B (b1, b2), on one bridge, set up with the
# README's commands (init --experiment, bootstrap add a1's printed address,
# daemon; mDNS and the DHT as init configures them). Then:
#
#   1. joined: wait until migrants crossed both ways (A->B and B->A);
#   2. cut: an nftables rule on the bridge drops every frame between the
#      groups' ports for --cut seconds; both sides must keep evolving
#      (children trained on every node) and keep exchanging migrants inside
#      their group, and no new migrant may cross;
#   3. heal: the rule is removed; migrants must cross both ways again
#      within --timeout seconds.
#
# Migrants are counted in the receivers' stores: immigrants by the peer
# that trained them (origin). Prints each phase's counts and times.
#
#   scripts/netns-partition.sh [--cut 40] [--timeout 90] [--bin PATH] [--keep]
#
# Network namespaces esp-*; nothing leaves them. Bounded: each phase has
# its limit, and a deadline of 2 x --timeout + --cut + 120 s ends the script.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/netns-lib.sh

cut_s=40 timeout_s=90
BIN=""
while [ $# -gt 0 ]; do
  case "$1" in
    --cut) cut_s="$2"; shift 2 ;;
    --timeout) timeout_s="$2"; shift 2 ;;
    --bin) BIN="$2"; shift 2 ;;
    --keep) NL_KEEP=1; shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "netns-partition.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$cut_s$timeout_s" in ''|*[!0-9]*) echo "netns-partition.sh: --cut and --timeout want seconds" >&2; exit 2 ;; esac
NL_TOOLS=nft nl_skip_unless_root netns-partition
nl_init netns-partition $((2 * timeout_s + cut_s + 120))
nl_build
W=$NL_WORK

H=(a1 a2 b1 b2)
nl_ns esp-hub esp-a1 esp-a2 esp-b1 esp-b2
nl_bridge esp-hub br0
n=0
for h in "${H[@]}"; do n=$((n + 1)); nl_attach esp-$h esp-hub br0 p$h 10.81.0.$n/24; done
# Every announcement admitted (not the preset's budget): see netns-lab.sh.
echo '{"preset":"smoke","seed":41,"migration":{"topology":"all","admit_every":0,"remeasure_share":0,"diversity_share":0}}' > "$W/swarm.json"
for h in "${H[@]}"; do "$BIN" init --repo "$W/$h" --experiment "$W/swarm.json" > "$W/$h.init"; done
declare -A P
for h in "${H[@]}"; do P[$h]=$(nl_peer "$W/$h"); done
nl_daemon esp-a1 "$W/a1"
boot=$(nl_tcp_addr "$W/a1" 10.81.0.1)
[ -n "$boot" ] || { echo "netns-partition: FAIL: a1 printed no 10.81.0.1 TCP address"; exit 1; }
for h in a2 b1 b2; do "$BIN" bootstrap add --repo "$W/$h" "$boot" > /dev/null; nl_daemon esp-$h "$W/$h"; done

group() { case "$1" in a*) echo A ;; *) echo B ;; esac; }
# counts: sets X_AB (immigrants in B's stores trained in A), X_BA, X_AA,
# X_BB, and T (children trained, all nodes) and Tmin (the least of a node).
counts() {
  X_AB=0 X_BA=0 X_AA=0 X_BB=0 T=0 Tmin=-1
  local r s o c t by
  for r in "${H[@]}"; do
    # One pass over the receiver's store: immigrants by origin.
    by=$(nl_api esp-$r "$W/$r" /api/v1/individuals | jq -c '[.[] | select(.immigrant) | .origin] | group_by(.) | map({(.[0]): length}) | add // {}')
    for s in "${H[@]}"; do
      [ "$s" = "$r" ] && continue
      c=$(jq --arg p "${P[$s]}" '.[$p] // 0' <<<"$by")
      o="X_$(group "$s")$(group "$r")"
      eval "$o=\$(( $o + c ))"
    done
    t=$(nl_status esp-$r "$W/$r" | jq -r '.trained_total // 0')
    T=$((T + t)); if [ "$Tmin" -lt 0 ] || [ "$t" -lt "$Tmin" ]; then Tmin=$t; fi
    eval "T_$r=$t"
  done
}
show() { printf '  %4ds %-7s A->B %4d  B->A %4d  A->A %4d  B->B %4d  trained %6d\n' "$(nl_elapsed "$t0")" "$1" "$X_AB" "$X_BA" "$X_AA" "$X_BB" "$T"; }

t0=$(date +%s)
joined=""
while :; do
  counts; show joined
  if [ "$X_AB" -gt 0 ] && [ "$X_BA" -gt 0 ]; then joined=$(nl_elapsed "$t0"); break; fi
  [ "$(nl_elapsed "$t0")" -ge "$timeout_s" ] && break
  sleep 2
done
[ -n "$joined" ] || { echo "netns-partition: FAIL: no migrant crossed before the cut"; exit 1; }

# The cut: drop every frame between A's and B's bridge ports.
nsx esp-hub nft -f - <<'EOF'
table bridge esp_partition {
  counter cut_frames { }
  chain forward {
    type filter hook forward priority 0; policy accept;
    iifname { "pa1", "pa2" } oifname { "pb1", "pb2" } counter name "cut_frames" drop
    iifname { "pb1", "pb2" } oifname { "pa1", "pa2" } counter name "cut_frames" drop
  }
}
EOF
nsx esp-a1 ping -c1 -W1 10.81.0.3 >/dev/null 2>&1 && { echo "netns-partition: FAIL: a1 still reaches b1 after the cut"; exit 1; }
tc=$(date +%s)
c0_AB=$X_AB c0_BA=$X_BA c0_AA=$X_AA c0_BB=$X_BB T0=$T
for h in "${H[@]}"; do eval "t0_$h=\$T_$h"; done
# A few seconds for what was in flight when the link was cut.
sleep 5
counts; c1_AB=$X_AB c1_BA=$X_BA
while [ "$(nl_elapsed "$tc")" -lt "$cut_s" ]; do sleep 5; counts; show cut; done
cut_AB=$((X_AB - c1_AB)) cut_BA=$((X_BA - c1_BA)) cut_AA=$((X_AA - c0_AA)) cut_BB=$((X_BB - c0_BB))
grew=1
for h in "${H[@]}"; do eval "[ \$T_$h -gt \$t0_$h ]" || grew=0; done
frames=$(nsx esp-hub nft -j list counter bridge esp_partition cut_frames | jq -r '[.nftables[] | select(.counter) | .counter.packets][0] // 0')
peersA=$(nl_status esp-a1 "$W/a1" | jq -r '.peers // 0')

# Heal.
nsx esp-hub nft delete table bridge esp_partition
th=$(date +%s)
h_AB=$X_AB h_BA=$X_BA
crossAB="" crossBA=""
while :; do
  counts; show healed
  el=$(nl_elapsed "$th")
  [ -z "$crossAB" ] && [ "$X_AB" -gt "$h_AB" ] && crossAB=$el
  [ -z "$crossBA" ] && [ "$X_BA" -gt "$h_BA" ] && crossBA=$el
  { [ -n "$crossAB" ] && [ -n "$crossBA" ]; } && break
  [ "$el" -ge "$timeout_s" ] && break
  sleep 2
done

echo
echo "=== netns-partition summary ==="
echo "joined: migrants crossed both ways $joined s after the daemons started (A->B $c0_AB, B->A $c0_BA)"
echo "cut for $cut_s s ($frames frames dropped at the bridge; a1 then had $peersA peers):"
echo "  children trained during the cut: $((T - T0)) (every node trained more: $([ "$grew" = 1 ] && echo yes || echo no))"
echo "  migrants inside the groups during the cut: A->A $cut_AA, B->B $cut_BB; across after the first 5 s: A->B $cut_AB, B->A $cut_BA"
echo "healed: first new migrant A->B after ${crossAB:-never (>$timeout_s)} s, B->A after ${crossBA:-never (>$timeout_s)} s"
ok=1
[ "$grew" = 1 ] || { echo "FAIL: a node stopped evolving during the cut"; ok=0; }
[ "$cut_AA" -gt 0 ] && [ "$cut_BB" -gt 0 ] || { echo "FAIL: migrants stopped inside a group during the cut"; ok=0; }
[ "$cut_AB" = 0 ] && [ "$cut_BA" = 0 ] || { echo "FAIL: migrants crossed the cut"; ok=0; }
[ -n "$crossAB" ] && [ -n "$crossBA" ] || { echo "FAIL: migrants did not cross again after the heal"; ok=0; }
if [ "$ok" = 1 ]; then echo "netns-partition: PASS"; else echo "netns-partition: FAIL"; exit 1; fi
