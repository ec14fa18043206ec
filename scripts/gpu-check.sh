#!/usr/bin/env bash
# The GPU check: one prepared run, within 5 minutes, on a machine with an
# NVIDIA GPU and its driver.
#
#   scripts/gpu-check.sh [--bin DIR] [--data DIR] [--out DIR] [--minutes M]
#
# It prints the device; checks the GPU against the CPU engine on 3 genomes
# (same initial weights, logits within 1e-3, every loss of 50 SGD steps
# within 1e-2); runs the GPU kernels against their CPU emulation one by
# one; trains the reference CNN for 200 steps on the GPU and prints images/s;
# runs the same CNN in PyTorch on the same card when PyTorch is there and
# prints the ratio; and ends with an M-minute (default 3) single-node
# evolution on the GPU, printing the best validation accuracy over time.
#
# --bin DIR holds evoswarm and cuda.test built with -tags gpu (scripts/build-gpu.sh)
# (scripts/build-gpu.sh makes them; without --bin the script runs it, which
# needs Go). The binaries load libcuda.so.1 and libcublas.so.13 at start;
# the script puts the CUDA toolkit's or PyTorch's pip wheels' cuBLAS on
# LD_LIBRARY_PATH. When nvcc is
# there it regenerates the kernels' PTX first and runs that (the file is
# saved in --out, to be committed as train/cuda/kernels.ptx).
# The output is also written to --out/gpu-check.log. Exit status 0 means the
# agreement check passed.
set -uo pipefail
cd "$(dirname "$0")/.."

bin="" data="" out="${OUT:-gpu-check-out}" minutes=3
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bin="$2"; shift 2 ;;
    --data) data="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --minutes) minutes="$2"; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "gpu-check.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
exec > >(tee "$out/gpu-check.log") 2>&1
t0=$(date +%s)
stamp() { echo; echo "== [$(( $(date +%s) - t0 )) s] $*"; }

if [ -z "$bin" ]; then
  stamp "building the CUDA binaries (scripts/build-gpu.sh)"
  bash scripts/build-gpu.sh .gpu || exit 1
  bin=.gpu
fi
bin=$(cd "$bin" && pwd)
for f in "$bin/evoswarm.xz" "$bin/cuda.test.xz"; do
  [ -f "$f" ] && xz -d -f -k "$f"
done
chmod +x "$bin/evoswarm" "$bin/cuda.test" 2>/dev/null
[ -n "$data" ] && export EVOSWARM_DATA="$data"

stamp "device"
nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv 2>&1 || echo "nvidia-smi: not found"
command -v nvcc >/dev/null && nvcc --version | tail -2

# cuBLAS: the toolkit's, else PyTorch's pip wheel's.
libdirs=$( { ls -d /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda-*/targets/x86_64-linux/lib 2>/dev/null
  python3 - <<'PY' 2>/dev/null
import glob, os, site, sys
for d in site.getsitepackages() + [site.getusersitepackages()]:
    for p in glob.glob(os.path.join(d, "nvidia", "**", "libcublas.so.*"), recursive=True):
        print(os.path.dirname(p))
PY
} | while read -r d; do ls "$d"/libcublas.so.13* >/dev/null 2>&1 && echo "$d"; done | awk '!seen[$0]++' | paste -sd: -)
if [ -z "$libdirs" ]; then
  libdirs=$(timeout 30 find / -xdev -name 'libcublas.so.13*' 2>/dev/null | head -1 | xargs -r dirname)
fi
export LD_LIBRARY_PATH="${libdirs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
echo "cuBLAS from: ${libdirs:-not found}"
ldconfig -p | grep -E 'libcuda\.so\.1|libcublas\.so\.13' | head -4

stamp "kernels: GPU against their CPU emulation (the embedded PTX)"
timeout 120 "$bin/cuda.test" -test.v -test.count=1 > "$out/kernels-embedded.txt" 2>&1
kernels=$?
cat "$out/kernels-embedded.txt"
echo "kernel tests with the embedded PTX: exit $kernels"

if command -v nvcc >/dev/null; then
  stamp "regenerating the kernels' PTX with nvcc, and the kernel tests on it"
  if bash scripts/gen-ptx.sh "$out/kernels.ptx"; then
    if EVOSWARM_CUDA_PTX="$out/kernels.ptx" timeout 120 "$bin/cuda.test" -test.count=1 > "$out/kernels-nvcc.txt" 2>&1; then
      grep -E 'TFLOP|launch|bandwidth' "$out/kernels-nvcc.txt" | head -10
      echo "kernel tests with nvcc's PTX: pass; using it from here on"
      export EVOSWARM_CUDA_PTX="$out/kernels.ptx"
    else
      tail -20 "$out/kernels-nvcc.txt"
      echo "kernel tests with nvcc's PTX: FAIL; keeping the embedded PTX"
    fi
  else
    echo "nvcc failed; keeping the embedded PTX"
  fi
fi

stamp "agreement: CPU engine against GPU, 3 genomes, 50 steps"
timeout 150 "$bin/evoswarm" bench agree --device cuda --steps 50 2>&1 | tee /tmp/gpu-check-agree.txt
agree=${PIPESTATUS[0]}
if [ "$agree" -ne 0 ] && grep -q -- "--device cuda: " /tmp/gpu-check-agree.txt; then
  stamp "the GPU did not open: stopping here"
  exit "$agree"
fi

stamp "throughput: reference CNN, 200 steps of batch 50 on the GPU"
timeout 90 "$bin/evoswarm" bench train --device cuda --steps 200 --json | tee /tmp/gpu-check-bench-gpu.json
gpu_ips=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["train_images_per_second"])' /tmp/gpu-check-bench-gpu.json 2>/dev/null)

if python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
  stamp "PyTorch on the same card: reference CNN, 200 steps of batch 50"
  torchdata=${EVOSWARM_DATA:-/usr/share/datasets}/fashion-mnist
  timeout 90 python3 scripts/bench/torch_ref.py --device cuda --steps 200 --threads 4 --data "$torchdata" --json | tee /tmp/gpu-check-bench-torch.json
  torch_ips=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["train_images_per_second"])' /tmp/gpu-check-bench-torch.json 2>/dev/null)
  if [ -n "$gpu_ips" ] && [ -n "$torch_ips" ]; then
    python3 -c 'import sys; g, t = map(float, sys.argv[1:]); print("evoswarm %.0f images/s, PyTorch %.0f images/s: ratio %.2fx" % (g, t, g / t))' "$gpu_ips" "$torch_ips"
  fi
else
  echo "PyTorch with CUDA is not here: no ratio"
fi

stamp "evolution: one node, gpu-small preset, $minutes minutes on the GPU"
repo=$(mktemp -d)/repo
"$bin/evoswarm" init --repo "$repo" --preset gpu-small --loopback >/dev/null
"$bin/evoswarm" daemon --repo "$repo" --device cuda --log-level warn > "$out/daemon.log" 2>&1 &
pid=$!
sleep $(( minutes * 60 ))
kill -INT "$pid"; wait "$pid"
"$bin/evoswarm" status --repo "$repo"
"$bin/evoswarm" progress --repo "$repo" --every 0.25
tail -5 "$out/daemon.log"

stamp "summary"
echo "kernels test exit $kernels; agreement exit $agree"
exit $agree
