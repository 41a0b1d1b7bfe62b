"""DALI realisations of kdaug's view plans, and the one-call plug-in for existing loops.

    import torch
    from kdaug.pipelines import build_loader

    loader = build_loader((images, labels), policy="cifar100", views=2, batch_size=256)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 100))
    model = model.to(loader.device)                  # cuda when DALI runs on the GPU
    opt = torch.optim.SGD(model.parameters(), lr=0.005, momentum=0.9)
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

import dataclasses
from typing import Optional

from kdaug.errors import KdaugError

DALI_MISSING = ("NVIDIA DALI is not installed: pip install 'kdaug[dali]' "
                "(or nvidia-dali-cuda130; Linux x86-64 only)")


def require_dali() -> None:
    try:
        import nvidia.dali  # noqa: F401
    except ImportError:
        raise KdaugError(DALI_MISSING) from None


def _geometry(split) -> str:
    if split.images is not None and max(split.images.shape[1:3]) <= 64:
        return "small"
    return "large"


def build_loader(source, labels=None, *, family: str = "jda", policy: str = "cifar100",
                 views: int = 2, p: Optional[float] = None, batch_size: int = 128,
                 train: bool = True, drop_last: Optional[bool] = None,
                 layout: str = "viewbatch", mean=None, std=None, size: Optional[int] = None,
                 geometry: Optional[str] = None, device: str = "auto",
                 num_threads: Optional[int] = None, seed: int = 0,
                 shard_id: Optional[int] = None, num_shards: Optional[int] = None,
                 backend: str = "dali"):
    """A loader of augmented views where a torch DataLoader stood.

    source       (images, labels) (uint8 (N, H, W, 3); non-contiguous arrays and label lists
                 are fine), images with ``labels`` given separately, a directory of class
                 folders (root/<class>/<image>), a torchvision-style dataset (``.data`` and
                 ``.targets``, e.g. CIFAR100; or ``.samples``, e.g. ImageFolder) or a kdaug Split.
    family       "jda" (default; view 0 the original, views 1.. the JDA chain), "plain",
                 "rotation" (HSAKD: 4 quarter turns sharing a crop) or "rotation-crop" (SSKD).
    policy       JDA policy: "cifar100" (default), "cifar10", "imagenet"; or a library policy,
                 "randaugment" or "autoaugment" (`kdaug list policies`).
    views        views per image V (default 2; rotation families: 4).
    p            probability of each JDA step (default: the policy's, 0.3 / 0.5 / 0.2).
    batch_size   images per batch (default 128; each image brings V views).
    train        True (default): shuffled, augmented; False: the deterministic evaluation view.
    drop_last    training drops a partial last batch (default True); False keeps it.
                 Evaluation always keeps it.
    layout       what a batch is: "viewbatch" (default, kdaug.viewbatch.ViewBatch: views
                 (B, V, 3, S, S), labels (B,), index (B,)), "tuple" ((views, labels)) or "flat"
                 ((views (B*V, 3, S, S), labels (B*V,)), image-major: view v of image b at
                 b*V + v, the order the reference KD and CCD losses take).
    mean, std    normalisation, three numbers each as fractions of 255 (default: CIFAR's for
                 small images, ImageNet's for large ones).
    size         output size S (default 32 small, 224 large).
    geometry     "small" (pad-4 crop and flip) or "large" (RandomResizedCrop and flip); default
                 small for in-memory images up to 64x64, large otherwise.
    device       "auto" (default: the GPU when DALI sees one), "gpu" or "cpu".
    num_threads  DALI threads, or reference DataLoader workers (default: all cores).
    seed         draws and order (default 0); the same seed gives the same views on every
                 backend and every machine.
    shard_id, num_shards  this process's shard (default: rank and world size of an initialised
                 torch.distributed process group, else 0 of 1): disjoint, equally long shards.
    backend      "dali" (default) or "reference" (the PIL implementation, torch DataLoader).

    Epochs: iterating again moves to the next epoch by itself (new order, new draws), as a
    shuffling DataLoader does; ``loader.set_epoch(e)`` pins the epoch instead, as with a
    DistributedSampler (call it every epoch, or never). ``len(loader)`` is the number of
    batches per epoch; ``loader.device`` is where batches arrive.
    """
    from kdaug.augment.plan import eval_plan, train_plan
    from kdaug.augment.policies import POLICIES
    from kdaug.data.external import as_split, check_statistics

    if backend not in ("dali", "reference"):
        raise KdaugError(f"unknown backend {backend!r}; use dali or reference")
    if backend == "dali":
        require_dali()
    split = as_split(source, labels)
    mean, std = check_statistics(mean, std)
    geometry = geometry or _geometry(split)
    if family == "jda" and policy not in POLICIES:
        raise KdaugError(f"unknown policy {policy!r}; known: {', '.join(sorted(POLICIES))}")
    if p is not None and not (isinstance(p, (int, float)) and 0.0 <= p <= 1.0):
        raise KdaugError(f"p must be a probability in [0, 1], got {p!r}")
    if size is not None and (not isinstance(size, int) or size < 1):
        raise KdaugError(f"size must be a positive integer, got {size!r}")
    if train:
        plan = train_plan(geometry, family=family, num_views=views, policy=policy, mean=mean,
                          std=std, size=size)
        if p is not None and plan.policy is not None:
            plan = dataclasses.replace(plan, policy=dataclasses.replace(plan.policy, p=float(p)))
    else:
        plan = eval_plan(geometry, mean=mean, std=std, size=size)
    if backend == "reference":
        from kdaug.augment.reference_loader import ReferenceLoader

        return ReferenceLoader(split, plan, batch_size, train=train, seed=seed,
                               device=_torch_device(device), shard_id=shard_id,
                               num_shards=num_shards, num_workers=0 if num_threads is None
                               else num_threads, drop_last=drop_last, layout=layout)
    from kdaug.pipelines.loader import DaliLoader

    return DaliLoader(split, plan, batch_size, train=train, seed=seed, device=device,
                      shard_id=shard_id, num_shards=num_shards, num_threads=num_threads,
                      drop_last=drop_last, layout=layout)


def _torch_device(device: str) -> str:
    import torch

    if device in ("gpu", "cuda"):
        if not torch.cuda.is_available():
            raise KdaugError("device 'gpu' was asked for but PyTorch sees no CUDA GPU")
        return "cuda"
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return "cpu"
    raise KdaugError(f"unknown device {device!r}; use cpu, gpu or auto")


__all__ = ["build_loader", "require_dali", "DALI_MISSING"]
