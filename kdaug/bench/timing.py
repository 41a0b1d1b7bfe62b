"""Timed windows: warm-up excluded, then at least five windows, reported as median and spread.

A window ends on a device synchronisation, so work queued on a GPU stream is counted in the
window that queued it and never leaks into the next one.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable, Iterator, List

import torch

from kdaug.viewbatch import ViewBatch


@dataclass(frozen=True)
class Window:
    images: int
    views: int
    seconds: float


def rate_stats(values: List[float]) -> dict:
    """Median, extremes and relative spread ((max - min) / median) of per-window rates."""
    med = statistics.median(values)
    return {"median": med, "min": min(values), "max": max(values),
            "spread": (max(values) - min(values)) / med if med > 0 else 0.0,
            "windows": list(values)}


def summarize(windows: List[Window]) -> dict:
    return {"images_per_s": rate_stats([w.images / w.seconds for w in windows]),
            "views_per_s": rate_stats([w.views / w.seconds for w in windows]),
            "timed_s": sum(w.seconds for w in windows),
            "timed_images": sum(w.images for w in windows)}


def synchronizer(device: torch.device) -> Callable[[], None]:
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def measure_stream(batches: Iterator[ViewBatch], deliver: Callable[[ViewBatch], torch.Tensor],
                   sync: Callable[[], None], *, windows: int, window_s: float, min_batches: int,
                   warmup_s: float, warmup_batches: int) -> dict:
    """Pull batches as fast as the loader gives them, each delivered to the training device.

    Warm-up: the first batch (pipeline build, worker start-up; reported as ``startup_s``), then
    at least ``warmup_batches`` batches and ``warmup_s`` seconds, so prefetch queues have
    drained to their steady state before the clock starts. Each window then lasts at least
    ``window_s`` and ``min_batches`` batches.
    """
    clock = time.perf_counter
    start = clock()
    first = next(batches)
    deliver(first)
    sync()
    startup = clock() - start
    warm_start, count = clock(), 1
    while count < warmup_batches or clock() - warm_start < warmup_s:
        deliver(next(batches))
        count += 1
    sync()
    out: List[Window] = []
    for _ in range(windows):
        images = views = n = 0
        t0 = clock()
        while n < min_batches or clock() - t0 < window_s:
            views_tensor = deliver(next(batches))
            images += views_tensor.shape[0]
            views += views_tensor.shape[0] * views_tensor.shape[1]
            n += 1
        sync()
        out.append(Window(images, views, clock() - t0))
    return {**summarize(out), "startup_s": startup, "warmup_batches": count,
            "dtype": str(first.views.dtype).replace("torch.", ""),
            "shape": list(first.views.shape[1:])}


def windows_from_stamps(stamps: List[float], warmup: int, steps: int, windows: int,
                        images_per_step: int, views_per_step: int) -> List[Window]:
    """Windows of ``steps`` consecutive steps, from the times at which step i began (stamps[i])
    and the time the last step ended (stamps[-1]); the first ``warmup`` steps are dropped."""
    needed = warmup + steps * windows + 1
    if len(stamps) < needed:
        raise RuntimeError(f"expected {needed} step time stamps, got {len(stamps)}")
    out = []
    for w in range(windows):
        a = warmup + w * steps
        out.append(Window(images_per_step * steps, views_per_step * steps,
                          stamps[a + steps] - stamps[a]))
    return out
