"""The one contract between augmentation backends and distillation methods."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch


@dataclass
class ViewBatch:
    """A batch of B images, each seen as V views.

    views:   (B, V, C, H, W) float tensor (float16 from DALI on GPU, float32 elsewhere),
             normalised, on the training device. View 0 is always the "original" view
             (standard transform only) for JDA, and the 0-degree view for rotation families.
    labels:  (B,) int64 class labels (plain, never joint).
    index:   (B,) int64 sample ids into the dataset (after any few-shot subsetting).
    rotation: (V,) int64 rotation k (quarter turns counter-clockwise) of each view, or None
             when the views are not a rotation family.
    """

    views: torch.Tensor
    labels: torch.Tensor
    index: torch.Tensor
    rotation: Optional[torch.Tensor] = None

    @property
    def batch_size(self) -> int:
        return self.views.shape[0]

    @property
    def num_views(self) -> int:
        return self.views.shape[1]

    def to(self, device, non_blocking: bool = True) -> "ViewBatch":
        move = lambda t: None if t is None else t.to(device, non_blocking=non_blocking)  # noqa: E731
        return ViewBatch(move(self.views), move(self.labels), move(self.index), move(self.rotation))
