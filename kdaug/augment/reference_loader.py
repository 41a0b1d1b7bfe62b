"""The CPU baseline backend: torch DataLoader over the PIL reference (kdaug.augment.reference).

Each sample's views come from kdaug.augment.draws (a pure function of seed, epoch, sample index
and view), so batches do not depend on the number of workers or on the order in which workers
finish, and equal the DALI backend's. ``epoch_indices`` is the order and sharding rule that
every backend (the DALI loader included) follows.
"""
from __future__ import annotations

from typing import Iterator, List, Optional, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from kdaug.augment.draws import draw
from kdaug.augment.loading import EpochLoader, check_loader_args, epoch_indices  # noqa: F401
from kdaug.augment.plan import ViewPlan
from kdaug.augment.reference import make_views
from kdaug.data.source import Split
from kdaug.errors import KdaugError
from kdaug.viewbatch import ViewBatch


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
        return self.samples([i], epoch)[0]

    def samples(self, indices: List[int], epoch: int) -> List[Tuple[torch.Tensor, int, int]]:
        """Several samples of one epoch, their draws made together (a batch's draws cost
        about what one sample's do)."""
        images = [self.split.load(i) for i in indices]
        draws = draw(self.plan, self.seed, epoch, indices,
                     shapes=np.array([img.shape[:2] for img in images]))
        return [(torch.from_numpy(make_views(img, self.plan, draws.take([row]))),
                 int(self.split.labels[i]), i)
                for row, (img, i) in enumerate(zip(images, indices))]


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

    def __getitems__(self, keys: List[Tuple[int, int]]):   # DataLoader's batched fetch
        return self.views.samples([i for _, i in keys], keys[0][0])


class _PassBatches(Sampler):
    """The batches of the current pass, as (epoch, index) keys."""

    def __init__(self):
        self.epoch, self.chunks = 0, []

    def __len__(self) -> int:
        return len(self.chunks)

    def __iter__(self) -> Iterator[List[Tuple[int, int]]]:
        for chunk in self.chunks:
            yield [(self.epoch, int(i)) for i in chunk]


class ReferenceLoader(EpochLoader):
    """The reference views of one shard of a split through a torch DataLoader (see
    kdaug.augment.loading.EpochLoader for epochs, batches and layouts)."""

    def __init__(self, split: Split, plan: ViewPlan, batch_size: int, *, train: bool,
                 seed: int = 0, device="cpu", shard_id: Optional[int] = None,
                 num_shards: Optional[int] = None, num_workers: int = 0,
                 drop_last: Optional[bool] = None, layout: str = "viewbatch"):
        super().__init__(split, plan, batch_size, train=train, seed=seed, shard_id=shard_id,
                         num_shards=num_shards, drop_last=drop_last, layout=layout)
        if num_workers < 0:
            raise KdaugError(f"number of loader workers must be >= 0, got {num_workers}")
        self.device = torch.device(device)
        self.dataset = ReferenceViewDataset(split, plan, seed)
        self._pass = _PassBatches()
        self._loader = DataLoader(
            _EpochKeyed(self.dataset),
            batch_sampler=self._pass,
            num_workers=num_workers,
            persistent_workers=num_workers > 0,
            pin_memory=self.device.type == "cuda",
        )

    def _batches(self, epoch: int, chunks: List[np.ndarray]) -> Iterator[ViewBatch]:
        self._pass.epoch, self._pass.chunks = epoch, chunks
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
