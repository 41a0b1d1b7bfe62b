"""Sources handed over by a user's own code (kdaug.pipelines.build_loader), checked before any
backend sees them: every problem is one KdaugError naming the argument, raised at
construction, never from inside DALI.

Accepted: ``(images, labels)`` (uint8 (N, H, W, 3) arrays, lists or tensors; labels of any
integer sequence), a directory of class folders, a kdaug Split, or a torchvision-style dataset:
anything with ``.data`` and ``.targets`` (CIFAR10/100) or with ``.samples`` (ImageFolder:
(path, class index) pairs).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Optional, Sequence, Tuple

import numpy as np

from kdaug.data.source import Split
from kdaug.errors import KdaugError


def as_split(source, labels=None) -> Split:
    """A Split of ``source`` (see the module docstring)."""
    if isinstance(source, Split):
        return source
    if isinstance(source, (str, Path)):
        from kdaug.pipelines.files import folder_split

        return folder_split(source)[0]
    if hasattr(source, "samples") and not hasattr(source, "data"):   # ImageFolder
        samples = list(source.samples)
        if not samples:
            raise KdaugError("source: the dataset's .samples is empty")
        return Split(np.array([int(c) for _, c in samples]), files=[str(p) for p, _ in samples])
    if hasattr(source, "data") and hasattr(source, "targets"):        # CIFAR-style
        return arrays_split(source.data, source.targets, "source.data", "source.targets")
    if isinstance(source, tuple) and len(source) == 2 and labels is None:
        return arrays_split(source[0], source[1], "images", "labels")
    if labels is not None:
        return arrays_split(source, labels, "images", "labels")
    raise KdaugError("source: give (images, labels), a directory of class folders, a kdaug "
                     "Split, or a dataset with .data/.targets or .samples")


def arrays_split(images, labels, images_name: str = "images",
                 labels_name: str = "labels") -> Split:
    """In-memory images (made contiguous once: DALI takes no strided arrays) and labels."""
    images = np.asarray(images.numpy() if hasattr(images, "numpy") else images)
    if images.size == 0:
        raise KdaugError(f"{images_name} is empty")
    if images.dtype != np.uint8:
        raise KdaugError(f"{images_name} must be uint8 (0..255), got {images.dtype}")
    if images.ndim != 4:
        hint = " (greyscale: repeat it to 3 channels)" if images.ndim == 3 else ""
        raise KdaugError(f"{images_name} must be (N, H, W, 3), got shape {images.shape}{hint}")
    if images.shape[3] != 3:
        hint = " (channels first? transpose to (N, H, W, 3))" if images.shape[1] == 3 else ""
        raise KdaugError(f"{images_name} must have 3 channels last, got shape "
                         f"{images.shape}{hint}")
    labels = np.asarray(labels.numpy() if hasattr(labels, "numpy") else labels)
    if labels.ndim != 1 or len(labels) != len(images):
        raise KdaugError(f"{labels_name} must be one label per image: {len(images)} images, "
                         f"{labels_name} of shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise KdaugError(f"{labels_name} must be integers, got {labels.dtype}")
    return Split(labels.astype(np.int64), images=np.ascontiguousarray(images))


def check_statistics(mean: Optional[Sequence[float]], std: Optional[Sequence[float]]
                     ) -> Tuple[Optional[tuple], Optional[tuple]]:
    """mean and std: three finite numbers each (RGB, as fractions of 255), std > 0."""
    out = []
    for name, values in (("mean", mean), ("std", std)):
        if values is None:
            out.append(None)
            continue
        try:
            values = tuple(float(v) for v in values)
        except (TypeError, ValueError):
            raise KdaugError(f"{name} must be three numbers (R, G, B), got {values!r}") from None
        if len(values) != 3 or not all(math.isfinite(v) for v in values):
            raise KdaugError(f"{name} must be three finite numbers (R, G, B), got {values}")
        if name == "std" and min(values) <= 0:
            raise KdaugError(f"std must be positive, got {values}")
        out.append(values)
    return out[0], out[1]
