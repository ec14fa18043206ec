#!/usr/bin/env bash
# Install what evoswarm's tests and main job need on Debian or Ubuntu:
# the Fashion-MNIST data set, oneDNN and OpenBLAS (for the fast build),
# PyTorch (the reference the training engine is checked against),
# Graphviz, patchelf (the GPU build), Node.js with onnxruntime-node (the
# ONNX export is run in onnxruntime: scripts/onnxrt) and python3-onnx (the
# ONNX checker).
# Idempotent: packages already present are not fetched again, and
# onnxruntime-node is reinstalled only when scripts/onnxrt/package-lock.json
# changed. Nothing else on the system is changed: no apt sources are added.
set -euo pipefail
cd "$(dirname "$0")/.."

# iproute2, nftables, iputils-ping, jq and bc: the multi-host tests in network
# namespaces (internal/netns, scripts/netns-*.sh, scripts/nat-lab.sh).
pkgs=(dataset-fashion-mnist libdnnl-dev libopenblas-dev python3-torch python3-numpy python3-onnx graphviz curl chromium patchelf nodejs iproute2 nftables iputils-ping jq bc)
# Debian ships npm as a package of its own; NodeSource's nodejs carries npm
# and conflicts with Debian's, so npm is asked for only when it is missing.
command -v npm >/dev/null 2>&1 || pkgs+=(npm)

if ! command -v go >/dev/null 2>&1; then
  echo "deps: Go is not installed; evoswarm needs Go 1.26.6 or newer (https://go.dev/dl/)" >&2
  exit 1
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
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
fi

# onnxruntime-node (its CPU binaries are inside the package) into
# scripts/onnxrt/node_modules, exactly as the lock file says. Its install
# script would download GPU binaries, which the tests do not use: skipped.
onnxrt=scripts/onnxrt
want=$(sha256sum "$onnxrt/package-lock.json" | cut -d' ' -f1)
stamp=$onnxrt/node_modules/.evoswarm-lock-sha256
if [ ! -f "$onnxrt/node_modules/onnxruntime-node/package.json" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "deps: npm ci --ignore-scripts in $onnxrt (onnxruntime-node)"
  (cd "$onnxrt" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
fi
