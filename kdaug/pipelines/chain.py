"""The JDA chain of a Policy as DALI graph code (needs a pipeline with
enable_conditionals=True).

Steps run in order; each draws a per-sample gate (coin flip with the policy's p) and, for
signed ops, a per-sample sign; a DALI ``if`` on the gate splits the batch so that an op runs
only on the samples whose gate fired, and the results merge back before the next step.
"""
from __future__ import annotations

from typing import Tuple

from nvidia.dali import fn, types
from nvidia.dali.data_node import DataNode

from kdaug.augment.policies import Policy
from kdaug.pipelines.ops import apply_op


def draw_sign() -> DataNode:
    """Per-sample +1 / -1 with equal probability (int32)."""
    return fn.random.coin_flip(probability=0.5, dtype=types.INT32) * 2 - 1


def jda_chain(img: DataNode, policy: Policy, *, exact_equalize: bool = True
              ) -> Tuple[DataNode, DataNode, DataNode]:
    """Run ``policy`` on HWC uint8 images. Returns (images, fired (L,) uint8, signs (L,) int8)
    per sample, L = len(policy); the sign of an unsigned step is reported as +1."""
    fired, signs = [], []
    for step in policy.steps:
        gate = fn.random.coin_flip(probability=policy.p, dtype=types.BOOL)
        sign = draw_sign() if step.signed else 1
        if gate:
            img = apply_op(img, step.op, step.magnitude, sign, exact_equalize=exact_equalize)
        fired.append(fn.cast(gate, dtype=types.UINT8))
        signs.append(fn.cast(sign, dtype=types.INT8) if step.signed else None)
    # unsigned steps report +1: derived from a gate so that every entry is a per-sample node
    signs = [s if s is not None else fn.cast(g * 0 + 1, dtype=types.INT8)
             for s, g in zip(signs, fired)]
    return img, fn.stack(*fired), fn.stack(*signs)
