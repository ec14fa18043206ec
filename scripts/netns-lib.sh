# Shared helpers for the multi-host tests in Linux network namespaces
# (scripts/netns-*.sh, scripts/nat-lab.sh). Source it; not a script of its own.
#
# Every namespace a script creates is recorded and deleted on exit, also on
# failure, Ctrl-C or the script's deadline; every daemon it starts is
# stopped (SIGINT, then SIGKILL after 20 s). Nothing is routed out of the
# namespaces: they have no link to the root namespace.

# nl_skip_unless_root NAME: print one line and exit 0 unless root with
# `ip netns`, nft (when NFT=1), curl and jq available.
nl_skip_unless_root() {
  local name=$1
  if [ "$(id -u)" != 0 ]; then echo "$name: SKIP: needs root (network namespaces)"; exit 0; fi
  if ! command -v ip >/dev/null 2>&1 || ! ip netns list >/dev/null 2>&1; then
    echo "$name: SKIP: ip netns unavailable (apt-get install iproute2)"; exit 0
  fi
  local t
  for t in curl jq ${NL_TOOLS:-}; do
    command -v "$t" >/dev/null 2>&1 || { echo "$name: SKIP: $t missing (scripts/deps.sh installs it)"; exit 0; }
  done
}

NL_NS=()
NL_PIDS=()
NL_WATCHDOG=""
NL_NAME=netns
NL_KEEP=0
NL_WORK=""

# nl_init NAME DEADLINE_S: a work directory, the cleanup trap, and a
# watchdog that ends the script (through the trap) after DEADLINE_S.
nl_init() {
  NL_NAME=$1
  NL_WORK=$(mktemp -d -t "evoswarm-$1-XXXX")
  trap nl_cleanup EXIT
  trap 'echo "$NL_NAME: interrupted" >&2; exit 130' INT
  trap 'echo "$NL_NAME: FAIL: deadline of '"$2"' s reached" >&2; exit 124' TERM
  ( sleep "$2"; kill -TERM $$ 2>/dev/null ) >/dev/null 2>&1 &
  NL_WATCHDOG=$!
}

# nl_ours PID: whether PID is still one of this run's daemons. A daemon
# killed earlier (the churn soak kills many) leaves its PID in NL_PIDS, and
# on a busy machine the kernel soon gives that number to an unrelated
# process: signal only a process whose command line names this run's work
# directory.
nl_ours() {
  [ -n "$1" ] && [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$NL_WORK"
}

nl_stop_daemons() {
  local p i alive
  for p in "${NL_PIDS[@]:-}"; do nl_ours "$p" && kill -INT "$p" 2>/dev/null || true; done
  for i in $(seq 1 20); do
    alive=0
    for p in "${NL_PIDS[@]:-}"; do nl_ours "$p" && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 1
  done
  for p in "${NL_PIDS[@]:-}"; do nl_ours "$p" && kill -KILL "$p" 2>/dev/null || true; done
  for p in "${NL_PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  NL_PIDS=()
}

nl_del_namespaces() {
  local ns
  for ns in "${NL_NS[@]:-}"; do [ -n "$ns" ] && ip netns del "$ns" 2>/dev/null || true; done
  NL_NS=()
}

nl_cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [ -n "$NL_WATCHDOG" ] && kill "$NL_WATCHDOG" 2>/dev/null || true
  nl_stop_daemons
  nl_del_namespaces
  if [ "$NL_KEEP" = 1 ]; then echo "$NL_NAME: files kept in $NL_WORK" >&2; else rm -rf "$NL_WORK"; fi
  exit "$rc"
}

# nl_ns NAME...: create namespaces (refusing ones that exist: another run).
nl_ns() {
  local ns
  for ns in "$@"; do
    if ip netns list | awk '{print $1}' | grep -qx "$ns"; then
      echo "$NL_NAME: namespace $ns exists already (another run?); remove it with: ip netns del $ns" >&2
      exit 1
    fi
    ip netns add "$ns"
    NL_NS+=("$ns")
    ip netns exec "$ns" ip link set lo up
  done
}

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# nl_bridge HUB BR: a bridge BR inside namespace HUB.
nl_bridge() {
  nsx "$1" ip link add "$2" type bridge
  nsx "$1" ip link set "$2" up
}

# nl_attach NS HUB BR PORT ADDR/LEN: a veth from NS (eth0) to a port of BR
# in HUB, with multicast routed to it (mDNS).
nl_attach() {
  local ns=$1 hub=$2 br=$3 port=$4 addr=$5
  ip link add eth0 netns "$ns" type veth peer name "$port" netns "$hub"
  nsx "$hub" ip link set "$port" master "$br"
  nsx "$hub" ip link set "$port" up
  nsx "$ns" ip addr add "$addr" dev eth0
  nsx "$ns" ip link set eth0 up
  nsx "$ns" ip route add 224.0.0.0/4 dev eth0
}

# nl_daemon NS REPO [LOGLEVEL]: start `evoswarm daemon` in NS, wait (up to
# 120 s) for "ready". The pid goes to NL_PIDS and to $REPO.pid.
nl_daemon() {
  local ns=$1 repo=$2 level=${3:-info}
  ip netns exec "$ns" env GOLOG_LOG_LEVEL="${GOLOG_LOG_LEVEL:-error}" "$BIN" daemon --repo "$repo" --log-level "$level" \
    > "$repo.out" 2>> "$repo.log" &
  local p=$! i
  NL_PIDS+=("$p")
  echo "$p" > "$repo.pid"
  for i in $(seq 1 240); do
    [ "$(tail -1 "$repo.out" 2>/dev/null)" = ready ] && return 0
    kill -0 "$p" 2>/dev/null || { echo "$NL_NAME: daemon in $ns exited: $(tail -3 "$repo.log")" >&2; return 1; }
    sleep 0.5
  done
  echo "$NL_NAME: daemon in $ns not ready within 120 s" >&2
  return 1
}

# nl_api NS REPO PATH: GET the daemon's API (address from daemon.json);
# prints {} (or []) when it does not answer.
nl_api() {
  local ns=$1 repo=$2 path=$3 api
  api=$(jq -r '.api // empty' "$repo/daemon.json" 2>/dev/null || true)
  if [ -n "$api" ] && nsx "$ns" curl -sf --max-time 5 "http://$api$path" 2>/dev/null; then return 0; fi
  case "$path" in /api/v1/individuals*) echo '[]' ;; *) echo '{}' ;; esac
}
nl_status() { nl_api "$1" "$2" /api/v1/status; }

# nl_tcp_addr REPO PREFIX: the first TCP address the daemon printed whose
# IP starts with PREFIX (what a user copies into `bootstrap add`).
nl_tcp_addr() {
  awk -v p="/ip4/$2" '$1 == "listening" && index($3, p) == 1 && $3 ~ /\/tcp\// {print $3; exit}' "$1.out"
}

# nl_peer REPO: the peer ID `evoswarm init` printed.
nl_peer() { awk '/^peer ID:/ {print $3; exit}' "$1.init"; }

# nl_immigrants_from NS REPO PEER: how many immigrants in REPO's store
# came from PEER.
nl_immigrants_from() {
  nl_api "$1" "$2" /api/v1/individuals | jq --arg p "$3" '[.[] | select(.immigrant and .origin == $p)] | length'
}

# nl_rss PID: resident set size in MiB (0 when gone).
nl_rss() { awk '/^VmRSS:/ {printf "%.0f", $2 / 1024; f=1} END {if (!f) print 0}' "/proc/$1/status" 2>/dev/null || echo 0; }

# nl_rss_split PID: "total anon file" resident MiB (zeros when gone). Anon is
# the process's own memory (Go heap, stacks, C allocations); file is pages
# of mapped files (the binary, Badger's memory-mapped tables and value
# log), which the kernel can drop under pressure.
nl_rss_split() {
  [ -r "/proc/$1/status" ] || { echo "0 0 0"; return 0; }
  awk '/^VmRSS:/ {t=$2} /^RssAnon:/ {a=$2} /^RssFile:/ {f=$2} /^RssShmem:/ {f+=$2}
    END {printf "%.0f %.0f %.0f\n", t / 1024, a / 1024, f / 1024}' "/proc/$1/status" 2>/dev/null || echo "0 0 0"
}

# nl_build: BIN from --bin, or this checkout built into the work directory.
nl_build() {
  if [ -z "${BIN:-}" ]; then
    BIN="$NL_WORK/evoswarm"
    go build -o "$BIN" ./cmd/evoswarm
  fi
  BIN=$(readlink -f "$BIN")
}

nl_elapsed() { echo $(( $(date +%s) - $1 )); }
