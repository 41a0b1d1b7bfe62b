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

from typing import Callable, Dict, Sequence

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from kdaug.augment.draws import Draws, center_windows, quarter_turns
from kdaug.augment.plan import ViewPlan
from kdaug.augment.policies import FILL, OPS, Policy

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


def library_augment(img: np.ndarray, policy: Policy, seed: int) -> np.ndarray:
    """torchvision's RandAugment / AutoAugment (ImageNet policy) on one image, its random
    choices drawn from torch's generator seeded with ``seed`` (one of kdaug's draws), grey
    fill, nearest sampling (torchvision's defaults, but for the fill)."""
    import torch
    from torchvision import transforms as T

    if policy.library == "randaugment":
        transform = T.RandAugment(num_ops=policy.option("n"), magnitude=policy.option("m"),
                                  fill=[FILL] * 3)
    else:
        transform = T.AutoAugment(T.AutoAugmentPolicy.IMAGENET, fill=[FILL] * 3)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed) & 0x7FFFFFFFFFFFFFFF)
        return _from_pil(transform(_to_pil(img)))


def augment(img: np.ndarray, policy: Policy, draws: Draws, view: int) -> np.ndarray:
    """One view's augmentation of the raw image: the JDA chain, or a library policy."""
    if policy.library:
        return library_augment(img, policy, draws.library_seeds[0, view])
    return apply_chain(img, policy, draws.fired[0, view], draws.signs[0, view])


def apply_chain(img: np.ndarray, policy: Policy, fired, signs) -> np.ndarray:
    """Walk ``policy.steps`` in order; step l runs (with sign ``signs[l]``) where ``fired[l]``,
    and its output feeds the next. The draws come from kdaug.augment.draws."""
    im = _to_pil(img)
    for step, fire, sign in zip(policy.steps, fired, signs):
        if fire:
            im = _apply_pil(im, step.op, step.magnitude, int(sign))
    return _from_pil(im)


# ------------------------------------------------------------------- standard transform pieces

def pad_crop(img: np.ndarray, pad: int, top: int, left: int, size: int) -> np.ndarray:
    """Zero-pad by ``pad`` on every side, then crop size x size at (top, left) of the padded
    image (torchvision RandomCrop(size, padding=pad) with given parameters)."""
    padded = np.pad(img, ((pad, pad), (pad, pad), (0, 0)))
    out = padded[top:top + size, left:left + size]
    if out.shape[:2] != (size, size):
        raise ValueError(f"crop ({top}, {left}, {size}) leaves the padded {padded.shape[:2]} image")
    return out


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
    (new_h, new_w), (top, left, _, _) = (a[0] for a in center_windows(
        np.array([img.shape[:2]]), resize, size))
    return _center_crop(img, int(new_h), int(new_w), int(top), int(left), size)


def _center_crop(img, new_h: int, new_w: int, top: int, left: int, size: int) -> np.ndarray:
    im = _to_pil(img)
    if (new_h, new_w) != img.shape[:2]:
        im = _resize(im, new_w, new_h)
    return _from_pil(im.crop((left, top, left + size, top + size)))


# ------------------------------------------------------------------------------------- views

def _crop(img: np.ndarray, plan: ViewPlan, window, resized) -> np.ndarray:
    top, left, h, w = window
    if plan.crop == "pad":
        return pad_crop(img, plan.pad, top + plan.pad, left + plan.pad, plan.size)
    if plan.crop == "rrc":
        return resized_crop(img, top, left, h, w, plan.size)
    if plan.crop == "center":
        return _center_crop(img, int(resized[0]), int(resized[1]), top, left, plan.size)
    if img.shape[:2] != (plan.size, plan.size):  # "none": the image must already fit
        raise ValueError(f"crop 'none' needs {plan.size}x{plan.size} images, got "
                         f"{img.shape[0]}x{img.shape[1]}")
    return img


def make_views(img: np.ndarray, plan: ViewPlan, draws: Draws) -> np.ndarray:
    """Realise ``plan`` on one raw image with one sample's draws (``Draws.take([i])``):
    views (V, 3, S, S) float32.

    Per view: chain on the raw full image (augmented views) -> crop -> flip -> rot90 ->
    normalise; rotation families share what kdaug.augment.draws makes them share.
    """
    resized = None if draws.resized is None else draws.resized[0]
    views, plain_crops = [], {}   # rotation views share one crop of the raw image: make it once
    for v, k in enumerate(quarter_turns(plan)):
        window = tuple(int(x) for x in draws.crop[0, v])
        if plan.augmented(v):
            out = _crop(augment(img, plan.policy, draws, v), plan, window, resized)
        else:
            if window not in plain_crops:
                plain_crops[window] = _crop(img, plan, window, resized)
            out = plain_crops[window]
        if draws.flip[0, v]:
            out = hflip(out)
        views.append(normalize(rot90(out, int(k)), plan.mean, plan.std))
    return np.stack(views)
