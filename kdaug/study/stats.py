"""Means, spreads and paired differences over seeds, without scipy."""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence

# two-sided 95% quantiles of Student's t by degrees of freedom (1..30); above 30 the normal's
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t975(df: int) -> float:
    if df < 1:
        raise ValueError("a t quantile needs at least one degree of freedom")
    return _T975[df - 1] if df <= len(_T975) else 1.960


def summary(values: Sequence[float]) -> Dict:
    """Mean and sample standard deviation (None with one value) of ``values``."""
    n = len(values)
    if n == 0:
        raise ValueError("no values to summarise")
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else None
    return {"mean": mean, "std": std, "n": n, "values": list(values)}


def paired(values: Sequence[float], baseline: Sequence[float]) -> Dict:
    """``values`` minus ``baseline``, seed by seed (same seed: same data subset and initial
    weights). ``exceeds_spread`` is a two-sided paired t-test at 95%: the mean difference lies
    further from 0 than t(n-1) standard errors. None with fewer than two seeds."""
    if len(values) != len(baseline):
        raise ValueError("paired differences need one baseline value per seed")
    diffs = [a - b for a, b in zip(values, baseline)]
    out = summary(diffs)
    out["higher"] = sum(d > 0 for d in diffs)
    out["lower"] = sum(d < 0 for d in diffs)
    out["exceeds_spread"] = _exceeds(out)
    return out


def _exceeds(s: Dict) -> Optional[bool]:
    if s["n"] < 2:
        return None
    if s["std"] == 0:
        return s["mean"] != 0
    return abs(s["mean"]) > t975(s["n"] - 1) * s["std"] / math.sqrt(s["n"])


def verdict(p: Optional[Dict]) -> str:
    """The words a table prints for a paired difference."""
    if p is None:
        return ""
    if p["exceeds_spread"] is None:
        return "one seed: no spread"
    if not p["exceeds_spread"]:
        return "within the spread"
    return "higher, beyond the spread" if p["mean"] > 0 else "lower, beyond the spread"


def mean_std(s: Dict, digits: int = 2) -> str:
    if s["std"] is None:
        return f"{s['mean']:.{digits}f}"
    return f"{s['mean']:.{digits}f} ± {s['std']:.{digits}f}"


def parse_seeds(text: str) -> List[int]:
    """'0,1,2' or '0-4' (or both: '0-2,7') -> distinct seeds in the order given."""
    from kdaug.errors import KdaugError

    seeds: List[int] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        try:
            span = range(int(lo), int(hi) + 1) if sep else [int(lo)]
        except ValueError:
            raise KdaugError(f"--seeds expects integers like 0,1,2 or 0-4, got {part!r}") from None
        if sep and int(hi) < int(lo):
            raise KdaugError(f"--seeds: the range {part!r} is empty")
        for s in span:
            if s < 0 or s >= 2**32:
                raise KdaugError(f"--seeds: {s} is not a seed (0 to 2**32-1)")
            if s in seeds:
                raise KdaugError(f"--seeds: {s} is given twice")
            seeds.append(s)
    if not seeds:
        raise KdaugError("--seeds is empty: give at least one, e.g. --seeds 0,1,2")
    return seeds
