"""Checkpoints: written atomically (temporary file, fsync, rename) so an interrupted run never
leaves a half-written file, and readable with torch.load(weights_only=True)."""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Optional

import torch

from kdaug.errors import KdaugError

FORMAT = "kdaug-checkpoint"


def save_atomic(obj: dict, path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load(path) -> dict:
    """Load a kdaug checkpoint, a plain state_dict (e.g. torchvision weights), a timm
    checkpoint or a .safetensors file."""
    path = Path(path)
    if not path.is_file():
        raise KdaugError(f"checkpoint {path} does not exist")
    try:
        if path.suffix == ".safetensors":  # timm's and the hub's weight files
            from safetensors.torch import load_file

            obj = load_file(path)
        else:
            # timm's train.py keeps its argparse arguments in the checkpoint: plain values
            with torch.serialization.safe_globals([argparse.Namespace]):
                obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated file, not a torch file, pickled code
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise KdaugError(f"checkpoint {path} cannot be read: {first[:200]}") from None
    if not isinstance(obj, dict):
        raise KdaugError(f"checkpoint {path} holds a {type(obj).__name__}, not a state dict")
    return obj


def is_kdaug(obj: dict) -> bool:
    return obj.get("format") == FORMAT


def model_record(kind: str, arch: str, num_classes: int, state_dict: dict,
                 classes: Optional[list] = None) -> dict:
    """The part of a checkpoint that describes the trained module."""
    return {"format": FORMAT, "version": 1, "kind": kind, "arch": arch,
            "num_classes": int(num_classes), "classes": list(classes or []),
            "model": {k: v.detach().cpu() for k, v in state_dict.items()}}


def load_model(path, kind: str, arch: Optional[str], num_classes: int):
    """Build the module a checkpoint describes and load it.

    A kdaug checkpoint carries its own kind, arch and class count; a plain state_dict is taken
    as a ``plain`` classifier of architecture ``arch``. Returns (module, arch)."""
    from kdaug import models

    obj = load(path)
    if is_kdaug(obj):
        found_kind, found_arch = obj["kind"], obj["arch"]
        if arch is not None and arch != found_arch:
            raise KdaugError(f"checkpoint {path} holds a {found_arch}, not a {arch}")
        if obj["num_classes"] != num_classes:
            raise KdaugError(f"checkpoint {path} has {obj['num_classes']} classes; "
                             f"the dataset has {num_classes}")
        state, arch = obj["model"], found_arch
    else:
        if arch is None:
            raise KdaugError(f"checkpoint {path} is a bare state_dict: name its architecture")
        found_kind, state = "plain", obj.get("state_dict", obj)
    if found_kind != kind:
        if kind == "plain":  # a model with extra heads also serves as a plain classifier
            module = models.build(found_kind, arch, num_classes)
            models.load_state(module, state, str(path))
            return module.backbone, arch
        if found_kind == "plain":
            raise KdaugError(f"checkpoint {path} is a plain {arch} classifier, but a '{kind}' "
                             f"teacher is needed: train one with `kdaug train --method "
                             f"{kind}-teacher --teacher {arch} --teacher-checkpoint {path}`")
        raise KdaugError(f"checkpoint {path} is a '{found_kind}' model; a '{kind}' one is needed")
    module = models.build(kind, arch, num_classes)
    models.load_state(module, state, str(path))
    return module, arch
