#!/usr/bin/env bash
# NAT lab (root): two evoswarm volunteers, each behind its own home NAT
# router, and a relay/bootstrap node on the "internet", all in Linux network
# namespaces on this machine. Nothing leaves the machine: the namespaces have
# no link to the root namespace.
#
# The "internet" uses public-looking addresses (11.77.0.0/16) that exist only
# inside the namespaces: go-libp2p punches holes only from addresses that
# manet.IsPublicAddr accepts, which excludes the private ranges and also the
# documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 are in
# manet's Unroutable4 list), so a lab on those would never try.
#
#   esn-pub   "internet": the relay/bootstrap node on 11.77.0.1 (relay_service
#             true), routing between the two home routers' WAN addresses
#   esn-r1    home router 1: WAN 11.77.1.2, LAN 192.168.1.1, nftables
#             masquerade, new inbound connections dropped
#   esn-c1    volunteer A, 192.168.1.2 (nat true, mdns false, bootstrap: relay)
#   esn-r2/esn-c2   the same for volunteer B (11.77.2.2, 192.168.2.0/24)
#
# For each NAT mode (port-preserving masquerade, then fully-random
# masquerade) it starts the three daemons and prints: how long until A and B
# are connected to each other, how long until each has received (fetched and
# re-measured) a migrant, when DCUtR started on the relayed connection and
# when the hole punch succeeded (from go-libp2p's p2p-holepunch debug log),
# and whether a direct TCP connection between the two NATs' public addresses
# is established (`ss` in the clients' namespaces: not relayed). The relay
# node runs a different experiment, so that the migrants A and B receive can
# only come from each other.
#
# PASS: with port-preserving NAT a direct connection within 10 s of the
# relayed one, and migrants both ways; with random-port NAT migrants both
# ways over the relay (and, as expected, no direct connection).
#
#   scripts/nat-lab.sh [--timeout 90] [--modes "preserve random"] [--bin PATH] [--keep]
#
# Needs iproute2, nftables, iputils-ping, curl, jq and bc (scripts/deps.sh
# installs them); skips with one line when not root or when one is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

timeout_s=90
modes="preserve random"
bin=""
keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --timeout) timeout_s="$2"; shift 2 ;;
    --modes) modes="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,37p' "$0"; exit 0 ;;
    *) echo "nat-lab.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$timeout_s" in ''|*[!0-9]*) echo "nat-lab.sh: --timeout wants seconds" >&2; exit 2 ;; esac
if [ "$timeout_s" -lt 10 ] || [ "$timeout_s" -gt 1800 ]; then
  echo "nat-lab.sh: --timeout must be 10 to 1800 s" >&2; exit 2
fi
if [ "$(id -u)" != 0 ]; then echo "nat-lab.sh: SKIP: needs root (network namespaces)"; exit 0; fi
for t in ip nft curl jq ping bc ss; do
  command -v "$t" >/dev/null 2>&1 || { echo "nat-lab.sh: SKIP: $t missing (scripts/deps.sh installs it)"; exit 0; }
done
ip netns list >/dev/null 2>&1 || { echo "nat-lab.sh: SKIP: ip netns unavailable"; exit 0; }
if [ -z "$bin" ]; then
  # Build this checkout's evoswarm (never a stale binary from an earlier run).
  bin="$(mktemp -d)/evoswarm"
  go build -o "$bin" ./cmd/evoswarm
fi
bin=$(readlink -f "$bin")

NS=(esn-pub esn-r1 esn-c1 esn-r2 esn-c2)
for ns in "${NS[@]}"; do
  if ip netns list | grep -qw "$ns"; then
    echo "nat-lab.sh: namespace $ns exists already (another lab running?); remove it with: ip netns del $ns" >&2
    exit 1
  fi
done
work=$(mktemp -d -t evoswarm-natlab-XXXX)
pids=()

stop_daemons() {
  local p i alive
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill -INT "$p" 2>/dev/null || true; done
  for i in $(seq 1 30); do
    alive=0
    for p in "${pids[@]:-}"; do [ -n "$p" ] && kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 1
  done
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true; done
  for p in "${pids[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  pids=()
}
del_namespaces() {
  local ns
  for ns in "${NS[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
}
watchdog=""
cleanup() {
  [ -n "$watchdog" ] && kill "$watchdog" 2>/dev/null || true
  stop_daemons
  del_namespaces
  if [ "$keep" = 0 ]; then rm -rf "$work"; else echo "lab files kept in $work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
# The whole script is bounded: per mode the timeout plus start and stop.
deadline=$(( ($(wc -w <<<"$modes") * (timeout_s + 150)) + 60 ))
trap 'echo "nat-lab.sh: FAIL: deadline of '"$deadline"' s reached" >&2; exit 124' TERM
( sleep "$deadline"; kill -TERM $$ 2>/dev/null ) >/dev/null 2>&1 &
watchdog=$!

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# build_lab MODE: namespaces, veths, addresses, routes and the NAT rules.
build_lab() {
  local mode=$1 ns masq
  case "$mode" in
    preserve) masq="masquerade" ;;            # keeps the source port when it is free
    random) masq="masquerade fully-random" ;; # a random source port for every mapping
    *) echo "nat-lab.sh: unknown mode $mode (preserve or random)" >&2; exit 2 ;;
  esac
  for ns in "${NS[@]}"; do
    ip netns add "$ns"
    nsx "$ns" ip link set lo up
  done
  nsx esn-pub ip addr add 11.77.0.1/32 dev lo
  nsx esn-pub sysctl -qw net.ipv4.ip_forward=1
  local h
  for h in 1 2; do
    # internet <-> router h
    ip link add esn-p$h netns esn-pub type veth peer name esn-w$h netns esn-r$h
    nsx esn-pub ip addr add 11.77.$h.1/24 dev esn-p$h
    nsx esn-pub ip link set esn-p$h up
    nsx esn-r$h ip addr add 11.77.$h.2/24 dev esn-w$h
    nsx esn-r$h ip link set esn-w$h up
    nsx esn-r$h ip route add default via 11.77.$h.1
    # router h <-> client h
    ip link add esn-l$h netns esn-r$h type veth peer name esn-e$h netns esn-c$h
    nsx esn-r$h ip addr add 192.168.$h.1/24 dev esn-l$h
    nsx esn-r$h ip link set esn-l$h up
    nsx esn-c$h ip addr add 192.168.$h.2/24 dev esn-e$h
    nsx esn-c$h ip link set esn-e$h up
    nsx esn-c$h ip route add default via 192.168.$h.1
    nsx esn-r$h sysctl -qw net.ipv4.ip_forward=1
    local other=$((3 - h))
    nsx esn-r$h nft -f - <<EOF
table ip esnat {
  counter direct_in { }
  counter direct_out { }
  counter dropped_in { }
  counter dropped_in_from_peer_nat { }
  chain postrouting {
    type nat hook postrouting priority 100;
    oifname "esn-w$h" $masq;
  }
  chain forward {
    type filter hook forward priority 0; policy accept;
    iifname "esn-w$h" ip saddr 11.77.$other.0/24 ct state established,related counter name "direct_in" accept;
    iifname "esn-w$h" ct state established,related accept;
    iifname "esn-w$h" ip saddr 11.77.$other.0/24 counter name "dropped_in_from_peer_nat" drop;
    iifname "esn-w$h" counter name "dropped_in" drop;
    oifname "esn-w$h" ip daddr 11.77.$other.0/24 counter name "direct_out" accept;
  }
  chain input {
    type filter hook input priority 0; policy accept;
    iifname "esn-w$h" ct state established,related accept;
    iifname "esn-w$h" drop;
  }
}
EOF
  done
  # Sanity: the clients reach the relay's address; the relay cannot reach them.
  nsx esn-c1 ping -c1 -W2 11.77.0.1 >/dev/null || { echo "lab: c1 cannot reach 11.77.0.1" >&2; exit 1; }
  nsx esn-c2 ping -c1 -W2 11.77.0.1 >/dev/null || { echo "lab: c2 cannot reach 11.77.0.1" >&2; exit 1; }
  if nsx esn-pub ping -c1 -W1 11.77.1.2 >/dev/null 2>&1; then
    echo "lab: the relay can ping router 1's WAN address (inbound should be dropped)" >&2; exit 1
  fi
}

counter() { # counter NS NAME -> packets
  nsx "$1" nft -j list counter ip esnat "$2" 2>/dev/null | jq -r '[.nftables[] | select(.counter) | .counter.packets][0] // 0'
}
status() { # status NS -> JSON (or {})
  nsx "$1" curl -s --max-time 3 http://127.0.0.1:8080/api/v1/status 2>/dev/null || echo '{}'
}
direct_tcp() { # TCP connections from client h to the other router's WAN address
  local h=$1 other=$((3 - $1))
  nsx esn-c$h ss -Htn state established dst 11.77.$other.2 2>/dev/null | wc -l
}

# start_daemon NS REPO LOGLEVEL: start a daemon in a namespace, wait for ready.
start_daemon() {
  local ns=$1 repo=$2 level=$3
  # --api explicitly: the daemon's --api default (127.0.0.1:0) wins over
  # config.json's "api". Each namespace has its own 127.0.0.1.
  ip netns exec "$ns" env GOLOG_LOG_LEVEL="${GOLOG_LOG_LEVEL:-error,p2p-holepunch=debug}" "$bin" daemon --repo "$repo" --api 127.0.0.1:8080 --log-level "$level" > "$repo.out" 2> "$repo.log" &
  local p=$!
  pids+=("$p")
  local i
  for i in $(seq 1 120); do
    grep -qx ready "$repo.out" 2>/dev/null && return 0
    kill -0 "$p" 2>/dev/null || { echo "daemon in $ns exited: $(tail -3 "$repo.log")" >&2; return 1; }
    sleep 1
  done
  echo "daemon in $ns not ready within 120 s" >&2
  return 1
}

exp="$work/swarm.json"       # A and B
relayexp="$work/relay.json"  # the relay node: another experiment, so it does not gossip A's and B's topic
# Everyone hears everyone: with the smoke preset's random rings a volunteer
# drew its two in-neighbours among peers that included the relay (another
# experiment) and admitted nothing from the other volunteer for up to a
# reshuffle (60 s), although the announcements arrived (status: admission
# not_neighbour). That is about admission, not about NAT.
# Every announcement admitted (not the preset's budget): see netns-lab.sh.
echo '{"preset":"smoke","seed":7,"migration":{"topology":"all","admit_every":0,"remeasure_share":0,"diversity_share":0}}' > "$exp"
echo '{"preset":"smoke","seed":8}' > "$relayexp"

summary=()
failed=0
for mode in $modes; do
  echo "=== NAT mode: $mode ==="
  build_lab "$mode"
  d="$work/$mode"
  mkdir -p "$d"
  "$bin" init --repo "$d/relay" --experiment "$relayexp" > "$d/relay.init"
  relay_id=$(awk '/^peer ID:/ {print $3}' "$d/relay.init")
  cat > "$d/relay/config.json" <<EOF
{"listen": ["/ip4/11.77.0.1/tcp/4001", "/ip4/11.77.0.1/udp/4001/quic-v1"],
 "bootstrap": [], "mdns": false, "dht": true, "nat": true, "relay_service": true,
 "api": "127.0.0.1:8080"}
EOF
  boot="/ip4/11.77.0.1/tcp/4001/p2p/$relay_id"
  for h in 1 2; do
    "$bin" init --repo "$d/node$h" --experiment "$exp" > "$d/node$h.init"
    cat > "$d/node$h/config.json" <<EOF
{"listen": ["/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/udp/4001/quic-v1"],
 "bootstrap": ["$boot"], "mdns": false, "dht": true, "nat": true, "force_private": true, "relay_service": false,
 "api": "127.0.0.1:8080"}
EOF
  done
  idA=$(awk '/^peer ID:/ {print $3}' "$d/node1.init")
  idB=$(awk '/^peer ID:/ {print $3}' "$d/node2.init")
  echo "relay $relay_id on 11.77.0.1; A $idA behind NAT 1; B $idB behind NAT 2"
  start_daemon esn-pub "$d/relay" info
  start_daemon esn-c1 "$d/node1" debug
  start_daemon esn-c2 "$d/node2" debug
  t0=$(date +%s.%N)
  reach="" directAt="" migA="" migB=""
  last=""
  for i in $(seq 1 "$timeout_s"); do
    sA=$(status esn-c1); sB=$(status esn-c2)
    peersA=$(echo "$sA" | jq -r '.peers // 0'); peersB=$(echo "$sB" | jq -r '.peers // 0')
    recvA=$(echo "$sA" | jq -r '.migrants_received // 0'); recvB=$(echo "$sB" | jq -r '.migrants_received // 0')
    dropA=$(echo "$sA" | jq -r '.migrants_dropped // 0'); dropB=$(echo "$sB" | jq -r '.migrants_dropped // 0')
    now=$(date +%s.%N); el=$(echo "$now - $t0" | bc)
    # A's peers are the relay and, once connected, B (and vice versa).
    if [ -z "$reach" ] && [ "$peersA" -ge 2 ] && [ "$peersB" -ge 2 ]; then reach=$el; fi
    din=$(( $(counter esn-r1 direct_in) + $(counter esn-r2 direct_in) ))
    # Direct: an established TCP connection from a client to the other
    # NAT's public address (a relayed connection runs through 11.77.0.1).
    dtcp=$(( $(direct_tcp 1) + $(direct_tcp 2) ))
    if [ -z "$directAt" ] && [ "$dtcp" -gt 0 ]; then directAt=$el; fi
    if [ -z "$migA" ] && [ "$recvA" -gt 0 ]; then migA=$el; fi
    if [ -z "$migB" ] && [ "$recvB" -gt 0 ]; then migB=$el; fi
    line="peers A/B $peersA/$peersB  migrants received A/B $recvA/$recvB dropped A/B $dropA/$dropB  direct packets $din, direct TCP $dtcp"
    if [ "$line" != "$last" ] || [ $((i % 15)) = 0 ]; then
      printf '  %6.1fs  %s\n' "$el" "$line"
      last=$line
    fi
    if [ -n "$reach" ] && [ -n "$migA" ] && [ -n "$migB" ]; then
      # Preserve: done once direct. Random: watch 20 s more for a direct one.
      [ -n "$directAt" ] && break
      [ "$mode" = random ] && [ "$(echo "$el >= $reach + 20" | bc)" = 1 ] && break
    fi
    # Bounded in polls and in time (a poll takes about 1.3 s, not 1 s).
    if [ "$(echo "$el >= $timeout_s" | bc)" = 1 ]; then break; fi
    sleep 1
  done
  echo "--- after ${el}s ($mode) ---"
  for x in A B; do
    sx=$sA; [ "$x" = B ] && sx=$sB
    echo "$x gossip published/accepted $(jq -r '"\(.gossip.published // 0)/\(.gossip.accepted // 0)"' <<<"$sx"), trained $(jq -r '.trained_total // 0' <<<"$sx"), rejected $(jq -c '.rejected // {} | with_entries(select(.value > 0))' <<<"$sx"), admission $(jq -c '.admission // {}' <<<"$sx" | cut -c1-300)"
  done
  echo "A addrs: $(echo "$sA" | jq -c '.addrs')"
  echo "B addrs: $(echo "$sB" | jq -c '.addrs')"
  for h in 1 2; do
    echo "router $h counters: direct_in $(counter esn-r$h direct_in) direct_out $(counter esn-r$h direct_out)" \
      "dropped_in_from_peer_nat $(counter esn-r$h dropped_in_from_peer_nat) dropped_in(other) $(counter esn-r$h dropped_in)"
    echo "client $h: TCP connections to the other NAT: $(direct_tcp $h)"
  done
  for h in 1 2; do
    other=$idB; [ "$h" = 2 ] && other=$idA
    log="$d/node$h.log"
    echo "node $h log: $(grep -c "$other" "$log" || true) lines mention the other node;" \
      "$(grep -c 'connected to a peer found in the DHT' "$log" || true) DHT connects," \
      "$(grep -c 'could not connect to a peer found in the DHT' "$log" || true) failed DHT connects," \
      "$(grep -ci 'holepunch\|hole punch\|dcutr' "$log" || true) hole-punch lines"
    grep 'could not connect to a peer found in the DHT' "$log" | tail -1 | cut -c1-600 | sed 's/^/    last failure: /' || true
  done
  grep -i 'relay' "$d/relay.log" | tail -3 | cut -c1-300 | sed 's/^/  relay log: /' || true
  # DCUtR from go-libp2p's p2p-holepunch debug log: it starts on the
  # relayed connection ("got inbound proxy conn" at the dialling side,
  # "received hole punch request" at the other) and ends "hole punch
  # successful" or "hole punch attempt with peer failed".
  hp_ts() { grep -h "$1" "$d/node1.log" "$d/node2.log" 2>/dev/null | grep -o "^ts=[^ ]*" | cut -c4- | sort | head -1 || true; }
  relayedTs=$(hp_ts 'got inbound proxy conn\|received hole punch request\|beginDirectConnect')
  punchedTs=$(hp_ts 'hole punch successful')
  punchFails=$(cat "$d/node1.log" "$d/node2.log" | grep -c "hole punch attempt with peer failed\|attempt to perform DirectConnect failed" || true)
  # gossip/nat.go dials a peer again through the relay when it stayed there.
  punchRetries=$(cat "$d/node1.log" "$d/node2.log" | grep -c "retry hole punching" || true)
  punch=""
  if [ -n "$relayedTs" ] && [ -n "$punchedTs" ]; then
    punch=$(echo "$(date -d "$punchedTs" +%s.%N) - $(date -d "$relayedTs" +%s.%N)" | bc)
  fi
  echo "DCUtR: relayed connection at ${relayedTs:-never}, hole punch successful at ${punchedTs:-never}, failed attempts $punchFails, retries (new relayed connection) $punchRetries"
  cat "$d/node1.log" "$d/node2.log" | grep "DirectConnect failed\|attempt with peer failed" | sed 's/.*err=/    failure: /' | sort | uniq -c | head -3 || true
  fmt() { if [ -n "$1" ]; then printf '%.1f s' "$1"; else printf 'not within %s s' "$timeout_s"; fi; }
  verdict=FAIL
  case "$mode" in
    preserve) [ -n "$directAt" ] && [ -n "$punch" ] && [ "$(echo "$punch <= 10" | bc)" = 1 ] && [ -n "$migA" ] && [ -n "$migB" ] && verdict=PASS ;;
    random) [ -n "$migA" ] && [ -n "$migB" ] && verdict=PASS ;;
  esac
  [ "$verdict" = PASS ] || failed=1
  summary+=("$(printf '%-9s %s  A<->B connected: %-9s migrant at A: %-9s at B: %-9s direct TCP: %-16s hole punch: %s' \
    "$mode" "$verdict" "$(fmt "$reach")" "$(fmt "$migA")" "$(fmt "$migB")" "$(fmt "$directAt")" \
    "$(if [ -n "$punch" ]; then printf '%.2f s after the first relayed connection (%d failed attempts, %d retries)' "$punch" "$punchFails" "$punchRetries"; else echo "none ($punchFails failed attempts, $punchRetries retries)"; fi)")")
  stop_daemons
  del_namespaces
done

echo
echo "=== summary (times from the moment all three daemons were ready) ==="
printf '%s\n' "${summary[@]}"
if [ "$failed" = 0 ]; then echo "nat-lab.sh: PASS"; else echo "nat-lab.sh: FAIL"; exit 1; fi
