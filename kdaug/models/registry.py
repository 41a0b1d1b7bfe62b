"""Model registry: names as the papers' code spells them (RepDistiller's CIFAR zoo,
torchvision's ImageNet models), a create/build pair and a cheap listing."""
from __future__ import annotations

import functools
from typing import Callable, Dict

import torch
from torch import nn

from . import cifar_resnet, cifar_resnet50, imagenet, mobilenetv2, shufflenet, timm_models, vgg, wrn
from .catalog import FAMILIES as _FAMILIES
from .hsakd_aux import AuxModel
from .sskd import SSKDModel

_ARCHS: Dict[str, tuple] = {}
for _family, _modules in (("cifar", (cifar_resnet, wrn, vgg, cifar_resnet50, mobilenetv2, shufflenet)),
                          ("imagenet", (imagenet,))):
    for _module in _modules:
        for _name, _factory in _module.ARCHS.items():
            _ARCHS[_name] = (_family, _factory)

KINDS: Dict[str, Callable[[nn.Module], nn.Module]] = {
    "plain": lambda backbone: backbone,
    "hsakd": AuxModel,
    "sskd": SSKDModel,
}


def _lookup(table: dict, key: str, what: str):
    try:
        return table[key]
    except KeyError:
        raise KeyError(f"unknown {what} {key!r}; known: {', '.join(table)}") from None


def has_model(arch) -> bool:
    return arch in _ARCHS or (isinstance(arch, str) and timm_models.is_timm(arch))


def create(arch: str, num_classes: int) -> nn.Module:
    """A freshly initialised backbone (forward(x) -> logits; the staged interface). Names
    starting with timm: are timm models (kdaug.models.timm_models)."""
    if timm_models.is_timm(arch):
        model = timm_models.create(arch, num_classes)
    else:
        family, factory = _lookup(_ARCHS, arch, "model")
        model = factory(num_classes)
    model.arch = arch  # named in load_state's messages
    return model


def build(kind: str, arch: str, num_classes: int) -> nn.Module:
    """The module a method trains or reads: "plain" backbone, "hsakd" (AuxModel) or "sskd" (SSKDModel)."""
    wrap = _lookup(KINDS, kind, "model kind")
    model = wrap(create(arch, num_classes))
    if kind != "plain":
        model.arch = f"{arch} ({kind})"
    return model


@functools.lru_cache(maxsize=None)
def _param_count(arch: str) -> int:
    family, factory = _ARCHS[arch]
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        model = factory(_FAMILIES[family][1])
    return sum(p.numel() for p in model.parameters())


def list_models() -> Dict[str, dict]:
    """name -> {"family", "input", "params"} (params for 100 CIFAR / 1000 ImageNet classes)."""
    return {name: {"family": family, "input": _FAMILIES[family][0], "params": _param_count(name)}
            for name, (family, _) in _ARCHS.items()}
