#!/usr/bin/env bash
# The GPU check: one command on a GPU machine (16 cores, one card), under 8 minutes, the most
# important figures first. From the repository root, with DALI importable (on a host without
# a package index: shared/device/README.md carries it in three chunks; the last call is
#   cp .dali3/dalipart.* /tmp/dch/ && . .dali3/setup-dali.sh && OUT=$OUT bash benchmarks/gpu_check.sh):
#
#   OUT=/some/folder bash benchmarks/gpu_check.sh
#
#   0. the machine: the card (nvidia-smi), torch.cuda, `import nvidia.dali`; any of them
#      missing stops the check at once with exit 2 (it never passes by skipping);
#   1. the targets (kdaug bench --preset targets, cap 240 s): ImageNet-style JDA V=1 and V=2
#      and CIFAR-style JDA V=2 on the GPU beside the reference on all cores and DALI's own
#      AutoAugment, KD resnet34->resnet18 end to end with its data stall, and the per-step
#      table of the JDA chain on the GPU;
#   2. the GPU tests (pytest -m gpu, cap 150 s): every op against PIL on the GPU, whole views
#      against the reference, batch 256, files decoded on the GPU, pipelines built once;
#   3. V = 4 and 8 loader-only (cap 60 s), with whatever time is left.
# Into $OUT: machine.txt, summary.txt, targets.{json,md,log}, pytest-gpu.log, views48.{json,md,log}.
# DRY_RUN=1 runs the same steps on a machine without a GPU with the tiny bench preset, to try
# the script itself before a GPU session (its figures mean nothing; it says so).
set -u
DRY=${DRY_RUN:-}
size=${DRY:+--preset tiny --op-table --sources arrays}
batches="--batch-arrays 1024 --batch-jpeg 256"
[ -n "$DRY" ] && batches=""
: "${OUT:?set OUT to the folder that receives the results}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 COLUMNS=200
. benchmarks/kdaug_bench.sh   # PY, PYTHONPATH, kdaug_bench
summary="$OUT/summary.txt"
: > "$summary"
t0=$(date +%s)
say() { echo "$*" | tee -a "$summary"; }

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "cores: $(nproc)"
  echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown) (uncommitted files: $(git status --porcelain 2>/dev/null | wc -l))"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1
} > "$OUT/machine.txt"
card=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
if [ -n "$DRY" ]; then
  card=${card:-"no GPU (dry run: nothing below is a GPU figure)"}
elif [ -z "$card" ]; then
  say "FAIL: nvidia-smi names no GPU: this check needs one"; cat "$OUT/machine.txt"; exit 2
fi
if ! $PY - >> "$OUT/machine.txt" 2>&1 <<'PY'
import sys
import torch
assert torch.cuda.is_available(), "torch sees no CUDA device"
import nvidia.dali as dali
from nvidia.dali.backend import GetCUDADeviceCount
assert GetCUDADeviceCount() > 0, "DALI sees no CUDA device"
import numpy, PIL, torchvision
print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda,
      "torchvision", torchvision.__version__, "numpy", numpy.__version__, "pillow",
      PIL.__version__, "dali", dali.__version__, "device", torch.cuda.get_device_name(0))
PY
then
  if [ -z "$DRY" ]; then
    say "FAIL: torch.cuda or nvidia.dali is not usable here (see machine.txt)"; cat "$OUT/machine.txt"; exit 2
  fi
fi
cat "$OUT/machine.txt"
say "card: $card"

timeout 240 bash -c ". benchmarks/kdaug_bench.sh; kdaug_bench --preset targets $size \
  --json '$OUT/targets.json' --markdown '$OUT/targets.md'" > "$OUT/targets.log" 2>&1
say "1. targets: exit $? after $(( $(date +%s) - t0 ))s (124: cut by the 240 s cap)"
grep -A12 "^Targets" "$OUT/targets.log" | tee -a "$summary"
if [ -f "$OUT/targets.json" ] && [ ! -f "$OUT/targets.md" ]; then   # cut short: render
  $PY benchmarks/render.py "$OUT/targets.json" --markdown "$OUT/targets.md" >> "$OUT/targets.log" 2>&1
fi

t1=$(date +%s)
timeout 150 $PY -m pytest -m gpu -q -rfEs -p no:cacheprovider tests > "$OUT/pytest-gpu.log" 2>&1
say "2. pytest -m gpu: exit $? after $(( $(date +%s) - t1 ))s: $(tail -1 "$OUT/pytest-gpu.log")"
grep -E "^(FAILED|ERROR)" "$OUT/pytest-gpu.log" | head -20 | tee -a "$summary"

left=$(( 470 - ($(date +%s) - t0) ))
if [ "$left" -gt 30 ]; then
  t2=$(date +%s)
  timeout "$left" bash -c ". benchmarks/kdaug_bench.sh; kdaug_bench --views 4,8 \
    --backends reference,dali-gpu,synthetic --no-end-to-end --window-s 0.4 $size \
    $batches --json '$OUT/views48.json' \
    --markdown '$OUT/views48.md'" > "$OUT/views48.log" 2>&1
  say "3. V=4,8: exit $? after $(( $(date +%s) - t2 ))s"
else
  say "3. V=4,8: skipped, ${left}s left of the 470 s budget"
fi
rm -f "$OUT"/*.json.tmp
say "total $(( $(date +%s) - t0 ))s on $card"
