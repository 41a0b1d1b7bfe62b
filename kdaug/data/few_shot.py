"""Few-shot training subsets: a stratified, seeded fraction of each class."""
from __future__ import annotations

import math
import numbers

import numpy as np

from kdaug.data.source import Split
from kdaug.errors import KdaugError


def few_shot(split: Split, fraction: float, seed: int = 0) -> Split:
    """Keep round(fraction * count) images of every class (at least one), chosen with ``seed``;
    the kept images stay in their original order. ``fraction`` must be in (0, 1]."""
    if (isinstance(fraction, bool) or not isinstance(fraction, numbers.Real)
            or math.isnan(fraction) or not 0 < fraction <= 1):
        raise KdaugError(f"--few-shot must be a fraction in (0, 1], got {fraction!r}")
    if fraction == 1:
        return split
    return split.subset(stratified_sample(split.labels, fraction, seed, at_least=1))


def stratified_sample(labels: np.ndarray, fraction: float, seed: int,
                      at_least: int = 0) -> np.ndarray:
    """Sorted indices of round(fraction * count) random members of each class (at least
    ``at_least``), drawn class by class in label order from one ``default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    chosen = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        k = min(len(members), max(at_least, int(round(fraction * len(members)))))
        chosen.append(rng.choice(members, size=k, replace=False))
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)
