"""ViewPlan -> DALI graph, and the two pipelines (in-memory arrays, encoded image files).

Per view, as in kdaug.augment.reference.make_views: JDA chain on the raw full image (augmented
views) -> crop -> flip -> quarter-turn rotation -> normalise. Each view draws its own crop and
flip, except where the family shares them (rotation: one crop and flip; rotation-crop: one
flip). Output per sample: V views (3, S, S), float16 on the GPU, float32 on the CPU, as V
separate pipeline outputs (the loader assembles (B, V, 3, S, S) with the one copy it makes
anyway, instead of a DALI stack and a copy).
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import nvidia.dali.math as dmath
from nvidia.dali import fn, pipeline_def, types
from nvidia.dali.data_node import DataNode
from nvidia.dali.pipeline import do_not_convert

from kdaug.augment.plan import ViewPlan
from kdaug.pipelines.chain import jda_chain

EXACT_EQUALIZE_MAX_PIXELS = 64 * 64  # PIL's equalize on the GPU: an (H, W, 3, 255) staircase


# ---------------------------------------------------------------------------------- crops

def _hw(img):
    shape = img.shape(dtype=types.FLOAT64)
    return shape[0], shape[1]


def _start(top, left):
    return fn.cast(fn.stack(top, left), dtype=types.INT32)


@do_not_convert
def pad_crop(img: DataNode, plan: ViewPlan) -> DataNode:
    """torchvision RandomCrop(size, padding=pad): zero-pad, then a uniform window (top and
    left drawn together: every scalar operator costs tens of microseconds per batch)."""
    positions = img.shape(dtype=types.FLOAT64)[0:2] + (2 * plan.pad - plan.size + 1)
    u = fn.random.uniform(range=[0.0, 1.0], shape=[2], dtype=types.FLOAT64)   # [0, 1)
    start = fn.cast(dmath.floor(u * positions) - plan.pad, dtype=types.INT32)
    return fn.slice(img, start=start, shape=[plan.size, plan.size], axis_names="HW",
                    out_of_bounds_policy="pad", fill_values=0)


@do_not_convert
def random_resized_crop(img: DataNode, plan: ViewPlan) -> DataNode:
    return fn.random_resized_crop(img, size=[plan.size, plan.size],
                                  random_area=list(plan.rrc_scale),
                                  random_aspect_ratio=list(plan.rrc_ratio), num_attempts=10,
                                  interp_type=types.INTERP_LINEAR, antialias=True)


def _round_half_even_half(d):
    """Python round(d / 2) for a non-negative integer-valued float64 d."""
    half = dmath.floor(d / 2.0)
    odd = d - 2.0 * half
    return half + odd * (half - 2.0 * dmath.floor(half / 2.0))


@do_not_convert
def center_crop(img: DataNode, plan: ViewPlan) -> DataNode:
    """torchvision Resize(resize) (shorter side; long side int(resize*long/short)) then
    CenterCrop(size) with round()ed offsets."""
    height, width = _hw(img)
    short, long = dmath.min(height, width), dmath.max(height, width)
    new_long = dmath.floor(plan.resize * long / short)
    portrait = fn.cast(width <= height, dtype=types.FLOAT64)
    new_h = portrait * new_long + (1.0 - portrait) * plan.resize
    new_w = portrait * plan.resize + (1.0 - portrait) * new_long
    resized = fn.resize(img, size=fn.cast(fn.stack(new_h, new_w), dtype=types.FLOAT),
                        interp_type=types.INTERP_LINEAR, antialias=True)
    top = _round_half_even_half(new_h - plan.size)
    left = _round_half_even_half(new_w - plan.size)
    return fn.slice(resized, start=_start(top, left), shape=[plan.size, plan.size],
                    axis_names="HW")


@do_not_convert
def crop(img: DataNode, plan: ViewPlan) -> DataNode:
    if plan.crop == "pad":
        return pad_crop(img, plan)
    if plan.crop == "rrc":
        return random_resized_crop(img, plan)
    if plan.crop == "center":
        return center_crop(img, plan)
    return img   # "none": the source already has size x size images (checked by the loader)


# --------------------------------------------------------------------------------- finish

def draw_flip(plan: ViewPlan) -> Optional[DataNode]:
    return fn.random.coin_flip(probability=0.5, dtype=types.INT32) if plan.flip else None


@do_not_convert
def finish(img: DataNode, flip: Optional[DataNode], k: int, plan: ViewPlan, dtype) -> DataNode:
    """Flip, then rotate by k quarter turns counter-clockwise, then normalise to CHW.

    rot_k(flip(x)) = flip(rot_-k(x)): the rotation runs first with the opposite angle for
    flipped samples, and crop_mirror_normalize does the flip. fn.rotate, not transpose: see
    dali-notes (transpose + crop_mirror_normalize fails on the GPU at batch >= 128).
    """
    if k % 4:
        angle = 90.0 * k if flip is None else fn.cast(90 * k * (1 - 2 * flip), dtype=types.FLOAT)
        img = fn.rotate(img, angle=angle, interp_type=types.INTERP_NN, keep_size=True)
    return fn.crop_mirror_normalize(
        img, dtype=dtype, output_layout="CHW",
        mean=[255.0 * m for m in plan.mean], std=[255.0 * s for s in plan.std],
        mirror=0 if flip is None else flip)


# ---------------------------------------------------------------------------------- views

def realise_views(raw: DataNode, plan: ViewPlan, *, dtype, exact_equalize: bool
                  ) -> Tuple[List[DataNode], Optional[DataNode], Optional[DataNode]]:
    """(V views (3, S, S), fired (V, L) uint8, signs (V, L) int8) per sample; fired/signs are
    None unless the family is jda (rows of views without a chain are zeros)."""
    views: List[DataNode] = []
    if plan.family == "rotation":
        base, flip = crop(raw, plan), draw_flip(plan)
        views = [finish(base, flip, k, plan, dtype) for k in plan.rotations]
    elif plan.family == "rotation-crop":
        flip = draw_flip(plan)
        views = [finish(crop(raw, plan), flip, k, plan, dtype) for k in plan.rotations]
    else:
        chains = {}
        for v in range(plan.num_views):
            source = raw
            if plan.augmented(v):
                source, fired, signs = jda_chain(raw, plan.policy, exact_equalize=exact_equalize)
                chains[v] = (fired, signs)
            views.append(finish(crop(source, plan), draw_flip(plan), 0, plan, dtype))
        if chains:
            fired0, signs0 = next(iter(chains.values()))
            no_chain = (fn.cast(fired0 * 0, dtype=types.UINT8),   # rows of views without one
                        fn.cast(signs0 * 0, dtype=types.INT8))
            rows = [chains.get(v, no_chain) for v in range(plan.num_views)]
            return views, fn.stack(*[r[0] for r in rows]), fn.stack(*[r[1] for r in rows])
    return views, None, None


# ------------------------------------------------------------------------------ pipelines

def _outputs(views, fired, signs, index):
    return (*views, index) if fired is None else (*views, index, fired, signs)


@pipeline_def(enable_conditionals=True)
def array_pipeline(source, plan: ViewPlan, *, gpu: bool, exact_equalize: bool):
    """Images from memory: ``source()`` returns (images (B, H, W, 3) uint8, index (B,) int64),
    numpy on the CPU or torch CUDA tensors for a GPU pipeline; raises StopIteration at the end
    of an epoch. Outputs: V views, index[, fired, signs]."""
    images, index = fn.external_source(source=source, num_outputs=2, batch=True,
                                       layout=["HWC", ""], device="gpu" if gpu else "cpu")
    views, fired, signs = realise_views(images, plan, exact_equalize=exact_equalize,
                                        dtype=types.FLOAT16 if gpu else types.FLOAT)
    return _outputs(views, fired, signs, index)


@pipeline_def(enable_conditionals=True)
def file_pipeline(source, plan: ViewPlan, *, gpu: bool, exact_equalize: bool = False):
    """Encoded image files: ``source()`` returns (list of uint8 byte arrays, index (B,) int64).
    Decoded on the GPU ("mixed") or the CPU; the JDA chain runs on the full decoded image
    (with DALI's equalize by default: decoded images are too large for the exact one)."""
    encoded, index = fn.external_source(source=source, num_outputs=2, batch=True)
    images = fn.decoders.image(encoded, device="mixed" if gpu else "cpu", output_type=types.RGB)
    views, fired, signs = realise_views(images, plan, exact_equalize=exact_equalize,
                                        dtype=types.FLOAT16 if gpu else types.FLOAT)
    return _outputs(views, fired, signs, index)
