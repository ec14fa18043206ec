#!/usr/bin/env bash
# Lab federation across hosts (root): five Linux network namespaces on one
# bridge, each set up only with the README's commands:
#
#   h1  evoswarm init --experiment swarm.json; evoswarm swarm-key gen > swarm.key; daemon
#   h2, h3  init --experiment swarm.json; swarm.key copied from h1;
#           bootstrap add <h1's printed /ip4/10.78.0.1/tcp/... address>; daemon
#   h4  the same as h2 but WITHOUT swarm.key: must not connect to anyone
#   h5  swarm.key copied, bootstrap h1, but ANOTHER experiment (other seed):
#       may connect, must exchange no migrant
#
# PASS when, within --timeout, every ordered pair of h1..h3 has exchanged
# migrants (an immigrant in the receiver's store whose origin is the
# sender), h4 never had a peer, and h5 received nothing and gave nothing.
# Prints the time to connect and to each first migrant, and the counts.
#
#   scripts/netns-lab.sh [--timeout 120] [--bin PATH] [--keep]
#
# Network namespaces esl-*; nothing leaves them. Bounded: --timeout for the
# exchange, and a deadline of --timeout + 120 s for the whole script.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/netns-lib.sh

timeout_s=120
BIN=""
while [ $# -gt 0 ]; do
  case "$1" in
    --timeout) timeout_s="$2"; shift 2 ;;
    --bin) BIN="$2"; shift 2 ;;
    --keep) NL_KEEP=1; shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "netns-lab.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$timeout_s" in ''|*[!0-9]*) echo "netns-lab.sh: --timeout wants seconds" >&2; exit 2 ;; esac
nl_skip_unless_root netns-lab
nl_init netns-lab $((timeout_s + 120))
nl_build
W=$NL_WORK

nl_ns esl-hub esl-h1 esl-h2 esl-h3 esl-h4 esl-h5
nl_bridge esl-hub br0
for i in 1 2 3 4 5; do nl_attach esl-h$i esl-hub br0 p$i 10.78.0.$i/24; done

# Everyone hears everyone (the smoke preset's random rings would pick two
# in-neighbours out of two peers only by chance), and every announcement is
# admitted: the preset's budget admits only claims above the receiver's
# median, so a node that got ahead (h1 starts first) heard nothing it
# would admit for minutes on a loaded machine, and the pairs test failed on
# the admission policy rather than on federation. The budget has tests of
# its own (island, node, the simulator).
echo '{"preset":"smoke","seed":11,"migration":{"topology":"all","admit_every":0,"remeasure_share":0,"diversity_share":0}}' > "$W/swarm.json"
echo '{"preset":"smoke","seed":12,"migration":{"topology":"all","admit_every":0,"remeasure_share":0,"diversity_share":0}}' > "$W/other.json"
R() { echo "$W/h$1"; }

# h1: the first machine of the lab.
"$BIN" init --repo "$(R 1)" --experiment "$W/swarm.json" > "$(R 1).init"
"$BIN" swarm-key gen > "$(R 1)/swarm.key"
nl_daemon esl-h1 "$(R 1)"
boot=$(nl_tcp_addr "$(R 1)" 10.78.0.1)
[ -n "$boot" ] || { echo "netns-lab: FAIL: h1 printed no /ip4/10.78.0.1/tcp address:"; cat "$(R 1).out"; exit 1; }
echo "h1 printed $boot"
for i in 2 3 4 5; do
  exp="$W/swarm.json"; [ "$i" = 5 ] && exp="$W/other.json"
  "$BIN" init --repo "$(R $i)" --experiment "$exp" > "$(R $i).init"
  [ "$i" != 4 ] && cp "$(R 1)/swarm.key" "$(R $i)/swarm.key"
  "$BIN" bootstrap add --repo "$(R $i)" "$boot" > /dev/null
done
t0=$(date +%s)
for i in 2 3 4 5; do
  level=info; [ "$i" = 4 ] && level=debug
  nl_daemon esl-h$i "$(R $i)" "$level"
done
for i in 1 2 3 4 5; do P[$i]=$(nl_peer "$(R $i)"); done

declare -A first cnt
connected="" h4peers=0 h4recv=0 h5recv=0 h5acc=0 pass=0
while :; do
  el=$(nl_elapsed "$t0")
  for i in 1 2 3 4 5; do S[$i]=$(nl_status esl-h$i "$(R $i)"); done
  p1=$(jq -r '.peers // 0' <<<"${S[1]}"); p2=$(jq -r '.peers // 0' <<<"${S[2]}"); p3=$(jq -r '.peers // 0' <<<"${S[3]}")
  if [ -z "$connected" ] && [ "$p1" -ge 2 ] && [ "$p2" -ge 2 ] && [ "$p3" -ge 2 ]; then connected=$el; fi
  h4peers=$(( $(jq -r '.peers // 0' <<<"${S[4]}") > h4peers ? $(jq -r '.peers // 0' <<<"${S[4]}") : h4peers ))
  h4recv=$(jq -r '.migrants_received // 0' <<<"${S[4]}")
  h5recv=$(jq -r '.migrants_received // 0' <<<"${S[5]}")
  h5acc=$(jq -r '.gossip.accepted // 0' <<<"${S[5]}")
  done_pairs=0
  for j in 1 2 3; do
    list=$(nl_api esl-h$j "$(R $j)" /api/v1/individuals)
    for i in 1 2 3 4 5; do
      [ "$i" = "$j" ] && continue
      n=$(jq --arg p "${P[$i]}" '[.[] | select(.immigrant and .origin == $p)] | length' <<<"$list")
      cnt[$i,$j]=$n
      if [ "$n" -gt 0 ] && [ -z "${first[$i,$j]:-}" ]; then first[$i,$j]=$el; fi
      if [ "$i" -le 3 ] && [ "$n" -gt 0 ]; then done_pairs=$((done_pairs + 1)); fi
    done
  done
  printf '  %4ds  peers h1..h5 %s/%s/%s/%s/%s  pairs with migrants %d/6  h4 received %s  h5 received/accepted %s/%s\n' \
    "$el" "$p1" "$p2" "$p3" "$(jq -r '.peers // 0' <<<"${S[4]}")" "$(jq -r '.peers // 0' <<<"${S[5]}")" \
    "$done_pairs" "$h4recv" "$h5recv" "$h5acc"
  # Done once all six pairs exchanged and the outsiders had 20 s to try.
  if [ "$done_pairs" = 6 ] && [ "$el" -ge 20 ]; then pass=1; break; fi
  [ "$el" -ge "$timeout_s" ] && break
  sleep 2
done

fromout=0
for j in 1 2 3; do fromout=$(( fromout + ${cnt[4,$j]:-0} + ${cnt[5,$j]:-0} )); done
h4tried=$(grep -c 'bootstrap peer unreachable' "$(R 4).log" || true)
h4err=$(grep 'bootstrap peer unreachable' "$(R 4).log" | tail -1 | grep -o '\[/ip4/10.78.0.1/tcp/[^]]*\][^*]*' | head -1 | sed 's/\\n *$//' | cut -c1-200 || true)
echo
echo "=== netns-lab summary (times from the start of h2..h5) ==="
echo "h1..h3 connected to each other (peers >= 2 each): ${connected:-not within $timeout_s} s"
echo "immigrants in the receiver's store, by origin (first seen, s):"
for i in 1 2 3; do
  line="  from h$i:"
  for j in 1 2 3; do [ "$i" = "$j" ] && continue; line+="  to h$j ${cnt[$i,$j]:-0} (${first[$i,$j]:--})"; done
  echo "$line"
done
for j in 1 2 3; do
  echo "  h$j: trained $(jq -r '.trained_total' <<<"${S[$j]}"), migrants received $(jq -r '.migrants_received' <<<"${S[$j]}"), gossip published/accepted $(jq -r '.gossip.published' <<<"${S[$j]}")/$(jq -r '.gossip.accepted' <<<"${S[$j]}")"
done
echo "h4 (no swarm.key): max peers $h4peers, migrants received $h4recv, $h4tried failed dials to h1 (last: ${h4err:-none})"
echo "h5 (other experiment): peers $(jq -r '.peers' <<<"${S[5]}"), migrants received $h5recv, announcements accepted $h5acc, trained $(jq -r '.trained_total' <<<"${S[5]}")"
echo "immigrants from h4 or h5 in h1..h3: $fromout"
ok=1
[ "$pass" = 1 ] || { echo "FAIL: not every pair of h1..h3 exchanged migrants within $timeout_s s"; ok=0; }
[ "$h4peers" = 0 ] && [ "$h4recv" = 0 ] || { echo "FAIL: h4 without the swarm key connected or received"; ok=0; }
[ "$h5recv" = 0 ] && [ "$h5acc" = 0 ] || { echo "FAIL: h5 of another experiment received migrants"; ok=0; }
[ "$fromout" = 0 ] || { echo "FAIL: h1..h3 hold immigrants from h4 or h5"; ok=0; }
if [ "$ok" = 1 ]; then echo "netns-lab: PASS"; else echo "netns-lab: FAIL"; exit 1; fi
