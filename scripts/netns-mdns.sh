#!/usr/bin/env bash
# mDNS discovery across hosts (root): two Linux network namespaces on one
# bridge with multicast, each with a repo made by `evoswarm init
# --experiment` alone (no bootstrap peers, no swarm key, the default
# config: mdns true), then `evoswarm daemon`. PASS when, within --timeout,
# each node has the other as a peer, found by mDNS (its debug log says so),
# and each has received a migrant from the other. Prints the times.
#
#   scripts/netns-mdns.sh [--timeout 60] [--bin PATH] [--keep]
#
# Network namespaces esm-*; nothing leaves them. Bounded: --timeout for the
# discovery, and a deadline of --timeout + 120 s for the whole script.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/netns-lib.sh

timeout_s=60
BIN=""
while [ $# -gt 0 ]; do
  case "$1" in
    --timeout) timeout_s="$2"; shift 2 ;;
    --bin) BIN="$2"; shift 2 ;;
    --keep) NL_KEEP=1; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "netns-mdns.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$timeout_s" in ''|*[!0-9]*) echo "netns-mdns.sh: --timeout wants seconds" >&2; exit 2 ;; esac
nl_skip_unless_root netns-mdns
nl_init netns-mdns $((timeout_s + 120))
nl_build
W=$NL_WORK

nl_ns esm-hub esm-h1 esm-h2
nl_bridge esm-hub br0
for i in 1 2; do nl_attach esm-h$i esm-hub br0 p$i 10.79.0.$i/24; done
# Every announcement admitted (not the preset's budget): see netns-lab.sh.
echo '{"preset":"smoke","seed":21,"migration":{"topology":"all","admit_every":0,"remeasure_share":0,"diversity_share":0}}' > "$W/swarm.json"
for i in 1 2; do
  "$BIN" init --repo "$W/h$i" --experiment "$W/swarm.json" > "$W/h$i.init"
  P[$i]=$(nl_peer "$W/h$i")
done
jq -e '.mdns == true and (.bootstrap | length) == 0' "$W/h1/config.json" > /dev/null ||
  { echo "netns-mdns: FAIL: init's config.json is not mdns true without bootstrap peers"; exit 1; }
t0=$(date +%s)
for i in 1 2; do nl_daemon esm-h$i "$W/h$i" debug; done

found="" mig1="" mig2="" pass=0
while :; do
  el=$(nl_elapsed "$t0")
  s1=$(nl_status esm-h1 "$W/h1"); s2=$(nl_status esm-h2 "$W/h2")
  pe1=$(jq -r '.peers // 0' <<<"$s1"); pe2=$(jq -r '.peers // 0' <<<"$s2")
  [ -z "$found" ] && [ "$pe1" -ge 1 ] && [ "$pe2" -ge 1 ] && found=$el
  n1=$(nl_immigrants_from esm-h1 "$W/h1" "${P[2]}"); n2=$(nl_immigrants_from esm-h2 "$W/h2" "${P[1]}")
  [ -z "$mig1" ] && [ "$n1" -gt 0 ] && mig1=$el
  [ -z "$mig2" ] && [ "$n2" -gt 0 ] && mig2=$el
  printf '  %4ds  peers %s/%s  immigrants h2->h1 %s, h1->h2 %s\n' "$el" "$pe1" "$pe2" "$n1" "$n2"
  if [ -n "$found" ] && [ -n "$mig1" ] && [ -n "$mig2" ]; then pass=1; break; fi
  [ "$el" -ge "$timeout_s" ] && break
  sleep 1
done
m1=$(grep -c "connected to a peer found by mDNS.*${P[2]}" "$W/h1.log" || true)
m2=$(grep -c "connected to a peer found by mDNS.*${P[1]}" "$W/h2.log" || true)
echo
echo "=== netns-mdns summary (times from the start of the daemons) ==="
echo "peers found each other: ${found:-not within $timeout_s} s; 'connected to a peer found by mDNS' logged by h1/h2: $m1/$m2"
echo "first immigrant h2->h1: ${mig1:--} s, h1->h2: ${mig2:--} s; immigrants $n1 / $n2"
ok=$pass
[ $((m1 + m2)) -ge 1 ] || { echo "FAIL: neither node logged an mDNS connection"; ok=0; }
if [ "$ok" = 1 ]; then echo "netns-mdns: PASS"; else echo "netns-mdns: FAIL"; exit 1; fi
