"""JDA policies as data (../shared/spec/jda.md, liwei-group/CCD data/datasets.py).

A policy is an ordered chain of steps; each step fires per image with probability ``p`` and
has a fixed magnitude; signed ops draw a random sign per image. Backends (the PIL reference
and the DALI pipelines) read these tables and nothing else, so both realise the same chain.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import numpy as np


@dataclass(frozen=True)
class OpInfo:
    name: str
    signed: bool                 # draws a random sign per image
    levels: Optional[np.ndarray]  # magnitude for level 0..9, None for magnitude-free ops


def _lin(a, b):
    return np.linspace(a, b, 10)


# The AutoAugment magnitude scales the reference uses (level 0..9).
OPS: Dict[str, OpInfo] = {
    "autocontrast": OpInfo("autocontrast", False, None),
    "equalize": OpInfo("equalize", False, None),
    "invert": OpInfo("invert", False, None),
    "posterize": OpInfo("posterize", False, np.round(_lin(8, 4), 0).astype(int)),  # bits kept
    "solarize": OpInfo("solarize", False, _lin(256, 0)),                          # threshold
    "contrast": OpInfo("contrast", True, _lin(0.0, 0.9)),
    "brightness": OpInfo("brightness", True, _lin(0.0, 0.9)),
    "color": OpInfo("color", True, _lin(0.0, 0.9)),
    "sharpness": OpInfo("sharpness", True, _lin(0.0, 0.9)),
    "shearX": OpInfo("shearX", True, _lin(0, 0.3)),
    "shearY": OpInfo("shearY", True, _lin(0, 0.3)),
    "translateX": OpInfo("translateX", True, _lin(0, 150 / 331)),  # fraction of width
    "translateY": OpInfo("translateY", True, _lin(0, 150 / 331)),  # fraction of height
    "rotate": OpInfo("rotate", False, _lin(0, 30)),  # +degrees, counter-clockwise, no sign
}

FILL = 128  # grey fill of the geometric ops (the reference's fillcolor)


@dataclass(frozen=True)
class OpStep:
    """One step of a chain: op name, level (0..9) and the resolved magnitude."""

    op: str
    level: int

    @property
    def signed(self) -> bool:
        return OPS[self.op].signed

    @property
    def magnitude(self):
        levels = OPS[self.op].levels
        if levels is None:
            return None
        value = levels[self.level]
        return int(value) if self.op == "posterize" else float(value)

    def describe(self) -> str:
        m = self.magnitude
        if m is None:
            return self.op
        sign = "±" if self.signed else ("+" if self.op == "rotate" else "")
        return f"{self.op} {sign}{m:.3g}" if self.op != "posterize" else f"posterize {m}b"

    def changes_images(self) -> bool:
        """False for steps kept in the policies for fidelity that leave every image as it is
        (posterize 8 bits, solarize above 255, shear/translate/rotate/enhance by 0)."""
        m = self.magnitude
        if self.op == "posterize":
            return m < 8
        if self.op == "solarize":
            return m <= 255
        return m is None or m != 0

    def drawn(self, sign: int) -> str:
        """The step as it ran with a drawn sign: the factor, shift or angle used."""
        m = self.magnitude
        if m is None:
            return self.op
        if self.op == "posterize":
            return f"posterize {m} bits"
        if self.op == "solarize":
            return f"solarize >= {m:.4g}"
        if self.op == "rotate":
            return f"rotate {m:+.3g} deg"
        s = sign if self.signed else 1
        if self.op.startswith("translate"):
            return f"{self.op} {s * m:+.3f}{'W' if self.op.endswith('X') else 'H'}"
        if self.op.startswith("shear"):
            return f"{self.op} {s * m:+.3f}"
        return f"{self.op} x{1 + s * m:.2f}"      # the enhance factor


@dataclass(frozen=True)
class Policy:
    """A JDA chain (``steps``, each firing with probability ``p``), or, with ``library`` set,
    an augmentation a library realises with its own randomness: "randaugment" (``options``
    n, m) or "autoaugment" (the ImageNet policy). Library policies have no steps: the DALI
    backend runs nvidia.dali.auto_aug, the reference runs torchvision's transform seeded
    from kdaug's draws; the two agree in distribution, not view for view."""

    name: str
    p: float
    steps: Tuple[OpStep, ...]
    library: str = ""
    options: Tuple[Tuple[str, object], ...] = ()

    def __len__(self):
        return len(self.steps)

    def __bool__(self):   # a policy is never "empty" (library policies have no steps)
        return True

    def option(self, key: str):
        return dict(self.options)[key]

    def describe(self) -> str:
        if self.library == "randaugment":
            return (f"RandAugment: {self.option('n')} random ops per view at magnitude "
                    f"{self.option('m')} of 30 (torchvision / nvidia.dali.auto_aug), grey fill")
        if self.library == "autoaugment":
            return ("AutoAugment, the ImageNet policy: one of its 25 sub-policies per view "
                    "(torchvision / nvidia.dali.auto_aug), grey fill")
        return (f"p={self.p}, {len(self)} ops: " + ", ".join(s.describe() for s in self.steps))


def _policy(name, p, pairs):
    return Policy(name, p, tuple(OpStep(op, level) for op, level in pairs))


_NONE = 0  # level of magnitude-free ops (ignored)

POLICIES: Dict[str, Policy] = {
    "cifar100": _policy("cifar100", 0.3, [
        ("autocontrast", _NONE), ("contrast", 3), ("posterize", 0), ("solarize", 4),
        ("translateY", 8), ("shearX", 5), ("brightness", 3), ("shearY", 0),
        ("translateX", 1), ("sharpness", 5), ("invert", _NONE), ("color", 4),
        ("equalize", _NONE), ("rotate", 3),
    ]),
    "cifar10": _policy("cifar10", 0.5, [
        ("invert", _NONE), ("rotate", 2), ("shearY", 8), ("posterize", 9),
        ("autocontrast", _NONE), ("color", 3), ("sharpness", 9), ("equalize", _NONE),
        ("contrast", 7), ("translateY", 3), ("brightness", 6), ("solarize", 2),
        ("translateX", 3), ("shearX", 8),
    ]),
    "imagenet": _policy("imagenet", 0.2, [
        ("posterize", 9), ("solarize", 5), ("equalize", _NONE), ("posterize", 7),
        ("equalize", _NONE), ("equalize", _NONE), ("solarize", 3), ("posterize", 5),
        ("rotate", 3), ("equalize", _NONE), ("rotate", 8), ("rotate", 9),
        ("equalize", _NONE), ("invert", _NONE), ("color", 4), ("rotate", 8),
        ("color", 8), ("sharpness", 7), ("shearX", 5), ("color", 0),
        ("equalize", _NONE), ("solarize", 5), ("invert", _NONE), ("color", 4),
        ("equalize", _NONE),
    ]),
}


# The follow-up work's alternatives to JDA (n=3, m=5 as in the reference training scripts).
POLICIES["randaugment"] = Policy("randaugment", 1.0, (), library="randaugment",
                                 options=(("n", 3), ("m", 5)))
POLICIES["autoaugment"] = Policy("autoaugment", 1.0, (), library="autoaugment",
                                 options=(("policy", "imagenet"),))


def get_policy(name: str) -> Policy:
    try:
        return POLICIES[name]
    except KeyError:
        raise KeyError(f"unknown policy {name!r}; known: {', '.join(sorted(POLICIES))}") from None
