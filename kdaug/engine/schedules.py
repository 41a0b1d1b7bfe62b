"""Learning-rate schedules, evaluated at every optimizer step from the training progress.

``multistep`` (the papers' recipes): the lr is multiplied by gamma at each milestone epoch.
``cosine`` (what timm users train with): half a cosine from the lr down to min_lr over the
epochs after the warm-up. Either can start with a linear warm-up of ``warmup_epochs``
(fractional epochs allowed), from lr/steps up to lr, step by step.

The position is derived from (epoch, step), never accumulated, so a resumed run continues on
exactly the curve it left and the checkpoint needs no schedule state.
"""
from __future__ import annotations

import bisect
import math
from typing import Callable, Dict

SCHEDULES = ("multistep", "cosine")


def multistep(milestones, gamma: float) -> Callable[[float, float], float]:
    marks = sorted(int(m) for m in milestones)
    return lambda t, epochs: gamma ** bisect.bisect_right(marks, math.floor(t))


def cosine(lr: float, min_lr: float, warmup_epochs: float) -> Callable[[float, float], float]:
    floor = min_lr / lr

    def factor(t: float, epochs: float) -> float:
        span = max(epochs - warmup_epochs, 1e-12)
        done = min(max((t - warmup_epochs) / span, 0.0), 1.0)
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * done))

    return factor


class StepSchedule:
    """Sets every parameter group's lr before each optimizer step (``at``)."""

    def __init__(self, optimizer, cfg):
        if cfg.schedule not in SCHEDULES:
            from kdaug.errors import KdaugError

            raise KdaugError(f"unknown --schedule {cfg.schedule!r}; known: {', '.join(SCHEDULES)}")
        self.optimizer, self.name = optimizer, cfg.schedule
        self.epochs, self.warmup = float(cfg.epochs), float(cfg.warmup_epochs or 0.0)
        self.base_lrs = [group["lr"] for group in optimizer.param_groups]
        self.shape = (multistep(cfg.milestones, cfg.gamma) if cfg.schedule == "multistep"
                      else cosine(cfg.lr, cfg.min_lr or 0.0, self.warmup))

    def factor(self, epoch: int, step: int, steps_per_epoch: int) -> float:
        t = epoch + step / steps_per_epoch
        value = self.shape(t, self.epochs)
        warmup_steps = self.warmup * steps_per_epoch
        if warmup_steps and t * steps_per_epoch < warmup_steps:
            value *= (epoch * steps_per_epoch + step + 1) / warmup_steps
        return value

    def at(self, epoch: int, step: int, steps_per_epoch: int) -> float:
        """Set the lr for step ``step`` (0-based) of epoch ``epoch``; return the first group's."""
        f = self.factor(epoch, step, steps_per_epoch)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base * f
        return self.optimizer.param_groups[0]["lr"]

    # the trainer saves and restores schedulers; this one is a pure function of progress
    def state_dict(self) -> Dict:
        return {"schedule": self.name}

    def load_state_dict(self, state: Dict) -> None:
        pass
