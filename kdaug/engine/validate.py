"""Checks of a configuration that must pass before anything trains: a value that cannot be
right (a non-finite number, a hyper-parameter out of its range) is refused in one line."""
from __future__ import annotations

import dataclasses
import math

from kdaug.errors import KdaugError


def flag(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def check_config(cfg, method_cls) -> None:
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise KdaugError(f"{flag(f.name)} must be a finite number, got {value}")
    if cfg.seed < 0:
        raise KdaugError(f"--seed must be 0 or more, got {cfg.seed}")
    try:
        method_cls.check_hparams(cfg.hp)
    except ValueError as exc:
        raise KdaugError(f"--hp: {exc}") from None
