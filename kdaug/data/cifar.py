"""CIFAR-10 and CIFAR-100 in their official python-pickle layout.

``--data-dir`` may name the parent folder (``DIR/cifar-10-batches-py``, ``DIR/cifar-100-python``)
or the variant folder itself. Each batch is a pickled dict with ``data``: (N, 3072) uint8 rows
in CHW order (1024 red, 1024 green, 1024 blue values, each row-major 32x32) and ``labels``
(CIFAR-10) or ``fine_labels`` / ``coarse_labels`` (CIFAR-100). The pickles come from Python 2,
so keys and names are bytes; keys saved as str by a Python 3 re-export are accepted too.

Pickles are read with an unpickler that only resolves the numpy array constructors, so a
tampered file in a downloaded folder cannot run code.
"""
from __future__ import annotations

import codecs
import os
import pickle
from dataclasses import dataclass
from typing import List, Tuple

import numpy as np

from kdaug.augment.plan import CIFAR_MEAN, CIFAR_STD
from kdaug.data.source import Dataset, Split
from kdaug.errors import KdaugError

CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"


@dataclass(frozen=True)
class CifarLayout:
    title: str                  # as written in messages
    folder: str                 # the folder the official tarball unpacks to
    train: Tuple[str, ...]
    test: Tuple[str, ...]
    meta: str
    label_key: str
    names_key: str


LAYOUTS = {
    "cifar10": CifarLayout("CIFAR-10", "cifar-10-batches-py",
                           tuple(f"data_batch_{i}" for i in range(1, 6)), ("test_batch",),
                           "batches.meta", "labels", "label_names"),
    "cifar100": CifarLayout("CIFAR-100", "cifar-100-python", ("train",), ("test",),
                            "meta", "fine_labels", "fine_label_names"),
}


def load_cifar(data_dir: str, variant: str = "cifar10") -> Dataset:
    """Load CIFAR-10 (``variant="cifar10"``) or CIFAR-100 (fine labels) from ``data_dir``:
    images (N, 32, 32, 3) uint8 RGB, labels int64, class names from the meta file."""
    layout = LAYOUTS[variant]
    root = _resolve(str(data_dir), layout)
    train = _read_split(root, layout.train, layout)
    val = _read_split(root, layout.test, layout)
    meta_path = _require(root, layout.meta, layout)
    classes = [_text(n) for n in _field(_unpickle(meta_path), layout.names_key, meta_path)]
    top = int(max(train.labels.max(initial=0), val.labels.max(initial=0)))
    if top >= len(classes):
        raise KdaugError(f"{meta_path}: {len(classes)} class names but labels go up to {top}")
    return Dataset(name=variant, classes=classes, train=train, val=val, geometry="small",
                   mean=CIFAR_MEAN, std=CIFAR_STD, default_policy=variant, info={"root": root})


def _resolve(data_dir: str, layout: CifarLayout) -> str:
    for candidate in (os.path.join(data_dir, layout.folder), data_dir):
        if os.path.isfile(os.path.join(candidate, layout.train[0])):
            return candidate
    message = (f"no {layout.title} found in {data_dir}: expected "
               f"{os.path.join(data_dir, layout.folder, layout.train[0])} "
               f"(download the python version from {CIFAR_URL})")
    for other in LAYOUTS.values():
        if other is not layout and any(os.path.isfile(os.path.join(d, other.train[0])) for d in
                                       (os.path.join(data_dir, other.folder), data_dir)):
            message += f"; this looks like {other.title}: pick --dataset {_name(other)}"
    raise KdaugError(message)


def _name(layout: CifarLayout) -> str:
    return next(name for name, v in LAYOUTS.items() if v is layout)


def _require(root: str, name: str, layout: CifarLayout) -> str:
    path = os.path.join(root, name)
    if not os.path.isfile(path):
        raise KdaugError(f"{layout.title} file missing: {path} "
                         f"(download the python version from {CIFAR_URL})")
    return path


def _read_split(root: str, names: Tuple[str, ...], layout: CifarLayout) -> Split:
    images: List[np.ndarray] = []
    labels: List[np.ndarray] = []
    for name in names:
        path = _require(root, name, layout)
        batch = _unpickle(path)
        rows = np.asarray(_field(batch, "data", path))
        batch_labels = _labels(_field(batch, layout.label_key, path), layout.label_key, path)
        if rows.dtype != np.uint8 or rows.ndim != 2 or rows.shape[1] != 3 * 32 * 32:
            raise KdaugError(f"{path}: 'data' should be (N, 3072) uint8 rows, "
                             f"got {rows.shape} {rows.dtype}")
        if len(batch_labels) != len(rows):
            raise KdaugError(f"{path}: {len(rows)} images but {len(batch_labels)} labels")
        # CHW rows -> NHWC images, the layout every backend reads.
        images.append(rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.append(batch_labels)
    return Split(np.concatenate(labels), images=np.ascontiguousarray(np.concatenate(images)))


def _field(record, key: str, path: str):
    if not isinstance(record, dict):
        raise KdaugError(f"{path}: not a CIFAR file (a pickled {type(record).__name__}, "
                         f"expected a dict)")
    for k in (key.encode(), key):
        if k in record:
            return record[k]
    raise KdaugError(f"{path}: not a CIFAR file (no {key!r} entry)")


def _labels(values, key: str, path: str) -> np.ndarray:
    try:
        labels = np.asarray(values, dtype=np.int64)
    except (TypeError, ValueError):
        labels = None
    if labels is None or labels.ndim != 1 or (len(labels) and labels.min() < 0):
        raise KdaugError(f"{path}: {key!r} should be a list of non-negative integer labels")
    return labels


def _text(name) -> str:
    return name.decode("utf-8") if isinstance(name, bytes) else str(name)


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Resolves only what numpy arrays need (under the module names numpy 1 and 2 write)."""

    def find_class(self, module, name):
        try:
            return _SAFE_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}") from None


def _safe_globals():
    probe = np.zeros(1, dtype=np.uint8)
    reconstruct = probe.__reduce__()[0]      # wherever this numpy keeps them
    frombuffer = probe.__reduce_ex__(5)[0]
    scalar = np.uint8(0).__reduce__()[0]
    table = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
             ("_codecs", "encode"): codecs.encode}   # how protocol 2 spells bytes in Python 3
    for core in ("numpy.core", "numpy._core"):
        table[(f"{core}.multiarray", "_reconstruct")] = reconstruct
        table[(f"{core}.multiarray", "scalar")] = scalar
        table[(f"{core}.numeric", "_frombuffer")] = frombuffer
    return table


_SAFE_GLOBALS = _safe_globals()


def _unpickle(path: str):
    try:
        with open(path, "rb") as f:
            return _ArraysOnlyUnpickler(f, encoding="bytes").load()
    except OSError as e:
        raise KdaugError(f"cannot read {path}: {e.strerror or e}") from None
    except Exception as e:  # any unpickling failure means the file is not what we expect
        raise KdaugError(f"{path}: not a readable CIFAR python pickle "
                         f"({type(e).__name__}: {e})") from None
