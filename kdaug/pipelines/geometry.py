"""Per-sample parameters of the DALI graphs, computed in numpy for a whole batch at once (no
DALI import, no Python loop over samples).

The same functions serve both kinds of source: for in-memory arrays (one image size, known
when the graph is built) they are evaluated once and become graph constants; for image files
(every size) the feeder evaluates them per batch from the sizes in kdaug.data.shapes and hands
them to the graph as inputs. Conventions follow kdaug.augment.reference (PIL).
"""
from __future__ import annotations

import numpy as np
from PIL import Image

EPS = 2.0 ** -10    # keeps nearest-neighbour taps off pixel boundaries (float32 coordinates)


def translate_starts(shift: np.ndarray, extent: np.ndarray) -> np.ndarray:
    """PIL AFFINE with c = shift * extent, nearest: output(x) = input(x + floor(c + .5)).
    (B,) shifts (sign * magnitude) and extents (W or H) -> (B, 1) int32 slice starts."""
    return np.floor(np.asarray(shift) * np.asarray(extent) + 0.5).astype(np.int32).reshape(-1, 1)


def _fix(value: np.ndarray) -> np.ndarray:
    return np.floor(value * 65536.0 + 0.5)


def rotation_matrices(degrees: float, height: np.ndarray, width: np.ndarray) -> np.ndarray:
    """PIL img.rotate(degrees) about (W/2, H/2), nearest: PIL runs the output->input matrix in
    16.16 fixed point (xin = (A2 + y*A1 + x*A0) >> 16); the same quantised matrix, for a
    warp_affine sampling at pixel centres, reproduces it exactly while coordinates fit in
    float32. (B,) sizes -> (B, 2, 3) float32."""
    angle = -np.radians(degrees)
    c, s = round(float(np.cos(angle)), 15), round(float(np.sin(angle)), 15)
    cx = np.asarray(width, dtype=np.float64) / 2.0
    cy = np.asarray(height, dtype=np.float64) / 2.0
    out = np.zeros(cx.shape + (2, 3), dtype=np.float32)
    for r, (p, q, centre) in enumerate(((c, s, cx), (-s, c, cy))):
        # PIL: p*(-cx) + q*(-cy) + 0.0, then + centre; C adds p*.5 + q*.5 before FIX
        offset = ((p * (0.0 - cx) + q * (0.0 - cy)) + centre + p * 0.5) + q * 0.5
        fp, fq = _fix(np.float64(p)), _fix(np.float64(q))
        out[..., r, 0], out[..., r, 1] = fp / 65536.0, fq / 65536.0
        out[..., r, 2] = (_fix(offset) - (fp + fq) / 2.0) / 65536.0
    return out


def shear_tap_matrix(s: float, axis: int) -> np.ndarray:
    """Nearest-neighbour warp making the bicubic taps of PIL AFFINE (1, s, 0, 0, 1, 0)
    (axis 0) or (1, 0, 0, s, 1, 0) (axis 1): T[j] = source[clamp(j - 1 + floor(s*(across +
    .5) + EPS))], 3 pixels longer along the sheared axis, so taps 1..4 of output pixel x are
    T[x .. x+3]. The matrix does not depend on the image size."""
    matrix = np.array([[1, 0, 0], [0, 1, 0]], dtype=np.float32)
    if axis == 0:
        matrix[0, 1], matrix[0, 2] = s, -1.5 + EPS
    else:
        matrix[1, 0], matrix[1, 2] = s, -1.5 + EPS
    return matrix


def blend_table(factor: float) -> np.ndarray:
    """PIL's Image.blend(degenerate, image, factor) for every (degenerate, pixel) pair, made by
    PIL itself: (256, 256) uint8, row = degenerate value, column = pixel value. This is the
    arithmetic of ImageEnhance's brightness (row 0), contrast (row = mean grey), color (row =
    the pixel's grey) and sharpness (row = the smoothed pixel)."""
    rows = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 256, axis=1)
    cols = np.repeat(np.arange(256, dtype=np.uint8)[None, :], 256, axis=0)
    blended = Image.blend(Image.fromarray(rows, "L"), Image.fromarray(cols, "L"), factor)
    return np.asarray(blended, dtype=np.uint8)


def solarize_table(threshold: float) -> np.ndarray:
    """PIL ImageOps.solarize: x if x < threshold else 255 - x."""
    values = np.arange(256)
    return np.where(values < threshold, values, 255 - values).astype(np.uint8)
