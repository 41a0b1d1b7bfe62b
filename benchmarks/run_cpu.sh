#!/usr/bin/env bash
# The CPU runs of benchmarks/RESULTS.md: `kdaug bench --quick`, then the full bench, on this
# machine (no GPU needed). Files go to benchmarks/results/NAME-{quick,full}.{json,md,png}.
# Usage, from the repository root:   bash benchmarks/run_cpu.sh cpu-2core
# Other processes skew every row: each result records the load average at its start and end.
set -euo pipefail
name=${1:?give a name for the result files, e.g. cpu-2core}
out=benchmarks/results
mkdir -p "$out"
. benchmarks/kdaug_bench.sh   # PY, PYTHONPATH, kdaug_bench
echo "$(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
kdaug_bench --quick --json "$out/$name-quick.json" --plot "$out/$name-quick.png" \
  --markdown "$out/$name-quick.md"
kdaug_bench --json "$out/$name-full.json" --plot "$out/$name-full.png" \
  --markdown "$out/$name-full.md"
