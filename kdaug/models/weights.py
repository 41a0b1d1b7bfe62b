"""Strict weight loading with one-line errors that name the checkpoint and the mismatch."""
from __future__ import annotations

from typing import Dict, List, Mapping

import torch
from torch import nn

from kdaug.errors import KdaugError

_CONTAINER_KEYS = ("state_dict", "model", "net")  # how training scripts commonly nest the weights
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")     # DDP / DataParallel, torch.compile
_SHOWN = 3


def _unwrap(obj, source: str) -> Dict[str, torch.Tensor]:
    while isinstance(obj, Mapping) and not any(torch.is_tensor(v) for v in obj.values()):
        inner = next((obj[k] for k in _CONTAINER_KEYS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, Mapping) or not any(torch.is_tensor(v) for v in obj.values()):
        raise KdaugError(f"checkpoint {source} holds no model weights (no state_dict found)")
    return dict(obj)


def _strip_prefixes(sd: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    for prefix in _WRAPPER_PREFIXES:
        if sd and all(k.startswith(prefix) for k in sd):
            sd = {k[len(prefix):]: v for k, v in sd.items()}
    return sd


def _apply_aliases(module: nn.Module, sd: Dict[str, torch.Tensor], expected) -> Dict[str, torch.Tensor]:
    """Rename keys of other published layouts (e.g. torchvision's classifier.1.) to ours,
    for every submodule that declares state_dict_aliases."""
    renames = []
    for name, sub in module.named_modules():
        base = f"{name}." if name else ""
        renames += [(base + theirs, base + ours) for theirs, ours in getattr(sub, "state_dict_aliases", {}).items()]
    out = {}
    for key, value in sd.items():
        if key not in expected:
            for theirs, ours in renames:
                if key.startswith(theirs):
                    key = ours + key[len(theirs):]
                    break
        out[key] = value
    return out


def _listing(label: str, keys: List[str]) -> str:
    more = f" (+{len(keys) - _SHOWN} more)" if len(keys) > _SHOWN else ""
    return f"{label} {', '.join(keys[:_SHOWN])}{more}"


def _shape(t: torch.Tensor) -> str:
    return "x".join(map(str, t.shape)) or "scalar"


def load_state(module: nn.Module, state_dict, source: str) -> None:
    """Load ``state_dict`` (or a checkpoint dict nesting one) into ``module`` strictly.
    Strips DDP's 'module.' prefix, accepts torchvision key names for torchvision models and
    takes the backbone out of an hsakd/sskd checkpoint when ``module`` is a plain backbone
    (the reverse, a plain checkpoint into a wrapper, fails naming the missing head keys).
    Raises KdaugError with one line naming ``source`` and what does not fit."""
    sd = _strip_prefixes(_unwrap(state_dict, source))
    expected = module.state_dict()
    wrapped = {k[len("backbone."):]: v for k, v in sd.items() if k.startswith("backbone.")}
    if wrapped and not any(k.startswith("backbone.") for k in expected):
        sd = wrapped  # the backbone of an hsakd/sskd checkpoint, e.g. to use it as a KD teacher
    elif not wrapped and any(k.startswith("backbone.") for k in expected):
        sd = {f"backbone.{k}": v for k, v in sd.items()}  # so a plain one reports the missing heads
    sd = _apply_aliases(module, sd, expected)
    for key in expected:  # checkpoints older than BN's step counter lack it; keep ours
        if key.endswith("num_batches_tracked") and key not in sd:
            sd[key] = expected[key]

    problems = [f"size mismatch for {k} (checkpoint {_shape(sd[k])}, model {_shape(v)})"
                for k, v in expected.items() if k in sd and sd[k].shape != v.shape]
    problems = problems[:_SHOWN] + ([f"{len(problems) - _SHOWN} more size mismatches"] if len(problems) > _SHOWN else [])
    missing = [k for k in expected if k not in sd]
    unexpected = [k for k in sd if k not in expected]
    if missing:
        problems.append(_listing("missing", missing))
    if unexpected:
        problems.append(_listing("unexpected", unexpected))
    if problems:
        arch = getattr(module, "arch", type(module).__name__)
        raise KdaugError(f"checkpoint {source} does not fit {arch}: {'; '.join(problems)}")
    module.load_state_dict(sd, strict=True)
