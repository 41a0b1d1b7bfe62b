"""The JDA operations as DALI graph functions, one per op of kdaug.augment.policies.OPS.

Each function takes a DataNode of HWC uint8 RGB images (CPU or GPU: no ``device=`` is
written, so every op follows its input), the step's magnitude (``OpStep.magnitude``) and,
for signed ops, a sign: a per-sample int DataNode of +1/-1 or a Python int. It returns HWC
uint8 of the same size.

The target is kdaug.augment.reference (PIL), reproduced arithmetic for arithmetic where DALI
allows it:

- invert, posterize, solarize, brightness, contrast, color, sharpness, autocontrast,
  equalize (``exact=True``), translateX/Y: bit-exact on the CPU (PIL's float32 blend with
  truncation, its integer L conversion, its rounded mean, its LUT maths in float64).
- shearX/Y: PIL's BICUBIC transform is a=-1 cubic convolution with clamped edges, truncated;
  it is rebuilt from four nearest-neighbour taps (warp_affine) and a float64 Horner step, so
  it is exact except where a sample position lies within 2**-10 of a pixel boundary.
- rotate: PIL's nearest-neighbour rotation runs in 16.16 fixed point; the same quantised
  matrix is handed to warp_affine, which reproduces it exactly while coordinates fit in
  float32 (images up to 64x64; larger images can differ on rare boundary pixels).
- equalize with ``exact=False``: DALI's fn.equalize (OpenCV's cumulative-histogram formula,
  not PIL's), used for large decoded images where PIL's algorithm would need a
  (H, W, 3, 255) intermediate. tests/test_pipelines_ops.py measures the difference.

Per-sample scalars (sizes, signs, matrices) are computed on the CPU, per-pixel coordinates on
the image's device; DALI arithmetic moves CPU operands to the GPU when another operand is
there, so the same code serves both devices.

DALI facts this module relies on (2.4): arithmetic on uint8 with a Python int yields int32;
every DALI constant is stored as float32, even with dtype=FLOAT64 (so exact doubles are built
from three float32 parts); reductions.sum takes uint8 only into float/uint64; shapes are int64
and slice wants int32 or float (DataNode.shape(dtype=...) converts).
"""
from __future__ import annotations

import math
from typing import Callable, Dict, Union

import numpy as np
import nvidia.dali.math as dmath
from nvidia.dali import fn, types
from nvidia.dali.data_node import DataNode
from nvidia.dali.pipeline import do_not_convert

from kdaug.augment.policies import FILL, OPS

Sign = Union[int, DataNode]

_IDENTITY = (1, 0, 0, 0, 1, 0)
_MAX_SIDE = 16384   # longest image side the coordinate grids cover
_EPS = 2.0 ** -10   # nudge that keeps nearest-neighbour taps off pixel boundaries


# ------------------------------------------------------------------------------------ helpers

def _f32(node):
    return fn.cast(node, dtype=types.FLOAT)


def _f64(node):
    return fn.cast(node, dtype=types.FLOAT64)


def _i32(node):
    return fn.cast(node, dtype=types.INT32)


def _u8(node):
    return fn.cast(node, dtype=types.UINT8)


def _truncate_u8(value):
    """PIL's float -> uint8 store: <= 0 -> 0, >= 255 -> 255, else truncate."""
    return _u8(dmath.floor(dmath.clamp(value, 0.0, 255.0)))


def _f32_parts(value: float):
    """Three float32 numbers whose float64 sum is exactly ``value`` (DALI keeps constants as
    float32, so a float64 constant has to be assembled)."""
    parts = []
    rest = float(value)
    for _ in range(3):
        part = float(np.float32(rest))
        parts.append(part)
        rest -= part
    return parts


def _lift64(value: float, ref64):
    """A per-sample float64 DataNode equal to ``value`` (``ref64``: any finite float64 node of
    the wanted shape, usually a per-sample scalar)."""
    out = ref64 * 0.0
    for part in _f32_parts(value):
        out = out + part
    return out


def _signed64(magnitude: float, sign: Sign, ref64):
    """sign * magnitude as an exact per-sample float64 DataNode (``ref64``: a float64
    per-sample scalar, only its shape is used)."""
    if not isinstance(sign, DataNode):
        return _lift64(int(sign) * magnitude, ref64)
    s = _f64(sign)
    out = s * 0.0
    for part in _f32_parts(magnitude):
        out = out + s * part   # sign is +-1: each product is exact, and so is the sum
    return out


def _blend_factor(magnitude: float, sign: Sign):
    """PIL's enhance(1 + sign*m): the double 1 +- m handed to C as a float32."""
    plus, minus = float(np.float32(1 + magnitude)), float(np.float32(1 - magnitude))
    if not isinstance(sign, DataNode):
        return plus if int(sign) > 0 else minus
    up = _f32(sign > 0)
    return up * plus + (1.0 - up) * minus   # exact selection: x*1 + y*0


def _blend(degenerate, img, factor):
    """PIL ImagingBlend(degenerate, img, factor): in1 + factor*(in2 - in1) in float32, then
    clipped and truncated."""
    if isinstance(degenerate, DataNode):
        d = _f32(degenerate)
        return _truncate_u8(d + factor * (_f32(img) - d))
    return _truncate_u8(float(degenerate) + factor * (_f32(img) - float(degenerate)))


def _luma(img):
    """PIL's RGB -> L: (R*19595 + G*38470 + B*7471 + 0x8000) >> 16, as (H, W, 1) int32."""
    x = _i32(img)
    weighted = x[:, :, 0:1] * 19595 + x[:, :, 1:2] * 38470 + x[:, :, 2:3] * 7471
    return (weighted + 32768) // 65536   # non-negative: C division is the shift


def _size(img):
    """(height, width) of each sample as float64 scalars (CPU)."""
    shape = img.shape(dtype=types.FLOAT64)
    return shape[0], shape[1]


def _grid(img, axis: int):
    """Pixel indices along ``axis`` (0: rows -> (H, 1, 1), 1: columns -> (1, W, 1)), float64,
    on the device of ``img`` (so that per-pixel coordinate maths runs there too)."""
    extent = img.shape(dtype=types.INT32)[axis:axis + 1]
    ramp = types.Constant(np.arange(_MAX_SIDE, dtype=np.float32))
    line = _f64(fn.slice(ramp, start=[0], shape=extent, axes=[0]))
    grid = fn.expand_dims(line, axes=[1, 2] if axis == 0 else [0, 2])
    return grid.gpu() if img.device == "gpu" else grid


def _warp_nn(img, matrix, fill=FILL):
    """Nearest-neighbour resampling through an output->input affine matrix, PIL's pixel-centre
    convention (source pixel floor(M @ (x+.5, y+.5, 1))); ``fill=None`` clamps to the edge."""
    kwargs = {} if fill is None else {"fill_value": float(fill)}
    return fn.warp_affine(img, matrix=matrix, inverse_map=True, interp_type=types.INTERP_NN,
                          **kwargs)


def _matrix(constant, slots):
    """An output->input affine matrix: ``constant`` (6 numbers) plus ``slots`` {index: value},
    a value being a number or a per-sample float64 DataNode. A plain list when nothing varies."""
    base = [float(c) for c in constant]
    varying = {}
    for slot, value in slots.items():
        if isinstance(value, DataNode):
            varying[slot] = value
        else:
            base[slot] += float(value)
    if not varying:
        return base
    out = types.Constant(np.asarray(base, dtype=np.float32))
    for slot, value in varying.items():
        unit = np.zeros(6, dtype=np.float32)
        unit[slot] = 1
        out = out + value * types.Constant(unit)
    return fn.reshape(_f32(out), shape=[2, 3])   # a per-sample matrix must be 2x3


# ------------------------------------------------------------------------------ colour ops

def invert(img, magnitude=None, sign: Sign = 1):
    return _u8(255 - img)


def posterize(img, magnitude, sign: Sign = 1):
    bits = int(magnitude)
    if bits >= 8:
        return img
    mask = (0xFF << (8 - bits)) & 0xFF
    return _u8(img & mask)


def solarize(img, magnitude, sign: Sign = 1):
    """PIL: x if x < threshold else 255 - x (the threshold is a float)."""
    first = math.ceil(magnitude)   # smallest integer that is >= threshold
    if first > 255:
        return img
    x = _i32(img)
    flipped = _i32(x >= first)
    return _u8(x + flipped * (255 - 2 * x))


def brightness(img, magnitude, sign: Sign = 1):
    return _blend(0, img, _blend_factor(magnitude, sign))


def color(img, magnitude, sign: Sign = 1):
    return _blend(_luma(img), img, _blend_factor(magnitude, sign))


def contrast(img, magnitude, sign: Sign = 1):
    """Blend with the image's mean grey level, int(mean(L) + 0.5) as PIL's ImageStat gives it."""
    luma = _luma(img)
    total = _f64(fn.reductions.sum(luma, dtype=types.INT64))
    height, width = _size(img)
    mean = dmath.floor(total / (height * width) + 0.5)
    return _blend(_f32(mean), img, _blend_factor(magnitude, sign))


_SMOOTH = np.array([[1, 1, 1], [1, 5, 1], [1, 1, 1]], dtype=np.float32)  # PIL SMOOTH, /13


def sharpness(img, magnitude, sign: Sign = 1):
    """Blend with PIL's SMOOTH-filtered image, whose one-pixel border is the source's."""
    sums = fn.filter(img, types.Constant(_SMOOTH), dtype=types.FLOAT, mode="valid")
    smooth = dmath.floor(sums / 13.0 + 0.5)   # integer sums: /13 never lands on .5
    delta = smooth - _f32(img[1:-1, 1:-1])
    delta = fn.slice(delta, start=[-1, -1], shape=img.shape(dtype=types.INT32)[0:2],
                     axis_names="HW",
                     out_of_bounds_policy="pad", fill_values=0.0)
    degenerate = _f32(img) + delta
    return _blend(degenerate, img, _blend_factor(magnitude, sign))


def autocontrast(img, magnitude=None, sign: Sign = 1):
    """Per channel: int(x*scale + offset) with scale = 255/(hi-lo), offset = -lo*scale
    (float64, PIL's LUT maths); identity where hi == lo."""
    lo = _f64(fn.reductions.min(img, axes=(0, 1), keep_dims=True))
    hi = _f64(fn.reductions.max(img, axes=(0, 1), keep_dims=True))
    flat = _f64(hi == lo)
    scale = 255.0 / (hi - lo + flat)
    offset = (0.0 - lo) * scale
    x = _f64(img)
    stretched = dmath.floor(dmath.clamp(x * scale + offset, 0.0, 255.0))
    return _u8(stretched * (1.0 - flat) + x * flat)


_LEVELS = np.arange(1, 256, dtype=np.uint8).reshape(1, 1, 1, 255)


def equalize(img, magnitude=None, sign: Sign = 1, exact: bool = True):
    """PIL's ImageOps.equalize per channel (``exact``), or DALI's fn.equalize.

    PIL: step = (N - count(max value)) // 255; lut[v] = (step//2 + count(x < v)) // step,
    clipped to 255; identity where step == 0. The counts come from a (H, W, 3, 255)
    staircase x >= v, and lut[x] = max over v <= x of lut[v] since the LUT never decreases:
    cheap for CIFAR-size images only.
    """
    if not exact:
        return fn.equalize(img)
    staircase = _u8(fn.expand_dims(img, axes=[3]) >= types.Constant(_LEVELS))   # x >= v
    at_least = _i32(fn.reductions.sum(staircase, axes=(0, 1), dtype=types.FLOAT))  # (3, 255)
    height, width = _size(img)
    count = _i32(height * width)
    top = fn.reductions.max(img, axes=(0, 1), keep_dims=True)
    below_top = _i32(fn.reductions.sum(_u8(img < top), axes=(0, 1), dtype=types.FLOAT))
    step = below_top // 255                                    # (3,)
    usable = _i32(step > 0)
    step = fn.expand_dims(dmath.max(step, 1), axes=[1])        # (3, 1)
    lut = dmath.min((step // 2 + (count - at_least)) // step, 255)
    mapped = fn.reductions.max(staircase * _u8(lut), axes=[3])
    return _u8(mapped * usable + _i32(img) * (1 - usable))


# ------------------------------------------------------------------------- geometric ops

def translate(img, magnitude, sign: Sign = 1, axis: int = 0):
    """PIL AFFINE (1, 0, c, 0, 1, 0) / (1, 0, 0, 0, 1, c) with c = sign*m*W (or H), nearest:
    output(x) = input(x + floor(c + 0.5)), grey outside. axis 0: translateX, 1: translateY."""
    height, width = _size(img)
    extent = width if axis == 0 else height
    offset = dmath.floor(_signed64(magnitude, sign, extent) * extent + 0.5)
    return _warp_nn(img, _matrix(_IDENTITY, {2 if axis == 0 else 5: offset}))


def translate_x(img, magnitude, sign: Sign = 1):
    return translate(img, magnitude, sign, axis=0)


def translate_y(img, magnitude, sign: Sign = 1):
    return translate(img, magnitude, sign, axis=1)


def shear(img, magnitude, sign: Sign = 1, axis: int = 0):
    """PIL AFFINE (1, s, 0, 0, 1, 0) (axis 0, shearX) or (1, 0, 0, s, 1, 0) (axis 1, shearY),
    BICUBIC, fill grey, s = sign*m.

    The sample position of output pixel (x, y) is u = (x+.5) + s*(y+.5) along x (shearX); the
    other coordinate stays on the pixel centre, so only four taps along the sheared axis
    matter: v1..v4 at floor(u-.5)-1 .. floor(u-.5)+2 (clamped), combined with PIL's a=-1
    Horner form in float64; grey where u falls outside the image.
    """
    height, width = _size(img)
    extent = width if axis == 0 else height
    s = _signed64(magnitude, sign, extent)
    along, across = (_grid(img, 1), _grid(img, 0)) if axis == 0 else (_grid(img, 0), _grid(img, 1))
    u = (along + 0.5) + s * (across + 0.5)       # PIL's sample coordinate, float64
    inside = _f64((u >= 0.0) & (u < extent))
    v = u - 0.5
    d = v - dmath.floor(v + _EPS)
    shear_slot, offset_slot = (1, 2) if axis == 0 else (3, 5)
    # tap k reads floor(v + eps) + k - 1: warp at u + k - 1.5 + eps, edges clamped
    taps = [_i32(_warp_nn(img, _matrix(_IDENTITY, {shear_slot: s, offset_slot: k - 1.5 + _EPS}),
                          fill=None))
            for k in range(4)]
    v1, v2, v3, v4 = taps
    p1, p2 = v2, v3 - v1
    p3 = 2 * (v1 - v2) + v3 - v4
    p4 = (v2 - v1) + (v4 - v3)
    value = _f64(p1) + d * (_f64(p2) + d * (_f64(p3) + d * _f64(p4)))
    value = dmath.floor(dmath.clamp(value, 0.0, 255.0))
    return _u8(value * inside + float(FILL) * (1.0 - inside))


def shear_x(img, magnitude, sign: Sign = 1):
    return shear(img, magnitude, sign, axis=0)


def shear_y(img, magnitude, sign: Sign = 1):
    return shear(img, magnitude, sign, axis=1)


def _fix(value: float) -> int:
    return math.floor(value * 65536.0 + 0.5)


def rotate(img, magnitude, sign: Sign = 1):
    """PIL img.rotate(m) (counter-clockwise about (W/2, H/2), nearest, no sign) over grey.

    PIL builds the output->input matrix in float64 and runs it in 16.16 fixed point:
    xin = (A2 + y*A1 + x*A0) >> 16. The same integers, divided by 65536, make a float32 matrix
    that warp_affine evaluates exactly for small images.
    """
    angle = -math.radians(magnitude)
    rows = ((round(math.cos(angle), 15), round(math.sin(angle), 15)),
            (round(-math.sin(angle), 15), round(math.cos(angle), 15)))
    height, width = _size(img)
    cx, cy = width / 2.0, height / 2.0
    matrix, slots = [], {}
    for r, ((p, q), centre) in enumerate(zip(rows, (cx, cy))):
        # PIL: p*(-cx) + q*(-cy) + 0.0, then + centre; C adds p*.5 + q*.5 before FIX.
        offset = (_lift64(p, cx) * (0.0 - cx) + _lift64(q, cx) * (0.0 - cy)) + centre
        offset = (offset + _lift64(p * 0.5, cx)) + _lift64(q * 0.5, cx)
        fp, fq = _fix(p), _fix(q)
        offset_fixed = dmath.floor(offset * 65536.0 + 0.5)
        matrix += [fp / 65536.0, fq / 65536.0, 0.0]
        slots[3 * r + 2] = (offset_fixed - (fp + fq) / 2.0) / 65536.0
    return _warp_nn(img, _matrix(matrix, slots))


# ------------------------------------------------------------------------------- the table

OpFunction = Callable[..., DataNode]

OP_FUNCTIONS: Dict[str, OpFunction] = {
    "autocontrast": autocontrast,
    "equalize": equalize,
    "invert": invert,
    "posterize": posterize,
    "solarize": solarize,
    "contrast": contrast,
    "brightness": brightness,
    "color": color,
    "sharpness": sharpness,
    "shearX": shear_x,
    "shearY": shear_y,
    "translateX": translate_x,
    "translateY": translate_y,
    "rotate": rotate,
}
assert set(OP_FUNCTIONS) == set(OPS), "every op of the policy table needs a DALI function"


@do_not_convert   # no DALI conditionals inside the ops: AutoGraph need not rewrite them
def apply_op(img, op: str, magnitude=None, sign: Sign = 1, *, exact_equalize: bool = True):
    """DALI counterpart of kdaug.augment.reference.apply_op (inside a pipeline definition)."""
    if op not in OP_FUNCTIONS:
        raise ValueError(f"unknown op {op!r}; known: {', '.join(sorted(OP_FUNCTIONS))}")
    if op == "equalize":
        return equalize(img, exact=exact_equalize)
    return OP_FUNCTIONS[op](img, magnitude, sign)
