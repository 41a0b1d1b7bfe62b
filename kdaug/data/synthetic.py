"""Synthetic in-memory datasets for benchmarks: no files, but learnable.

Each class has its own colour (a hue on a cosine palette), stripe orientation and stripe
frequency; every image draws its own stripe phase, contrast, brightness and pixel noise. A
nearest-class-mean classifier separates the classes, so a short training run shows a rising
accuracy, while the pixel statistics look like natural images to the augmentation ops.
"""
from __future__ import annotations

import numpy as np

from kdaug.data.source import Split

_CHUNK = 1024   # images generated at a time, so float temporaries stay small


def synthetic_split(n: int, size: int = 32, num_classes: int = 10, seed: int = 0) -> Split:
    """``n`` images (n, size, size, 3) uint8 with balanced labels in random order."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % num_classes)
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    y, x = (np.mgrid[0:size, 0:size].astype(np.float32) + 0.5) / size
    hue = np.arange(num_classes, dtype=np.float32)[:, None] / num_classes
    palette = 0.5 + 0.5 * np.cos(2 * np.pi * (hue + np.array([0, 1 / 3, 2 / 3], np.float32)))
    for start in range(0, n, _CHUNK):
        lab = labels[start:start + _CHUNK]
        b = len(lab)
        angle = (np.pi * lab / num_classes).astype(np.float32)[:, None, None]
        freq = (2 + lab % 4).astype(np.float32)[:, None, None]
        phase = rng.uniform(0, 2 * np.pi, (b, 1, 1)).astype(np.float32)
        wave = np.sin(2 * np.pi * freq * (x * np.cos(angle) + y * np.sin(angle)) + phase)
        contrast = rng.uniform(0.15, 0.3, (b, 1, 1, 1)).astype(np.float32)
        brightness = rng.uniform(-0.1, 0.1, (b, 1, 1, 1)).astype(np.float32)
        colour = palette[lab][:, None, None, :]
        img = 0.15 + 0.45 * colour + brightness + contrast * wave[..., None] * (0.5 + 0.5 * colour)
        img += rng.normal(0, 0.05, img.shape).astype(np.float32)
        images[start:start + b] = np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)
    return Split(labels, images=images)
