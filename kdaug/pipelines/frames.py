"""The packed realisation of a view plan, for in-memory images of one small size on the GPU.

Per-sample costs dominate DALI on small images: every input, operator and conditional pays
for each sample of the batch. Here a DALI sample is a pack of F images (layout FHWC), and no
step is conditional: every step runs on every image with a per-image parameter that makes it
the identity where its gate did not fire (factor 1, xor 0, threshold 256, identity matrix,
shear 0, gate 0). The parameters arrive as per-frame inputs (kdaug.pipelines.inputs), drawn by
kdaug.augment.draws like every other backend, so the views equal the reference's.

Exactness: the arithmetic is PIL's, operation for operation (separate DALI operators, so no
fused multiply-add can change a rounding): blends in float32 (deg + f*(x - deg), truncated),
autocontrast in float64, shear by Horner in float64 from the float64 shift of each image.
Crop, flip and quarter turns are one nearest-neighbour warp with an integer matrix.
"""
from __future__ import annotations

from typing import List

import numpy as np
import nvidia.dali.math as dmath
from nvidia.dali import fn, types
from nvidia.dali.data_node import DataNode
from nvidia.dali.pipeline import do_not_convert

from kdaug.augment.draws import quarter_turns
from kdaug.augment.plan import ViewPlan
from kdaug.augment.policies import FILL, OpStep
from kdaug.pipelines import geometry
from kdaug.pipelines.chain import active_steps, step_key
from kdaug.pipelines.ops import _HORNER, _LEVELS, _SMOOTH, Site, _byte, _floor_u8, _u8, luma

# (kind of the per-frame parameter, its dtype): a step without a parameter (crop, views) has
# none. "matrix" parameters are argument inputs (CPU); the others are arithmetic operands and
# live where the images are.
PARAMS = {
    "invert": ("xor", np.uint8), "posterize": ("and", np.uint8),
    "solarize": ("threshold", np.float32), "brightness": ("factor", np.float32),
    "contrast": ("factor", np.float32), "color": ("factor", np.float32),
    "sharpness": ("factor", np.float32), "autocontrast": ("gate", np.float64),
    "equalize": ("gate", np.int32), "translateX": ("matrix", np.float32),
    "translateY": ("matrix", np.float32), "rotate": ("matrix", np.float32),
    "shearX": ("shift", np.float64), "shearY": ("shift", np.float64),
}
SHEAR_TAPS = "taps"      # the shear's second parameter: its per-frame tap matrix


def _blend(deg, img, factor):
    """PIL's Image.blend(degenerate, image, f) per frame: (float)deg + f*(x - deg), then
    truncated (clip to 0..255 for the extrapolating factors); float32 like PIL."""
    deg = fn.cast(deg, dtype=types.FLOAT)
    return _floor_u8(deg + factor * (img - deg))


def _per_frame(site: Site, name: str) -> DataNode:
    return site.input(name)


def invert(img, step, site, key):
    return img ^ _per_frame(site, f"{key}/xor")


def posterize(img, step, site, key):
    return img & _per_frame(site, f"{key}/and")


def solarize(img, step, site, key):
    """PIL: x if x < threshold else 255 - x; 255 - x is x ^ 255 for uint8."""
    return img ^ (_u8(img >= _per_frame(site, f"{key}/threshold")) * _byte(255))


def brightness(img, step, site, key):
    return _floor_u8(img * _per_frame(site, f"{key}/factor"))


def color(img, step, site, key):
    return _blend(luma(img, site), img, _per_frame(site, f"{key}/factor"))


def contrast(img, step, site, key):
    height, width = site.size
    total = fn.cast(fn.reductions.sum(luma(img, site), axes=(1, 2, 3), keep_dims=True,
                                      dtype=types.UINT64), dtype=types.FLOAT64)
    grey = dmath.floor(total / float(height * width) + 0.5)
    return _blend(grey, img, _per_frame(site, f"{key}/factor"))


def sharpness(img, step, site, key):
    inner = img[:, 1:-1, 1:-1]
    smooth = fn.filter(img, site.constant(_SMOOTH), dtype=types.UINT8, mode="valid")
    change = _blend(smooth, inner, _per_frame(site, f"{key}/factor")) - inner
    return img + fn.slice(change, start=[-1, -1], shape=list(site.size), axis_names="HW",
                          out_of_bounds_policy="pad", fill_values=0)


def autocontrast(img, step, site, key):
    """PIL's LUT maths in float64 per frame and channel; a gate of 0 makes scale 1, offset 0."""
    gate = _per_frame(site, f"{key}/gate")
    lo = fn.reductions.min(img, axes=(1, 2), keep_dims=True)
    hi = fn.reductions.max(img, axes=(1, 2), keep_dims=True)
    span = hi - lo
    flat = span == 0
    scale = 255.0 / fn.cast(span | flat, dtype=types.FLOAT64)
    offset = (flat * lo) - lo * scale
    return _floor_u8(img * (gate * scale + (1.0 - gate)) + gate * offset)


def equalize(img, step, site, key):
    """PIL's equalize (the staircase of kdaug.pipelines.ops.equalize_staircase, per frame);
    a gate of 0 keeps the frame as it is."""
    height, width = site.size
    staircase = _u8(fn.expand_dims(img, axes=[4]) >= site.constant(_LEVELS[None]))
    at_least = fn.cast(fn.reductions.sum(staircase, axes=(1, 2), keep_dims=True,
                                         dtype=types.FLOAT), dtype=types.INT32)
    top = fn.reductions.max(img, axes=(1, 2), keep_dims=True)
    below_top = fn.cast(fn.reductions.sum(_u8(img < top), axes=(1, 2), keep_dims=True,
                                          dtype=types.FLOAT), dtype=types.INT32)
    step_ = below_top // 255                                   # (F, 1, 1, 3)
    usable = fn.cast(step_ > 0, dtype=types.INT32) * _per_frame(site, f"{key}/gate")
    step_ = fn.expand_dims(dmath.max(step_, 1), axes=[4])     # (F, 1, 1, 3, 1)
    lut = dmath.min((step_ // 2 + (height * width - at_least)) // step_, 255)
    mapped = fn.reductions.max(staircase * _u8(lut), axes=[4])
    return _u8(mapped * usable + fn.cast(img, dtype=types.INT32) * (1 - usable))


def warp(img, step, site, key):
    """Translate and rotate: a nearest-neighbour warp with a per-frame matrix, grey outside."""
    return fn.warp_affine(img, matrix=_per_frame(site, f"{key}/matrix"), inverse_map=True,
                          interp_type=types.INTERP_NN, fill_value=float(FILL))


def _ramp(site: Site, axis: int):
    shape = [1, 1, 1, 1]
    shape[axis + 1] = site.size[axis]
    centres = np.arange(site.size[axis], dtype=np.float32).reshape(shape) + 0.5
    return fn.cast(site.constant(centres), dtype=types.FLOAT64)


def shear(img, step, site, key, axis: int):
    """PIL's BICUBIC shear per frame (see kdaug.pipelines.ops.shear), with the frame's own
    float64 shift s (0: the identity)."""
    across, along = (0, 1) if axis == 0 else (1, 0)
    size = [site.size[0], site.size[1] + 3] if axis == 0 else [site.size[0] + 3, site.size[1]]
    taps = fn.warp_affine(img, matrix=_per_frame(site, f"{key}/{SHEAR_TAPS}"), size=size,
                          inverse_map=True, interp_type=types.INTERP_NN)
    kernel = (1, 4) if axis == 0 else (4, 1)
    p1, p2, p3, p4 = [fn.filter(taps, site.constant(k.reshape(kernel)), dtype=types.FLOAT,
                                mode="valid") for k in _HORNER]
    u = _ramp(site, along) + _ramp(site, across) * _per_frame(site, f"{key}/shift")
    v = u - 0.5
    d = v - dmath.floor(v + geometry.EPS)
    keep = _u8((u >= 0.0) & (u < float(site.size[along]))) * _byte(255)
    value = p1 + d * (p2 + d * (p3 + d * p4))
    return (_floor_u8(value) & keep) | (_byte(FILL) - (keep & _byte(FILL)))


MASKED_OPS = {
    "invert": invert, "posterize": posterize, "solarize": solarize,
    "brightness": brightness, "color": color, "contrast": contrast, "sharpness": sharpness,
    "autocontrast": autocontrast, "equalize": equalize,
    "translateX": warp, "translateY": warp, "rotate": warp,
    "shearX": lambda *a: shear(*a, axis=0), "shearY": lambda *a: shear(*a, axis=1),
}
assert set(MASKED_OPS) == set(PARAMS)


@do_not_convert
def masked_step(img, step: OpStep, site: Site, key: str):
    return MASKED_OPS[step.op](img, step, site, key)


def masked_chain(img: DataNode, plan: ViewPlan, view: int, site: Site) -> DataNode:
    """Every active step of the policy on every frame, gated by its per-frame parameter."""
    for index, step in active_steps(plan.policy):   # the sign is in the parameter
        img = masked_step(img, step, site, step_key(view, index))
    return img


@do_not_convert
def packed_finish(img, plan: ViewPlan, site: Site, view: int, dtype) -> DataNode:
    """Crop, flip and quarter turn as one nearest-neighbour warp (zeros outside: the crop's
    padding), then normalise to FCHW."""
    framed = fn.warp_affine(img, matrix=site.input(f"frame/{view}"), size=[plan.size] * 2,
                            inverse_map=True, interp_type=types.INTERP_NN, fill_value=0.0)
    return fn.crop_mirror_normalize(
        framed, dtype=dtype, output_layout="FCHW",
        mean=[255.0 * m for m in plan.mean], std=[255.0 * s for s in plan.std])


def realise_packed_views(raw: DataNode, plan: ViewPlan, site: Site) -> List[DataNode]:
    """V views (F, 3, S, S) per pack of F images of ``plan`` (FHWC uint8 input)."""
    dtype = types.FLOAT16 if site.gpu else types.FLOAT
    views = []
    for v, _ in enumerate(quarter_turns(plan)):
        source = masked_chain(raw, plan, v, site) if plan.augmented(v) else raw
        views.append(packed_finish(source, plan, site, v, dtype))
    return views


def frame_matrices(plan: ViewPlan, crop: np.ndarray, flip: np.ndarray, turns: int,
                   ) -> np.ndarray:
    """Warp matrices of crop (top, left) -> flip -> rot90(k) for B images: (B, 2, 3) float32.

    On (row, col) indices: crop C[i, j] = raw[i + top, j + left]; flip F[i, j] = C[i, S-1-j];
    a quarter turn R[i, j] = F[j, S-1-i] (np.rot90). The source index of output index p is
    crop(flip(rot^k(p))) = A p + b; in (x, y) order a warp sampling at floor(M (x+.5, y+.5, 1))
    reads it with M = [A' | b' + .5 - A' (.5, .5)] (exact small integers and halves)."""
    size, count = plan.size, len(crop)
    a = np.tile(np.eye(2), (count, 1, 1))
    b = np.zeros((count, 2))

    def then(step_a, step_b):   # apply a stage after the maps so far
        nonlocal a, b
        a = np.einsum("nij,njk->nik", step_a, a)
        b = np.einsum("nij,nj->ni", step_a, b) + step_b

    ones = np.ones(count)
    for _ in range(turns % 4):
        then(np.tile([[0.0, 1.0], [-1.0, 0.0]], (count, 1, 1)), np.stack([0 * ones,
                                                                          (size - 1) * ones], 1))
    flips = np.asarray(flip, bool)
    then(np.where(flips[:, None, None], [[1.0, 0.0], [0.0, -1.0]], np.eye(2)),
         np.stack([0 * ones, np.where(flips, size - 1, 0)], 1))
    then(np.tile(np.eye(2), (count, 1, 1)), np.asarray(crop[:, :2], np.float64))
    swap = np.array([[0.0, 1.0], [1.0, 0.0]])
    a_xy = swap @ a @ swap
    b_xy = b @ swap.T
    matrix = np.concatenate([a_xy, (b_xy + 0.5 - a_xy @ np.array([0.5, 0.5]))[..., None]], 2)
    return matrix.astype(np.float32)
