"""The JDA operations as DALI graph functions, one per op of kdaug.augment.policies.OPS.

Each function takes a DataNode of HWC uint8 RGB images (CPU or GPU: no ``device=`` is
written, so every op follows its input), the step's magnitude (``OpStep.magnitude``) and,
for signed ops, a sign: a per-sample int32 DataNode of +1/-1 or a Python int. It returns HWC
uint8 of the same size.

The target is kdaug.augment.reference (PIL), reproduced arithmetic for arithmetic, so that
every op is bit-exact on the CPU (tests/test_pipelines_ops.py):

- invert, posterize, solarize: one uint8 operator each (a lookup table for solarize).
- brightness, contrast, color, sharpness: PIL's blend in float32 (in1 + f*(in2 - in1)),
  truncated; PIL's L conversion via coord_transform (its integer weights are exact in
  float32 and the rounding is PIL's +0x8000); the SMOOTH filter via fn.filter with uint8
  output (integer sums / 13 never land on .5, so rounding is exact).
- autocontrast: PIL's LUT maths in float64 (scale = 255/(hi-lo), offset = -lo*scale).
- equalize: PIL's formula, exact. On the CPU a numpy histogram (python_function: DALI has
  no histogram operator, and the all-DALI formulation below costs ~3 ms per 32x32 image on
  a CPU core); on the GPU that all-DALI formulation, a (H, W, 3, 255) staircase. With
  ``exact=False``: DALI's fn.equalize (OpenCV's formula, not PIL's).
- translate: PIL's nearest AFFINE shifts by the integer floor(c + .5): an fn.slice with
  grey padding.
- shear: PIL's BICUBIC is a=-1 cubic convolution with clamped edges, truncated. The four
  taps along the sheared axis come from one nearest-neighbour warp (the rows or columns
  moved by whole pixels, edges clamped, 3 pixels wider) and four 1x4 integer filters that
  give Horner's coefficients directly; the fractional position is evaluated in float64 as
  PIL does. Exact except where a sample position lies within 2**-10 of a pixel boundary.
- rotate: PIL's nearest-neighbour rotation runs in 16.16 fixed point; the same quantised
  matrix is handed to warp_affine, which reproduces it exactly while coordinates fit in
  float32 (images up to 64x64; larger images can differ on rare boundary pixels).

Per-sample geometry (matrices, fractional sample positions) is computed by small numpy
functions (``python_function`` on the CPU, also in GPU pipelines, where shapes and signs
live on the CPU anyway): one operator instead of dozens of scalar DALI operators, each of
which costs tens of microseconds per batch, and plain float64 where PIL computes in double
(DALI constants are float32).

DALI facts this module relies on (2.4): uint8 op uint8 constant stays uint8 and wraps;
arithmetic on uint8 with a Python int yields int32, with a float32 node float32; casts from
float round half away from zero and saturate (so floor + cast is PIL's clip-and-truncate);
lookup_table returns ``default_value`` for keys outside its table (negative included);
fn.filter computes a correlation.
"""
from __future__ import annotations

import functools
import math
from typing import Callable, Dict, Optional, Union

import numpy as np
import nvidia.dali.math as dmath
from nvidia.dali import fn, types
from nvidia.dali.data_node import DataNode
from nvidia.dali.pipeline import do_not_convert

from kdaug.augment.policies import FILL, OPS

Sign = Union[int, DataNode]

_EPS = 2.0 ** -10   # nudge that keeps nearest-neighbour taps off pixel boundaries
_CACHED_PIXELS = 64 * 64   # per-size geometry of images up to this size is kept


# ------------------------------------------------------------------------------------ helpers

def _f32(node):
    return fn.cast(node, dtype=types.FLOAT)


def _u8(node):
    return fn.cast(node, dtype=types.UINT8)


def _byte(value: int):
    return types.Constant(value, dtype=types.UINT8)


def _table(img, values):
    """A fixed uint8 -> uint8 lookup table."""
    return fn.lookup_table(img, keys=list(range(len(values))), values=[float(v) for v in values],
                           dtype=types.UINT8)


def _floor_u8(value):
    """PIL's float -> uint8 store (<= 0 -> 0, >= 255 -> 255, else truncate): floor, then the
    saturating cast."""
    return _u8(dmath.floor(value))


def _blend_factor(magnitude: float, sign: Sign):
    """PIL's enhance(1 + sign*m): the double 1 +- m handed to C as a float32; a per-sample
    sign picks one of the two with a lookup table (its default covers -1)."""
    plus, minus = float(np.float32(1 + magnitude)), float(np.float32(1 - magnitude))
    if not isinstance(sign, DataNode):
        return plus if int(sign) > 0 else minus
    return fn.lookup_table(sign, keys=[1], values=[plus], default_value=minus,
                           dtype=types.FLOAT)


def _blend(degenerate, img, factor):
    """PIL ImagingBlend(degenerate, img, factor): in1 + factor*(in2 - in1) in float32, then
    clipped and truncated (``degenerate`` a float32 node broadcasting against ``img``)."""
    return _floor_u8(degenerate + factor * (img - degenerate))


_LUMA = [19595 / 65536, 38470 / 65536, 7471 / 65536]


def _luma(img):
    """PIL's RGB -> L, (R*19595 + G*38470 + B*7471 + 0x8000) >> 16, as (H, W, 1) uint8: the
    weighted sum is exact in float32; the +0.5 and floor are explicit because a uint8
    coord_transform rounds half away from zero on the CPU but half to even on the GPU."""
    return _floor_u8(fn.coord_transform(img, M=_LUMA, dtype=types.FLOAT) + 0.5)


@do_not_convert   # python_function bodies must not be rewritten by AutoGraph
def _per_sample(img, compute, sign: Optional[Sign] = None, num_outputs: int = 1):
    """Per-sample geometry from numpy in one python_function over the batch (on the CPU,
    where shapes and signs live): ``compute(sign, height, width)``, or ``compute(height,
    width)`` for ops without a sign, returns an array or a tuple of ``num_outputs`` arrays."""
    def columns(results):
        return tuple(map(list, zip(*results))) if num_outputs > 1 else list(results)

    shape = img.shape(dtype=types.INT32)
    if isinstance(sign, DataNode):
        def per_batch(shapes, signs):
            return columns(compute(int(s), int(hwc[0]), int(hwc[1]))
                           for hwc, s in zip(shapes, signs))
        inputs = (shape, sign)
    else:
        fixed = () if sign is None else (int(sign),)

        def per_batch(shapes):
            return columns(compute(*fixed, int(hwc[0]), int(hwc[1])) for hwc in shapes)
        inputs = (shape,)
    return fn.python_function(*inputs, function=per_batch, batch_processing=True,
                              num_outputs=num_outputs)


def _on_device(node, img):
    return node.gpu() if img.device == "gpu" else node


# ------------------------------------------------------------------------------ colour ops

def invert(img, magnitude=None, sign: Sign = 1):
    return _byte(255) - img


def posterize(img, magnitude, sign: Sign = 1):
    bits = int(magnitude)
    if bits >= 8:
        return img
    return img & _byte((0xFF << (8 - bits)) & 0xFF)


def solarize(img, magnitude, sign: Sign = 1):
    """PIL: x if x < threshold else 255 - x (the threshold is a float)."""
    if magnitude > 255:
        return img
    return _table(img, [v if v < magnitude else 255 - v for v in range(256)])


def brightness(img, magnitude, sign: Sign = 1):
    # blend with black: 0 + f*(x - 0) is f*x exactly
    return _floor_u8(img * _blend_factor(magnitude, sign))


def color(img, magnitude, sign: Sign = 1):
    return _blend(_f32(_luma(img)), img, _blend_factor(magnitude, sign))


def contrast(img, magnitude, sign: Sign = 1):
    """Blend with the image's mean grey level, int(mean(L) + 0.5) as PIL's ImageStat gives it
    (the uint64 sum and the float64 division are exact)."""
    total = fn.cast(fn.reductions.sum(_luma(img), dtype=types.UINT64), dtype=types.FLOAT64)
    shape = img.shape(dtype=types.FLOAT64)
    mean = dmath.floor(total / (shape[0] * shape[1]) + 0.5)
    return _blend(_f32(mean), img, _blend_factor(magnitude, sign))


_SMOOTH = np.array([[1, 1, 1], [1, 5, 1], [1, 1, 1]], dtype=np.float32) / 13  # PIL SMOOTH


def sharpness(img, magnitude, sign: Sign = 1):
    """Blend with PIL's SMOOTH-filtered image, whose one-pixel border is the source's (so the
    border stays as it is: the blended interior is pasted back with wrapping uint8
    arithmetic, img + pad(blended - inner))."""
    inner = img[1:-1, 1:-1]
    smooth = fn.filter(img, types.Constant(_SMOOTH), dtype=types.UINT8, mode="valid")
    blended = _blend(_f32(smooth), inner, _blend_factor(magnitude, sign))
    change = fn.slice(blended - inner, start=[-1, -1], shape=img.shape(dtype=types.INT32)[0:2],
                      axis_names="HW", out_of_bounds_policy="pad", fill_values=0)
    return img + change


def autocontrast(img, magnitude=None, sign: Sign = 1):
    """Per channel: int(x*scale + offset) with scale = 255/(hi-lo), offset = -lo*scale
    (float64, PIL's LUT maths); identity where hi == lo (scale 255, offset lo - 255*lo)."""
    lo = fn.reductions.min(img, axes=(0, 1), keep_dims=True)
    hi = fn.reductions.max(img, axes=(0, 1), keep_dims=True)
    span = hi - lo
    flat = span == 0
    scale = 255.0 / fn.cast(span | flat, dtype=types.FLOAT64)
    offset = (flat * lo) - lo * scale
    return _floor_u8(img * scale + offset)


def _equalize_group(x: np.ndarray) -> np.ndarray:
    """PIL's ImageOps.equalize on (n, H, W, C) uint8, every channel of every image at once:
    step = (N - count(highest value)) // 255, lut[v] = (step//2 + count(x < v)) // step
    clipped to 255; identity where fewer than two values are used or step == 0."""
    n, height, width, channels = x.shape
    keys = x.reshape(n, height * width, channels).astype(np.intp)
    keys += np.arange(n * channels).reshape(n, 1, channels) * 256     # one histogram each
    hist = np.bincount(keys.ravel(), minlength=n * channels * 256).reshape(-1, 256)
    highest = 255 - np.argmax(hist[:, ::-1] > 0, axis=1)
    top = hist[np.arange(len(hist)), highest]
    step = np.where(np.count_nonzero(hist, axis=1) > 1, (height * width - top) // 255, 0)
    below = np.cumsum(hist, axis=1) - hist
    lut = np.minimum((step[:, None] // 2 + below) // np.maximum(step, 1)[:, None], 255)
    lut = np.where(step[:, None] > 0, lut, np.arange(256)).astype(np.uint8)
    return lut.ravel()[keys].reshape(x.shape)


def equalize_numpy(images):
    """python_function body: PIL's equalize on a batch of HWC uint8 numpy images (stacked
    when they share a size). Returns arrays that own their memory: DALI takes views of a
    larger array much more slowly."""
    same_size = len({img.shape for img in images}) == 1
    groups = [np.stack(images)] if same_size else [img[None] for img in images]
    return [np.array(out) for group in groups for out in _equalize_group(group)]


_LEVELS = np.arange(1, 256, dtype=np.uint8).reshape(1, 1, 1, 255)


def equalize_staircase(img):
    """PIL's equalize with DALI operators only: step = (N - count(max value)) // 255;
    lut[v] = (step//2 + count(x < v)) // step, clipped to 255; identity where step == 0.
    The counts come from a (H, W, 3, 255) staircase x >= v, and lut[x] = max over v <= x of
    lut[v] since the LUT never decreases: cheap on a GPU, slow on a CPU."""
    staircase = _u8(fn.expand_dims(img, axes=[3]) >= types.Constant(_LEVELS))   # x >= v
    at_least = fn.cast(fn.reductions.sum(staircase, axes=(0, 1), dtype=types.FLOAT),
                       dtype=types.INT32)                                       # (3, 255)
    shape = img.shape(dtype=types.FLOAT64)
    count = fn.cast(shape[0] * shape[1], dtype=types.INT32)
    top = fn.reductions.max(img, axes=(0, 1), keep_dims=True)
    below_top = fn.cast(fn.reductions.sum(_u8(img < top), axes=(0, 1), dtype=types.FLOAT),
                        dtype=types.INT32)
    step = below_top // 255                                    # (3,)
    usable = fn.cast(step > 0, dtype=types.INT32)
    step = fn.expand_dims(dmath.max(step, 1), axes=[1])        # (3, 1)
    lut = dmath.min((step // 2 + (count - at_least)) // step, 255)
    mapped = fn.reductions.max(staircase * _u8(lut), axes=[3])
    return _u8(mapped * usable + fn.cast(img, dtype=types.INT32) * (1 - usable))


def equalize(img, magnitude=None, sign: Sign = 1, exact: bool = True):
    """PIL's ImageOps.equalize per channel (``exact``: numpy on the CPU, the staircase on the
    GPU), or DALI's fn.equalize."""
    if not exact:
        return fn.equalize(img)
    if img.device == "gpu":
        return equalize_staircase(img)
    return fn.python_function(img, function=equalize_numpy, batch_processing=True,
                              output_layouts="HWC")


# ------------------------------------------------------------------------- geometric ops

def _per_size(function):
    """Cache a geometry function of (..., height, width) for small images, which repeat."""
    cached = functools.lru_cache(maxsize=64)(function)

    @functools.wraps(function)
    def call(*args):
        height, width = args[-2:]
        return cached(*args) if height * width <= _CACHED_PIXELS else function(*args)
    return call


@_per_size
def _translate_start(shift: float, axis: int, height: int, width: int) -> np.ndarray:
    """PIL AFFINE with c = shift * W (or H), nearest: output(x) = input(x + floor(c + .5))."""
    extent = width if axis == 0 else height
    return np.array([math.floor(shift * extent + 0.5)], dtype=np.int32)


def translate(img, magnitude, sign: Sign = 1, axis: int = 0):
    """PIL AFFINE (1, 0, c, 0, 1, 0) / (1, 0, 0, 0, 1, c), c = sign*m*W (or H), nearest, grey
    outside: a slice starting at floor(c + .5). axis 0: translateX, 1: translateY."""
    start = _per_sample(img, lambda s, h, w: _translate_start(s * magnitude, axis, h, w), sign)
    return fn.slice(img, start=start, rel_shape=[1.0], axis_names="W" if axis == 0 else "H",
                    out_of_bounds_policy="pad", fill_values=float(FILL))


def translate_x(img, magnitude, sign: Sign = 1):
    return translate(img, magnitude, sign, axis=0)


def translate_y(img, magnitude, sign: Sign = 1):
    return translate(img, magnitude, sign, axis=1)


@_per_size
def _shear_geometry(s: float, axis: int, height: int, width: int):
    """For PIL AFFINE (1, s, 0, 0, 1, 0) (axis 0) or (1, 0, 0, s, 1, 0) (axis 1), BICUBIC:

    - the warp matrix and size of the tap image T, 3 pixels longer along the sheared axis,
      T[j] = source[clamp(j - 1 + floor(s*(across + .5) + eps))] (nearest, edges clamped),
      so that taps 1..4 of output pixel x are T[x .. x+3];
    - d, the fractional sample position, PIL's float64 (x + .5) + s*(y + .5) - .5 minus its
      floor (nudged by eps like the taps), as (H, W, 1);
    - keep (255/0) and grey (0/FILL), uint8 (H, W, 1), for where the sample position u falls
      in or out of the image: the result is (value & keep) | grey.

    Every array owns its memory (DALI takes views of a larger array much more slowly).
    """
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    along, across, extent = (x, y, width) if axis == 0 else (y, x, height)
    u = (along + 0.5) + s * (across + 0.5)
    v = u - 0.5
    d = v - np.floor(v + _EPS)
    inside = (u >= 0) & (u < extent)
    matrix = np.zeros((2, 3), dtype=np.float32)
    matrix[0, 0] = matrix[1, 1] = 1
    if axis == 0:
        matrix[0, 1], matrix[0, 2] = s, -1.5 + _EPS
        size = (height, width + 3)
    else:
        matrix[1, 0], matrix[1, 2] = s, -1.5 + _EPS
        size = (height + 3, width)
    keep = np.where(inside, 255, 0).astype(np.uint8)[..., None].copy()
    grey = np.where(inside, 0, FILL).astype(np.uint8)[..., None].copy()
    return matrix, np.array(size, dtype=np.float32), d[..., None].copy(), keep, grey


# Horner coefficients of PIL's BICUBIC from taps v1..v4: p1 = v2, p2 = v3 - v1,
# p3 = 2(v1 - v2) + v3 - v4, p4 = -v1 + v2 - v3 + v4.
_HORNER = np.array([[0, 1, 0, 0], [-1, 0, 1, 0], [2, -2, 1, -1], [-1, 1, -1, 1]],
                   dtype=np.float32)


def shear(img, magnitude, sign: Sign = 1, axis: int = 0):
    """PIL AFFINE (1, s, 0, 0, 1, 0) (axis 0, shearX) or (1, 0, 0, s, 1, 0) (axis 1, shearY),
    BICUBIC, fill grey, s = sign*m: v = p1 + d*(p2 + d*(p3 + d*p4)) in float64, truncated."""
    if magnitude == 0:
        return img   # the identity matrix samples pixel centres: d = 0, v = p1 = the pixel
    matrix, size, d, keep, grey = _per_sample(
        img, lambda s, h, w: _shear_geometry(s * magnitude, axis, h, w), sign, num_outputs=5)
    taps = fn.warp_affine(img, matrix=matrix, size=size, inverse_map=True,
                          interp_type=types.INTERP_NN)
    p1, p2, p3, p4 = [fn.filter(taps, types.Constant(k.reshape((1, 4) if axis == 0 else (4, 1))),
                                dtype=types.FLOAT, mode="valid")
                      for k in _HORNER]
    d, keep, grey = (_on_device(n, img) for n in (d, keep, grey))
    value = p1 + d * (p2 + d * (p3 + d * p4))
    return (_floor_u8(value) & keep) | grey


def shear_x(img, magnitude, sign: Sign = 1):
    return shear(img, magnitude, sign, axis=0)


def shear_y(img, magnitude, sign: Sign = 1):
    return shear(img, magnitude, sign, axis=1)


def _fix(value: float) -> int:
    return math.floor(value * 65536.0 + 0.5)


@_per_size
def _rotation_matrix(degrees: float, height: int, width: int) -> np.ndarray:
    """PIL img.rotate(degrees) about (W/2, H/2): the float64 output->input matrix, run by PIL
    in 16.16 fixed point, xin = (A2 + y*A1 + x*A0) >> 16, quantised the same way."""
    angle = -math.radians(degrees)
    rows = ((round(math.cos(angle), 15), round(math.sin(angle), 15)),
            (round(-math.sin(angle), 15), round(math.cos(angle), 15)))
    cx, cy = width / 2.0, height / 2.0
    matrix = np.zeros((2, 3), dtype=np.float32)
    for r, ((p, q), centre) in enumerate(zip(rows, (cx, cy))):
        # PIL: p*(-cx) + q*(-cy) + 0.0, then + centre; C adds p*.5 + q*.5 before FIX.
        offset = ((p * (0.0 - cx) + q * (0.0 - cy)) + centre + p * 0.5) + q * 0.5
        fp, fq = _fix(p), _fix(q)
        matrix[r] = (fp / 65536.0, fq / 65536.0, (_fix(offset) - (fp + fq) / 2.0) / 65536.0)
    return matrix


def rotate(img, magnitude, sign: Sign = 1):
    """PIL img.rotate(m) (counter-clockwise about (W/2, H/2), nearest, no sign) over grey."""
    matrix = _per_sample(img, lambda h, w: _rotation_matrix(float(magnitude), h, w))
    return fn.warp_affine(img, matrix=matrix, inverse_map=True, interp_type=types.INTERP_NN,
                          fill_value=float(FILL))


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


def is_identity(op: str, magnitude) -> bool:
    """Steps whose op leaves every image as it is (kept in the policies for fidelity)."""
    return ((op == "posterize" and int(magnitude) >= 8) or (op == "solarize" and magnitude > 255)
            or (op in ("shearX", "shearY", "translateX", "translateY", "rotate", "color",
                       "contrast", "brightness", "sharpness") and magnitude == 0))


@do_not_convert   # no DALI conditionals inside the ops: AutoGraph need not rewrite them
def apply_op(img, op: str, magnitude=None, sign: Sign = 1, *, exact_equalize: bool = True):
    """DALI counterpart of kdaug.augment.reference.apply_op (inside a pipeline definition)."""
    if op not in OP_FUNCTIONS:
        raise ValueError(f"unknown op {op!r}; known: {', '.join(sorted(OP_FUNCTIONS))}")
    if op == "equalize":
        return equalize(img, exact=exact_equalize)
    return OP_FUNCTIONS[op](img, magnitude, sign)
