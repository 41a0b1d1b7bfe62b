"""The per-sample inputs of a view-plan graph: which ones a plan needs (``input_specs``) and
their arrays for one batch of draws (``input_arrays``). The graph (kdaug.pipelines.views)
and the feeder (kdaug.pipelines.loader) both read this one list, so they cannot disagree.

Everything here is numpy over whole batches; no DALI import.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import numpy as np

from kdaug.augment.draws import Draws, quarter_turns
from kdaug.augment.plan import ViewPlan
from kdaug.pipelines import geometry
from kdaug.pipelines.chain import branches, fire_name, step_key
from kdaug.pipelines.ops import DYNAMIC_INPUTS, NEEDS_HW


@dataclass(frozen=True)
class InputSpec:
    name: str
    kind: str          # fire | crop | roi_start | roi_end | resized | flip | angle | hw | start | matrix
    view: int = 0
    step: int = -1
    sign: int = 0


def crop_group(plan: ViewPlan, view: int) -> int:
    """The view whose crop input view ``view`` uses (rotation views share one crop)."""
    return 0 if plan.family == "rotation" else view


def flip_group(plan: ViewPlan, view: int) -> int:
    return 0 if plan.family.startswith("rotation") else view


def input_specs(plan: ViewPlan, dynamic: bool) -> List[InputSpec]:
    """Inputs of the graph of ``plan``, in order. ``dynamic``: image sizes vary (files), so
    size-dependent geometry comes in as inputs instead of constants."""
    specs: List[InputSpec] = []
    add = lambda *a, **k: specs.append(InputSpec(*a, **k))  # noqa: E731
    needs_hw = False
    if plan.crop == "center":
        add("resized", "resized")
    for v, k in enumerate(quarter_turns(plan)):
        if plan.augmented(v):
            for index, step, sign in branches(plan.policy):
                add(fire_name(v, index, sign), "fire", v, index, sign)
                if dynamic and sign > 0:   # one geometry input per step, for either sign
                    for kind in DYNAMIC_INPUTS.get(step.op, ()):
                        add(f"{step_key(v, index)}/{kind}", kind, v, index)
                needs_hw |= dynamic and step.op in NEEDS_HW
        g = crop_group(plan, v)
        if g == v:
            if plan.crop in ("pad", "center"):
                add(f"crop/{v}", "crop", v)
            elif plan.crop == "rrc":
                add(f"roi_start/{v}", "roi_start", v)
                add(f"roi_end/{v}", "roi_end", v)
        if plan.flip and flip_group(plan, v) == v:
            add(f"flip/{v}", "flip", v)
        if plan.flip and k % 4:
            add(f"angle/{v}", "angle", v)
    if needs_hw:
        add("hw", "hw")
    return specs


def input_arrays(specs: List[InputSpec], plan: ViewPlan, draws: Draws,
                 hw: Optional[np.ndarray]) -> List[np.ndarray]:
    """The arrays of ``specs`` for one batch: ``draws`` of its samples, ``hw`` (B, 2) their
    raw image sizes (needed only by dynamic inputs)."""
    turns = quarter_turns(plan)
    out = []
    for spec in specs:
        v = spec.view
        if spec.kind == "fire":
            signs = draws.signs[:, v, spec.step]
            out.append(draws.fired[:, v, spec.step] & ((signs > 0) == (spec.sign > 0)))
        elif spec.kind == "crop":
            out.append(np.ascontiguousarray(draws.crop[:, v, :2], dtype=np.int32))
        elif spec.kind == "roi_start":
            out.append(draws.crop[:, v, :2].astype(np.float32))
        elif spec.kind == "roi_end":
            out.append((draws.crop[:, v, :2] + draws.crop[:, v, 2:]).astype(np.float32))
        elif spec.kind == "resized":
            out.append(draws.resized.astype(np.float32))
        elif spec.kind == "flip":
            out.append(draws.flip[:, v].astype(np.int32))
        elif spec.kind == "angle":
            # rot_k(flip(x)) = flip(rot_-k(x)): the mirror is applied after the rotation
            out.append((90.0 * turns[v] * (1 - 2 * draws.flip[:, v])).astype(np.float32))
        elif spec.kind == "hw":
            out.append(np.ascontiguousarray(hw, dtype=np.int32))
        elif spec.kind == "start":
            step = plan.policy.steps[spec.step]
            extent = hw[:, 1] if step.op == "translateX" else hw[:, 0]
            shift = draws.signs[:, v, spec.step] * step.magnitude
            out.append(geometry.translate_starts(shift, extent))
        elif spec.kind == "matrix":
            step = plan.policy.steps[spec.step]
            out.append(geometry.rotation_matrices(step.magnitude, hw[:, 0], hw[:, 1]))
        else:
            raise AssertionError(f"unknown input kind {spec.kind}")
    return out
