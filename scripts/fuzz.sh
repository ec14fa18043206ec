#!/usr/bin/env bash
# Fuzz at length: run every fuzz target in the repository (found by grepping
# the test files for `func FuzzX(`, so a new target is picked up without
# editing this script), one at a time, for M minutes each, and print a table
# of minutes, executions and corpus growth per target. A crasher that
# `go test -fuzz` finds is written under the package's
# testdata/fuzz/FuzzX/; this script makes sure it is there, says so, and
# fails at the end: commit the file and it is a regression test that every
# `go test` of that package runs from then on.
#
#   scripts/fuzz.sh [--minutes M] [--parallel P] [--only REGEX] [--minimize D]
#
#   --minutes M    minutes per target, fractions allowed (default 10)
#   --parallel P   fuzzing workers per target (default: all cores)
#   --only REGEX   run only targets whose "package/FuzzX" name matches
#   --minimize D   time to minimize each new input or crasher (default 10s;
#                  go's own default, 60s, can eat a short run)
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=10
parallel=$(nproc)
only=.
minimize=10s
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes="$2"; shift 2 ;;
    --parallel) parallel="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    --minimize) minimize="$2"; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "fuzz.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
secs=$(awk -v m="$minutes" 'BEGIN { s = int(m * 60 + 0.5); if (s < 1 || m !~ /^[0-9]*\.?[0-9]+$/) exit 1; print s }') ||
  { echo "fuzz.sh: --minutes wants a positive number, got $minutes" >&2; exit 2; }

# Targets: "dir name" per line, from the test files git knows or would add.
targets=$(git ls-files --cached --others --exclude-standard -- '*_test.go' |
  xargs grep -Ho '^func Fuzz[A-Za-z0-9_]*(' |
  sed -E 's|^(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\($|\1 \2|; s|^[^/ ]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\($|. \1|' |
  sort -u | while read -r dir name; do
    if printf '%s/%s\n' "$dir" "$name" | grep -Eq -- "$only"; then echo "$dir $name"; fi
  done)
[ -n "$targets" ] || { echo "fuzz.sh: no fuzz target matches $only" >&2; exit 1; }
n=$(printf '%s\n' "$targets" | wc -l)

echo "fuzz.sh: $n targets, $minutes min each ($secs s), $parallel workers, minimize $minimize"
echo "$(go version); $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1); $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ); commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo '+changes')"
echo

log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
rows=()
failed=0
while read -r dir name; do
  out="$log/$(echo "$dir" | tr / _)-$name.txt"
  echo "== ./$dir $name"
  start=$(date +%s)
  rc=0
  go test -run '^$' -fuzz "^${name}\$" -fuzztime "${secs}s" -fuzzminimizetime "$minimize" \
    -parallel "$parallel" "./$dir" > "$out" 2>&1 || rc=$?
  took=$(( $(date +%s) - start ))
  # The last progress line: "fuzz: elapsed: 30s, execs: 123 (4/sec), new interesting: 2 (total: 9)".
  last=$(grep '^fuzz: elapsed: .*execs: ' "$out" | tail -1 || true)
  execs=$(printf '%s' "$last" | sed -nE 's/.*execs: ([0-9]+).*/\1/p')
  interesting=$(printf '%s' "$last" | sed -nE 's/.*new interesting: ([0-9]+) \(total: ([0-9]+)\).*/\1 (corpus \2)/p')
  elapsed=$(printf '%s' "$last" | sed -nE 's/^fuzz: elapsed: ([0-9hms.]+),.*/\1/p')
  result=ok
  if [ "$rc" != 0 ]; then
    failed=1
    result="FAILED"
    tail -30 "$out" | sed 's/^/    /'
    # go writes the crasher into the package's testdata/fuzz/<target>/.
    crasher=$(sed -nE 's/.*Failing input written to (testdata\/fuzz\/[^ ]+).*/\1/p' "$out" | tail -1)
    if [ -n "$crasher" ]; then
      src="$dir/$crasher"
      if [ ! -f "$src" ]; then # written relative to elsewhere: put it in place
        found=$(find "$(go env GOCACHE)/fuzz" -name "$(basename "$crasher")" 2>/dev/null | head -1 || true)
        if [ -n "$found" ]; then mkdir -p "$(dirname "$src")"; cp "$found" "$src"; fi
      fi
      if [ -f "$src" ]; then
        echo "    crasher kept as a regression test: $src"
        echo "    (commit it; \`go test ./$dir\` replays it from now on: go test -run=$name/$(basename "$crasher") ./$dir)"
        result="FAILED, crasher in $src"
      fi
    fi
  fi
  # Minutes fuzzed, from go's elapsed time ("45s", "10m0s", "1h0m3s"), and
  # wall minutes with the build and the baseline.
  fmins=$(printf '%s' "${elapsed:-0s}" | awk '{ t = 0; s = $0
    if (match(s, /[0-9.]+h/)) t += substr(s, RSTART, RLENGTH - 1) * 3600
    if (match(s, /[0-9.]+m/)) t += substr(s, RSTART, RLENGTH - 1) * 60
    if (match(s, /[0-9.]+s/)) t += substr(s, RSTART, RLENGTH - 1)
    printf "%.1f", t / 60 }')
  wmins=$(awk -v s="$took" 'BEGIN { printf "%.1f", s / 60 }')
  echo "   $result: ${execs:-0} executions in ${elapsed:-0s} of fuzzing (wall ${wmins} min), new interesting ${interesting:-?}"
  rows+=("| ./$dir | $name | $fmins | $wmins | ${execs:-0} | ${interesting:-?} | $result |")
done <<< "$targets"

echo
echo "| package | target | minutes fuzzed | wall minutes | executions | new interesting (corpus) | result |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
if [ "$failed" != 0 ]; then
  echo
  echo "fuzz.sh: some targets failed; their crashers are in testdata/fuzz (commit them as regression tests)"
  exit 1
fi
