#!/usr/bin/env bash
# The training engine's acceptance check on Fashion-MNIST:
#  - the paper's initial individual (no convolutions) trained for one epoch
#    (1,080 steps of 50) should score 15-30% validation accuracy;
#  - the reference CNN trained for 1,000 steps should score >= 80%.
# Prints both and exits non-zero if either is out of range.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/evoswarm" ./cmd/evoswarm
"$tmp/evoswarm" dna init --input 28x28x1 --classes 10 > "$tmp/initial.json"
"$tmp/evoswarm" bench train --steps 0 --genome-out "$tmp/reference.json" > /dev/null
"$tmp/evoswarm" train --data fashion-mnist --genome "$tmp/initial.json" --steps 1080 --json > "$tmp/initial.out"
"$tmp/evoswarm" train --data fashion-mnist --genome "$tmp/reference.json" --steps 1000 --json > "$tmp/reference.out"
/usr/bin/python3 - "$tmp" <<'PY'
import json, sys
d = sys.argv[1]
i = json.load(open(f"{d}/initial.out"))
r = json.load(open(f"{d}/reference.out"))
ok_i = 0.15 <= i["val_accuracy"] <= 0.30
ok_r = r["val_accuracy"] >= 0.80
print(f"initial individual, 1 epoch ({i['steps']} steps): val {i['val_accuracy']:.4f} test {i['test_accuracy']:.4f}  {'ok' if ok_i else 'OUT OF RANGE (15-30%)'}")
print(f"reference CNN, {r['steps']} steps: val {r['val_accuracy']:.4f} test {r['test_accuracy']:.4f}  {r['images_per_second']:.0f} images/s  {'ok' if ok_r else 'BELOW 80%'}")
sys.exit(0 if ok_i and ok_r else 1)
PY
