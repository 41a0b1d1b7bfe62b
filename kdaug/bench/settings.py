"""What one `kdaug bench` run measures, and how long it looks at each thing.

Three presets: ``full`` (the README's numbers), ``quick`` (under 2 minutes on 2 CPU cores) and
``tiny`` (the test suite: seconds, numbers meaningless). Every value can be overridden; the
resolved settings are written into the JSON so that a run can be repeated.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from kdaug.errors import KdaugError

BACKENDS = ("reference", "dali-cpu", "dali-gpu", "synthetic", "dali-autoaugment")
SOURCES = ("arrays", "jpeg")
MIN_WINDOWS = 5


@dataclass(frozen=True)
class Pair:
    """A KD teacher -> student pair trained end to end on one source."""

    name: str
    teacher: str
    student: str
    source: str            # arrays (32x32) | jpeg (224 crops)
    num_classes: int       # head size (CIFAR-100 / ImageNet), independent of the source's labels
    recipe: str            # kdaug.engine.config.DATASET_DEFAULTS key: the optimiser recipe
    batch_gpu: int         # images per step when training on a GPU
    batch_cpu: int         # ... on the CPU, where a step is 100x slower
    steps_gpu: int         # steps per timed window on a GPU
    steps_cpu: int

    def batch(self, device_type: str) -> int:
        return self.batch_gpu if device_type == "cuda" else self.batch_cpu

    def steps(self, device_type: str) -> int:
        return self.steps_gpu if device_type == "cuda" else self.steps_cpu


PAIRS: Dict[str, Pair] = {
    "cifar": Pair("resnet32x4->resnet8x4 @32", "resnet32x4", "resnet8x4", "arrays", 100,
                  "cifar100", batch_gpu=256, batch_cpu=16, steps_gpu=10, steps_cpu=1),
    "imagenet": Pair("resnet34->resnet18 @224", "resnet34", "resnet18", "jpeg", 1000,
                     "imagenet", batch_gpu=256, batch_cpu=4, steps_gpu=4, steps_cpu=1),
    # kdaug's embedded default pair: small enough for the test suite's smoke run.
    "digits": Pair("resnet20->resnet8 @32", "resnet20", "resnet8", "arrays", 10, "digits",
                   batch_gpu=256, batch_cpu=16, steps_gpu=10, steps_cpu=1),
}


@dataclass(frozen=True)
class BenchSettings:
    preset: str = "full"
    backends: Tuple[str, ...] = BACKENDS
    sources: Tuple[str, ...] = SOURCES
    views: Tuple[int, ...] = (1, 2, 4, 8)
    # loader-only
    arrays_images: int = 50000      # synthetic CIFAR-style arrays (CIFAR's epoch length)
    jpeg_images: int = 2000         # generated 500x375 JPEGs (when no folder is given)
    jpeg_classes: int = 10
    # A small folder is listed repeatedly up to this many entries per epoch, so epoch
    # boundaries (a DALI pipeline rebuilt, DataLoader workers re-primed) come as rarely as
    # with a real dataset instead of every few hundred images.
    jpeg_epoch: int = 20000
    batch_arrays: int = 256
    batch_jpeg: int = 64
    windows: int = 5
    window_s: float = 0.75          # a timed window lasts at least this long ...
    min_window_batches: int = 2     # ... and at least this many batches
    warmup_s: float = 1.0           # after the first batch (build, worker start) ...
    warmup_batches: int = 6         # ... and at least this many batches: prefetch queues fill
    # end to end
    pairs: Tuple[str, ...] = ("cifar", "imagenet")
    e2e_views: int = 2
    e2e_warmup_steps: int = 3
    e2e_batch: Optional[int] = None  # overrides the pair's batch (tests)
    e2e_steps: Optional[int] = None  # overrides the pair's steps per window (tests)
    # machine
    workers: Optional[int] = None    # reference DataLoader workers and DALI threads: all cores
    loader_torch_threads: int = 1    # torch threads of the main process during loader-only runs
    seed: int = 0
    policy_arrays: str = "cifar100"
    policy_jpeg: str = "imagenet"
    # per-step cost of the JDA chain (kdaug.bench.op_timing), for each DALI backend
    op_table: bool = False
    op_seconds: float = 1.0

    def __post_init__(self):
        bad = [b for b in self.backends if b not in BACKENDS]
        if bad:
            raise KdaugError(f"--backends: unknown {', '.join(bad)}; known: {', '.join(BACKENDS)}")
        bad = [s for s in self.sources if s not in SOURCES]
        if bad:
            raise KdaugError(f"--sources: unknown {', '.join(bad)}; known: {', '.join(SOURCES)}")
        bad = [p for p in self.pairs if p not in PAIRS]
        if bad:
            raise KdaugError(f"--pairs: unknown {', '.join(bad)}; known: {', '.join(PAIRS)}")
        if not self.views or min(self.views) < 1:
            raise KdaugError("--views: give one or more view counts >= 1, e.g. 1,2,4,8")
        if self.windows < MIN_WINDOWS:
            raise KdaugError(f"--windows: at least {MIN_WINDOWS} timed windows are needed for a "
                             f"median and a spread, got {self.windows}")
        if self.workers is not None and self.workers < 1:
            raise KdaugError(f"--workers must be at least 1, got {self.workers}")

    def replace(self, **changes) -> "BenchSettings":
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


PRESETS: Dict[str, BenchSettings] = {
    "full": BenchSettings(),
    # Two view counts, small sources, short windows, the 32x32 pair only: < 2 minutes on
    # 2 CPU cores where DALI, PIL workers and the training step share the cores.
    "quick": BenchSettings(preset="quick", views=(1, 2), arrays_images=16384, jpeg_images=256,
                           jpeg_epoch=8192,
                           batch_arrays=128, batch_jpeg=16, window_s=0.3, min_window_batches=1,
                           warmup_s=0.5, warmup_batches=4, pairs=("cifar",), e2e_warmup_steps=1),
    # The GPU check's first command: the target figures (views 1 and 2, both sources, a large
    # packed batch for 32x32 arrays, ImageNet's batch for JPEGs, the ImageNet pair end to end)
    # and the per-step table, in about two minutes on a GPU machine.
    "targets": BenchSettings(preset="targets", backends=("reference", "dali-gpu", "synthetic",
                                                         "dali-autoaugment"),
                             views=(1, 2), batch_arrays=1024, batch_jpeg=256,
                             window_s=0.5, warmup_s=1.0, pairs=("imagenet",), op_table=True,
                             op_seconds=0.5),
    # The test suite: structure only.
    "tiny": BenchSettings(preset="tiny", views=(1, 2), arrays_images=256, jpeg_images=24,
                          jpeg_epoch=0,
                          jpeg_classes=3, batch_arrays=32, batch_jpeg=4, window_s=0.0,
                          min_window_batches=1, warmup_s=0.0, warmup_batches=2,
                          pairs=("digits",), e2e_warmup_steps=1, e2e_batch=4, e2e_steps=1),
}


def preset(name: str, **changes) -> BenchSettings:
    if name not in PRESETS:
        raise KdaugError(f"unknown bench preset {name!r}; known: {', '.join(PRESETS)}")
    return PRESETS[name].replace(**changes)


def parse_csv(value: Optional[str], cast=str, flag: str = "") -> Optional[tuple]:
    """'1,2,4' -> (1, 2, 4); None stays None (the preset decides)."""
    if value is None:
        return None
    try:
        items = tuple(cast(v.strip()) for v in value.split(",") if v.strip())
    except ValueError:
        raise KdaugError(f"{flag}: expected a comma-separated list, got {value!r}") from None
    if not items:
        raise KdaugError(f"{flag} is empty")
    return items
