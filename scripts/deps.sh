#!/usr/bin/env bash
# Install what evoswarm's tests and main job need on Debian or Ubuntu.
#
#   scripts/deps.sh          everything the tests use (scripts/test.sh, CI)
#   scripts/deps.sh --main   only what the main job needs
#                            (scripts/local-swarm.sh)
#
# The main job needs a C compiler, the Fashion-MNIST data set, and for the
# fast build oneDNN (2.6 to 3.x) and OpenBLAS (scripts/fast-tags.sh falls back to a
# slower build without them). The tests also use PyTorch (the reference the
# training engine is checked against), Graphviz, patchelf and the CUDA build
# SDK (the GPU build, scripts/cuda-sdk.sh), Node.js with onnxruntime-node
# (the ONNX export is run in onnxruntime: scripts/onnxrt), python3-onnx (the
# ONNX checker), Chromium (the dashboard) and the network-namespace tools.
# Both fetch the Go modules, so that no test downloads anything.
#
# A package this distribution does not carry (Ubuntu has no `chromium`
# package, 24.04 no `python3-torch`) is skipped with a note, and the tests
# that need it skip; under CI=true every package is required. Idempotent:
# packages already present are not fetched again, and onnxruntime-node is
# reinstalled only when scripts/onnxrt/package-lock.json changed. Nothing
# else on the system is changed: no apt sources are added.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=all
case "${1-}" in
  "") ;;
  --main) mode=main ;;
  -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
  *) echo "deps.sh: unknown argument $1" >&2; exit 2 ;;
esac
ci=false
[ "${CI:-}" = true ] && ci=true

# Go: the version go.mod asks for, or one (1.21 or newer) that can fetch it.
need=$(awk '$1 == "go" { print $2; exit }' go.mod)
if ! command -v go >/dev/null 2>&1; then
  echo "deps: Go is not installed; evoswarm needs Go $need or newer (https://go.dev/dl/)" >&2
  exit 1
fi
have=$(go env GOVERSION 2>/dev/null || true)
have=${have#go}
if [ -z "$have" ] || [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -n 1)" != "$need" ]; then
  echo "deps: evoswarm needs Go $need or newer; this machine's is ${have:-too old to say}. Install it from https://go.dev/dl/ (a Go of 1.21 or newer fetches it by itself unless GOTOOLCHAIN=local)" >&2
  exit 1
fi

# gcc and libc6-dev: cgo (the fast build, the GPU build's stubs).
required=(gcc libc6-dev dataset-fashion-mnist)
optional=(libdnnl-dev libopenblas-dev)
if [ "$mode" = all ]; then
  # iproute2, nftables, iputils-ping, jq and bc: the multi-host tests in
  # network namespaces (internal/netns, scripts/netns-*.sh, scripts/nat-lab.sh).
  optional+=(python3-torch python3-numpy python3-onnx graphviz curl chromium patchelf nodejs iproute2 nftables iputils-ping jq bc)
  # Debian ships npm as a package of its own; NodeSource's nodejs carries npm
  # and conflicts with Debian's, so npm is asked for only when it is missing.
  command -v npm >/dev/null 2>&1 || optional+=(npm)
fi
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=()
for p in "${required[@]}" "${optional[@]}"; do
  installed "$p" || missing+=("$p")
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
  $sudo apt-get update -qq
  # Only what this distribution carries: a package with no candidate
  # (missing, or only a virtual name) is left out, or is an error where it
  # is required.
  take=()
  for p in "${missing[@]}"; do
    cand=$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ { print $2 }')
    if [ -n "$cand" ] && [ "$cand" != "(none)" ]; then
      take+=("$p")
    elif $ci || [[ " ${required[*]} " == *" $p "* ]]; then
      echo "deps: package $p is not available here (enable Debian's main or Ubuntu's universe component)" >&2
      exit 1
    else
      echo "deps: package $p is not available here; what needs it is skipped" >&2
    fi
  done
  if [ ${#take[@]} -gt 0 ]; then
    echo "deps: installing ${take[*]}"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${take[@]}" >/dev/null
  fi
fi

# The modules, now rather than at the first build.
go mod download

[ "$mode" = all ] || exit 0

# onnxruntime-node (its CPU binaries are inside the package) into
# scripts/onnxrt/node_modules, exactly as the lock file says. Its install
# script would download GPU binaries, which the tests do not use: skipped.
onnxrt=scripts/onnxrt
want=$(sha256sum "$onnxrt/package-lock.json" | cut -d' ' -f1)
stamp=$onnxrt/node_modules/.evoswarm-lock-sha256
if command -v npm >/dev/null 2>&1; then
  if [ ! -f "$onnxrt/node_modules/onnxruntime-node/package.json" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "deps: npm ci --ignore-scripts in $onnxrt (onnxruntime-node)"
    (cd "$onnxrt" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
    echo "$want" >"$stamp"
  fi
elif $ci; then
  echo "deps: npm is missing" >&2
  exit 1
fi

# The CUDA build SDK (headers and link stubs from Debian 12's
# nvidia-cuda-dev, ~774 MB fetched once into the user's cache, 16 MB kept)
# for the GPU build check of scripts/test.sh. Where it cannot be made (another
# distribution), that check is skipped.
if ! bash scripts/cuda-sdk.sh >/dev/null; then
  if $ci; then
    echo "deps: could not make the CUDA build SDK (scripts/cuda-sdk.sh)" >&2
    exit 1
  fi
  echo "deps: no CUDA build SDK here (scripts/cuda-sdk.sh failed); the GPU build check is skipped" >&2
fi
