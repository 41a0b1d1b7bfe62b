"""The cache of teachers trained on the fly: one directory per configuration that changes the
teacher (every value of its training run), and only teachers worth reusing stay in it."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional

import torch

from kdaug.engine import checkpoint as ckpt
from kdaug.engine.rundir import fingerprint
from kdaug.paths import cache_home, path_part


def cache_root(cfg) -> Path:
    return cache_home(cfg.cache_dir)


def cache_dir(teacher_cfg, kind: str) -> Path:
    """Where the teacher that ``teacher_cfg`` trains is cached: readable, then the fingerprint
    of all its values (lr, batch size, weight decay, preset, --limit-batches, ...)."""
    c = teacher_cfg
    return (cache_root(c) / "teachers"
            / f"{c.dataset}-{path_part(c.teacher)}-{kind}-seed{c.seed}-{fingerprint(c)}")


def at_chance(top1: float, num_classes: int, count: int) -> bool:
    """Top-1 no better than guessing: within 3 standard deviations of 100/num_classes (the
    spread of a guesser's score on ``count`` images)."""
    p = 1.0 / num_classes
    return top1 <= 100.0 * (p + 3.0 * math.sqrt(p * (1.0 - p) / max(count, 1)))


def unusable(run_dir: Path) -> Optional[str]:
    """Why the teacher trained in ``run_dir`` must not be reused (None when it may): weights
    that are not finite, or a final validation top-1 at chance level."""
    state = ckpt.load(run_dir / "checkpoint.pt")
    weights = [t for t in state.get("model", {}).values()
               if torch.is_tensor(t) and t.is_floating_point()]
    if not all(bool(torch.isfinite(t).all()) for t in weights):
        return "has non-finite weights"
    metrics = run_dir / "metrics.json"
    rows = json.loads(metrics.read_text()) if metrics.exists() else []
    if rows:
        last, classes = rows[-1], int(state.get("num_classes", 0))
        if classes > 1 and at_chance(last["val_top1"], classes, int(last.get("val_count", 0))):
            return (f"reaches {last['val_top1']:.1f}% top-1, chance level for {classes} "
                    f"classes")
    return None
