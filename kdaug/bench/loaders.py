"""Loader-only speed: how fast each backend hands finished views to the training device,
with nothing consuming them. The views come from the plans the trainer uses
(kdaug.augment.plan.train_plan: JDA for V >= 2, plain for V = 1)."""
from __future__ import annotations

import traceback
from typing import Callable, Optional

import torch

from kdaug.augment.plan import ViewPlan, train_plan
from kdaug.bench.backends import Backend, Endless, batches_in_flight, open_loader, release
from kdaug.bench.context import GpuMemory
from kdaug.bench.peers import peer_unavailable
from kdaug.bench.settings import BenchSettings
from kdaug.bench.timing import measure_stream, synchronizer
from kdaug.data.source import Split

GEOMETRY = {"arrays": "small", "jpeg": "large"}


def plan_for(source: str, num_views: int, settings: BenchSettings) -> ViewPlan:
    """The training plan of KD(+JDA) with ``num_views`` views on this source."""
    policy = settings.policy_arrays if source == "arrays" else settings.policy_jpeg
    family = "plain" if num_views == 1 else "jda"
    return train_plan(GEOMETRY[source], family, num_views, policy)


def failure(exc: BaseException) -> dict:
    """A failed measurement's row fields: one line for tables, the traceback for the JSON."""
    text = f"{type(exc).__name__}: {exc}".strip()
    return {"failed": text.splitlines()[0][:300],
            "traceback": "".join(traceback.format_exception(exc))}


def measured(row: dict, memory: GpuMemory, open_stream: Callable[[], Endless],
             measure: Callable[[Endless], None]) -> dict:
    """Run one measurement: open the stream, ``measure`` it (filling ``row``), record the
    epochs begun and the GPU memory peak. A failure, opening included, is recorded in the row
    (and so in the exit status), never swallowed."""
    stream: Optional[Endless] = None
    memory.start_row()
    try:
        stream = open_stream()
        measure(stream)
        row["epochs_begun"] = stream.passes
        peak = memory.end_row()
        if peak is not None:
            row["gpu_memory_peak_mb"] = peak
    except Exception as exc:
        row.update(failure(exc))
    finally:
        release(stream)
    return row


def measure_loader(backend: Backend, source: str, split: Split, num_views: int, *,
                   settings: BenchSettings, device: torch.device, workers: int,
                   memory: GpuMemory, num_classes: int) -> dict:
    """One row: the backend's loader-only speed for one source and view count. An unavailable
    backend gives a row that says why; one that fails gives a row with the error."""
    plan = plan_for(source, num_views, settings)
    batch = settings.batch_arrays if source == "arrays" else settings.batch_jpeg
    row = {"source": source, "backend": backend.name, "views": num_views,
           "family": plan.family, "batch_size": batch}
    if not backend.available:
        row["unavailable"] = backend.reason
        return row
    if backend.name == "dali-autoaugment" and peer_unavailable(source, num_views):
        row["unavailable"] = peer_unavailable(source, num_views)
        return row

    def deliver(b):  # what the trainer does first with every batch
        b.labels.to(device, non_blocking=True)
        return b.views.to(device, non_blocking=True)

    in_flight = batches_in_flight(backend, workers)
    row["window_min_batches"] = max(settings.min_window_batches, in_flight)

    def measure(stream):
        row.update(measure_stream(
            stream, deliver, synchronizer(device), windows=settings.windows,
            window_s=settings.window_s, min_batches=row["window_min_batches"],
            warmup_s=settings.warmup_s,
            warmup_batches=max(settings.warmup_batches, 2 * in_flight + 2)))

    return measured(row, memory, lambda: Endless(open_loader(
        backend, split, plan, batch, device=device, seed=settings.seed, workers=workers,
        num_classes=num_classes)), measure)
