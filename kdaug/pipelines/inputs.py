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
from kdaug.pipelines.chain import (active_steps, fire_name, gated_by_parameter, positive_name,
                                   step_key)
from kdaug.pipelines.ops import DYNAMIC_INPUTS, NEEDS_HW, PARAM_GATED


@dataclass(frozen=True)
class InputSpec:
    name: str
    kind: str          # fire | positive | crop | roi_start | roi_end | resized | flip | angle | hw | start |
    #                    matrix; packed graphs: frame | taps | xor | and | threshold | factor |
    #                    gate | shift
    view: int = 0
    step: int = -1
    sign: int = 0
    data: bool = False       # an arithmetic operand, kept where the images are (else CPU)
    per_frame: bool = False  # a packed graph's input: (F, ...) per sample

    @property
    def layout(self) -> str:
        """Per-frame argument inputs (the matrices of packed graphs) say so with a leading F."""
        return "F**" if self.per_frame and not self.data else ""


def crop_group(plan: ViewPlan, view: int) -> int:
    """The view whose crop input view ``view`` uses (rotation views share one crop)."""
    return 0 if plan.family == "rotation" else view


def flip_group(plan: ViewPlan, view: int) -> int:
    return 0 if plan.family.startswith("rotation") else view


def input_specs(plan: ViewPlan, dynamic: bool, gpu: bool) -> List[InputSpec]:
    """Inputs of the per-image graph of ``plan``, in order. ``dynamic``: image sizes vary
    (files), so size-dependent geometry comes in as inputs instead of constants; ``gpu``: the
    GPU graph, where cheap ops are gated by parameters instead of conditionals."""
    specs: List[InputSpec] = []
    add = lambda *a, **k: specs.append(InputSpec(*a, **k))  # noqa: E731
    needs_hw = False
    if plan.crop == "center":
        add("resized", "resized")
    for v, k in enumerate(quarter_turns(plan)):
        if plan.augmented(v):
            for index, step in active_steps(plan.policy):
                key = step_key(v, index)
                if gated_by_parameter(step, gpu):
                    kind = PARAM_GATED[step.op]
                    add(f"{key}/{kind}", kind, v, index, data=kind != "start")
                    continue
                add(fire_name(v, index), "fire", v, index)
                if step.signed:
                    add(positive_name(v, index), "positive", v, index)
                if dynamic:   # one geometry input per step, for either sign
                    for kind in DYNAMIC_INPUTS.get(step.op, ()):
                        add(f"{key}/{kind}", kind, v, index)
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


def packed_input_specs(plan: ViewPlan) -> List[InputSpec]:
    """Inputs of the packed graph (kdaug.pipelines.frames): a frame matrix per view (crop,
    flip, quarter turn) and one per-frame parameter per active step of each augmented view."""
    from kdaug.pipelines.frames import PARAMS, SHEAR_TAPS

    specs: List[InputSpec] = []
    for v in range(plan.num_views):
        specs.append(InputSpec(f"frame/{v}", "frame", v, per_frame=True))
        if plan.augmented(v):
            for index, step in active_steps(plan.policy):
                kind, _ = PARAMS[step.op]
                key = step_key(v, index)
                specs.append(InputSpec(f"{key}/{kind}", kind, v, index, data=kind != "matrix",
                                       per_frame=True))
                if kind == "shift":
                    specs.append(InputSpec(f"{key}/{SHEAR_TAPS}", "taps", v, index,
                                           per_frame=True))
    return specs


def packed_input_arrays(specs: List[InputSpec], plan: ViewPlan, draws: Draws, frames: int,
                        size) -> List[np.ndarray]:
    """The arrays of ``packed_input_specs`` for B images packed F to a sample: (S, F, ...),
    the tail padded with identity parameters."""
    from kdaug.pipelines.frames import PARAMS, frame_matrices

    count = len(draws)
    packs = -(-count // frames)
    height, width = size
    turns = quarter_turns(plan)
    out = []
    for spec in specs:
        v = spec.view
        if spec.kind == "frame":
            values = frame_matrices(plan, draws.crop[:, v], draws.flip[:, v], int(turns[v]))
        else:
            step = plan.policy.steps[spec.step]
            fired = draws.fired[:, v, spec.step]
            s = draws.signs[:, v, spec.step].astype(np.float64) * (step.magnitude or 0)
            m = step.magnitude
            if spec.kind in ("xor", "and"):
                values = _bit_operand(step, spec.kind, fired)
            elif spec.kind == "threshold":
                values = np.where(fired, m, 256.0)
            elif spec.kind == "factor":   # PIL hands the double 1 + s*m to C as a float
                values = np.where(fired, 1.0 + s, 1.0)
            elif spec.kind == "gate":
                values = fired
            elif spec.kind == "shift":
                values = np.where(fired, s, 0.0)
            elif spec.kind == "taps":
                axis = 0 if step.op == "shearX" else 1
                values = np.stack([geometry.shear_tap_matrix(float(x), axis)
                                   for x in np.where(fired, s, 0.0)])
            elif step.op == "rotate":
                matrix = geometry.rotation_matrices(m, np.array([height]), np.array([width]))
                values = np.where(fired[:, None, None], matrix, np.eye(2, 3, dtype=np.float32))
            else:   # translate: a whole-pixel shift along one axis
                extent = width if step.op == "translateX" else height
                shift = geometry.translate_starts(s, np.full(count, extent))[:, 0]
                values = np.tile(np.eye(2, 3, dtype=np.float32), (count, 1, 1))
                values[:, 0 if step.op == "translateX" else 1, 2] = np.where(fired, shift, 0)
            if spec.kind not in ("taps", "matrix"):
                values = np.asarray(values, dtype=PARAMS[step.op][1]).reshape(count, 1, 1, 1)
        values = np.asarray(values)
        pad = np.repeat(_identity_like(spec, values), packs * frames - count, axis=0)
        full = np.concatenate([values, pad]) if len(pad) else values
        out.append(np.ascontiguousarray(full.reshape((packs, frames) + values.shape[1:])))
    return out


def _bit_operand(step, kind: str, fired: np.ndarray) -> np.ndarray:
    """invert (x ^ 255) and posterize (x & mask) operands: the identity where not fired."""
    if kind == "xor":
        return np.where(fired, 255, 0).astype(np.uint8)
    return np.where(fired, (0xFF << (8 - step.magnitude)) & 0xFF, 0xFF).astype(np.uint8)


def _identity_like(spec: InputSpec, values: np.ndarray) -> np.ndarray:
    """One frame's parameter that changes nothing (for the padding frames of the last pack)."""
    if spec.kind in ("frame", "matrix", "taps"):
        return values[:1]   # any valid matrix: padding frames are dropped afterwards
    neutral = {"xor": 0, "and": 0xFF, "threshold": 256.0, "factor": 1.0, "gate": 0,
               "shift": 0.0}[spec.kind]
    return np.full((1,) + values.shape[1:], neutral, dtype=values.dtype)


def input_arrays(specs: List[InputSpec], plan: ViewPlan, draws: Draws,
                 hw: Optional[np.ndarray]) -> List[np.ndarray]:
    """The arrays of ``specs`` for one batch: ``draws`` of its samples, ``hw`` (B, 2) their
    raw image sizes."""
    turns = quarter_turns(plan)
    out = []
    for spec in specs:
        v = spec.view
        if spec.kind == "fire":
            out.append(np.ascontiguousarray(draws.fired[:, v, spec.step]))
        elif spec.kind == "positive":
            out.append(draws.signs[:, v, spec.step] > 0)
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
            fired = draws.fired[:, v, spec.step]
            shift = np.where(fired, draws.signs[:, v, spec.step] * step.magnitude, 0.0)
            out.append(geometry.translate_starts(shift, extent))
        elif spec.kind in ("xor", "and"):
            out.append(_bit_operand(plan.policy.steps[spec.step], spec.kind,
                                    draws.fired[:, v, spec.step]).reshape(-1, 1, 1, 1))
        elif spec.kind == "matrix":
            step = plan.policy.steps[spec.step]
            out.append(geometry.rotation_matrices(step.magnitude, hw[:, 0], hw[:, 1]))
        else:
            raise AssertionError(f"unknown input kind {spec.kind}")
    return out
