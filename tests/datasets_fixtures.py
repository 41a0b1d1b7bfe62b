"""Tiny datasets written in the real on-disk formats, for any test that needs files.

    from datasets_fixtures import make_cifar, make_class_folders

make_cifar writes the official python-pickle layout (protocol 2 as Python 2 wrote it: byte
strings for keys and names, ``numpy.core.multiarray`` for the array constructor); make_class_folders
writes baseline RGB JPEGs with natural-looking, class-dependent content. Both are
deterministic for a given seed and return what they wrote, so tests can compare exactly.
"""
from __future__ import annotations

import os
import pickle
import struct
from typing import Dict, List, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck"]


def make_cifar(root, variant: str = "cifar10", n_train: int = 50, n_test: int = 20,
               seed: int = 0) -> Dict[str, object]:
    """Write ``root/cifar-10-batches-py`` (data_batch_1..5, test_batch, batches.meta) or
    ``root/cifar-100-python`` (train, test, meta). Returns dict: dir, classes, train_rows,
    train_labels, test_rows, test_labels (rows: (N, 3072) uint8 CHW exactly as written;
    labels: fine labels for CIFAR-100), and for CIFAR-100 train_coarse / test_coarse."""
    rng = np.random.default_rng(seed)
    cifar100 = variant == "cifar100"
    if variant not in ("cifar10", "cifar100"):
        raise ValueError(f"variant must be cifar10 or cifar100, got {variant!r}")
    classes = [f"fine_{i:02d}" for i in range(100)] if cifar100 else CIFAR10_CLASSES
    folder = os.path.join(str(root), "cifar-100-python" if cifar100 else "cifar-10-batches-py")
    os.makedirs(folder, exist_ok=True)
    out: Dict[str, object] = {"dir": folder, "classes": list(classes)}
    for split, n in (("train", n_train), ("test", n_test)):
        labels = rng.integers(0, len(classes), n)
        rows = _cifar_rows(labels, len(classes), rng)
        out[f"{split}_rows"], out[f"{split}_labels"] = rows, labels
        if cifar100:
            coarse = labels // 5
            out[f"{split}_coarse"] = coarse
            _dump(os.path.join(folder, split), {
                b"filenames": _filenames(split, n),
                b"batch_label": f"{split}ing batch 1 of 1".encode(),
                b"fine_labels": labels.tolist(), b"coarse_labels": coarse.tolist(), b"data": rows})
        else:
            names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
            filenames = _filenames(split, n)
            for i, (name, idx) in enumerate(zip(names, np.array_split(np.arange(n), len(names)))):
                _dump(os.path.join(folder, name), {
                    b"batch_label": f"{split}ing batch {i + 1} of {len(names)}".encode(),
                    b"labels": labels[idx].tolist(), b"data": rows[idx],
                    b"filenames": [filenames[j] for j in idx]})
    if cifar100:
        _dump(os.path.join(folder, "meta"), {
            b"fine_label_names": [c.encode() for c in classes],
            b"coarse_label_names": [f"coarse_{i:02d}".encode() for i in range(20)]})
    else:
        _dump(os.path.join(folder, "batches.meta"), {
            b"num_cases_per_batch": -(-n_train // 5), b"num_vis": 3072,
            b"label_names": [c.encode() for c in classes]})
    return out


def make_class_folders(root, classes: Sequence[str] = ("cat", "dog", "fish"),
                       n_per_class_train: int = 4, n_per_class_val: int = 2,
                       size: Tuple[int, int] = (64, 48), seed: int = 0,
                       ext: str = ".JPEG") -> Dict[str, List[Tuple[str, int]]]:
    """Write ``root/train/<class>/`` and ``root/val/<class>/`` baseline RGB JPEGs of ``size``
    (W, H). Returns {"train": [(path, label)], "val": [...]} sorted as a loader sorts them."""
    rng = np.random.default_rng(seed)
    written: Dict[str, List[Tuple[str, int]]] = {}
    for split, count in (("train", n_per_class_train), ("val", n_per_class_val)):
        written[split] = []
        for label, name in enumerate(sorted(classes)):
            folder = os.path.join(str(root), split, name)
            os.makedirs(folder, exist_ok=True)
            for i in range(count):
                path = os.path.join(folder, f"{split}_{name}_{i:04d}{ext}")
                natural_image(size, label, len(classes), rng).save(path, "JPEG", quality=90)
                written[split].append((path, label))
    return written


def natural_image(size: Tuple[int, int], label: int, num_classes: int,
                  rng: np.random.Generator) -> Image.Image:
    """A smooth gradient in a class-dependent hue, a few shapes, mild blur and sensor noise."""
    w, h = size
    hue = label / max(num_classes, 1)
    base = 0.5 + 0.4 * np.cos(2 * np.pi * (hue + np.array([0, 1 / 3, 2 / 3])))
    corners = np.clip(base + rng.normal(0, 0.12, (2, 2, 3)), 0, 1)
    ty, tx = np.meshgrid(np.linspace(0, 1, h), np.linspace(0, 1, w), indexing="ij")
    ty, tx = ty[..., None], tx[..., None]
    grad = ((1 - ty) * ((1 - tx) * corners[0, 0] + tx * corners[0, 1])
            + ty * ((1 - tx) * corners[1, 0] + tx * corners[1, 1]))
    im = Image.fromarray((grad * 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(im)
    for _ in range(int(rng.integers(2, 5))):
        x0, x1 = sorted(rng.integers(0, w, 2))
        y0, y1 = sorted(rng.integers(0, h, 2))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        shape = (label + int(rng.integers(0, 2))) % 3   # a class leans to one kind of shape
        if shape == 0:
            draw.ellipse([x0, y0, x1 + 2, y1 + 2], fill=colour)
        elif shape == 1:
            draw.rectangle([x0, y0, x1 + 2, y1 + 2], fill=colour)
        else:
            draw.polygon([(x0, y1), ((x0 + x1) // 2, y0), (x1 + 2, y1)], fill=colour)
    im = im.filter(ImageFilter.GaussianBlur(radius=1.0))
    noisy = np.asarray(im, dtype=np.float32) + rng.normal(0, 6, (h, w, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")


def _cifar_rows(labels: np.ndarray, num_classes: int, rng: np.random.Generator) -> np.ndarray:
    """(N, 3072) uint8 CHW rows: a class-dependent tint plus noise, different in every pixel
    and channel so that any layout mix-up shows."""
    hue = labels / num_classes
    tint = 128 + 80 * np.cos(2 * np.pi * (hue[:, None] + np.array([0, 1 / 3, 2 / 3])))
    noise = rng.integers(-60, 61, (len(labels), 3, 1024))
    return np.clip(tint[:, :, None] + noise, 0, 255).astype(np.uint8).reshape(len(labels), 3072)


def _filenames(split: str, n: int) -> List[bytes]:
    return [f"{split}_{i:05d}.png".encode() for i in range(n)]


class _Python2Pickler(pickle._Pickler):
    """Protocol 2 as Python 2's cPickle wrote the official files: byte strings and text as
    BINSTRING (so ``encoding="bytes"`` gives bytes and ``encoding="latin1"`` gives str, as with
    the originals) and numpy under its old module name ``numpy.core``."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj):
        data = obj if isinstance(obj, bytes) else obj.encode("latin1")
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str
    dispatch[str] = save_py2_str

    def save_global(self, obj, name=None):
        module = getattr(obj, "__module__", "") or ""
        if not module.startswith("numpy._core."):
            return super().save_global(obj, name)
        module = "numpy.core." + module[len("numpy._core."):]
        self.write(pickle.GLOBAL + f"{module}\n{name or obj.__name__}\n".encode())
        self.memoize(obj)


def _dump(path: str, record: dict) -> None:
    with open(path, "wb") as f:
        _Python2Pickler(f, protocol=2).dump(record)
