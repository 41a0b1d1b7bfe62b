"""The backends a benchmark compares, built exactly as the trainer builds them
(kdaug.engine.loaders.make_loader), plus the synthetic source that bounds them all.

A backend that cannot run here is kept, with the reason, so tables never drop it silently.
"""
from __future__ import annotations

import gc
from dataclasses import dataclass
from typing import Iterator, List, Optional

import torch

from kdaug.augment.plan import ViewPlan
from kdaug.data.source import Split
from kdaug.engine.loaders import BackendChoice, dali_available, dali_gpu_count, make_loader
from kdaug.viewbatch import ViewBatch

LABELS = {"reference": "reference", "dali-cpu": "DALI CPU", "dali-gpu": "DALI GPU",
          "synthetic": "synthetic", "dali-autoaugment": "DALI AutoAugment (peer)"}
DESCRIPTIONS = {
    "reference": "the PIL reference pipeline (kdaug.augment.reference) through a torch "
                 "DataLoader with {workers} worker processes",
    "dali-cpu": "DALI pipelines on the CPU, {workers} threads",
    "dali-gpu": "DALI pipelines on the GPU (mixed JPEG decode), {workers} CPU threads",
    "synthetic": "pre-made view tensors already on the training device: the ceiling",
    "dali-autoaugment": "what a DALI user would write instead: DALI's file reader and decoder "
                        "(mixed on a GPU), nvidia.dali.auto_aug AutoAugment (ImageNet policy) "
                        "on views 1.., RandomResizedCrop, flip, normalise; DALI's own "
                        "randomness; loader only",
}
_CHOICES = {"reference": BackendChoice("reference", "cpu"),
            "dali-cpu": BackendChoice("dali", "cpu"),
            "dali-gpu": BackendChoice("dali", "gpu")}


@dataclass(frozen=True)
class Backend:
    name: str
    available: bool
    reason: Optional[str] = None   # why it is unavailable

    @property
    def label(self) -> str:
        return LABELS[self.name]

    def to_dict(self, workers: int) -> dict:
        return {"name": self.name, "label": self.label,
                "description": DESCRIPTIONS[self.name].format(workers=workers),
                "available": self.available, "reason": self.reason}


def _dali_loader_problem() -> Optional[str]:
    if not dali_available():
        return "NVIDIA DALI is not installed (pip install 'kdaug[dali]')"
    try:
        from kdaug.pipelines.loader import DaliLoader  # noqa: F401
    except Exception as exc:  # a broken install must show up in the table, not end the run
        return f"kdaug.pipelines.loader does not import ({type(exc).__name__}: {exc})"
    return None


def resolve(names, device: torch.device) -> List[Backend]:
    """Each asked-for backend, available or with the reason it is not."""
    out = []
    for name in names:
        reason = None
        if name.startswith("dali"):
            reason = _dali_loader_problem()
        if name == "dali-gpu" and reason is None:
            if dali_gpu_count() == 0:
                reason = "no CUDA GPU (DALI sees 0 devices)"
            elif device.type != "cuda":
                reason = f"training device is {device.type}; DALI GPU output lives on a GPU"
        out.append(Backend(name, reason is None, reason))
    return out


def batches_in_flight(backend: Backend, workers: int) -> int:
    """How many batches a backend builds at once: each DataLoader worker builds a whole batch,
    so the reference delivers bursts of up to ``workers`` batches and queues twice that many
    ahead (prefetch_factor 2); DALI's threads share one batch at a time. Warm-ups must drain
    such a queue and a timed window must span a whole burst (consecutive windows then keep
    the same phase), or a window that catches a burst reports a speed no loader has."""
    return max(1, workers) if backend.name == "reference" else 1


class SyntheticLoader:
    """Pre-made view tensors already on the training device: no augmentation, no copy. What a
    training step achieves when fed by this is the ceiling for every real backend."""

    def __init__(self, plan: ViewPlan, batch_size: int, device: torch.device, num_classes: int,
                 length: int = 1 << 30, distinct: int = 2, seed: int = 0):
        gen = torch.Generator().manual_seed(seed)
        # float16 on a GPU, as DALI emits there; float32 on the CPU, as the reference does.
        dtype = torch.float16 if device.type == "cuda" else torch.float32
        shape = (batch_size, plan.num_views, 3, plan.size, plan.size)
        rotation = None if plan.rotations is None else torch.tensor(plan.rotations, device=device)
        self.batches = [
            ViewBatch(torch.randn(shape, generator=gen).to(device, dtype),
                      torch.randint(0, num_classes, (batch_size,), generator=gen).to(device),
                      torch.arange(batch_size, device=device), rotation)
            for _ in range(distinct)]
        self.length = length

    def set_epoch(self, epoch: int) -> None:
        pass

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[ViewBatch]:
        for i in range(self.length):
            yield self.batches[i % len(self.batches)]


def open_loader(backend: Backend, split: Split, plan: ViewPlan, batch_size: int, *,
                device: torch.device, seed: int, workers: int, num_classes: int):
    """The loader of one backend, as `kdaug train` would build it for this plan."""
    if not backend.available:
        raise RuntimeError(f"backend {backend.name} is unavailable: {backend.reason}")
    if backend.name == "synthetic":
        return SyntheticLoader(plan, batch_size, device, num_classes, seed=seed)
    if backend.name == "dali-autoaugment":
        from kdaug.bench.peers import AutoAugmentLoader

        return AutoAugmentLoader(split, plan, batch_size, device, threads=workers, seed=seed)
    return make_loader(_CHOICES[backend.name], split, plan, batch_size, train=True, seed=seed,
                       train_device=device, workers=workers)


class Endless:
    """Batches across epoch boundaries (set_epoch before each), as a long training run sees
    them; ``passes`` counts the epochs begun, so a row shows whether per-epoch costs (a
    pipeline rebuilt, workers re-primed) fell inside its timing."""

    def __init__(self, loader):
        self.loader = loader
        self.passes = 0
        self._batches: Optional[Iterator[ViewBatch]] = None
        self._empty = False

    def __iter__(self) -> "Endless":
        return self

    def __next__(self) -> ViewBatch:
        while True:
            if self._batches is None:
                self.loader.set_epoch(self.passes)
                self.passes += 1
                self._batches, self._empty = iter(self.loader), True
            try:
                batch = next(self._batches)
            except StopIteration:
                if self._empty:
                    raise RuntimeError("the loader produced no batch: the split is smaller "
                                       "than a batch") from None
                self._batches = None
                continue
            self._empty = False
            return batch

    def close(self) -> None:
        close = getattr(self._batches, "close", None)
        if callable(close):
            close()
        self._batches = self.loader = None


def release(stream: Optional[Endless]) -> None:
    """End a batch stream and collect what it held, so a loader's worker processes and
    pipeline threads are gone before the next backend runs and never compete for the cores.
    The caller must hold no other reference to the loader."""
    if stream is not None:
        stream.close()
    gc.collect()
