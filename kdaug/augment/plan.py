"""A view plan: everything a backend needs to turn one raw image into V training views.

Backends (kdaug.augment.reference, kdaug.pipelines) realise a plan; they never know which
method consumes the views. Families:

- ``plain``:         V views, each the standard transform of the raw image (V=1: ordinary
                     training; the evaluation plan is a deterministic plain plan).
- ``jda``:           view 0 = standard transform of the raw image; views 1..V-1 = standard
                     transform of an independent draw of the JDA chain on the raw image. Every
                     view draws its own crop and flip.
- ``rotation``:      4 views, one crop and flip shared by all, view k rotated by k quarter turns
                     counter-clockwise (HSAKD).
- ``rotation-crop``: 4 views, flip shared, own crop per view, view k rotated by k quarter
                     turns (SSKD).

A rotation family may carry a policy too: views 1..3 then go through the JDA chain before
their crop and turn (HSAKD+JDA, SSKD+JDA), view 0 stays the original.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional, Tuple

from kdaug.augment.policies import Policy, get_policy
from kdaug.errors import KdaugError
from kdaug.families import FAMILIES  # noqa: F401  (re-exported)

CROPS = ("pad", "rrc", "none", "center")

class PlanError(KdaugError, ValueError):
    """An impossible view plan (every backend raises this one)."""


CIFAR_MEAN = (0.5071, 0.4867, 0.4408)
CIFAR_STD = (0.2675, 0.2565, 0.2761)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ViewPlan:
    family: str
    num_views: int
    crop: str                      # pad | rrc (training); none | center (evaluation)
    size: int                      # output height = width
    flip: bool                     # random horizontal flip p=0.5
    mean: Tuple[float, float, float]
    std: Tuple[float, float, float]
    policy: Optional[Policy] = None  # JDA chain of views 1.. (jda; optional on rotation families)
    pad: int = 4                     # crop "pad": zero padding before the random crop
    rrc_scale: Tuple[float, float] = (0.08, 1.0)
    rrc_ratio: Tuple[float, float] = (3 / 4, 4 / 3)
    resize: int = 256                # crop "center": shorter side resized to this first

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise PlanError(f"unknown view family {self.family!r}; known: {', '.join(FAMILIES)}")
        if self.crop not in CROPS:
            raise PlanError(f"unknown crop {self.crop!r}; known: {', '.join(CROPS)}")
        if self.num_views < 1:
            raise PlanError("a view plan needs at least one view")
        if self.family == "jda" and (self.policy is None or self.num_views < 2):
            raise PlanError("the jda family needs a policy and at least 2 views")
        if self.family.startswith("rotation") and self.num_views != 4:
            raise PlanError("rotation families have exactly 4 views (0/90/180/270 degrees)")
        if self.family == "plain" and self.policy is not None:
            raise PlanError("plain views are not augmented: the jda family carries a policy")

    @property
    def rotations(self) -> Optional[Tuple[int, ...]]:
        """Quarter turns of each view, or None when the family is not a rotation family."""
        return tuple(range(4)) if self.family.startswith("rotation") else None

    def augmented(self, view: int) -> bool:
        """True when view ``view`` goes through the JDA chain."""
        return self.policy is not None and view > 0

    def with_views(self, num_views: int) -> "ViewPlan":
        return replace(self, num_views=num_views)


def train_plan(geometry: str, family: str = "jda", num_views: int = 2,
               policy: Optional[str] = None, mean=None, std=None, size: Optional[int] = None,
               augment: Optional[bool] = None) -> ViewPlan:
    """The training plan for a dataset geometry: ``small`` (CIFAR-style: pad 4 + random crop,
    flip) or ``large`` (ImageNet-style: RandomResizedCrop 224, flip). ``policy`` augments the
    jda family, and a rotation family only with ``augment=True``."""
    small = _geometry(geometry)
    if augment is None:
        augment = family == "jda"
    return ViewPlan(
        family=family,
        num_views=num_views,
        crop="pad" if small else "rrc",
        size=size or (32 if small else 224),
        flip=True,
        mean=tuple(mean or (CIFAR_MEAN if small else IMAGENET_MEAN)),
        std=tuple(std or (CIFAR_STD if small else IMAGENET_STD)),
        policy=get_policy(policy) if (augment and policy) else None,
    )


def eval_plan(geometry: str, mean=None, std=None, size: Optional[int] = None) -> ViewPlan:
    """Deterministic single view: CIFAR-style images as they are; ImageNet-style resize 256
    (shorter side, scaled with ``size``) and center crop 224."""
    small = _geometry(geometry)
    size = size or (32 if small else 224)
    return ViewPlan(
        family="plain", num_views=1, crop="none" if small else "center", size=size, flip=False,
        mean=tuple(mean or (CIFAR_MEAN if small else IMAGENET_MEAN)),
        std=tuple(std or (CIFAR_STD if small else IMAGENET_STD)),
        resize=round(size / 0.875),
    )


def _geometry(geometry: str) -> bool:
    if geometry not in ("small", "large"):
        raise PlanError(f"unknown geometry {geometry!r}; known: small, large")
    return geometry == "small"
