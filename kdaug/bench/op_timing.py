"""Where the JDA chain spends its time: each step of a policy timed alone in the real graph.

For every step, the view-plan graph of a one-step policy (V=2: the original view and one
augmented view) runs with that step firing on every sample (signed steps: half +, half -);
the difference from the same graph with an empty chain, per image, is the step's cost: its
operators, its conditional or parameter, its inputs. The graph, the inputs and the loader are
the production ones (kdaug.pipelines.loader.DaliLoader), so the table shows what a training
run pays per firing step, on the CPU or the GPU.
"""
from __future__ import annotations

import time
from dataclasses import replace
from typing import List

import numpy as np
import torch

from kdaug.augment.plan import ViewPlan
from kdaug.augment.policies import Policy
from kdaug.data.source import Split
from kdaug.pipelines.ops import is_identity


def _rate(loader, seconds: float, sync) -> float:
    """Images per second of a loader (after one warm-up pass)."""
    for _ in loader:
        pass
    images, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for batch in loader:
            images += batch.batch_size
        sync()
    return images / (time.perf_counter() - start)


def time_steps(split: Split, plan: ViewPlan, *, device: str, batch_size: int,
               num_threads: int, seconds: float = 1.0) -> List[dict]:
    """One row per distinct step of ``plan.policy``: microseconds per image when it fires."""
    from kdaug.pipelines.loader import DaliLoader

    sync = torch.cuda.synchronize if device == "gpu" else (lambda: None)

    def rate(policy: Policy) -> float:
        one = replace(plan, num_views=2, policy=policy)
        return _rate(DaliLoader(split, one, batch_size, train=True, device=device,
                                num_threads=num_threads), seconds, sync)

    empty = rate(Policy("none", 1.0, ()))
    rows, seen = [], set()
    for step in plan.policy.steps:   # each distinct step once
        if is_identity(step) or (step.op, step.level) in seen:
            continue
        seen.add((step.op, step.level))
        fired = rate(Policy(step.op, 1.0, (step,)))
        rows.append({"op": step.describe(), "us_per_image": 1e6 / fired - 1e6 / empty,
                     "images_per_s_fired": fired, "images_per_s_empty_chain": empty})
    return sorted(rows, key=lambda r: -r["us_per_image"])


def synthetic_arrays(count: int, size: int = 32, seed: int = 0) -> Split:
    rng = np.random.default_rng(seed)
    return Split(rng.integers(0, 10, count), images=rng.integers(0, 256, (count, size, size, 3),
                                                                  dtype=np.uint8))
