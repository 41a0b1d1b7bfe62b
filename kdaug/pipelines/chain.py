"""The JDA chain of a Policy as DALI graph code (needs a pipeline with
enable_conditionals=True).

Steps run in order; each has a per-sample gate (coin flip with the policy's p) and, for
signed ops, a per-sample sign; a DALI ``if`` on the gate splits the batch so that an op runs
only on the samples whose gate fired, and the results merge back before the next step.
Gates and signs of all steps are drawn as one vector each (two operators, not two per step:
every DALI operator costs tens of microseconds per batch on a CPU), and steps that leave
every image unchanged (posterize 8 bits, shear 0, ...) get no conditional at all.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np
import nvidia.dali.math as dmath
from nvidia.dali import fn, types
from nvidia.dali.data_node import DataNode

from kdaug.augment.policies import Policy
from kdaug.pipelines.ops import apply_op, is_identity


def jda_chain(img: DataNode, policy: Policy, *, exact_equalize: bool = True
              ) -> Tuple[DataNode, DataNode, DataNode]:
    """Run ``policy`` on HWC uint8 images. Returns (images, fired (L,) uint8, signs (L,) int8)
    per sample, L = len(policy); the sign of an unsigned step is reported as +1."""
    length = len(policy)
    gates = fn.random.coin_flip(probability=policy.p, shape=[length], dtype=types.BOOL)
    signs = fn.random.choice([-1, 1], shape=[length])                      # int32
    for i, step in enumerate(policy.steps):
        if is_identity(step.op, step.magnitude):
            continue
        sign = signs[i] if step.signed else 1
        if gates[i]:
            img = apply_op(img, step.op, step.magnitude, sign, exact_equalize=exact_equalize)
    # unsigned steps report +1: max(sign, 1) there, max(sign, -1) = sign elsewhere
    floor = np.array([-1 if step.signed else 1 for step in policy.steps], dtype=np.int32)
    reported = fn.cast(dmath.max(signs, types.Constant(floor)), dtype=types.INT8)
    return img, fn.cast(gates, dtype=types.UINT8), reported
