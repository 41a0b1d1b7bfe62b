"""Method hyper-parameters: each declares its default and the range it makes sense in, so that
`--hp T=-4` is refused before anything trains."""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class HParam:
    default: float
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False    # True: low itself is excluded (a temperature of 0 divides by 0)

    def describe(self, name: str) -> str:
        low = f"{name} > {self.low:g}" if self.low_open else f"{name} >= {self.low:g}"
        return low if self.high == math.inf else f"{low} and <= {self.high:g}"

    def check(self, name: str, value: float) -> None:
        inside = (math.isfinite(value) and value <= self.high
                  and (value > self.low if self.low_open else value >= self.low))
        if not inside:
            raise ValueError(f"{name}={value:g} is out of range: {self.describe(name)}")


def positive(default: float) -> HParam:
    """Temperatures and scales."""
    return HParam(default, 0.0, low_open=True)


def non_negative(default: float) -> HParam:
    """Loss weights (0 switches a term off)."""
    return HParam(default, 0.0)


def fraction(default: float) -> HParam:
    """Mixing weights and kept ratios, in [0, 1]."""
    return HParam(default, 0.0, 1.0)
