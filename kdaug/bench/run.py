"""One benchmark run, in one process: loader-only rows for every source x V x backend, then
end-to-end rows for every pair x backend, then the ratios between them."""
from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from typing import Callable, Dict, Optional

import numpy as np
import torch

from kdaug.bench import backends as bk
from kdaug.bench.analysis import annotate
from kdaug.bench.context import GpuMemory, load_average, machine, usable_cores
from kdaug.bench.endtoend import measure_pair
from kdaug.bench.jpegs import HEIGHT, WIDTH, cached_folder, folder_split, generate_folder
from kdaug.bench.loaders import measure_loader
from kdaug.bench.settings import PAIRS, BenchSettings
from kdaug.data.source import Split
from kdaug.engine.loaders import resolve_device

SCHEMA = 1
RANDOMNESS = ("drawn per view: every backend realises the same view plan, whose crop, flip and "
              "JDA chain are drawn independently for each view of each image (no parameter "
              "shared across a batch)")


def arrays_source(settings: BenchSettings, dataset: Optional[str], data_dir: Optional[str]):
    if dataset and dataset != "synthetic":
        from kdaug.data import load_dataset

        split = load_dataset(dataset, data_dir=data_dir).train
        return split, {"kind": "dataset", "dataset": dataset, "data_dir": str(data_dir),
                       "images": len(split), "size": list(split.images.shape[1:3])}
    from kdaug.data import synthetic_split

    split = synthetic_split(settings.arrays_images, 32, 100, settings.seed)
    return split, {"kind": "synthetic CIFAR-style arrays", "images": len(split),
                   "size": [32, 32], "classes": 100}


def jpeg_source(settings: BenchSettings, jpeg_dir: Optional[str], cache: Optional[str],
                say: Callable[[str], None]):
    generated = jpeg_dir is None
    if generated:
        started = time.perf_counter()
        cached = cached_folder(settings.jpeg_images, settings.jpeg_classes, settings.seed, cache)
        if cached is None:
            say(f"JPEG folder: generating {settings.jpeg_images} {WIDTH}x{HEIGHT} images "
                f"(kept for later runs)")
        jpeg_dir = generate_folder(settings.jpeg_images, settings.jpeg_classes, settings.seed,
                                   cache, processes=usable_cores())
        say(f"JPEG folder: reusing {jpeg_dir}" if cached is not None else
            f"JPEG folder ready: {jpeg_dir} ({time.perf_counter() - started:.1f}s)")
    split = folder_split(jpeg_dir)
    size = sum(os.path.getsize(f) for f in split.files)
    info = {"kind": "generated class folder" if generated else "class folder",
            "folder": str(jpeg_dir), "images": len(split),
            "mean_file_kb": round(size / max(1, len(split)) / 1024, 1)}
    repeats = -(-settings.jpeg_epoch // len(split))  # ceil
    if repeats > 1:
        split = Split(np.tile(split.labels, repeats), files=split.files * repeats)
        info["epoch_entries"] = len(split)
    if generated:
        info.update(size=[HEIGHT, WIDTH], jpeg="baseline, quality 90, 4:2:0")
    return split, info


def _line(row: dict) -> str:
    what = row.get("pair") or f"{row['source']} V={row['views']}"
    label = bk.LABELS[row["backend"]]
    if "unavailable" in row:
        return f"{what}  {label}: unavailable: {row['unavailable']}"
    if "failed" in row:
        return f"{what}  {label}: FAILED: {row['failed']}"
    return (f"{what}  {label}: {row['views_per_s']['median']:,.0f} views/s, "
            f"{row['images_per_s']['median']:,.0f} images/s")


def run_bench(settings: BenchSettings, *, device: str = "auto", dataset: Optional[str] = None,
              data_dir: Optional[str] = None, jpeg_dir: Optional[str] = None,
              jpeg_cache: Optional[str] = None, command: Optional[str] = None,
              say: Callable[[str], None] = print,
              on_row: Optional[Callable[[Dict], None]] = None) -> Dict:
    """Measure, return the result (the JSON's content). ``say`` gets a line per row;
    ``on_row`` the partial result after each row (``complete`` False)."""
    started, clock, load_start = datetime.now(timezone.utc), time.perf_counter(), load_average()
    dev = resolve_device(device)
    workers = settings.workers or usable_cores()
    backends = bk.resolve(settings.backends, dev)
    memory = GpuMemory(dev)
    train_threads = torch.get_num_threads()
    threads = {"reference_workers": workers, "dali_num_threads": workers,
               "torch_threads_loader_only": settings.loader_torch_threads,
               "torch_threads_end_to_end": train_threads}

    needed = set(settings.sources) | {PAIRS[p].source for p in settings.pairs}
    splits: Dict[str, Split] = {}
    sources: Dict[str, dict] = {}
    if "arrays" in needed:
        splits["arrays"], sources["arrays"] = arrays_source(settings, dataset, data_dir)
    if "jpeg" in needed:
        splits["jpeg"], sources["jpeg"] = jpeg_source(settings, jpeg_dir, jpeg_cache, say)

    loader_rows, e2e_rows, op_rows = [], [], []

    def snapshot(complete: bool) -> Dict:
        result = {
            "schema": SCHEMA, "tool": "kdaug bench", "command": command, "complete": complete,
            "date": started.isoformat(timespec="seconds"),
            "duration_s": time.perf_counter() - clock,
            "settings": settings.to_dict(), "sources": sources,
            "backends": [b.to_dict(workers) for b in backends],
            "context": {**machine(dev, threads, memory), "load_average_start": load_start},
            "randomness": RANDOMNESS,
            "loader": [dict(r) for r in loader_rows], "end_to_end": [dict(r) for r in e2e_rows],
            "op_timing": [dict(r) for r in op_rows],
        }
        return annotate(result)

    def record(rows: list, row: dict) -> None:
        rows.append(row)
        say(_line(row))
        if on_row is not None:  # a run cut short (a time limit) still leaves its rows
            on_row(snapshot(complete=False))

    try:
        # Loader-only: the main process only receives batches; one torch thread keeps it from
        # fighting DALI's threads or the DataLoader workers for the cores.
        torch.set_num_threads(settings.loader_torch_threads)
        for source in settings.sources:
            split = splits[source]
            for num_views in settings.views:
                for backend in backends:
                    record(loader_rows, measure_loader(
                        backend, source, split, num_views, settings=settings, device=dev,
                        workers=workers, memory=memory, num_classes=int(split.labels.max()) + 1))
        if settings.op_table:
            for backend in backends:
                if backend.name in ("dali-cpu", "dali-gpu") and backend.available:
                    for source in settings.sources:
                        op_rows.extend(step_costs(backend, source, splits[source], settings,
                                                  workers, say))
        # End to end: training gets the threads it would have in `kdaug train`.
        torch.set_num_threads(train_threads)
        for pair in settings.pairs:
            for backend in backends:
                record(e2e_rows, measure_pair(pair, backend, splits[PAIRS[pair].source],
                                              settings=settings, device=dev, workers=workers,
                                              memory=memory))
    finally:
        torch.set_num_threads(train_threads)
    return snapshot(complete=True)


def step_costs(backend, source: str, split: Split, settings: BenchSettings, workers: int,
               say: Callable[[str], None]) -> list:
    """Rows of the per-step table for one DALI backend and source (kdaug.bench.op_timing)."""
    from kdaug.bench.loaders import plan_for
    from kdaug.bench.op_timing import time_steps

    batch = settings.batch_arrays if source == "arrays" else settings.batch_jpeg
    subset = split.subset(range(min(len(split), max(4 * batch, 64))))
    try:
        rows = time_steps(subset, plan_for(source, 2, settings), device=backend.name[5:],
                          batch_size=batch, num_threads=workers, seconds=settings.op_seconds)
    except Exception as exc:   # a table that cannot be made is a failed row, never silence
        from kdaug.bench.loaders import failure

        return [{"backend": backend.name, "source": source, "op": "all", **failure(exc)}]
    for row in rows:
        row.update(backend=backend.name, source=source, batch_size=batch)
    say(f"{source} per-step costs  {bk.LABELS[backend.name]}: "
        + ", ".join(f"{r['op']} {r['us_per_image']:.0f}us" for r in rows[:4]) + ", ...")
    return rows


def failures(result: Dict) -> list:
    return [r for r in result["loader"] + result["end_to_end"] + result.get("op_timing", [])
            if "failed" in r]
