#!/usr/bin/env bash
# Disk-full drill: put a repo on a small tmpfs, start the daemon, fill the
# file system with a ballast file while it trains, and check that the daemon
# stops by itself with a clear one-line "disk full" error (not a hang, not a
# SIGBUS). Then free the space and check that nothing is lost: `evoswarm
# verify` passes, every individual the daemon reported is present exactly
# once, and a restarted daemon trains on.
#
#   sudo scripts/disk-full-test.sh [--size MiB] [--min-free MiB] [--preset NAME]
#
# Needs root (mount -t tmpfs). The ballast leaves half of --min-free really
# free: the store refuses writes below --min-free, and the other half is the
# headroom Badger's own unchecked writes (memtable flushes, Close) need.
set -euo pipefail
cd "$(dirname "$0")/.."

size_mib=400
min_free_mib=128
preset=smoke
while [ $# -gt 0 ]; do
  case "$1" in
    --size) size_mib="$2"; shift 2 ;;
    --min-free) min_free_mib="$2"; shift 2 ;;
    --preset) preset="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "disk-full-test.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ "$(id -u)" -ne 0 ]; then
  echo "disk-full-test.sh: needs root to mount a tmpfs" >&2
  exit 2
fi
if [ "$min_free_mib" -ge "$size_mib" ]; then
  echo "disk-full-test.sh: --min-free ($min_free_mib MiB) must be below --size ($size_mib MiB)" >&2
  exit 2
fi

say() { echo "==> $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

tmp=$(mktemp -d)
mnt="$tmp/mnt"
pid=
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  if mountpoint -q "$mnt" 2>/dev/null; then
    umount "$mnt" || umount -l "$mnt" || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

min_free=$((min_free_mib << 20))
headroom=$((min_free / 2))
ev="$tmp/evoswarm"
repo="$mnt/repo"
py=/usr/bin/python3

say "build evoswarm into $ev"
go build -o "$ev" ./cmd/evoswarm

say "mount a ${size_mib} MiB tmpfs at $mnt"
mkdir -p "$mnt"
mount -t tmpfs -o "size=${size_mib}m" tmpfs "$mnt"

say "evoswarm init --repo $repo --preset $preset"
"$ev" init --repo "$repo" --preset "$preset" --loopback > /dev/null

avail() { df -B1 --output=avail "$mnt" | tail -1 | tr -d ' '; }

# start_daemon OUT ERR: starts the daemon in the background (sets pid and
# api) and waits up to 60 s for "ready".
start_daemon() {
  "$ev" daemon --repo "$repo" --min-free "$min_free" --log-level warn > "$1" 2> "$2" &
  pid=$!
  for _ in $(seq 1 600); do
    grep -q '^ready$' "$1" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  grep -q '^ready$' "$1" || { cat "$2" >&2; fail "the daemon did not become ready within 60 s"; }
  api=$(sed -n 's|^API listening on http://||p' "$1")
}

# record_ids: appends the IDs the daemon's API lists to $tmp/seen; true if
# the API answered.
record_ids() {
  curl -sf --max-time 5 "http://$api/api/v1/individuals" > "$tmp/list.json" 2>/dev/null || return 1
  $py -c 'import json,sys; [print(x["id"]) for x in json.load(open(sys.argv[1])) or []]' "$tmp/list.json" >> "$tmp/seen"
}

# check_verify NAME: evoswarm verify passes and holds every ID seen so far
# exactly once.
check_verify() {
  "$ev" verify --repo "$repo" --json > "$tmp/verify.json" || { cat "$tmp/verify.json"; fail "$1: evoswarm verify failed"; }
  $py - "$tmp/seen" "$tmp/verify.json" "$1" <<'PY'
import json, sys, collections
seen = set(open(sys.argv[1]).read().split())
v = json.load(open(sys.argv[2]))
have = collections.Counter(v["ids"])
lost = sorted(s for s in seen if have[s] == 0)
dup = sorted(s for s, n in have.items() if n > 1)
print(f"{sys.argv[3]}: verify ok={v['ok']}; {len(seen)} IDs reported by the daemon, store holds {len(have)} "
      f"({v['alive']} alive, {v['dead']} dead, {v['training']} training); lost {len(lost)}, duplicated {len(dup)}")
for s in lost[:10]:
    print("  lost", s)
for s in dup[:10]:
    print("  duplicated", s)
sys.exit(1 if lost or dup or not v["ok"] or not seen else 0)
PY
}

trained_total() { "$ev" status --repo "$repo" --json | $py -c 'import json,sys; print(json.load(sys.stdin)["trained_total"])'; }

say "start the daemon with --min-free $min_free ($min_free_mib MiB)"
: > "$tmp/seen"
start_daemon "$tmp/out1" "$tmp/err1"
say "daemon pid $pid, API http://$api; let it train for 2 s"
sleep 2
record_ids || fail "GET /api/v1/individuals did not answer"
say "the daemon reported $(sort -u "$tmp/seen" | wc -l) individuals; $(avail) bytes free"

free_now=$(avail)
ballast=$((free_now - headroom))
[ "$ballast" -gt 0 ] || fail "only $free_now bytes free before the ballast: use a bigger --size"
say "fill the tmpfs: a ballast of $((ballast >> 20)) MiB, leaving about $((headroom >> 20)) MiB free (below --min-free)"
if ! fallocate -l "$ballast" "$mnt/ballast" 2>/dev/null; then
  rm -f "$mnt/ballast"
  dd if=/dev/zero of="$mnt/ballast" bs=1M count=$((ballast >> 20)) status=none
fi
say "$(avail) bytes free; wait up to 60 s for the daemon to stop by itself"
for _ in $(seq 1 120); do
  kill -0 "$pid" 2>/dev/null || break
  record_ids || true # IDs acknowledged up to the very end must survive too
  sleep 0.5
done
if kill -0 "$pid" 2>/dev/null; then
  cat "$tmp/err1" >&2
  fail "the daemon still runs 60 s after the disk filled up (free: $(avail) bytes)"
fi
rc=0
wait "$pid" || rc=$?
pid=
echo "--- daemon stderr ---"
cat "$tmp/err1"
echo "---------------------"
[ "$rc" -ne 0 ] || fail "the daemon exited 0 on a full disk"
[ "$rc" -lt 128 ] || fail "the daemon died of signal $((rc - 128)) (exit $rc) instead of stopping with an error"
grep -Eqi 'SIGBUS|panic|fatal error|unexpected fault' "$tmp/err1" && fail "the daemon crashed"
last=$(tail -n 1 "$tmp/err1")
case "$last" in
  "evoswarm: "*) ;;
  *) fail "the last line of stderr is not the daemon's error: $last" ;;
esac
echo "$last" | grep -qi 'disk full' || fail "the error does not say \"disk full\": $last"
echo "$last" | grep -qi 'free some space' || fail "the error does not say what to do: $last"
say "the daemon stopped with exit $rc and a one-line disk-full error"

say "remove the ballast"
rm -f "$mnt/ballast"
say "$(avail) bytes free"
check_verify "after the disk-full stop"
before=$(trained_total)

say "restart the daemon (trained_total is $before)"
start_daemon "$tmp/out2" "$tmp/err2"
say "daemon pid $pid, API http://$api; wait up to 60 s for it to train more"
after=$before
for _ in $(seq 1 120); do
  after=$(trained_total)
  [ "$after" -gt "$before" ] && break
  sleep 0.5
done
[ "$after" -gt "$before" ] || { cat "$tmp/err2" >&2; fail "the restarted daemon did not train (trained_total stays $before)"; }
record_ids || fail "GET /api/v1/individuals did not answer after the restart"
say "trained_total $before -> $after; stop the daemon with SIGINT"
kill -INT "$pid"
for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && { cat "$tmp/err2" >&2; fail "the daemon did not stop within 30 s of SIGINT"; }
rc=0
wait "$pid" || rc=$?
pid=
[ "$rc" -eq 0 ] || { cat "$tmp/err2" >&2; fail "the daemon exited $rc after SIGINT"; }
check_verify "after the restart"
echo "disk-full drill passed"
