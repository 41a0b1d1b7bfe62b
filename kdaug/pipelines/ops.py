"""The JDA operations as DALI graph code, one function per op of kdaug.augment.policies.OPS.

Each function realises one step with one known sign, ``f(img, step, sign, site, key)``: the
chain (kdaug.pipelines.chain) calls it inside a DALI conditional that holds exactly the samples
whose draws fired that step with that sign, so every magnitude, factor and table is a graph
constant. ``img`` is HWC uint8 RGB (CPU or GPU: no ``device=`` is written, ops follow their
input); the result has the same size.

The target is kdaug.augment.reference (PIL), arithmetic for arithmetic, so every op is
bit-exact on the CPU (tests/test_pipelines_ops.py):

- invert, posterize: one uint8 operator. solarize, brightness: one lookup table.
- contrast, color, sharpness: PIL blends the image with a "degenerate" image (mean grey, the
  pixel's grey, the smoothed pixel) in float32 and truncates. That is a function of the pair
  (degenerate value, pixel value): one 65536-entry table made by PIL itself
  (geometry.blend_table), looked up at key = degenerate * 256 + pixel. No float arithmetic
  on the image at all.
- autocontrast: PIL's LUT maths in float64 (scale = 255/(hi-lo), offset = -lo*scale).
- equalize: PIL's formula exactly: numpy on the CPU (a python_function: DALI has no histogram
  operator); on the GPU, for images of known small size, an (H, W, 3, 255) staircase of
  DALI operators. With ``exact_equalize=False``: DALI's fn.equalize (OpenCV's formula).
- translate: a slice with grey padding starting at floor(c + .5) (PIL's nearest AFFINE).
- rotate: PIL's 16.16 fixed-point matrix handed to warp_affine (nearest, grey fill).
- shear: PIL's BICUBIC is a=-1 cubic convolution, clamped edges, truncated. One
  nearest-neighbour warp gives the four taps along the sheared axis, four 1x4 integer filters
  Horner's coefficients, and the fractional position (a function of the row, or column, only)
  is evaluated in float64 as PIL does. Exact except where a sample position lies within
  2**-10 of a pixel boundary.

Per-sample geometry (rotation matrices, translate offsets) depends on the image size: for
in-memory arrays it is a graph constant; for files the feeder hands it over as inputs
(kdaug.pipelines.inputs). No python_function computes geometry.

DALI facts relied on (2.4): uint8 op uint8 constant stays uint8 and wraps; uint8 with a Python
int gives int32; casts from float saturate; lookup_table returns ``default_value`` outside its
keys; fn.filter computes a correlation.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, Optional, Tuple

import numpy as np
import nvidia.dali.math as dmath
from nvidia.dali import fn, types
from nvidia.dali.data_node import DataNode
from nvidia.dali.pipeline import do_not_convert

from kdaug.augment.policies import FILL, OPS, OpStep
from kdaug.pipelines import geometry

EXACT_EQUALIZE_MAX_PIXELS = 64 * 64   # the GPU staircase holds (H, W, 3, 255) per image


@dataclass
class Site:
    """What the ops know about where they run.

    size:  (H, W) of every image when it is known while the graph is built (in-memory
           arrays), else None (files: every image its own size).
    max_side: the largest image side of the source (sizes the ramp constants for files).
    inputs: the graph's per-sample inputs by name (kdaug.pipelines.inputs).
    gpu: the GPU formulation of the ops; data_device: where the images are ("gpu" with it,
    except in the CPU twin of the GPU-graph check).
    """

    gpu: bool
    exact_equalize: bool
    size: Optional[Tuple[int, int]] = None
    max_side: int = 0
    inputs: Dict[str, DataNode] = field(default_factory=dict)
    data_device: str = ""

    def __post_init__(self):
        self.data_device = self.data_device or ("gpu" if self.gpu else "cpu")

    def input(self, name: str) -> DataNode:
        return self.inputs[name]

    def has(self, name: str) -> bool:
        return name in self.inputs

    def hw(self):
        """(H, W) per sample: a constant list, or the int32 input ``hw``."""
        return list(self.size) if self.size else self.inputs["hw"]

    def constant(self, array: np.ndarray):
        """A constant where the images are (a GPU filter reads a CPU kernel through a copy
        per batch; a CPU constant in a GPU graph is a CPU operator per batch)."""
        return types.Constant(array, device=self.data_device)


# ------------------------------------------------------------------------------------ helpers

def _u8(node):
    return fn.cast(node, dtype=types.UINT8)


def _byte(value: int):
    return types.Constant(value, dtype=types.UINT8)


def _floor_u8(value):
    """PIL's float -> uint8 store (<= 0 -> 0, >= 255 -> 255, else truncate)."""
    return _u8(dmath.floor(value))


def _lookup(keys, table: np.ndarray, default: Optional[int] = None):
    """A fixed integer -> uint8 table indexed from 0."""
    values = [float(v) for v in table.ravel()]
    extra = {} if default is None else {"default_value": float(default)}
    return fn.lookup_table(keys, keys=list(range(len(values))), values=values,
                           dtype=types.UINT8, **extra)


_LUMA = [19595 / 65536, 38470 / 65536, 7471 / 65536]


def luma(img, site: Site):
    """PIL's RGB -> L, (R*19595 + G*38470 + B*7471 + 0x8000) >> 16, as (H, W, 1) uint8. The
    weighted sum is exact in float32; a uint8 coord_transform rounds it half away from zero on
    the CPU (PIL's +0x8000 >> 16) but half to even on the GPU, where +0.5 and floor are
    explicit."""
    if not site.gpu:
        return fn.coord_transform(img, M=_LUMA, dtype=types.UINT8)
    return _floor_u8(fn.coord_transform(img, M=_LUMA, dtype=types.FLOAT) + 0.5)


def _blend_lookup(degenerate, img, step: OpStep, sign: int):
    """PIL's blend of ``img`` with ``degenerate`` (uint8, broadcasting) at factor 1 + sign*m,
    as one table lookup at degenerate * 256 + pixel."""
    return _lookup(degenerate * 256 + img, geometry.blend_table(1 + sign * step.magnitude))


# ------------------------------------------------------------------------------ colour ops

def invert(img, step, sign, site, key):
    """255 - x is x ^ 255; gated by parameter (GPU), the operand is 0 where it did not fire."""
    if site.has(f"{key}/xor"):
        return img ^ site.input(f"{key}/xor")
    return img ^ _byte(255)


def posterize(img, step, sign, site, key):
    """Keep the top bits; gated by parameter (GPU), the mask is 0xFF where it did not fire."""
    if site.has(f"{key}/and"):
        return img & site.input(f"{key}/and")
    return img & _byte((0xFF << (8 - step.magnitude)) & 0xFF)


def solarize(img, step, sign, site, key):
    return _lookup(img, geometry.solarize_table(step.magnitude))


def brightness(img, step, sign, site, key):
    # blend with black: row 0 of the blend table
    return _lookup(img, geometry.blend_table(1 + sign * step.magnitude)[0])


def color(img, step, sign, site, key):
    return _blend_lookup(luma(img, site), img, step, sign)


def contrast(img, step, sign, site, key):
    """Blend with the image's mean grey level, int(mean(L) + 0.5) as PIL's ImageStat gives it
    (the uint64 sum and the float64 division are exact)."""
    total = fn.cast(fn.reductions.sum(luma(img, site), dtype=types.UINT64), dtype=types.FLOAT64)
    if site.size:
        count = float(site.size[0] * site.size[1])
    else:
        shape = img.shape(dtype=types.FLOAT64)
        count = shape[0] * shape[1]
    grey = fn.cast(dmath.floor(total / count + 0.5), dtype=types.INT32)
    return _blend_lookup(grey, img, step, sign)


_SMOOTH = np.array([[1, 1, 1], [1, 5, 1], [1, 1, 1]], dtype=np.float32) / 13  # PIL SMOOTH


def sharpness(img, step, sign, site, key):
    """Blend with PIL's SMOOTH-filtered image, whose one-pixel border is the source's (so the
    border stays as it is): the blended interior is pasted back with wrapping uint8
    arithmetic, img + pad(blended - inner). Integer sums / 13 never land on .5, so the uint8
    filter rounds exactly."""
    inner = img[1:-1, 1:-1]
    smooth = fn.filter(img, site.constant(_SMOOTH), dtype=types.UINT8, mode="valid")
    change = _blend_lookup(smooth, inner, step, sign) - inner
    return img + fn.slice(change, start=[-1, -1], shape=site.hw(), axis_names="HW",
                          out_of_bounds_policy="pad", fill_values=0)


def autocontrast(img, step, sign, site, key):
    """Per channel: int(x*scale + offset) with scale = 255/(hi-lo), offset = -lo*scale
    (float64, PIL's LUT maths); identity where hi == lo (scale 255, offset lo - 255*lo)."""
    lo = fn.reductions.min(img, axes=(0, 1), keep_dims=True)
    hi = fn.reductions.max(img, axes=(0, 1), keep_dims=True)
    span = hi - lo
    flat = span == 0
    scale = 255.0 / fn.cast(span | flat, dtype=types.FLOAT64)
    offset = (flat * lo) - lo * scale
    return _floor_u8(img * scale + offset)


def equalize_numpy(images):
    """python_function body: PIL's ImageOps.equalize on a batch of HWC uint8 numpy images,
    every channel of every image at once where the images share a size:
    step = (N - count(highest value)) // 255, lut[v] = (step//2 + count(x < v)) // step
    clipped to 255; identity where fewer than two values are used or step == 0."""
    same_size = len({img.shape for img in images}) == 1
    groups = [np.stack(images)] if same_size else [img[None] for img in images]
    out = []
    for x in groups:
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
        # arrays that own their memory: DALI takes views of a larger array much more slowly
        out.extend(np.array(img) for img in lut.ravel()[keys].reshape(x.shape))
    return out


_LEVELS = np.arange(1, 256, dtype=np.uint8).reshape(1, 1, 1, 255)


def equalize_staircase(img, site: Site):
    """PIL's equalize with DALI operators only (for the GPU): the counts come from a
    (H, W, 3, 255) staircase x >= v, and lut[x] = max over v <= x of lut[v] since the LUT
    never decreases. Sized for small images (EXACT_EQUALIZE_MAX_PIXELS)."""
    staircase = _u8(fn.expand_dims(img, axes=[3]) >= site.constant(_LEVELS))     # x >= v
    at_least = fn.cast(fn.reductions.sum(staircase, axes=(0, 1), dtype=types.FLOAT),
                       dtype=types.INT32)                                       # (3, 255)
    if site.size:
        count = site.size[0] * site.size[1]
    else:
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


def equalize(img, step, sign, site, key):
    """PIL's ImageOps.equalize per channel, or DALI's fn.equalize when not exact."""
    if not site.exact_equalize:
        return fn.equalize(img)
    if site.gpu:
        return equalize_staircase(img, site)
    return fn.python_function(img, function=equalize_numpy, batch_processing=True,
                              output_layouts="HWC")


# ------------------------------------------------------------------------- geometric ops

def translate(img, step, sign, site, key, axis: int):
    """PIL AFFINE (1, 0, c, 0, 1, 0) / (1, 0, 0, 0, 1, c), c = sign*m*W (or H), nearest, grey
    outside: a slice starting at floor(c + .5): a constant for one image size and sign, else
    the per-sample start the feeder computed with the drawn sign (0 where not fired)."""
    if site.has(f"{key}/start"):
        start = site.input(f"{key}/start")
    else:
        extent = site.size[1] if axis == 0 else site.size[0]
        start = [int(geometry.translate_starts(sign * step.magnitude, extent)[0, 0])]
    return fn.slice(img, start=start, rel_shape=[1.0],
                    axis_names="W" if axis == 0 else "H", out_of_bounds_policy="pad",
                    fill_values=float(FILL))


def rotate(img, step, sign, site, key):
    """PIL img.rotate(m) (counter-clockwise about (W/2, H/2), nearest, no sign) over grey."""
    if site.size:
        matrix = geometry.rotation_matrices(step.magnitude, *site.size).ravel().tolist()
    else:
        matrix = site.input(f"{key}/matrix")
    return fn.warp_affine(img, matrix=matrix, inverse_map=True, interp_type=types.INTERP_NN,
                          fill_value=float(FILL))


# Horner coefficients of PIL's BICUBIC from taps v1..v4: p1 = v2, p2 = v3 - v1,
# p3 = 2(v1 - v2) + v3 - v4, p4 = -v1 + v2 - v3 + v4.
_HORNER = np.array([[0, 1, 0, 0], [-1, 0, 1, 0], [2, -2, 1, -1], [-1, 1, -1, 1]],
                   dtype=np.float32)


def _float64(site: Site, value: np.ndarray):
    """An exact float64 constant: DALI stores constants as float32, so the double is the sum
    of three float32 parts (72 bits cover its 53)."""
    parts, rest = [], np.asarray(value, dtype=np.float64)
    for _ in range(3):
        part = rest.astype(np.float32)
        parts.append(fn.cast(site.constant(part), dtype=types.FLOAT64))
        rest = rest - part.astype(np.float64)
    return (parts[0] + parts[1]) + parts[2]


def _ramp(site: Site, axis: int):
    """Pixel centres along image axis ``axis`` (0: rows, 1: columns) in float64, for images
    of any size: (H, 1, 1) or (1, W, 1), sliced from a constant of the longest side."""
    shape = [1, 1, 1]
    shape[axis] = site.max_side
    centres = np.arange(site.max_side, dtype=np.float32).reshape(shape) + 0.5
    return fn.slice(fn.cast(site.constant(centres), dtype=types.FLOAT64), start=[0],
                    shape=site.input("hw")[axis:axis + 1], axes=[axis])


def _shear_geometry(site: Site, s: float, axis: int):
    """(d, keep, grey) of a shear: the fractional sample position in float64, and uint8 masks
    for where the sample position u falls inside (255/0) or outside (0/FILL) the image."""
    across, along = (0, 1) if axis == 0 else (1, 0)     # the axis s multiplies, the one sheared
    if site.size:   # PIL's own float64 arithmetic per pixel, once
        y, x = np.mgrid[0:site.size[0], 0:site.size[1]].astype(np.float64)
        position, offset = (x, y) if axis == 0 else (y, x)
        u = (position + 0.5) + s * (offset + 0.5)
        v = u - 0.5
        inside = ((u >= 0) & (u < site.size[along]))[..., None]
        d = _float64(site, (v - np.floor(v + geometry.EPS))[..., None])
        return (d, site.constant(np.where(inside, 255, 0).astype(np.uint8)),
                site.constant(np.where(inside, 0, FILL).astype(np.uint8)))
    # PIL's double arithmetic, operation for operation: a row (or column) shifted by exactly
    # an integer makes the last bit of d decide between two levels
    u = _ramp(site, along) + _ramp(site, across) * _float64(site, np.float64(s))
    v = u - 0.5
    d = v - dmath.floor(v + geometry.EPS)
    extent = fn.cast(site.input("hw")[along], dtype=types.FLOAT64)
    keep = _u8((u >= 0.0) & (u < extent)) * _byte(255)
    return d, keep, _byte(FILL) - (keep & _byte(FILL))


def shear(img, step, sign, site, key, axis: int):
    """PIL AFFINE (1, s, 0, 0, 1, 0) (axis 0, shearX) or (1, 0, 0, s, 1, 0) (axis 1, shearY),
    BICUBIC, grey outside, s = sign*m: v = p1 + d*(p2 + d*(p3 + d*p4)) in float64, truncated.

    Output pixel (x, y) samples the source at u = x + .5 + s*(y + .5) (shearX): the
    fractional position d depends on y only, and the pixel is inside where 0 <= u < W."""
    s = sign * step.magnitude
    if site.size:
        size = [site.size[0], site.size[1] + 3] if axis == 0 else [site.size[0] + 3, site.size[1]]
    else:
        size = fn.cast(site.hw(), dtype=types.FLOAT) + types.Constant(
            [0.0, 3.0] if axis == 0 else [3.0, 0.0])
    taps = fn.warp_affine(img, matrix=geometry.shear_tap_matrix(s, axis).ravel().tolist(),
                          size=size, inverse_map=True, interp_type=types.INTERP_NN)
    kernel = (1, 4) if axis == 0 else (4, 1)
    p1, p2, p3, p4 = [fn.filter(taps, site.constant(k.reshape(kernel)), dtype=types.FLOAT,
                                mode="valid") for k in _HORNER]
    d, keep, grey = _shear_geometry(site, s, axis)
    value = p1 + d * (p2 + d * (p3 + d * p4))
    return (_floor_u8(value) & keep) | grey


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
    "shearX": lambda *a: shear(*a, axis=0),
    "shearY": lambda *a: shear(*a, axis=1),
    "translateX": lambda *a: translate(*a, axis=0),
    "translateY": lambda *a: translate(*a, axis=1),
    "rotate": rotate,
}
assert set(OP_FUNCTIONS) == set(OPS), "every op of the policy table needs a DALI function"

# Ops the GPU graphs run on every sample with a per-sample parameter instead of a conditional
# per sign (one cheap GPU operator costs less than a conditional), and the parameter of each.
PARAM_GATED: Dict[str, str] = {"translateX": "start", "translateY": "start", "invert": "xor",
                               "posterize": "and"}
# What conditional ops need per sample, from the feeder, when image sizes vary (files).
DYNAMIC_INPUTS: Dict[str, Tuple[str, ...]] = {"rotate": ("matrix",), "translateX": ("start",),
                                              "translateY": ("start",)}
NEEDS_HW = ("shearX", "shearY", "sharpness")


def is_identity(step: OpStep) -> bool:
    """Steps whose op leaves every image as it is (kept in the policies for fidelity)."""
    return not step.changes_images()


@do_not_convert   # no DALI conditionals inside the ops: AutoGraph need not rewrite them
def apply_op(img, step: OpStep, sign: int, site: Site, key: str = "") -> DataNode:
    """DALI counterpart of kdaug.augment.reference.apply_op for a fixed sign (+1/-1)."""
    if step.op not in OP_FUNCTIONS:
        raise ValueError(f"unknown op {step.op!r}; known: {', '.join(sorted(OP_FUNCTIONS))}")
    return OP_FUNCTIONS[step.op](img, step, sign if step.signed else 1, site, key)
