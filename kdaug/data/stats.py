"""Per-channel normalisation statistics of uint8 RGB image arrays."""
from __future__ import annotations

from typing import Tuple

import numpy as np

Triple = Tuple[float, float, float]


def channel_stats(images: np.ndarray, chunk: int = 4096) -> Tuple[Triple, Triple]:
    """Mean and (population) std of each channel of (N, H, W, 3) uint8 images, in [0, 1] units,
    rounded to 4 decimals. Summed in chunks so that 50k images never become one float64 copy."""
    total = np.zeros(3, dtype=np.float64)
    squares = np.zeros(3, dtype=np.float64)
    for start in range(0, len(images), chunk):
        block = images[start:start + chunk].reshape(-1, 3).astype(np.float64)
        total += block.sum(axis=0)
        squares += np.square(block).sum(axis=0)
    count = len(images) * images.shape[1] * images.shape[2]
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - np.square(mean), 0.0))
    return _rounded(mean / 255.0), _rounded(std / 255.0)


def _rounded(values) -> Triple:
    return tuple(round(float(v), 4) for v in values)
