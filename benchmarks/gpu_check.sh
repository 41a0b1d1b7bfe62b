#!/usr/bin/env bash
# GPU checks for a lent H100 (16 cores); designed to end in under 8 minutes. Run from the
# repository root:    OUT=/some/folder bash benchmarks/gpu_check.sh
#   1. the GPU test set (pytest -m gpu), capped at 100 s;
#   2. the full `kdaug bench` (every backend, V in 1,2,4,8, both pairs end to end) with 0.5 s
#      windows, capped at 360 s (about 310 s expected); its JSON is rewritten after every row,
#      so a run cut by the cap keeps its rows (rendered to Markdown and PNG afterwards).
# Into $OUT (at most 8 files): machine.txt, summary.txt, pytest-gpu.log, bench.log,
# bench-h100.json, bench-h100.md, bench-h100.png.
# BENCH_ARGS (default empty) adds flags to the bench, e.g. BENCH_ARGS="--preset tiny" to try
# this script on a machine without a GPU.
# DALI: used if it imports; otherwise .dali3/setup-dali.sh (shared/device/README.md: DALI
# carried in three chunks) is sourced first when it is there.
set -u
: "${OUT:?set OUT to the folder that receives the results}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 COLUMNS=160
. benchmarks/kdaug_bench.sh   # PY, PYTHONPATH, kdaug_bench
summary="$OUT/summary.txt"
: > "$summary"

if ! $PY -c "import nvidia.dali" 2>/dev/null && [ -f .dali3/setup-dali.sh ]; then
  . .dali3/setup-dali.sh
fi

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "cores: $(nproc)"
  echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown) (plus uncommitted changes: $(git status --porcelain 2>/dev/null | wc -l) files)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1
  $PY -c "import sys, torch, torchvision, numpy, PIL; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, 'torchvision', torchvision.__version__, 'numpy', numpy.__version__, 'pillow', PIL.__version__)"
  $PY -c "import nvidia.dali as d; print('dali', d.__version__)" 2>&1 | tail -1
} > "$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt"

t0=$(date +%s)
timeout 100 $PY -m pytest -m gpu -q -rs -p no:cacheprovider tests > "$OUT/pytest-gpu.log" 2>&1
echo "pytest -m gpu: exit $? after $(( $(date +%s) - t0 ))s: $(tail -1 "$OUT/pytest-gpu.log")" | tee -a "$summary"

t1=$(date +%s)
timeout 360 bash -c ". benchmarks/kdaug_bench.sh; kdaug_bench --window-s 0.5 ${BENCH_ARGS:-} \
  --json '$OUT/bench-h100.json' --plot '$OUT/bench-h100.png' --markdown '$OUT/bench-h100.md'" \
  > "$OUT/bench.log" 2>&1
echo "kdaug bench: exit $? after $(( $(date +%s) - t1 ))s (124 = cut by the 360 s cap)" | tee -a "$summary"
rm -f "$OUT/bench-h100.json.tmp"
if [ -f "$OUT/bench-h100.json" ] && [ ! -f "$OUT/bench-h100.md" ]; then   # cut short: render
  $PY benchmarks/render.py "$OUT/bench-h100.json" --markdown "$OUT/bench-h100.md" \
    --plot "$OUT/bench-h100.png" >> "$OUT/bench.log" 2>&1
fi
grep -E "unavailable|FAILED|error" "$OUT/bench.log" | head -20 | tee -a "$summary"
echo "total $(( $(date +%s) - t0 ))s" | tee -a "$summary"
