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
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _not_written(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError):  # disk full, quota, I/O error: the old file is untouched
            raise _not_written(path, exc) from None
        raise


def _not_written(path: Path, exc: OSError) -> KdaugError:
    kept = (f"the previous {path.name} is kept" if path.exists()
            else "nothing was written")
    return KdaugError(f"cannot write {path}: {exc.strerror or exc}; {kept}")


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
    except OSError as exc:
        raise KdaugError(f"checkpoint {path} cannot be read: {exc.strerror or exc}") from None
    except Exception as exc:  # truncated file, not a torch file, pickled code
        raise KdaugError(f"checkpoint {path} {_why_unreadable(path, exc)}") from None
    if not isinstance(obj, dict):
        raise KdaugError(f"checkpoint {path} holds a {type(obj).__name__}, not a state dict")
    return obj


def _why_unreadable(path: Path, exc: Exception) -> str:
    """What torch.load(weights_only=True) refused, in the user's terms (torch's own text
    suggests the unsafe weights_only=False)."""
    if "unsupported global" in str(exc).lower():
        return "holds objects other than tensors: refused for safety"
    with open(path, "rb") as f:
        head = f.read(4)
    if not head:
        return "is empty (0 bytes)"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\x80"):  # torch's zip, legacy pickle
        return "is truncated or damaged"
    return "is not a checkpoint (not a PyTorch file)"


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
        found_kind, found_arch = obj.get("kind"), obj.get("arch")
        if found_kind not in models.KINDS or not models.has_model(found_arch):
            raise KdaugError(f"checkpoint {path} holds an unknown model ({found_arch!r}, kind "
                             f"{found_kind!r}): see `kdaug list models`")
        if arch is not None and arch != found_arch:
            raise KdaugError(f"checkpoint {path} holds a {found_arch}, not a {arch}")
        if obj["num_classes"] != num_classes:
            raise KdaugError(f"checkpoint {path} has {obj['num_classes']} classes; "
                             f"the dataset has {num_classes}")
        state, arch = obj["model"], found_arch
    else:
        if arch is None:
            raise KdaugError(f"checkpoint {path} is a bare state_dict: name its architecture")
        if not models.has_model(arch):
            raise KdaugError(f"unknown model {arch!r}: see `kdaug list models`")
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
