"""The JDA chain of a Policy as DALI graph code (needs a pipeline with
enable_conditionals=True).

Steps run in order. For each step a DALI ``if`` on a per-sample predicate (an input:
kdaug.augment.draws decided beforehand which samples fire which step with which sign) splits
the batch, the op runs on the samples that fired, and the results merge back before the next
step. A signed step nests an ``if``/``else`` on its sign inside, so that the sign is a constant
in each branch and the samples that did not fire pay for one split and merge, not one per
sign. On the GPU, ops that cost one cheap
operator (ops.PARAM_GATED: translate, invert, posterize) skip the conditional: they run on every
sample with a per-sample parameter that is the identity where the step did not fire (two GPU
operators of a conditional cost more than the op; on the CPU, where broadcasting arithmetic is
slow, the conditional is cheaper). Steps that leave every image unchanged (posterize 8 bits,
shear 0, ...) are left out.
"""
from __future__ import annotations

from typing import Iterator, Tuple

from nvidia.dali.data_node import DataNode

from kdaug.augment.policies import OpStep, Policy
from kdaug.pipelines.ops import PARAM_GATED, Site, apply_op, is_identity


def active_steps(policy: Policy) -> Iterator[Tuple[int, OpStep]]:
    """(step index, step) of every step that can change an image, in order."""
    return ((index, step) for index, step in enumerate(policy.steps) if not is_identity(step))


def gated_by_parameter(step: OpStep, gpu: bool) -> bool:
    return gpu and step.op in PARAM_GATED


def branches(policy: Policy, gpu: bool) -> Iterator[Tuple[int, OpStep]]:
    """(step index, step) of every conditional the chain has, in graph order."""
    return ((index, step) for index, step in active_steps(policy)
            if not gated_by_parameter(step, gpu))


def fire_name(view: int, index: int) -> str:
    """Name of the predicate input: view ``view`` fires step ``index``."""
    return f"fire/{view}/{index}"


def positive_name(view: int, index: int) -> str:
    """Name of the predicate input of a signed step: its sign is +1 (else -1)."""
    return f"positive/{view}/{index}"


def step_key(view: int, index: int) -> str:
    """Prefix of the per-sample geometry inputs of one step of one view."""
    return f"step/{view}/{index}"


def jda_chain(img: DataNode, policy: Policy, view: int, site: Site) -> DataNode:
    """Run ``policy`` on HWC uint8 images, as view ``view``'s draws say."""
    for index, step in active_steps(policy):
        key = step_key(view, index)
        if gated_by_parameter(step, site.gpu):
            img = apply_op(img, step, 1, site, key)
            continue
        if site.input(fire_name(view, index)):
            if not step.signed:
                img = apply_op(img, step, 1, site, key)
            elif site.input(positive_name(view, index)):
                img = apply_op(img, step, 1, site, key)
            else:
                img = apply_op(img, step, -1, site, key)
    return img
