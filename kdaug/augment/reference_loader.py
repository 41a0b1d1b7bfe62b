"""The CPU baseline backend: torch DataLoader over the PIL reference (kdaug.augment.reference).

Randomness is a pure function of (seed, epoch, sample index), so batches do not depend on the
number of workers or on the order in which workers finish. ``epoch_indices`` is the order and
sharding rule that every backend (the DALI loader included) follows.
"""
from __future__ import annotations

import math
from typing import Iterator, List, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from kdaug.augment.plan import ViewPlan
from kdaug.augment.reference import make_views
from kdaug.data.source import Split
from kdaug.errors import KdaugError
from kdaug.viewbatch import ViewBatch


def epoch_indices(n: int, epoch: int, seed: int, train: bool, shard_id: int = 0,
                  num_shards: int = 1) -> np.ndarray:
    """Sample ids this shard reads in ``epoch``, in order.

    train: permutation of range(n) from default_rng([seed, epoch]); the shard takes
    perm[shard_id::num_shards] cut to n // num_shards, so every shard has the same length.
    eval:  arange(n)[shard_id::num_shards], nothing dropped (shards differ by at most one).
    """
    if num_shards < 1 or not 0 <= shard_id < num_shards:
        raise ValueError(f"shard {shard_id} of {num_shards} does not exist")
    if train:
        perm = np.random.default_rng([seed, epoch]).permutation(n)
        return perm[shard_id::num_shards][: n // num_shards].astype(np.int64)
    return np.arange(n, dtype=np.int64)[shard_id::num_shards]


def check_loader_args(n: int, batch_size: int, train: bool, shard_id: int, num_shards: int) -> None:
    """The argument checks every loader backend shares (same sharding rule, same errors)."""
    if batch_size < 1:
        raise KdaugError(f"batch size must be at least 1, got {batch_size}")
    if num_shards < 1 or not 0 <= shard_id < num_shards:
        raise KdaugError(f"shard {shard_id} of {num_shards} does not exist")
    if train and n // num_shards < batch_size:
        raise KdaugError(f"batch size {batch_size} is larger than the "
                         f"{n // num_shards} training samples per shard")


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator of one sample's augmentation draws."""
    return np.random.default_rng(np.random.SeedSequence([seed, epoch, index]))


class ReferenceViewDataset(Dataset):
    """Item i -> (views float32 (V, 3, S, S), label, i) realised with the reference ops."""

    def __init__(self, split: Split, plan: ViewPlan, seed: int = 0):
        self.split = split
        self.plan = plan
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, i: int) -> Tuple[torch.Tensor, int, int]:
        return self.sample(int(i), self.epoch)

    def sample(self, i: int, epoch: int) -> Tuple[torch.Tensor, int, int]:
        views, _ = make_views(self.split.load(i), self.plan, sample_rng(self.seed, epoch, i))
        return torch.from_numpy(views), int(self.split.labels[i]), i


class _EpochKeyed(Dataset):
    """Keys are (epoch, index): the epoch travels with each request, so persistent workers
    (which hold their own copy of the dataset) never see a stale epoch."""

    def __init__(self, views: ReferenceViewDataset):
        self.views = views

    def __len__(self) -> int:
        return len(self.views)

    def __getitem__(self, key: Tuple[int, int]):
        epoch, i = key
        return self.views.sample(i, epoch)


class _EpochBatches(Sampler):
    def __init__(self, n: int, batch_size: int, train: bool, seed: int, shard_id: int,
                 num_shards: int):
        self.n, self.batch_size, self.train, self.seed = n, batch_size, train, seed
        self.shard_id, self.num_shards = shard_id, num_shards
        self.epoch = 0

    def _indices(self) -> np.ndarray:
        return epoch_indices(self.n, self.epoch, self.seed, self.train, self.shard_id,
                             self.num_shards)

    def __len__(self) -> int:
        count = len(self._indices())
        return count // self.batch_size if self.train else math.ceil(count / self.batch_size)

    def __iter__(self) -> Iterator[List[Tuple[int, int]]]:
        indices = self._indices()
        for b in range(len(self)):
            chunk = indices[b * self.batch_size:(b + 1) * self.batch_size]
            yield [(self.epoch, int(i)) for i in chunk]


class ReferenceLoader:
    """Iterates ViewBatch objects for one shard of a split; call set_epoch(e) before each
    epoch (the epoch is not advanced implicitly). Train batches drop the tail; evaluation
    keeps a partial last batch."""

    def __init__(self, split: Split, plan: ViewPlan, batch_size: int, *, train: bool,
                 seed: int = 0, device="cpu", shard_id: int = 0, num_shards: int = 1,
                 num_workers: int = 0):
        check_loader_args(len(split), batch_size, train, shard_id, num_shards)
        if num_workers < 0:
            raise KdaugError(f"number of loader workers must be >= 0, got {num_workers}")
        self.plan = plan
        self.train = train
        self.device = torch.device(device)
        self.dataset = ReferenceViewDataset(split, plan, seed)
        self._batches = _EpochBatches(len(split), batch_size, train, seed, shard_id, num_shards)
        self._loader = DataLoader(
            _EpochKeyed(self.dataset),
            batch_sampler=self._batches,
            num_workers=num_workers,
            persistent_workers=num_workers > 0,
            pin_memory=self.device.type == "cuda",
        )
        rotations = plan.rotations
        self._rotation = None if rotations is None else torch.tensor(rotations, dtype=torch.int64)

    @property
    def epoch(self) -> int:
        return self._batches.epoch

    def set_epoch(self, epoch: int) -> None:
        self._batches.epoch = epoch
        self.dataset.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self._batches)

    def __iter__(self) -> Iterator[ViewBatch]:
        try:
            for views, labels, index in self._loader:
                batch = ViewBatch(views, labels.to(torch.int64), index.to(torch.int64),
                                  self._rotation)
                yield batch.to(self.device) if self.device.type != "cpu" else batch
        except KdaugError as exc:
            raise _worker_error_line(exc) from None


def _worker_error_line(exc: KdaugError) -> KdaugError:
    """A DataLoader worker re-raises a KdaugError with its whole traceback as the message
    ("Caught KdaugError in DataLoader worker process 0. Original Traceback ..."): keep the
    one line the user should see."""
    text, marker = str(exc), "KdaugError: "
    if not text.startswith("Caught ") or marker not in text:
        return exc
    return KdaugError(text.rsplit(marker, 1)[1].strip())
