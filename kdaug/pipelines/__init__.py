"""DALI realisations of kdaug's view plans, and the one-call plug-in for existing loops.

    import torch
    from kdaug.pipelines import build_loader

    loader = build_loader((images, labels), policy="cifar100", views=2, batch_size=256)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 100))
    model = model.to(loader.device)                  # cuda when DALI runs on the GPU
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for epoch in range(10):
        loader.set_epoch(epoch)                      # new shuffle and new draws each epoch
        for batch in loader:                         # batch.views: (B, V, 3, 32, 32)
            x = batch.views.flatten(0, 1).float()    # view 0 original, view 1 JDA-augmented
            loss = torch.nn.functional.cross_entropy(model(x), batch.labels.repeat_interleave(2))
            opt.zero_grad(); loss.backward(); opt.step()

``images`` is a uint8 (N, H, W, 3) numpy array; a directory of class folders (JPEG) or a
kdaug Split works too. Nothing here imports DALI until a loader is built.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from kdaug.errors import KdaugError

DALI_MISSING = ("NVIDIA DALI is not installed: pip install 'kdaug[dali]' "
                "(or nvidia-dali-cuda130; Linux x86-64 only)")


def require_dali() -> None:
    try:
        import nvidia.dali  # noqa: F401
    except ImportError:
        raise KdaugError(DALI_MISSING) from None


def _as_split(source):
    from kdaug.data.source import Split
    from kdaug.pipelines.files import folder_split

    if isinstance(source, Split):
        return source
    if isinstance(source, (str, Path)):
        return folder_split(source)[0]
    if isinstance(source, tuple) and len(source) == 2:
        images, labels = np.asarray(source[0]), np.asarray(source[1])
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3:
            raise KdaugError(f"images must be a uint8 (N, H, W, 3) array, got {images.dtype} "
                             f"{images.shape}")
        if labels.shape != (len(images),):
            raise KdaugError(f"{len(images)} images but labels of shape {labels.shape}")
        return Split(labels, images=images)
    raise KdaugError("source must be a directory of class folders, a kdaug Split or an "
                     "(images, labels) tuple")


def _geometry(split) -> str:
    if split.images is not None and max(split.images.shape[1:3]) <= 64:
        return "small"
    return "large"


def build_loader(source, *, policy: str = "cifar100", views: int = 2, family: str = "jda",
                 batch_size: int = 128, device: str = "auto", train: bool = True, seed: int = 0,
                 shard_id: int = 0, num_shards: int = 1, geometry: Optional[str] = None):
    """A DaliLoader over ``source`` yielding kdaug.viewbatch.ViewBatch.

    train=True: ``family`` views (jda: view 0 original, views 1.. the ``policy`` chain; plain;
    rotation; rotation-crop with views=4) with CIFAR-style pad-crop (``geometry`` "small") or
    RandomResizedCrop 224 ("large"); geometry defaults to small for in-memory images up to
    64x64. train=False: the deterministic evaluation view. device: "auto" | "gpu" | "cpu".
    """
    require_dali()
    from kdaug.augment.plan import eval_plan, train_plan
    from kdaug.augment.policies import POLICIES
    from kdaug.pipelines.loader import DaliLoader

    split = _as_split(source)
    geometry = geometry or _geometry(split)
    if family == "jda" and policy not in POLICIES:
        raise KdaugError(f"unknown policy {policy!r}; known: {', '.join(sorted(POLICIES))}")
    try:
        plan = (train_plan(geometry, family=family, num_views=views, policy=policy) if train
                else eval_plan(geometry))
    except ValueError as e:
        raise KdaugError(str(e)) from None
    return DaliLoader(split, plan, batch_size, train=train, seed=seed, device=device,
                      shard_id=shard_id, num_shards=num_shards)


__all__ = ["build_loader", "require_dali", "DALI_MISSING"]
