"""Datasets by name: what ``--dataset``, ``--data-dir`` and ``--few-shot`` resolve to."""
from __future__ import annotations

from dataclasses import replace
from typing import Dict, Optional

from kdaug.data.cifar import load_cifar
from kdaug.data.digits import load_digits
from kdaug.data.few_shot import few_shot as few_shot_split
from kdaug.data.folders import load_folders
from kdaug.data.source import Dataset
from kdaug.data.stats import channel_stats
from kdaug.data.synthetic import synthetic_split
from kdaug.errors import KdaugError

SYNTHETIC_DEFAULTS = {"n_train": 10000, "n_val": 2000, "size": 32, "num_classes": 10}


def _synthetic(seed: int, n_train: int, n_val: int, size: int, num_classes: int) -> Dataset:
    train = synthetic_split(n_train, size, num_classes, seed)
    mean, std = channel_stats(train.images)
    small = size <= 64
    return Dataset(name="synthetic", classes=[f"class{c}" for c in range(num_classes)],
                   train=train, val=synthetic_split(n_val, size, num_classes, seed + 1),
                   geometry="small" if small else "large", mean=mean, std=std,
                   default_policy="cifar10" if small else "imagenet",
                   info={"synthetic": dict(n_train=n_train, n_val=n_val, size=size,
                                           num_classes=num_classes)})


# name -> (one-line description, needs --data-dir, loader(data_dir, seed, **options))
_DATASETS: Dict[str, tuple] = {
    "digits": ("handwritten digits 0-9, 1438/359 images upscaled to 32x32; embedded, the default",
               False, lambda data_dir, seed: load_digits()),
    "cifar10": ("CIFAR-10, python version (cifar-10-batches-py) in --data-dir; 50k/10k 32x32",
                True, lambda data_dir, seed: load_cifar(data_dir, "cifar10")),
    "cifar100": ("CIFAR-100, python version (cifar-100-python) in --data-dir; fine labels",
                 True, lambda data_dir, seed: load_cifar(data_dir, "cifar100")),
    "imagenet": ("ImageNet class folders: --data-dir/train/<class>/*.JPEG and val/<class>/*",
                 True, lambda data_dir, seed: load_folders(data_dir, "imagenet")),
    "folder": ("any class-folder dataset in the ImageNet layout (--data-dir/{train,val}/<class>)",
               True, lambda data_dir, seed: load_folders(data_dir, "folder")),
    "synthetic": ("random class-structured 32x32 arrays for benchmarks; no files",
                  False, lambda data_dir, seed, **options: _synthetic(
                      seed, **{**SYNTHETIC_DEFAULTS, **options})),
}


def list_datasets() -> Dict[str, str]:
    """Dataset name -> one-line description."""
    return {name: entry[0] for name, entry in _DATASETS.items()}


def load_dataset(name: str = "digits", data_dir: Optional[str] = None,
                 few_shot: Optional[float] = None, seed: int = 0, **options) -> Dataset:
    """Load dataset ``name``; with ``few_shot`` keep that stratified fraction of the training
    split, drawn with ``seed``. ``options`` reach only "synthetic" (n_train, n_val, size,
    num_classes); its images are drawn with ``seed`` too."""
    if name not in _DATASETS:
        raise KdaugError(f"unknown dataset {name!r}; known: {', '.join(_DATASETS)}")
    _, needs_dir, loader = _DATASETS[name]
    if needs_dir and not data_dir:
        raise KdaugError(f"--data-dir is required for {name}")
    if not needs_dir and data_dir:
        raise KdaugError(f"--data-dir is not used by {name} (it needs no files); "
                         f"datasets read from --data-dir: "
                         f"{', '.join(n for n, e in _DATASETS.items() if e[1])}")
    unknown = sorted(set(options) - (set(SYNTHETIC_DEFAULTS) if name == "synthetic" else set()))
    if unknown:
        raise KdaugError(f"dataset {name} takes no option {', '.join(unknown)}")
    dataset = loader(data_dir, seed, **options)
    if few_shot is None:
        return dataset
    return replace(dataset, train=few_shot_split(dataset.train, few_shot, seed),
                   info={**dataset.info, "few_shot": few_shot, "few_shot_seed": seed})
