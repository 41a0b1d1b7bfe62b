"""End-to-end speed: KD training steps of the real Trainer (kdaug.engine.trainer), fed by each
backend. A loader can be 10x faster than another while training is not; these rows show it.

The loader handed to the Trainer stamps the clock each time a batch is asked for, after a
device synchronisation: stamp i is the end of step i-1, so a step's time includes any wait for
its batch (the data stall) and its full GPU work.
"""
from __future__ import annotations

import tempfile
import time
from typing import Callable, Iterator, List

import torch

from kdaug.bench.backends import Backend, Endless, batches_in_flight, open_loader
from kdaug.bench.context import GpuMemory
from kdaug.bench.loaders import measured, plan_for
from kdaug.bench.settings import PAIRS, BenchSettings, Pair
from kdaug.bench.timing import summarize, synchronizer, windows_from_stamps
from kdaug.data.source import Split
from kdaug.viewbatch import ViewBatch


class StampedLoader:
    """``steps`` batches from a stream, with the time each was asked for (and one final stamp
    when the trainer asks past the end)."""

    def __init__(self, stream: Iterator[ViewBatch], steps: int, sync: Callable[[], None]):
        self.stream, self.steps, self.sync = stream, steps, sync
        self.stamps: List[float] = []

    def set_epoch(self, epoch: int) -> None:
        pass

    def __len__(self) -> int:
        return self.steps

    def _stamp(self) -> None:
        self.sync()
        self.stamps.append(time.perf_counter())

    def __iter__(self) -> Iterator[ViewBatch]:
        for _ in range(self.steps):
            self._stamp()
            yield next(self.stream)
        self._stamp()


def make_trainer(pair: Pair, loader, device: torch.device, batch_size: int, num_classes: int,
                 seed: int, run_dir: str):
    """A KD trainer for the pair with the pair's reference recipe (SGD, bf16 autocast and
    channels-last on CUDA), teacher randomly initialised: speed does not depend on weights."""
    from kdaug import models
    from kdaug.engine.config import TrainConfig
    from kdaug.engine.distributed import DistInfo
    from kdaug.engine.trainer import Trainer
    from kdaug.methods import get_method

    kd = get_method("kd")
    cfg = TrainConfig(dataset=pair.recipe, method="kd", teacher=pair.teacher, student=pair.student,
                      batch_size=batch_size, limit_batches=len(loader), seed=seed,
                      device=str(device)).resolved()
    torch.manual_seed(seed)
    student = models.build(kd.model_kind, pair.student, num_classes)
    teacher = models.build(kd.teacher_kind, pair.teacher, num_classes)
    method = kd(student, teacher, num_classes)
    return Trainer(cfg, method, loader, None, device, DistInfo(), run_dir,
                   record={"kind": kd.model_kind, "arch": pair.student, "num_classes": num_classes})


def measure_pair(pair_key: str, backend: Backend, split: Split, *, settings: BenchSettings,
                 device: torch.device, workers: int, memory: GpuMemory) -> dict:
    pair = PAIRS[pair_key]
    views = settings.e2e_views
    batch = settings.e2e_batch or pair.batch(device.type)
    # Windows span whole bursts of a loader and the warm-up drains its queue (see
    # batches_in_flight): a loader slower than training would otherwise look fast at first.
    in_flight = batches_in_flight(backend, workers)
    steps = max(settings.e2e_steps or pair.steps(device.type), in_flight)
    warmup = max(settings.e2e_warmup_steps, 2 * in_flight + 2)
    row = {"pair": pair.name, "pair_key": pair_key, "teacher": pair.teacher,
           "student": pair.student, "source": pair.source, "backend": backend.name,
           "views": views, "batch_size": batch, "steps_per_window": steps}
    if not backend.available:
        row["unavailable"] = backend.reason
        return row
    if backend.name == "dali-autoaugment":
        row["unavailable"] = "the AutoAugment peer is measured loader only"
        return row
    plan = plan_for(pair.source, views, settings)
    num_classes = max(pair.num_classes, int(split.labels.max()) + 1)
    total = warmup + steps * settings.windows
    def measure(stream):
        stamped = StampedLoader(stream, total, synchronizer(device))
        with tempfile.TemporaryDirectory(prefix="kdaug-bench-") as run_dir:
            trainer = make_trainer(pair, stamped, device, batch, num_classes, settings.seed,
                                   run_dir)
            trainer.train_epoch(0)
            del trainer
        windows = windows_from_stamps(stamped.stamps, warmup, steps, settings.windows, batch,
                                      batch * views)
        row.update(summarize(windows))
        row["warmup_steps"] = warmup

    return measured(row, memory, lambda: Endless(open_loader(
        backend, split, plan, batch, device=device, seed=settings.seed, workers=workers,
        num_classes=num_classes)), measure)
