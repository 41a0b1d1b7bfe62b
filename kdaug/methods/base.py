"""The method contract. A method is a small nn.Module holding the model being trained and,
when it distils, the frozen teacher. Its forward takes the views of a ViewBatch and returns
named losses; the trainer sums them and never branches on the method."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Dict, Optional, Tuple

import torch
from torch import nn

from kdaug.methods.hparams import HParam
from kdaug.methods.catalog import ATTRIBUTES, MethodInfo


@dataclass
class MethodOutput:
    losses: Dict[str, torch.Tensor]  # named scalar terms, already weighted; the loss is their sum
    logits: torch.Tensor             # (B, num_classes) main-head logits on view 0, for train top-1


class Method(nn.Module):
    """Subclasses set ``info`` (their entry of kdaug.methods.catalog.METHODS): name, summary,
    view family, views, model kind and teacher kind become class attributes."""

    info: ClassVar[MethodInfo]
    name: ClassVar[str]
    summary: ClassVar[str]
    view_family: ClassVar[str]
    default_views: ClassVar[int]
    views_range: ClassVar[Tuple[int, Optional[int]]]
    model_kind: ClassVar[str] = "plain"
    teacher_kind: ClassVar[Optional[str]] = None
    teacher_required: ClassVar[bool] = False
    trains_teacher: ClassVar[bool] = False
    hparams: ClassVar[Dict[str, HParam]] = {}  # default and range; set from the CLI (--hp key=value)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "info" in cls.__dict__:
            for attr in ATTRIBUTES:
                setattr(cls, attr, getattr(cls.info, attr))

    def __init__(self, model: nn.Module, teacher: Optional[nn.Module], num_classes: int, **hparams):
        super().__init__()
        self.check_hparams(hparams)
        self.hp = {**{k: p.default for k, p in self.hparams.items()}, **hparams}
        self.model = model
        self.num_classes = num_classes
        self.teacher = teacher
        if teacher is not None:
            teacher.requires_grad_(False)
            teacher.eval()

    def train(self, mode: bool = True):
        super().train(mode)
        if self.teacher is not None:  # the teacher stays in eval mode (BN statistics frozen)
            self.teacher.eval()
        return self

    def forward(self, views: torch.Tensor, labels: torch.Tensor) -> MethodOutput:
        raise NotImplementedError

    def eval_model(self) -> nn.Module:
        """The plain classifier evaluated on single views (logits out)."""
        return getattr(self.model, "backbone", self.model)

    @classmethod
    def family_for(cls, num_views: int) -> str:
        """View family of the training plan for ``num_views`` views per image (call after
        check_views). Methods whose family depends on V (kd: plain at V=1, jda above) override it;
        the trainer builds its plan with this, not with ``view_family`` directly."""
        return cls.view_family

    @classmethod
    def check_hparams(cls, values: Dict[str, float]) -> None:
        """ValueError naming the first unknown or out-of-range hyper-parameter."""
        unknown = sorted(set(values) - set(cls.hparams))
        if unknown:
            known = ", ".join(cls.hparams) or "none"
            raise ValueError(f"method {cls.name} has no hyper-parameter {', '.join(unknown)} "
                             f"(it has: {known})")
        for name, value in values.items():
            cls.hparams[name].check(name, value)

    @classmethod
    def check_views(cls, num_views: int) -> None:
        lo, hi = cls.views_range
        if num_views < lo or (hi is not None and num_views > hi):
            allowed = f"{lo}" if lo == hi else (f"{lo} or more" if hi is None else f"{lo} to {hi}")
            raise ValueError(f"method {cls.name} uses {allowed} views per image, not {num_views}")


_REGISTRY: Dict[str, type] = {}


def register(cls):
    """Class decorator: makes the method available to --method and `kdaug list methods`."""
    _REGISTRY[cls.name] = cls
    return cls


def get_method(name: str) -> type:
    from kdaug.methods import import_implementations

    import_implementations()  # each module registers its methods
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown method {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def list_methods() -> Dict[str, type]:
    from kdaug.methods import import_implementations

    import_implementations()
    return dict(sorted(_REGISTRY.items()))
