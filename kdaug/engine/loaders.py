"""Choosing the augmentation backend and building its loader. Both backends yield ViewBatch
with the same order and sharding rule, so the trainer never knows which one runs."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import List

import torch

from kdaug.errors import KdaugError

BACKENDS = ("auto", "dali", "reference")
AUG_DEVICES = ("auto", "cpu", "gpu")


def dali_available() -> bool:
    try:
        import nvidia.dali  # noqa: F401
    except Exception:
        return False
    return True


def dali_gpu_count() -> int:
    try:
        from nvidia.dali.backend import GetCUDADeviceCount

        return int(GetCUDADeviceCount())
    except Exception:
        return 0


@dataclass(frozen=True)
class BackendChoice:
    backend: str          # "dali" | "reference"
    aug_device: str       # "cpu" | "gpu" (where augmentation runs)
    notes: tuple = ()     # one-line messages for the user (fallbacks)

    def describe(self) -> str:
        return f"{self.backend} ({self.aug_device})"


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise KdaugError(f"--device {device} was asked for, but PyTorch sees no CUDA GPU")
    try:
        return torch.device(device)
    except RuntimeError:
        raise KdaugError(f"--device {device!r} is not a device: use auto, cpu or cuda") from None


def choose_backend(backend: str, aug_device: str, train_device: torch.device,
                   files: bool = False) -> BackendChoice:
    """Resolve auto choices; fall back loudly, never silently run on the CPU when the GPU was
    asked for. ``files``: the source is image files, where DALI's CPU operators are slower
    than PIL on large images (kdaug bench: about 0.6x on 500x375 JPEGs), so an automatic
    choice that lands on the CPU takes the reference (the same views: the draws are data)."""
    notes: List[str] = []
    if backend not in BACKENDS:
        raise KdaugError(f"unknown --backend {backend!r}; known: {', '.join(BACKENDS)}")
    if aug_device not in AUG_DEVICES:
        raise KdaugError(f"unknown --aug-device {aug_device!r}; known: {', '.join(AUG_DEVICES)}")
    requested = backend
    has_dali = dali_available()
    if backend in ("auto", "dali") and not has_dali:
        if backend == "dali" or aug_device == "gpu":
            notes.append("NVIDIA DALI is not installed (pip install 'kdaug[dali]'): "
                         "using the reference CPU augmentation instead")
        if aug_device == "gpu":
            raise KdaugError("--aug-device gpu needs NVIDIA DALI, which is not installed: "
                             "pip install 'kdaug[dali]'")
        backend = "reference"
    elif backend == "auto":
        backend = "dali"
    if backend == "reference":
        if aug_device == "gpu":
            raise KdaugError("--aug-device gpu needs --backend dali; the reference backend runs on the CPU")
        return BackendChoice("reference", "cpu", tuple(notes))
    gpus = dali_gpu_count()
    if aug_device == "gpu" and gpus == 0:
        raise KdaugError("--aug-device gpu was asked for, but DALI sees no CUDA GPU")
    if aug_device == "auto":
        aug_device = "gpu" if (gpus > 0 and train_device.type == "cuda") else "cpu"
    if files and aug_device == "cpu" and requested == "auto":
        notes.append("augmenting image files on the CPU: the reference backend (PIL) is faster "
                     "there than DALI's CPU operators and makes the same views; --backend dali "
                     "forces DALI")
        return BackendChoice("reference", "cpu", tuple(notes))
    return BackendChoice("dali", aug_device, tuple(notes))


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def make_loader(choice: BackendChoice, split, plan, batch_size: int, *, train: bool, seed: int,
                train_device: torch.device, shard_id: int = 0, num_shards: int = 1,
                workers: int = None):
    workers = default_workers() if workers is None else workers
    if choice.backend == "dali":
        from kdaug.pipelines.loader import DaliLoader

        return DaliLoader(split, plan, batch_size, train=train, seed=seed, device=choice.aug_device,
                          shard_id=shard_id, num_shards=num_shards, num_threads=max(1, workers))
    from kdaug.augment.reference_loader import ReferenceLoader

    return ReferenceLoader(split, plan, batch_size, train=train, seed=seed, device=train_device,
                           shard_id=shard_id, num_shards=num_shards, num_workers=workers)
