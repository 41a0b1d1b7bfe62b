"""`kdaug bench`: loader-only speed, end-to-end training speed and the synthetic ceiling of
every augmentation backend, measured together in one process so that their ratios mean
something. See benchmarks/README.md for the recorded runs."""
from kdaug.bench.run import failures, run_bench
from kdaug.bench.settings import PAIRS, PRESETS, BenchSettings, preset

__all__ = ["BenchSettings", "PAIRS", "PRESETS", "failures", "preset", "run_bench"]
