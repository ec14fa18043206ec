#!/usr/bin/env bash
# Corrupt-store drill: run a smoke node on Fashion-MNIST for a few children,
# stop it, then on a fresh copy of its repo per case flip, cut or delete
# bytes of one of Badger's files (value log, table, MANIFEST, key registry,
# discard stats), and run on it: `evoswarm verify` (must exit 1 with one
# problem line, or 0 where the damage is harmless), `evoswarm daemon` (refuses
# in one line, or runs) and `evoswarm export`. Prints one table row per case.
# A smoke node's networks are small: their weights live in Badger's tables
# and its value log holds only a header. Damage inside value-log entries and
# to weights Badger does not look at on open (an older value-log file) is in
# `go test ./store -run TestCorruptStore -v` and
# `go test ./cmd/evoswarm -run TestCorruptRepo`, with the checks on every
# read path of weights; docs/hardening.md has the results.
#
#   scripts/corrupt-test.sh [--children N] [--preset smoke]
set -euo pipefail
cd "$(dirname "$0")/.."

children=6
preset=smoke
while [ $# -gt 0 ]; do
  case "$1" in
    --children) children="$2"; shift 2 ;;
    --preset) preset="$2"; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "corrupt-test.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/evoswarm" ./cmd/evoswarm
ev="$tmp/evoswarm"
base="$tmp/base"
"$ev" init --repo "$base" --preset "$preset" --loopback > /dev/null
"$ev" daemon --repo "$base" --max-children "$children" --log-level error > /dev/null
"$ev" verify --repo "$base" > "$tmp/v" || { echo "verify of the intact repo failed:"; cat "$tmp/v"; exit 1; }
echo "base repo: $(head -1 "$tmp/v"); Badger files: $(cd "$base/db" && ls | tr '\n' ' ')"

size() { stat -c %s "$1"; }
flip() { # flip FILE OFFSET: invert one byte
  local b
  b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
  printf "$(printf '\\%03o' $((255 - b)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
one() { ls "$1"/*"$2" | sort | tail -1; }

fail=0
echo
echo "| file | damage | verify | daemon | export |"
echo "|---|---|---|---|---|"
row() { # row FILE DAMAGE EXPECT COMMAND...: EXPECT is refused or harmless
  local file="$1" damage="$2" expect="$3"; shift 3
  local r="$tmp/case"
  rm -rf "$r"; cp -a "$base" "$r"
  ( cd "$r/db" && eval "$*" )
  local vout vcode=0 dout dcode=0 eout ecode=0 problems
  vout=$("$ev" verify --repo "$r" 2>/dev/null) || vcode=$?
  problems=$(printf '%s\n' "$vout" | grep -vc ' individuals: ' || true)
  dout=$(timeout 300 "$ev" daemon --repo "$r" --max-children 2 --log-level error 2>&1 >/dev/null) || dcode=$?
  eout=$("$ev" export --repo "$r" --out "$r/models" --top 100 2>&1 >/dev/null) || ecode=$?
  local v d e
  v="exit $vcode: $( (printf '%s\n' "$vout" | grep -v ' individuals: ' || true) | head -1 | sed "s|$tmp|TMP|g" | cut -c1-160)"
  [ "$vcode" = 0 ] && v="exit 0, clean"
  d="ran 2 children"
  [ "$dcode" = 0 ] || d="exit $dcode: $(printf '%s\n' "$dout" | head -1 | sed "s|$tmp|TMP|g; s|^evoswarm: ||" | cut -c1-100)"
  e="exit $ecode"; [ "$ecode" = 0 ] && e="exported"
  echo "| $file | $damage | $v | $d | $e |"
  case "$expect" in
    refused) [ "$vcode" = 1 ] && [ "$problems" = 1 ] && [ "$dcode" != 0 ] && [ "$(printf '%s\n' "$dout" | wc -l)" = 1 ] || { echo "  ^ expected verify to report one problem and the daemon to refuse in one line"; fail=1; } ;;
    harmless) [ "$vcode" = 0 ] && [ "$dcode" = 0 ] && [ "$ecode" = 0 ] || { echo "  ^ expected a clean verify, daemon and export"; fail=1; } ;;
  esac
}
row "value log" "one byte flipped in its encryption-key ID (header)" refused 'flip "$(one . .vlog)" 5'
row "value log" "one byte flipped in its IV (header; unused, nothing is encrypted)" harmless 'flip "$(one . .vlog)" 13'
row "value log" "cut to 10 bytes" refused 'truncate -s 10 "$(one . .vlog)"'
row "value log" "deleted" refused 'rm ./*.vlog'
row "table (.sst)" "one byte flipped in the middle" refused 's=$(one . .sst); flip "$s" $(( $(size "$s") / 2 ))'
row "table (.sst)" "one byte flipped in its last bytes" refused 's=$(one . .sst); flip "$s" $(( $(size "$s") - 3 ))'
row "table (.sst)" "cut to half" refused 's=$(one . .sst); truncate -s $(( $(size "$s") / 2 )) "$s"'
row "table (.sst)" "deleted" refused 'rm "$(one . .sst)"'
row "MANIFEST" "one byte flipped in its magic" refused 'flip MANIFEST 1'
row "MANIFEST" "one byte flipped in its last record" refused 'flip MANIFEST $(( $(size MANIFEST) - 2 ))'
row "MANIFEST" "cut to its 8-byte magic" refused 'truncate -s 8 MANIFEST'
row "MANIFEST" "deleted" refused 'rm MANIFEST'
row "KEYREGISTRY" "one byte flipped" refused 'flip KEYREGISTRY $(( $(size KEYREGISTRY) - 4 ))'
row "KEYREGISTRY" "deleted" harmless 'rm KEYREGISTRY'
row "DISCARD" "one byte flipped" harmless 'flip DISCARD 0'
row "DISCARD" "deleted" harmless 'rm DISCARD'
echo
[ "$fail" = 0 ] && echo "corrupt-store drill passed" || { echo "corrupt-store drill FAILED"; exit 1; }
