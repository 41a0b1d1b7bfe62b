"""Randomness as data: every random choice of every view, drawn by one numpy function.

``draw(plan, seed, epoch, index, shapes)`` returns the JDA gates and signs, the crop window and
the flip of each view of each sample. Every backend realises exactly these draws (the PIL
reference applies them; the DALI graphs receive them as external inputs), so:

- views depend on (seed, epoch, sample index, view) only: not on lanes, threads, workers,
  batch composition or CPU/GPU;
- a DALI pipeline never needs a rebuild to change epoch or seed;
- what fired is known before any graph runs (show-aug, ``iter_with_gates``).

The generator is counter-based: uniform u = hash(seed, epoch, index, view, slot), a
SplitMix64-style mixer over uint64 arrays, so a whole batch is drawn with a few vectorised
numpy operations and any single sample can be redrawn alone with the same result.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from kdaug.augment.plan import ViewPlan
from kdaug.errors import KdaugError

# Slots of one view's uniform stream. Fixed offsets: adding a draw never moves the others.
_GATE, _SIGN, _CROP, _FLIP, _TRIES, _LIBRARY = 0, 64, 128, 132, 136, 160
RRC_TRIES = 10            # torchvision RandomResizedCrop.get_params
_SHARED = 255             # the "view" id of draws shared by all views of a sample

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MUL1, _MUL2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = (np.uint64(k) for k in (30, 27, 31, 11))


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser (uint64 wrap-around is intended)."""
    z = (z ^ (z >> _S30)) * _MUL1
    z = (z ^ (z >> _S27)) * _MUL2
    return z ^ (z >> _S31)


def _absorb(state: np.ndarray, value) -> np.ndarray:
    return _mix(state + _GOLDEN + np.asarray(value, dtype=np.uint64))


def hashes(seed: int, epoch: int, index: np.ndarray, views: np.ndarray,
           slots: np.ndarray) -> np.ndarray:
    """uint64 hashes of shape (len(index), len(views), len(slots)) for every combination."""
    with np.errstate(over="ignore"):
        state = _absorb(_absorb(np.zeros((), np.uint64), seed & 0xFFFFFFFFFFFFFFFF), epoch)
        state = _absorb(state, np.asarray(index, dtype=np.int64).astype(np.uint64)[:, None, None])
        state = _absorb(state, np.asarray(views, dtype=np.uint64)[None, :, None])
        return _absorb(state, np.asarray(slots, dtype=np.uint64)[None, None, :])


def uniforms(seed: int, epoch: int, index: np.ndarray, views: np.ndarray,
             slots: np.ndarray) -> np.ndarray:
    """u in [0, 1) of shape (len(index), len(views), len(slots)) for every combination."""
    return (hashes(seed, epoch, index, views, slots) >> _S11).astype(np.float64) \
        * (1.0 / (1 << 53))


@dataclass
class Draws:
    """The random part of B samples x V views.

    fired:  (B, V, L) bool: step l of view v's JDA chain fires (False for views without a
            chain; L = 0 when the plan has no policy).
    signs:  (B, V, L) int8, +1/-1, drawn for every step (+1 for unsigned steps).
    crop:   (B, V, 4) int64 window (top, left, height, width). ``pad``: in the raw image's
            coordinates, reaching at most ``pad`` pixels outside (zeros there); ``rrc``: inside
            the raw image, resized to size x size; ``center``: inside the image resized to
            ``resized``; ``none``: the whole image.
    flip:   (B, V) bool horizontal flips.
    resized: (B, 2) int64 (height, width) the image is resized to before a ``center`` crop,
            else None.
    library_seeds: (B, V) uint64 seeds of a library policy's own generator (RandAugment,
            AutoAugment, run by torchvision in the reference), else None.
    """

    index: np.ndarray
    fired: np.ndarray
    signs: np.ndarray
    crop: np.ndarray
    flip: np.ndarray
    resized: Optional[np.ndarray] = None
    library_seeds: Optional[np.ndarray] = None

    def __len__(self) -> int:
        return len(self.index)

    def take(self, rows) -> "Draws":
        """The draws of some samples (rows of this batch), e.g. one sample for the reference."""
        pick = lambda a: None if a is None else a[rows]  # noqa: E731
        return Draws(pick(self.index), pick(self.fired), pick(self.signs), pick(self.crop),
                     pick(self.flip), pick(self.resized), pick(self.library_seeds))


def draw(plan: ViewPlan, seed: int, epoch: int, index, shapes=None) -> Draws:
    """Draw every random choice of ``plan`` for the samples ``index`` in ``epoch``.

    shapes: (B, 2) (height, width) of the raw images, needed by ``rrc`` and ``center`` crops
    (and by ``none`` and ``pad`` when the source images differ in size); a (2,) shape is used
    for every sample.
    """
    index = np.asarray(index, dtype=np.int64).reshape(-1)
    if seed < 0 or epoch < 0:
        raise KdaugError(f"seed and epoch must be non-negative, got seed {seed}, epoch {epoch}")
    count, views = len(index), plan.num_views
    hw = _shapes(plan, shapes, count)
    view_ids = np.arange(views)
    length = len(plan.policy) if plan.policy is not None else 0

    fired = np.zeros((count, views, length), dtype=bool)
    signs = np.ones((count, views, length), dtype=np.int8)
    if length:
        steps = np.arange(length)
        gates = uniforms(seed, epoch, index, view_ids, _GATE + steps) < plan.policy.p
        minus = uniforms(seed, epoch, index, view_ids, _SIGN + steps) >= 0.5
        signed = np.array([step.signed for step in plan.policy.steps])
        augmented = np.array([plan.augmented(v) for v in range(views)])
        fired = gates & augmented[None, :, None]
        signs[minus & signed[None, None, :]] = -1

    # crop and flip: their own per view, or one for all views where the family shares them
    crop_views = np.full(views, _SHARED) if plan.family == "rotation" else view_ids
    flip_views = np.full(views, _SHARED) if plan.family.startswith("rotation") else view_ids
    flip = np.zeros((count, views), dtype=bool)
    if plan.flip:
        flip = uniforms(seed, epoch, index, flip_views, [_FLIP])[..., 0] < 0.5
    resized = None
    if plan.crop == "pad":
        crop = pad_crop_windows(plan, hw, uniforms(seed, epoch, index, crop_views,
                                                   [_CROP, _CROP + 1]))
    elif plan.crop == "rrc":
        crop = rrc_windows(plan, hw, uniforms(seed, epoch, index, crop_views,
                                              _TRIES + np.arange(2 * RRC_TRIES + 2)))
    elif plan.crop == "center":
        resized, window = center_windows(hw, plan.resize, plan.size)
        crop = np.repeat(window[:, None], views, axis=1)
    else:   # "none": the whole image
        crop = np.zeros((count, views, 4), dtype=np.int64)
        crop[..., 2:] = hw[:, None]
    library_seeds = None
    if plan.policy is not None and plan.policy.library:
        library_seeds = hashes(seed, epoch, index, view_ids, [_LIBRARY])[..., 0]
    return Draws(index, fired, signs, crop, flip, resized, library_seeds)


def _shapes(plan: ViewPlan, shapes, count: int) -> np.ndarray:
    if shapes is None:
        if plan.crop in ("rrc", "center"):
            raise KdaugError(f"a '{plan.crop}' crop needs the image sizes to draw its window")
        return np.full((count, 2), plan.size, dtype=np.int64)
    hw = np.asarray(shapes, dtype=np.int64)
    return np.broadcast_to(hw.reshape(-1, 2), (count, 2)) if hw.size == 2 else hw.reshape(count, 2)


def pad_crop_windows(plan: ViewPlan, hw: np.ndarray, u: np.ndarray) -> np.ndarray:
    """RandomCrop(size, padding=pad) windows from u (B, V, 2), in raw-image coordinates."""
    positions = hw[:, None, :] + (2 * plan.pad - plan.size + 1)           # (B, 1, 2)
    if (positions < 1).any():
        raise KdaugError(f"images padded by {plan.pad} are smaller than the {plan.size} crop")
    crop = np.empty(u.shape[:2] + (4,), dtype=np.int64)
    crop[..., :2] = np.floor(u * positions).astype(np.int64) - plan.pad
    crop[..., 2:] = plan.size
    return crop


def rrc_windows(plan: ViewPlan, hw: np.ndarray, u: np.ndarray) -> np.ndarray:
    """torchvision RandomResizedCrop.get_params from u (B, V, 2*RRC_TRIES + 2): try t uses
    u[2t] (area) and u[2t+1] (log-ratio); the first valid try takes its position from the last
    two; none valid: the central crop of the clamped ratio."""
    height, width = hw[:, None, 0:1].astype(np.float64), hw[:, None, 1:2].astype(np.float64)
    area = height * width
    lo_r, hi_r = np.log(plan.rrc_ratio[0]), np.log(plan.rrc_ratio[1])
    target = area * (plan.rrc_scale[0] + (plan.rrc_scale[1] - plan.rrc_scale[0])
                     * u[..., 0:2 * RRC_TRIES:2])
    aspect = np.exp(lo_r + (hi_r - lo_r) * u[..., 1:2 * RRC_TRIES:2])
    w = np.round(np.sqrt(target * aspect))           # Python round(): half to even, as numpy
    h = np.round(np.sqrt(target / aspect))
    valid = (w > 0) & (w <= width) & (h > 0) & (h <= height)              # (B, V, T)
    first = np.argmax(valid, axis=-1)[..., None]
    found = valid.any(axis=-1)
    w, h = np.take_along_axis(w, first, -1)[..., 0], np.take_along_axis(h, first, -1)[..., 0]
    top = np.floor(u[..., -2] * (height[..., 0] - h + 1))
    left = np.floor(u[..., -1] * (width[..., 0] - w + 1))
    # fallback (torchvision): the whole image, or the largest central crop within the ratio
    in_ratio = width[..., 0] / height[..., 0]
    min_r, max_r = min(plan.rrc_ratio), max(plan.rrc_ratio)
    fw = np.where(in_ratio < min_r, width[..., 0],
                  np.where(in_ratio > max_r, np.round(height[..., 0] * max_r), width[..., 0]))
    fh = np.where(in_ratio < min_r, np.round(width[..., 0] / min_r), height[..., 0])
    ftop, fleft = (height[..., 0] - fh) // 2, (width[..., 0] - fw) // 2
    crop = np.stack([np.where(found, top, ftop), np.where(found, left, fleft),
                     np.where(found, h, fh), np.where(found, w, fw)], axis=-1)
    return crop.astype(np.int64)


def center_windows(hw: np.ndarray, resize: int, size: int):
    """torchvision Resize(resize) (shorter side; long side int(resize * long / short)) then
    CenterCrop(size) with round()ed offsets: ((B, 2) resized shape, (B, 4) windows)."""
    height, width = hw[:, 0], hw[:, 1]
    short, long = np.minimum(height, width), np.maximum(height, width)
    new_long = (resize * long) // short          # int(resize*long/short) for positive ints
    portrait = width <= height
    new_h = np.where(portrait, new_long, resize)
    new_w = np.where(portrait, resize, new_long)
    # keep the original size where the resize would change nothing (torchvision does too)
    same = (new_h == height) & (new_w == width)
    new_h, new_w = np.where(same, height, new_h), np.where(same, width, new_w)
    if ((new_h < size) | (new_w < size)).any():
        raise KdaugError(f"center crop {size} is larger than an image resized to "
                         f"{int(new_h.min())}x{int(new_w.min())}")
    top = np.round((new_h - size) / 2.0).astype(np.int64)
    left = np.round((new_w - size) / 2.0).astype(np.int64)
    window = np.stack([top, left, np.full_like(top, size), np.full_like(top, size)], axis=-1)
    return np.stack([new_h, new_w], axis=-1).astype(np.int64), window


def quarter_turns(plan: ViewPlan) -> np.ndarray:
    """(V,) rotation k of each view (zeros for non-rotation families)."""
    return np.asarray(plan.rotations or (0,) * plan.num_views, dtype=np.int64)
