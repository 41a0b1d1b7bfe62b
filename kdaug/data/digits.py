"""The embedded default dataset "digits": handwritten digits, so that kdaug runs with no download.

Data: ``digits.csv.gz`` is scikit-learn's bundled copy (BSD-3-Clause, see DIGITS_LICENSE.txt)
of the test set of the UCI "Optical Recognition of Handwritten Digits" data (E. Alpaydin,
C. Kaynak, 1998), https://archive.ics.uci.edu/ml/datasets/Optical+Recognition+of+Handwritten+Digits
1797 rows: 64 pixel counts in 0..16 (8x8, row-major), then the digit. Read here with numpy;
scikit-learn is not needed.

Images: value * 255 / 16 rounded to uint8, upscaled 8x8 -> 32x32 with PIL **bicubic**
resampling (smooth strokes, so crops and JDA ops act as on natural images), replicated to RGB.
Split: fixed stratified 80/20 (per class, round(0.2 * count) images go to val) drawn with
``numpy.random.default_rng(SPLIT_SEED)``, independent of the run's seed so that every run
evaluates on the same images: 1438 train, 359 val.
"""
from __future__ import annotations

import gzip
import os
from typing import Tuple

import numpy as np
from PIL import Image

from kdaug.data.few_shot import stratified_sample
from kdaug.data.source import Dataset, Split
from kdaug.data.stats import channel_stats

DIGITS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "digits.csv.gz")
SIZE = 32
VAL_FRACTION = 0.2
SPLIT_SEED = 0


def load_digits() -> Dataset:
    images, labels = read_digits()
    val_idx = stratified_sample(labels, VAL_FRACTION, SPLIT_SEED)
    train_idx = np.setdiff1d(np.arange(len(labels)), val_idx)
    train = Split(labels[train_idx], images=images[train_idx])
    mean, std = channel_stats(train.images)
    return Dataset(name="digits", classes=[str(d) for d in range(10)], train=train,
                   val=Split(labels[val_idx], images=images[val_idx]), geometry="small",
                   mean=mean, std=std, default_policy="cifar10",
                   info={"source": "UCI optical handwritten digits (scikit-learn copy)",
                         "upscale": "bicubic 8x8 -> 32x32", "split_seed": SPLIT_SEED})


def read_digits(path: str = DIGITS_FILE) -> Tuple[np.ndarray, np.ndarray]:
    """All 1797 digits: images (N, 32, 32, 3) uint8 RGB and labels (N,) int64."""
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    grey = np.round(table[:, :64].reshape(-1, 8, 8) * (255 / 16)).astype(np.uint8)
    upscaled = np.stack([np.asarray(Image.fromarray(g).resize((SIZE, SIZE), Image.BICUBIC))
                         for g in grey])
    return np.repeat(upscaled[..., None], 3, axis=-1), table[:, 64]

