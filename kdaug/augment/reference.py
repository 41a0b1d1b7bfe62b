"""The CPU reference (oracle) for every view plan: PIL + numpy on uint8 HWC RGB arrays.

The JDA operations follow the reference data/datasets.py (liwei-group/CCD; read from the first
author's copy shaoshitong/CCD) call for call, so the DALI pipelines can be tested against it:

- shearX/Y: ``transform(AFFINE, (1, s*m, 0, 0, 1, 0) / (1, 0, 0, s*m, 1, 0), BICUBIC,
  fillcolor=(128,)*3)``. PIL maps each output pixel centre (x+.5, y+.5) through the matrix to
  the input, so shearX reads input x' = x + s*m*(y+.5): the shear is about the top-left
  corner, not the centre. BICUBIC is PIL's a=-1 cubic, clamped edges, result truncated.
- translateX/Y: same call with (1, 0, s*m*W, 0, 1, 0) / (1, 0, 0, 0, 1, s*m*H) and PIL's
  default NEAREST: output(x) = input(x + floor(s*m*W + .5)); sign +1 moves content left/up.
- rotate: ``img.convert('RGBA').rotate(m)`` (NEAREST, about the centre, +m = counter-clockwise,
  no sign) composited over (128,)*4, i.e. grey 128 where the rotated image does not reach.
- contrast/brightness/color/sharpness: ``ImageEnhance.X(img).enhance(1 + s*m)``.
- posterize/solarize/autocontrast/equalize/invert: the ImageOps functions.

Standard transforms mirror torchvision's PIL path with explicit parameters.
"""
from __future__ import annotations

import math
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from kdaug.augment.policies import FILL, OPS, Policy
from kdaug.augment.plan import ViewPlan

_GREY = (FILL,) * 3


# ----------------------------------------------------------------------------- JDA operations

def _affine(im: Image.Image, coeffs, resample) -> Image.Image:
    return im.transform(im.size, Image.Transform.AFFINE, coeffs, resample, fillcolor=_GREY)


def _rotate_with_fill(im: Image.Image, degrees: float) -> Image.Image:
    # The reference rotates in RGBA so the uncovered area (alpha 0) can be painted grey.
    rot = im.convert("RGBA").rotate(degrees)
    return Image.composite(rot, Image.new("RGBA", rot.size, (FILL,) * 4), rot).convert(im.mode)


_NEAREST = Image.Resampling.NEAREST
_BICUBIC = Image.Resampling.BICUBIC

# op name -> f(PIL image, magnitude, sign); sign is +1/-1 (always +1 for unsigned ops).
_PIL_OPS: Dict[str, Callable[[Image.Image, object, int], Image.Image]] = {
    "shearX": lambda im, m, s: _affine(im, (1, s * m, 0, 0, 1, 0), _BICUBIC),
    "shearY": lambda im, m, s: _affine(im, (1, 0, 0, s * m, 1, 0), _BICUBIC),
    "translateX": lambda im, m, s: _affine(im, (1, 0, s * m * im.size[0], 0, 1, 0), _NEAREST),
    "translateY": lambda im, m, s: _affine(im, (1, 0, 0, 0, 1, s * m * im.size[1]), _NEAREST),
    "rotate": lambda im, m, s: _rotate_with_fill(im, m),
    "color": lambda im, m, s: ImageEnhance.Color(im).enhance(1 + s * m),
    "contrast": lambda im, m, s: ImageEnhance.Contrast(im).enhance(1 + s * m),
    "brightness": lambda im, m, s: ImageEnhance.Brightness(im).enhance(1 + s * m),
    "sharpness": lambda im, m, s: ImageEnhance.Sharpness(im).enhance(1 + s * m),
    "posterize": lambda im, m, s: ImageOps.posterize(im, int(m)),
    "solarize": lambda im, m, s: ImageOps.solarize(im, m),
    "autocontrast": lambda im, m, s: ImageOps.autocontrast(im),
    "equalize": lambda im, m, s: ImageOps.equalize(im),
    "invert": lambda im, m, s: ImageOps.invert(im),
}
assert set(_PIL_OPS) == set(OPS), "every op of the policy table needs a reference"


def _to_pil(img: np.ndarray) -> Image.Image:
    img = np.asarray(img)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {img.dtype} {img.shape}")
    return Image.fromarray(np.ascontiguousarray(img), "RGB")


def _from_pil(im: Image.Image) -> np.ndarray:
    return np.array(im, dtype=np.uint8)


def _apply_pil(im: Image.Image, op: str, magnitude, sign: int) -> Image.Image:
    if op not in _PIL_OPS:
        raise ValueError(f"unknown op {op!r}; known: {', '.join(sorted(_PIL_OPS))}")
    if sign not in (1, -1):
        raise ValueError(f"sign must be +1 or -1, got {sign!r}")
    return _PIL_OPS[op](im, magnitude, sign if OPS[op].signed else 1)


def apply_op(img: np.ndarray, op: str, magnitude=None, sign: int = 1) -> np.ndarray:
    """Fire one operation deterministically. ``magnitude`` is ``OpStep.magnitude`` (bits,
    threshold, blend m with factor 1+sign*m, shear m, translate fraction, rotate degrees);
    ``sign`` is ignored by unsigned ops."""
    return _from_pil(_apply_pil(_to_pil(img), op, magnitude, sign))


def draw_chain(policy: Policy, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    """The random part of one chain: (fired (n,) bool, signs (n,) int in {+1, -1}).

    One gate and one sign are drawn for every step, fired or not, signed or not (the sign of
    an unsigned step is reported as +1), so the stream position never depends on outcomes.
    """
    n = len(policy.steps)
    fired = rng.random(n) < policy.p
    signs = np.where(rng.random(n) < 0.5, 1, -1)
    signed = np.array([step.signed for step in policy.steps], dtype=bool)
    signs[~signed] = 1
    return fired, signs


def apply_chain(img: np.ndarray, policy: Policy, rng: np.random.Generator
                ) -> Tuple[np.ndarray, List[bool], List[int]]:
    """Walk ``policy.steps`` in order; each fires with probability ``policy.p`` and feeds the
    next. Returns (image, fired per step, sign per step)."""
    fired, signs = draw_chain(policy, rng)
    im = _to_pil(img)
    for step, fire, sign in zip(policy.steps, fired, signs):
        if fire:
            im = _apply_pil(im, step.op, step.magnitude, int(sign))
    return _from_pil(im), [bool(f) for f in fired], [int(s) for s in signs]


# ------------------------------------------------------------------- standard transform pieces

def pad_crop_params(height: int, width: int, pad: int, size: int, rng: np.random.Generator
                    ) -> Tuple[int, int]:
    """(top, left) of a RandomCrop(size, padding=pad) window in the padded image."""
    if height + 2 * pad < size or width + 2 * pad < size:
        raise ValueError(f"a {height}x{width} image padded by {pad} is smaller than {size}")
    top = int(rng.integers(0, height + 2 * pad - size + 1))
    left = int(rng.integers(0, width + 2 * pad - size + 1))
    return top, left


def pad_crop(img: np.ndarray, pad: int, top: int, left: int, size: int) -> np.ndarray:
    """Zero-pad by ``pad`` on every side, then crop size x size at (top, left) of the padded
    image (torchvision RandomCrop(size, padding=pad) with given parameters)."""
    padded = np.pad(img, ((pad, pad), (pad, pad), (0, 0)))
    out = padded[top:top + size, left:left + size]
    if out.shape[:2] != (size, size):
        raise ValueError(f"crop ({top}, {left}, {size}) leaves the padded {padded.shape[:2]} image")
    return out


def rrc_params(height: int, width: int, scale: Sequence[float], ratio: Sequence[float],
               rng: np.random.Generator) -> Tuple[int, int, int, int]:
    """(top, left, h, w) with torchvision RandomResizedCrop.get_params semantics (10 tries,
    then the central fallback), drawn from ``rng``."""
    area = height * width
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(10):
        target_area = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(log_lo, log_hi))
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = int(rng.integers(0, height - h + 1))
            left = int(rng.integers(0, width - w + 1))
            return top, left, h, w
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        w, h = int(round(height * max(ratio))), height
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def _resize(im: Image.Image, width: int, height: int) -> Image.Image:
    # PIL's BILINEAR resize widens its support when shrinking: torchvision's antialias path.
    return im.resize((width, height), Image.Resampling.BILINEAR)


def resized_crop(img: np.ndarray, top: int, left: int, h: int, w: int, size: int) -> np.ndarray:
    """Crop (top, left, h, w) then resize to size x size, bilinear with antialias
    (torchvision F.resized_crop on a PIL image)."""
    im = _to_pil(img).crop((left, top, left + w, top + h))
    return _from_pil(_resize(im, size, size))


def hflip(img: np.ndarray) -> np.ndarray:
    return img[:, ::-1]


def rot90(img: np.ndarray, k: int) -> np.ndarray:
    """Exact rotation by k quarter turns counter-clockwise (= np.rot90 on HWC)."""
    return np.rot90(img, k)


def normalize(img: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """uint8 HWC -> float32 CHW, (x/255 - mean)/std in float32 (ToTensor + Normalize)."""
    x = np.ascontiguousarray(img).astype(np.float32).transpose(2, 0, 1) / np.float32(255)
    mean = np.asarray(mean, dtype=np.float32)[:, None, None]
    std = np.asarray(std, dtype=np.float32)[:, None, None]
    return np.ascontiguousarray((x - mean) / std)


def center_crop_eval(img: np.ndarray, resize: int, size: int) -> np.ndarray:
    """torchvision Resize(resize) (shorter side, bilinear+antialias) then CenterCrop(size)."""
    height, width = img.shape[:2]
    short, long = min(height, width), max(height, width)
    new_long = int(resize * long / short)
    new_w, new_h = (resize, new_long) if width <= height else (new_long, resize)
    im = _to_pil(img)
    if (new_h, new_w) != (height, width):
        im = _resize(im, new_w, new_h)
    if size > min(new_h, new_w):
        raise ValueError(f"center crop {size} is larger than the resized {new_h}x{new_w} image")
    top = int(round((new_h - size) / 2.0))
    left = int(round((new_w - size) / 2.0))
    return _from_pil(im.crop((left, top, left + size, top + size)))


# ------------------------------------------------------------------------------------- views

def _crop(img: np.ndarray, plan: ViewPlan, rng: np.random.Generator) -> np.ndarray:
    height, width = img.shape[:2]
    if plan.crop == "pad":
        top, left = pad_crop_params(height, width, plan.pad, plan.size, rng)
        return pad_crop(img, plan.pad, top, left, plan.size)
    if plan.crop == "rrc":
        return resized_crop(img, *rrc_params(height, width, plan.rrc_scale, plan.rrc_ratio, rng),
                            plan.size)
    if plan.crop == "center":
        return center_crop_eval(img, plan.resize, plan.size)
    if (height, width) != (plan.size, plan.size):  # "none": the image must already fit
        raise ValueError(f"crop 'none' needs {plan.size}x{plan.size} images, got {height}x{width}")
    return img


def _draw_flip(plan: ViewPlan, rng: np.random.Generator) -> bool:
    return bool(plan.flip and rng.random() < 0.5)


def _finish(img: np.ndarray, flip: bool, k: int, plan: ViewPlan) -> np.ndarray:
    if flip:
        img = hflip(img)
    return normalize(rot90(img, k), plan.mean, plan.std)


def make_views(img: np.ndarray, plan: ViewPlan, rng: np.random.Generator
               ) -> Tuple[np.ndarray, List[List[bool]]]:
    """Realise ``plan`` on one raw image: (views (V, 3, S, S) float32, fired per view; empty
    lists for views without a chain).

    Per view: chain on the raw full image -> crop -> flip -> rot90 -> normalise. Draw order:
    plain/jda: per view [chain gates+signs (augmented views)], crop, flip; rotation: crop,
    flip once; rotation-crop: flip once, then a crop per view.
    """
    fired: List[List[bool]] = [[] for _ in range(plan.num_views)]
    if plan.family == "rotation":
        base = _crop(img, plan, rng)
        flip = _draw_flip(plan, rng)
        views = [_finish(base, flip, k, plan) for k in plan.rotations]
    elif plan.family == "rotation-crop":
        flip = _draw_flip(plan, rng)
        views = [_finish(_crop(img, plan, rng), flip, k, plan) for k in plan.rotations]
    else:
        views = []
        for v in range(plan.num_views):
            source = img
            if plan.augmented(v):
                source, fired[v], _ = apply_chain(img, plan.policy, rng)
            cropped = _crop(source, plan, rng)
            views.append(_finish(cropped, _draw_flip(plan, rng), 0, plan))
    return np.stack(views), fired

