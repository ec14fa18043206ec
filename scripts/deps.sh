#!/usr/bin/env bash
# Install what evoswarm's tests and main job need on Debian or Ubuntu:
# the Fashion-MNIST data set, oneDNN and OpenBLAS (for the fast build),
# PyTorch (the reference the training engine is checked against) and
# Graphviz.
# Idempotent: packages already present are not fetched again.
set -euo pipefail

pkgs=(dataset-fashion-mnist libdnnl-dev libopenblas-dev python3-torch python3-numpy python3-onnx graphviz curl chromium)

if ! command -v go >/dev/null 2>&1; then
  echo "deps: Go is not installed; evoswarm needs Go 1.26.6 or newer (https://go.dev/dl/)" >&2
  exit 1
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
  else
    echo "deps: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi
echo "deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
