"""The GPU-graph check, runnable without a GPU: trace the GPU-mode graph of a view plan (built
definition, no ``build()``), then check every operator of it.

A GPU-mode graph is traced with ``device_id=0``: DALI resolves every operator's device without
touching CUDA. Its dtypes are not known until it runs, so a CPU twin (the same graph code with
the GPU formulation of every op, ``Site.gpu``, but the data on the CPU) runs one batch with
every intermediate node as an output; the twin's operators pair one for one with the traced
GPU graph's. Problems reported:

- an operator placed on the GPU without a GPU implementation in the installed DALI;
- a dtype (or layout) fed to a GPU operator that its GPU kernel does not take (GPU_INPUT_TYPES);
- a python_function anywhere in the GPU graph;
- more operators than the budgets stated below.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np
from nvidia.dali import backend as dali_backend
from nvidia.dali import fn, pipeline_def
from nvidia.dali.pipeline import do_not_convert

from kdaug.augment.plan import ViewPlan
from kdaug.pipelines.frames import realise_packed_views
from kdaug.pipelines.inputs import InputSpec, input_specs, packed_input_specs
from kdaug.pipelines.ops import Site
from kdaug.pipelines.views import (_outputs, array_pipeline, file_pipeline,
                                   packed_array_pipeline, realise_views)

# Budgets (kdaug's own numbers, enforced by tests/test_graphcheck.py). Per augmented (JDA)
# view of a GPU graph: GPU operators, CPU operators (excluding the inputs) and per-sample
# inputs, by graph kind and policy. "packed" graphs (small in-memory images): every step once
# on every image, gated by its parameter; "per-image" graphs (files): a conditional per step
# and sign for most ops, so a signed step has two bodies, and geometry from the image sizes.
# Each input costs the feeding thread about 0.35 us per DALI sample, each CPU operator about
# 1.2 us per sample: the packed graphs have neither per image, which is what makes them fast.
BUDGETS = {  # (kind, policy): (GPU operators, CPU operators, inputs) per augmented view
    ("packed", "cifar100"): (142, 0, 14), ("packed", "cifar10"): (180, 0, 17),
    ("packed", "imagenet"): (330, 0, 26),
    ("per-image", "cifar100"): (242, 36, 22), ("per-image", "cifar10"): (375, 57, 25),
    ("per-image", "imagenet"): (261, 31, 37),
    # library policies run nvidia.dali.auto_aug's own graphs: a conditional per op of the
    # policy, its random choices drawn by CPU operators (its cost, not kdaug's JDA's)
    ("per-image", "randaugment"): (240, 300, 3), ("per-image", "autoaugment"): (120, 125, 3),
}
BASE_BUDGET = (6, 1, 3)   # per view without a chain: crop/warp, (rotate,) normalise, stack
TURN_BUDGET = (1, 0, 1)   # an augmented view of a rotation family also turns: rotate, its angle
PYTHON_SCHEMAS = ("PythonFunction", "DLTensorPythonFunctionImpl", "TorchPythonFunction")
METADATA_SCHEMAS = ("_Shape", "Shapes")   # CPU operators that read only a GPU node's shape

# What the GPU kernels take, per schema: input dtypes of the data inputs (argument inputs live
# on the CPU). From DALI 2.4's sources and docs (see docs/DALI_NOTES.md); a GPU operator that
# is not listed here fails the check until someone looks its kernel up.
_INT = {"UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "UINT64", "INT64"}
_FLOAT = {"FLOAT16", "FLOAT", "FLOAT64"}
_ANY = _INT | _FLOAT | {"BOOL"}
GPU_INPUT_TYPES: Dict[str, set] = {
    "ExternalSource": _ANY, "Constant": _ANY, "_conditional__Split": _ANY,
    "_conditional__Merge": _ANY, "_ArithmeticGenericOp": _ANY, "Cast": _ANY,
    "_TensorSubscript": _ANY, "ExpandDims": _ANY, "Stack": _ANY, "Slice": _ANY,
    "LookupTable": _INT,
    "Filter": {"UINT8", "INT8", "UINT16", "INT16", "FLOAT16", "FLOAT"},
    "CoordTransform": {"UINT8", "UINT16", "INT16", "INT32", "FLOAT16", "FLOAT"},
    "WarpAffine": {"UINT8", "INT16", "UINT16", "INT32", "FLOAT"},
    "Rotate": {"UINT8", "INT16", "UINT16", "INT32", "FLOAT"},
    "Resize": {"UINT8", "INT8", "UINT16", "INT16", "INT32", "FLOAT"},
    "CropMirrorNormalize": {"UINT8", "INT16", "INT32", "FLOAT16", "FLOAT"},
    "reductions__Sum": _ANY - {"BOOL"}, "reductions__Min": _ANY - {"BOOL"},
    "reductions__Max": _ANY - {"BOOL"}, "Equalize": {"UINT8"},
    "decoders__Image": {"UINT8"},
    # what nvidia.dali.auto_aug adds (RandAugment, AutoAugment)
    "experimental__Equalize": {"UINT8"}, "CastLike": _ANY,
    "reductions__Mean": _ANY - {"BOOL", "FLOAT64", "FLOAT16"},
    "Brightness": {"UINT8", "INT16", "INT32", "FLOAT16", "FLOAT"},
    "Saturation": {"UINT8", "INT16", "INT32", "FLOAT16", "FLOAT"},
}
GPU_INPUT_TYPES["experimental__Filter"] = GPU_INPUT_TYPES["Filter"]


@dataclass
class TracedOp:
    schema: str
    device: str
    inputs: List[str]            # names of the nodes it reads
    outputs: List[str]


@dataclass
class GraphCheck:
    label: str
    ops: List[TracedOp]
    problems: List[str] = field(default_factory=list)
    input_types: Dict[int, List[Optional[str]]] = field(default_factory=dict)

    def count(self, device: str, exclude=("ExternalSource",)) -> int:
        return sum(op.device == device and op.schema not in exclude for op in self.ops)

    @property
    def inputs(self) -> int:
        return sum(op.schema == "ExternalSource" for op in self.ops) - 1   # not the images

    def summary(self) -> str:
        problems = Counter(self.problems)
        text = "; ".join(p if n == 1 else f"{p} (x{n})" for p, n in problems.items())
        return (f"{self.label}: {self.count('gpu') + self.count('mixed')} GPU, "
                f"{self.count('cpu')} CPU operators, {self.inputs} inputs; {text or 'ok'}")


def _schema(op) -> str:
    return getattr(op._op, "schema_name", None) or type(op._op).__name__


def _traced(pipe) -> List[TracedOp]:
    pipe._build_graph()
    return [TracedOp(_schema(op), op._op.device, [n.name for n in op.inputs],
                     [n.name for n in op.outputs]) for op in pipe._ops]


def _none():
    return None


def _gpu_pipeline(plan: ViewPlan, kind: str, specs: List[InputSpec], exact_equalize: bool,
                  size: Tuple[int, int], max_side: int, batch_size: int):
    """The production pipeline of this graph kind, GPU mode (traced, never built)."""
    common = dict(batch_size=batch_size, num_threads=1, device_id=0)
    if kind == "packed":
        return packed_array_pipeline(_none, _none, _none, plan, specs, gpu=True, size=size,
                                     **common)
    if kind == "files":
        return file_pipeline(_none, _none, _none, plan, specs, gpu=True,
                             exact_equalize=exact_equalize, max_side=max_side,
                             max_hw=(max_side, max_side), **common)
    return array_pipeline(_none, _none, _none, plan, specs, gpu=True,
                          exact_equalize=exact_equalize, size=size, **common)


def _twin_arrays(plan: ViewPlan, kind: str, specs: List[InputSpec], sizes: np.ndarray,
                 batch: int, frames: int):
    """Inputs for the twin: every step fires, with either sign (every branch sees samples),
    geometry for the given sizes."""
    from kdaug.augment.draws import draw
    from kdaug.pipelines.inputs import input_arrays, packed_input_arrays

    draws = draw(plan, 0, 0, np.arange(batch * max(1, frames)), shapes=sizes[:1])
    if kind == "packed":
        return packed_input_arrays(specs, plan, draws, frames, tuple(sizes[0]))
    arrays = input_arrays(specs, plan, draws, sizes)
    either = np.arange(batch) % 2 == 0
    return [np.ones(batch, bool) if s.kind == "fire" else either if s.kind == "positive" else a
            for s, a in zip(specs, arrays)]


def _twin_types(plan: ViewPlan, kind: str, specs, exact_equalize: bool, size, max_side: int,
                batch: int) -> List[Tuple[str, List[Optional[str]]]]:
    """(schema, dtypes of its inputs) of every operator of the GPU formulation, run on the CPU
    for one batch."""
    rng = np.random.default_rng(0)
    frames = 2 if kind == "packed" else 0
    if kind == "files":
        shapes = [(max_side - 7 * i, max_side - 3 * i) for i in range(batch)]
    else:
        shapes = [tuple(size)] * batch
    lead = (frames,) if frames else ()
    images = [rng.integers(0, 256, lead + (*hw, 3), dtype=np.uint8) for hw in shapes]
    params = _twin_arrays(plan, kind, specs, np.array(shapes), batch, frames)
    nodes: dict = {}

    @pipeline_def(batch_size=batch, num_threads=1, device_id=None,
                  enable_conditionals=kind != "packed")
    def twin():
        raw = fn.external_source(source=lambda: images, batch=True,
                                 layout="FHWC" if frames else "HWC")
        inputs = fn.external_source(source=lambda: params, num_outputs=len(specs), batch=True,
                                    layout=[s.layout for s in specs]) if specs else []
        site = Site(True, exact_equalize, size=None if kind == "files" else tuple(size),
                    max_side=max_side, inputs={s.name: n for s, n in zip(specs, inputs)},
                    data_device="cpu")
        if kind == "packed":
            return _every_node([fn.stack(*realise_packed_views(raw, plan, site), axis=1)],
                               nodes)
        return _every_node(_outputs(realise_views(raw, plan, site), gpu=True), nodes)

    pipe = twin()
    ops = _traced(pipe)
    outputs = pipe.run()
    dtype = {name: out.dtype.name for name, out in zip(nodes, outputs)}
    return [(op.schema, [dtype.get(n) for n in op.inputs]) for op in ops]


@do_not_convert   # a graph walk, not graph code: AutoGraph must leave it alone
def _every_node(views, nodes: dict):
    """Every node the views depend on, in ``nodes`` by name, as a tuple of outputs."""
    stack = list(views)
    while stack:
        node = stack.pop()
        if node.name not in nodes:
            nodes[node.name] = node
            stack.extend(node.source.inputs)
    return tuple(nodes.values())


def graph_kind(plan: ViewPlan, source: str, train: bool = True) -> str:
    """What a GPU DaliLoader builds for this plan and source (kdaug.pipelines.loader)."""
    if source == "files":
        return "files"
    library = plan.policy is not None and bool(plan.policy.library)
    return "packed" if train and not library and plan.crop in ("pad", "none") else "arrays"


def check_graph(plan: ViewPlan, source: str = "arrays", *, train: bool = True, size=(32, 32),
                max_side: int = 96, exact_equalize: Optional[bool] = None,
                batch_size: int = 4) -> GraphCheck:
    """Trace the GPU-mode graph a GPU DaliLoader builds for ``plan`` over ``source``
    ("arrays": in-memory images of ``size``; "files": images of any size up to ``max_side``)
    and check it."""
    kind = graph_kind(plan, source, train)
    if exact_equalize is None:
        exact_equalize = source == "arrays"
    specs = packed_input_specs(plan) if kind == "packed" else \
        input_specs(plan, dynamic=kind == "files", gpu=True)
    label = (f"{kind} {plan.family} V={plan.num_views}"
             f"{' ' + plan.policy.name if plan.policy else ''}")
    report = GraphCheck(label, _traced(_gpu_pipeline(plan, kind, specs, exact_equalize,
                                                     size, max_side, batch_size)))
    gpu_ops = set(dali_backend.RegisteredGPUOps())
    mixed_ops = set(dali_backend.RegisteredMixedOps())
    for op in report.ops:
        if op.schema in PYTHON_SCHEMAS:
            report.problems.append(f"a python_function ({op.schema}) in the GPU graph")
        if op.device == "gpu" and op.schema not in gpu_ops:
            report.problems.append(f"{op.schema} has no GPU implementation")
        if op.device == "mixed" and op.schema not in mixed_ops:
            report.problems.append(f"{op.schema} has no mixed implementation")
        if op.device == "cpu" and op.schema not in METADATA_SCHEMAS and any(
                _is_gpu(report.ops, name) for name in op.inputs):
            report.problems.append(f"{op.schema} runs on the CPU but reads GPU data")
    _check_types(report, plan, kind, specs, exact_equalize, size, max_side, batch_size)
    _check_budgets(report, plan, kind)
    return report


def _is_gpu(ops: List[TracedOp], name: str) -> bool:
    return any(name in op.outputs and op.device in ("gpu", "mixed") for op in ops)


def _check_types(report: GraphCheck, plan, kind, specs, exact_equalize, size, max_side,
                 batch_size) -> None:
    try:
        twin = _twin_types(plan, kind, specs, exact_equalize, size, max_side, batch_size)
    except RuntimeError as exc:   # DALI's message names the operator and the type
        lines = [l.strip() for l in str(exc).splitlines() if l.strip()]
        reason = next((l for l in lines if "supported" in l or "type" in l.lower()), lines[-1])
        report.problems.append(f"the CPU twin of the GPU graph does not run: {reason}")
        return
    # the GPU graph has the twin's operators (plus the decoder's file read); pair them in order
    ours = [(i, op) for i, op in enumerate(report.ops)
            if op.schema not in ("io__file__Read",)]
    twin = [t for t in twin if t[0] not in ("io__file__Read",)]
    if kind == "files":   # the twin reads decoded arrays: drop the decoder from the pairing
        ours = [(i, op) for i, op in ours if op.schema != "decoders__Image"]
    if [op.schema for _, op in ours] != [schema for schema, _ in twin]:
        report.problems.append("the CPU twin's operators do not pair with the GPU graph's")
        return
    for (i, op), (_, dtypes) in zip(ours, twin):
        report.input_types[i] = dtypes
        if op.device != "gpu":
            continue
        allowed = GPU_INPUT_TYPES.get(op.schema)
        if allowed is None:
            report.problems.append(f"{op.schema}: GPU input types not known to the check")
            continue
        data = [d for d, name in zip(dtypes, op.inputs) if _is_gpu(report.ops, name)]
        # NO_TYPE: an empty branch of the twin (every predicate true there)
        bad = sorted({d for d in data if d not in (None, "NO_TYPE") and d not in allowed})
        if bad:
            report.problems.append(f"{op.schema} on the GPU is fed {', '.join(bad)}")


def _check_budgets(report: GraphCheck, plan: ViewPlan, kind: str) -> None:
    augmented = sum(plan.augmented(v) for v in range(plan.num_views))
    per_view = BUDGETS.get(("packed" if kind == "packed" else "per-image",
                            plan.policy.name if plan.policy else ""), (0, 0, 0))
    turns = plan.rotations is not None
    budget = [b * (plan.num_views - augmented) + (p + t * turns) * augmented
              for b, p, t in zip(BASE_BUDGET, per_view, TURN_BUDGET)]
    measured = (report.count("gpu") + report.count("mixed"), report.count("cpu"), report.inputs)
    for what, have, allowed in zip(("GPU operators", "CPU operators", "inputs"), measured,
                                   budget):
        if have > allowed:
            report.problems.append(f"{have} {what}, over the budget of {allowed}")
