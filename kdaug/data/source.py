"""Dataset sources: what the augmentation backends read. Two kinds, so that each backend
has one code path per kind: in-memory uint8 arrays (CIFAR, the embedded default, synthetic)
and lists of image files (ImageNet-style class folders)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import List, Optional, Sequence, Tuple

import numpy as np


@dataclass
class Split:
    """One split of a dataset. Exactly one of ``images`` and ``files`` is set."""

    labels: np.ndarray                     # (N,) int64
    images: Optional[np.ndarray] = None    # (N, H, W, 3) uint8, RGB
    files: Optional[List[str]] = None      # N image paths (JPEG for the GPU decoder)

    def __post_init__(self):
        if (self.images is None) == (self.files is None):
            raise ValueError("a split holds either images or files")
        self.labels = np.asarray(self.labels, dtype=np.int64)
        n = len(self.images) if self.images is not None else len(self.files)
        if len(self.labels) != n:
            raise ValueError(f"{n} samples but {len(self.labels)} labels")

    @property
    def kind(self) -> str:
        return "arrays" if self.images is not None else "files"

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: Sequence[int]) -> "Split":
        idx = np.asarray(indices, dtype=np.int64)
        if self.images is not None:
            return Split(self.labels[idx], images=self.images[idx])
        return Split(self.labels[idx], files=[self.files[i] for i in idx])

    def load(self, i: int) -> np.ndarray:
        """Image ``i`` as (H, W, 3) uint8 RGB; a file that cannot be read or decoded raises
        KdaugError naming it."""
        if self.images is not None:
            return self.images[i]
        from PIL import Image

        from kdaug.data.check import bad_image_file, load_problem

        path = self.files[i]
        try:
            with Image.open(path) as im:
                return np.asarray(im.convert("RGB"))
        except Exception as exc:  # PIL raises OSError, ValueError, SyntaxError... on bad data
            raise bad_image_file(path, load_problem(path, exc)) from None


@dataclass
class Dataset:
    name: str
    classes: List[str]
    train: Split
    val: Split
    geometry: str                          # "small" (CIFAR-style 32x32) or "large" (ImageNet-style)
    mean: Tuple[float, float, float]
    std: Tuple[float, float, float]
    default_policy: str                    # JDA policy used when --policy is not given
    info: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def with_train(self, train: Split) -> "Dataset":
        return replace(self, train=train)
