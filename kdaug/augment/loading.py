"""What every kdaug loader shares, whatever realises the views: the epoch order and sharding
rule, epochs that advance by themselves, batch counts, and the layouts batches come in.

Subclasses (kdaug.augment.reference_loader.ReferenceLoader, kdaug.pipelines.loader.DaliLoader)
implement ``_batches(epoch, chunks)``, yielding one ViewBatch per chunk of sample ids.
"""
from __future__ import annotations

import math
from typing import Iterator, List, Optional, Tuple

import numpy as np
import torch

from kdaug.augment.plan import ViewPlan
from kdaug.data.source import Split
from kdaug.errors import KdaugError
from kdaug.viewbatch import ViewBatch

LAYOUTS = ("viewbatch", "tuple", "flat")


def epoch_indices(n: int, epoch: int, seed: int, train: bool, shard_id: int = 0,
                  num_shards: int = 1) -> np.ndarray:
    """Sample ids this shard reads in ``epoch``, in order.

    train: permutation of range(n) from default_rng([seed, epoch]), the same on every shard;
    the shard takes perm[shard_id::num_shards] cut to n // num_shards, so shards are disjoint
    and equally long (as DistributedSampler with drop_last=True: n % num_shards samples, other
    ones each epoch, sit out).
    eval:  arange(n)[shard_id::num_shards], nothing dropped (shards differ by at most one).
    """
    if num_shards < 1 or not 0 <= shard_id < num_shards:
        raise KdaugError(f"shard {shard_id} of {num_shards} does not exist")
    if train:
        perm = np.random.default_rng([seed, epoch]).permutation(n)
        return perm[shard_id::num_shards][: n // num_shards].astype(np.int64)
    return np.arange(n, dtype=np.int64)[shard_id::num_shards]


def resolve_shards(shard_id: Optional[int], num_shards: Optional[int]) -> Tuple[int, int]:
    """(shard, shards): as given, or from torch.distributed's process group when it is
    initialised (torchrun), else (0, 1)."""
    if shard_id is None and num_shards is None:
        dist = torch.distributed
        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
        return 0, 1
    if shard_id is None or num_shards is None:
        raise KdaugError("give both shard_id and num_shards, or neither (then the process "
                         "group decides)")
    return int(shard_id), int(num_shards)


def check_loader_args(n: int, batch_size: int, train: bool, shard_id: int, num_shards: int,
                      drop_last: bool = True) -> None:
    """The argument checks every loader backend shares (same sharding rule, same errors)."""
    if n == 0:
        raise KdaugError("the source holds no images")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise KdaugError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if num_shards < 1 or not 0 <= shard_id < num_shards:
        raise KdaugError(f"shard {shard_id} of {num_shards} does not exist")
    if train and drop_last and n // num_shards < batch_size:
        raise KdaugError(f"batch_size {batch_size} is larger than the {n // num_shards} "
                         f"training samples per shard (pass drop_last=False to keep a partial "
                         f"batch)")


class EpochLoader:
    """Iterates batches of one shard of a split, one epoch per pass.

    Epochs: each new pass (``iter(loader)``) moves to the next epoch by itself, as a shuffling
    DataLoader does; ``set_epoch(e)`` pins the epoch of the following passes to e, as with a
    DistributedSampler (call it every epoch, or never). Training passes shuffle and, with
    ``drop_last`` (default), drop the tail batch; evaluation passes keep a partial last batch.

    Layouts: ``viewbatch`` yields kdaug.viewbatch.ViewBatch; ``tuple`` yields (views
    (B, V, C, H, W), labels (B,)); ``flat`` yields (views (B*V, C, H, W), labels (B*V,)) in
    image-major order (view v of image b at b*V + v), the order the KD and CCD losses take.
    """

    def __init__(self, split: Split, plan: ViewPlan, batch_size: int, *, train: bool,
                 seed: int, shard_id: Optional[int], num_shards: Optional[int],
                 drop_last: Optional[bool], layout: str):
        shard_id, num_shards = resolve_shards(shard_id, num_shards)
        drop_last = train if drop_last is None else bool(drop_last)
        check_loader_args(len(split), batch_size, train, shard_id, num_shards, drop_last)
        if layout not in LAYOUTS:
            raise KdaugError(f"unknown layout {layout!r}; known: {', '.join(LAYOUTS)}")
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise KdaugError(f"seed must be a non-negative integer, got {seed!r}")
        self.split, self.plan, self.batch_size, self.train = split, plan, int(batch_size), train
        self.seed, self.shard_id, self.num_shards = int(seed), shard_id, num_shards
        self.drop_last = drop_last and train
        self.layout = layout
        self.epoch = 0
        self._pinned = False
        self._started = False
        rotations = plan.rotations
        self._rotation = None if rotations is None else torch.tensor(rotations, dtype=torch.int64)

    # ----------------------------------------------------------------------- epochs
    def set_epoch(self, epoch: int) -> None:
        if not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise KdaugError(f"epoch must be a non-negative integer, got {epoch!r}")
        self.epoch, self._pinned = int(epoch), True

    def _pass_epoch(self) -> int:
        if self._started and not self._pinned:
            self.epoch += 1
        self._started = True
        return self.epoch

    def _indices(self, epoch: int) -> np.ndarray:
        return epoch_indices(len(self.split), epoch, self.seed, self.train, self.shard_id,
                             self.num_shards)

    def __len__(self) -> int:
        count = len(self._indices(self.epoch))
        return count // self.batch_size if self.drop_last else math.ceil(count / self.batch_size)

    def _chunks(self, epoch: int) -> List[np.ndarray]:
        indices = np.ascontiguousarray(self._indices(epoch))   # shards are strided views
        count = len(indices) // self.batch_size if self.drop_last else \
            math.ceil(len(indices) / self.batch_size)
        return [indices[b * self.batch_size:(b + 1) * self.batch_size] for b in range(count)]

    # ---------------------------------------------------------------------- iteration
    def _batches(self, epoch: int, chunks: List[np.ndarray]) -> Iterator[ViewBatch]:
        raise NotImplementedError

    def batches(self) -> Iterator[ViewBatch]:
        """One pass as ViewBatch objects, whatever the layout."""
        epoch = self._pass_epoch()
        return self._batches(epoch, self._chunks(epoch))

    def views_of(self, indices, epoch: int = 0) -> ViewBatch:
        """The views of the given sample ids in ``epoch``, in that order (what a training pass
        of that epoch gives those samples; for pictures and checks)."""
        chunk = np.asarray(indices, dtype=np.int64)
        return next(iter(self._batches(epoch, [chunk])))

    def __iter__(self):
        if self.layout == "viewbatch":
            return self.batches()
        return (self._laid_out(batch) for batch in self.batches())

    def _laid_out(self, batch: ViewBatch):
        if self.layout == "tuple":
            return batch.views, batch.labels
        return batch.views.flatten(0, 1), batch.labels.repeat_interleave(batch.num_views)
