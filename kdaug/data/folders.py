"""Class-folder datasets in the ImageNet layout: ``DIR/train/<class>/*`` and ``DIR/val/<class>/*``.

Classes are the sorted sub-folder names of ``train/`` (hidden folders skipped); images are the
files whose extension is an image extension (case-insensitive), sorted by name. Nothing is
opened at load: ImageNet's 1.28M files are listed with ``os.scandir``, which reads the file type
from the directory entry instead of calling stat on every file.
"""
from __future__ import annotations

import os
from typing import List

import numpy as np

from kdaug.augment.plan import IMAGENET_MEAN, IMAGENET_STD
from kdaug.data.source import Dataset, Split
from kdaug.errors import KdaugError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
SPLITS = ("train", "val")


def load_folders(data_dir: str, name: str = "folder", default_policy: str = "imagenet") -> Dataset:
    """A class-folder dataset: both splits as file lists, labels from the train class order."""
    data_dir = str(data_dir)
    if not os.path.isdir(data_dir):
        raise KdaugError(f"dataset folder not found: {data_dir} (expected {_layout(data_dir)})")
    train_dir, val_dir = (split_dir(data_dir, s) for s in SPLITS)
    classes = list_classes(train_dir)
    val_classes = list_classes(val_dir)
    if val_classes != classes:
        raise KdaugError(f"{val_dir} and {train_dir} hold different classes "
                         f"({_difference(classes, val_classes)})")
    return Dataset(name=name, classes=classes, train=scan_split(train_dir, classes),
                   val=scan_split(val_dir, classes), geometry="large", mean=IMAGENET_MEAN,
                   std=IMAGENET_STD, default_policy=default_policy, info={"root": data_dir})


def split_dir(data_dir: str, split: str) -> str:
    path = os.path.join(data_dir, split)
    if not os.path.isdir(path):
        raise KdaugError(f"missing {split} split: {path} (expected {_layout(data_dir)})")
    return path


def list_classes(directory: str) -> List[str]:
    """Sorted names of the class sub-folders of one split folder."""
    with os.scandir(directory) as entries:
        classes = sorted(e.name for e in entries if e.is_dir() and not e.name.startswith("."))
    if not classes:
        raise KdaugError(f"no class folders in {directory} (expected {directory}/<class>/<image>)")
    return classes


def scan_split(directory: str, classes: List[str]) -> Split:
    files: List[str] = []
    labels: List[int] = []
    for label, name in enumerate(classes):
        images = list_images(os.path.join(directory, name))
        files.extend(images)
        labels.extend([label] * len(images))
    return Split(np.asarray(labels, dtype=np.int64), files=files)


def list_images(class_dir: str) -> List[str]:
    """Sorted paths of the image files in one class folder; an empty class is an error."""
    with os.scandir(class_dir) as entries:
        names = sorted(e.name for e in entries
                       if e.name.lower().endswith(IMAGE_EXTENSIONS) and e.is_file())
    if not names:
        raise KdaugError(f"empty class folder: {class_dir} has no images "
                         f"({', '.join(IMAGE_EXTENSIONS)})")
    return [os.path.join(class_dir, n) for n in names]


def _layout(data_dir: str) -> str:
    return f"{os.path.join(data_dir, 'train')}/<class>/<image> and " \
           f"{os.path.join(data_dir, 'val')}/<class>/<image>"


def _difference(train: List[str], val: List[str]) -> str:
    parts = []
    for label, names in (("only in train", sorted(set(train) - set(val))),
                         ("only in val", sorted(set(val) - set(train)))):
        if names:
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            parts.append(f"{label}: {shown}")
    return "; ".join(parts)
