"""The PIL reference ops against independent computations: numpy re-derivations of PIL's
algorithms (LUTs, fixed-point grey, float32 blend with truncation, a=-1 bicubic, 16.16
fixed-point nearest rotate), PIL called directly, and torchvision for the standard pieces."""
import math

import numpy as np
import pytest
import torchvision.transforms as T
import torchvision.transforms.functional as TF
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from kdaug.augment.policies import POLICIES, OpStep, Policy
from kdaug.augment.reference import (
    apply_chain, apply_op, center_crop_eval, hflip, normalize, pad_crop, resized_crop, rot90,
)

# Non-square on purpose: catches width/height and x/y mix-ups.
RANDOM = np.random.default_rng(1234).integers(0, 256, (24, 20, 3), dtype=np.uint8)
_Y, _X = np.mgrid[0:24, 0:20]
GRADIENT = np.stack([(_X * 11) % 256, _Y * 9 + 20, (_X + _Y) * 5 + 30], -1)
GRADIENT = GRADIENT.clip(0, 255).astype(np.uint8)
IMAGES = {"random": RANDOM, "gradient": GRADIENT}


def pil(img):
    return Image.fromarray(img)


def arr(im):
    return np.array(im)


def all_steps(op):
    """Every (magnitude, sign) at which ``op`` occurs in the shipped policies."""
    mags = sorted({s.magnitude for p in POLICIES.values() for s in p.steps if s.op == op})
    return [(m, sign) for m in mags for sign in (1, -1)]


# ------------------------------------------------------------------ numpy re-derivations of PIL

def grey(img):
    # PIL RGB->L: ITU-R 601-2 luma in 16.16 fixed point, rounded.
    r, g, b = (img[..., c].astype(np.int64) for c in range(3))
    return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).astype(np.uint8)


def blend(degenerate, img, factor):
    # Image.blend: float32 in1 + alpha*(in2-in1), truncated; clipped when extrapolating.
    a, b = degenerate.astype(np.float32), img.astype(np.float32)
    v = a + np.float32(factor) * (b - a)
    return (v if 0 <= factor <= 1 else np.clip(v, 0, 255)).astype(np.uint8)


def smooth(img):
    # ImageFilter.SMOOTH: 3x3 kernel [1 1 1; 1 5 1; 1 1 1]/13, rounded; border copied.
    x = img.astype(np.int64)
    h, w = img.shape[:2]
    acc = sum(x[1 + dy:h - 1 + dy, 1 + dx:w - 1 + dx] * (5 if dx == dy == 0 else 1)
              for dy in (-1, 0, 1) for dx in (-1, 0, 1))
    out = img.copy()
    out[1:-1, 1:-1] = (2 * acc + 13) // 26
    return out


def np_enhance(op, img, factor):
    if op == "brightness":
        degenerate = np.zeros_like(img)
    elif op == "color":
        degenerate = np.repeat(grey(img)[..., None], 3, -1)
    elif op == "contrast":
        degenerate = np.full_like(img, int(grey(img).mean() + 0.5))
    else:
        degenerate = smooth(img)
    return blend(degenerate, img, factor)


def np_autocontrast(img):
    out = np.empty_like(img)
    for c in range(3):
        ch = img[..., c]
        lo, hi = int(ch.min()), int(ch.max())
        if hi <= lo:
            out[..., c] = ch
            continue
        scale = 255.0 / (hi - lo)
        lut = np.clip(np.trunc(np.arange(256) * scale - lo * scale), 0, 255).astype(np.uint8)
        out[..., c] = lut[ch]
    return out


def np_equalize(img):
    out = np.empty_like(img)
    for c in range(3):
        ch = img[..., c]
        h = np.bincount(ch.ravel(), minlength=256)
        used = h[h > 0]
        step = (used.sum() - used[-1]) // 255 if len(used) > 1 else 0
        if step == 0:
            out[..., c] = ch
            continue
        before = np.concatenate([[0], np.cumsum(h)[:-1]])
        out[..., c] = np.minimum((step // 2 + before) // step, 255)[ch]
    return out


def _cubic(v1, v2, v3, v4, d):
    # PIL's transform BICUBIC (Keys cubic with a = -1).
    return v2 + d * ((v3 - v1) + d * ((2 * (v1 - v2) + v3 - v4) + d * (v2 - v1 - v3 + v4)))


def np_affine_bicubic(img, a, fill=128):
    h, w = img.shape[:2]
    y, x = np.mgrid[0:h, 0:w] + 0.5  # pixel centres
    xs = a[0] * x + a[1] * y + a[2]
    ys = a[3] * x + a[4] * y + a[5]
    inside = (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h)
    x0, y0 = np.floor(xs - 0.5), np.floor(ys - 0.5)
    dx, dy = (xs - 0.5 - x0)[..., None], (ys - 0.5 - y0)[..., None]
    x0, y0 = x0.astype(int) - 1, y0.astype(int) - 1
    im = img.astype(np.float64)

    def row(j):  # taps beyond the border clamp to the edge pixels
        r = np.clip(y0 + j, 0, h - 1)
        return _cubic(*(im[r, np.clip(x0 + i, 0, w - 1)] for i in range(4)), dx)

    rows = [row(j) for j in range(4)]
    v = np.clip(_cubic(*rows, dy), 0, 255).astype(np.uint8)  # clip, then truncate
    return np.where(inside[..., None], v, np.uint8(fill))


def np_shift(img, sx, sy, fill=128):
    """output(x, y) = input(x + sx, y + sy), grey outside."""
    h, w = img.shape[:2]
    y, x = np.mgrid[0:h, 0:w]
    xs, ys = x + sx, y + sy
    ok = (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h)
    out = np.full_like(img, fill)
    out[ok] = img[ys[ok], xs[ok]]
    return out


def np_rotate_nearest(img, degrees, fill=128):
    # PIL Image.rotate matrix (about the centre) with the 16.16 fixed-point nearest sampler.
    h, w = img.shape[:2]
    t = -math.radians(degrees)
    a, b, d, e = (round(v, 15) for v in (math.cos(t), math.sin(t), -math.sin(t), math.cos(t)))
    c = -a * w / 2 - b * h / 2 + w / 2
    f = -d * w / 2 - e * h / 2 + h / 2
    fix = lambda v: math.floor(v * 65536.0 + 0.5)  # noqa: E731
    y, x = np.mgrid[0:h, 0:w].astype(np.int64)
    xin = (fix(c + a / 2 + b / 2) + y * fix(b) + x * fix(a)) >> 16
    yin = (fix(f + d / 2 + e / 2) + y * fix(e) + x * fix(d)) >> 16
    ok = (xin >= 0) & (xin < w) & (yin >= 0) & (yin < h)
    out = np.full_like(img, fill)
    out[ok] = img[yin[ok], xin[ok]]
    return out


# --------------------------------------------------------------------------- pointwise ops

@pytest.mark.parametrize("name", IMAGES)
def test_invert_exact(name):
    img = IMAGES[name]
    np.testing.assert_array_equal(apply_op(img, "invert"), 255 - img)


@pytest.mark.parametrize("bits", [4, 5, 6, 8])
@pytest.mark.parametrize("name", IMAGES)
def test_posterize_exact(name, bits):
    img = IMAGES[name]
    expected = img & np.uint8((0xFF << (8 - bits)) & 0xFF)
    np.testing.assert_array_equal(apply_op(img, "posterize", bits), expected)


@pytest.mark.parametrize("threshold", [142.2, 199.1, 113.8, 170.7, 256.0, 0.0])
@pytest.mark.parametrize("name", IMAGES)
def test_solarize_exact(name, threshold):
    img = IMAGES[name]
    expected = np.where(img >= threshold, 255 - img, img).astype(np.uint8)
    np.testing.assert_array_equal(apply_op(img, "solarize", threshold), expected)


def _histogram_cases():
    flat = np.full((6, 5, 3), 77, np.uint8)
    overflow = np.zeros((1, 512, 3), np.uint8)  # equalize LUT reaches 256: PIL clips to 255
    overflow[0, -1] = 200
    return {**IMAGES, "flat": flat, "overflow": overflow}


@pytest.mark.parametrize("name,img", _histogram_cases().items())
def test_autocontrast_and_equalize(name, img):
    for op, np_form, pil_form in (("autocontrast", np_autocontrast, ImageOps.autocontrast),
                                  ("equalize", np_equalize, ImageOps.equalize)):
        out = apply_op(img, op)
        np.testing.assert_array_equal(out, arr(pil_form(pil(img))), err_msg=op)
        np.testing.assert_array_equal(out, np_form(img), err_msg=op)
    if name == "overflow":
        assert apply_op(img, "equalize")[0, -1, 0] == 255


def test_autocontrast_stretches_to_full_range():
    img = (GRADIENT // 2 + 40).astype(np.uint8)
    out = apply_op(img, "autocontrast")
    assert out.reshape(-1, 3).min(0).tolist() == [0, 0, 0]
    # PIL truncates hi*scale - lo*scale, which can land just under 255: the brightest value
    # then maps to 254 (here the green channel). A backend matching PIL must do the same.
    assert out.reshape(-1, 3).max(0).tolist() == [255, 254, 255]


# ----------------------------------------------------------------------------- blend ops

@pytest.mark.parametrize("op", ["brightness", "color", "contrast", "sharpness"])
@pytest.mark.parametrize("name", IMAGES)
def test_enhance_ops(op, name):
    img = IMAGES[name]
    enhancer = {"brightness": ImageEnhance.Brightness, "color": ImageEnhance.Color,
                "contrast": ImageEnhance.Contrast, "sharpness": ImageEnhance.Sharpness}[op]
    for m, sign in all_steps(op):
        factor = 1 + sign * m
        out = apply_op(img, op, m, sign)
        np.testing.assert_array_equal(out, arr(enhancer(pil(img)).enhance(factor)),
                                      err_msg=f"{op} {factor}")
        np.testing.assert_array_equal(out, np_enhance(op, img, factor), err_msg=f"{op} {factor}")


def test_grey_and_smooth_forms_match_pil():
    # The degenerate images the blends use, checked on their own.
    for img in IMAGES.values():
        np.testing.assert_array_equal(grey(img), arr(pil(img).convert("L")))
        np.testing.assert_array_equal(smooth(img), arr(pil(img).filter(ImageFilter.SMOOTH)))


def test_blend_sign_direction():
    up = apply_op(GRADIENT, "brightness", 0.3, +1).astype(int)
    down = apply_op(GRADIENT, "brightness", 0.3, -1).astype(int)
    assert (up >= GRADIENT).all() and (down <= GRADIENT).all()
    np.testing.assert_array_equal(apply_op(GRADIENT, "color", 0.0, -1), GRADIENT)  # color L0


# ------------------------------------------------------------------------------ geometry

@pytest.mark.parametrize("name", IMAGES)
def test_shear_matches_bicubic_rederivation(name):
    img = IMAGES[name]
    for m, sign in all_steps("shearX") + all_steps("shearY"):
        for op, coeffs in (("shearX", (1, sign * m, 0, 0, 1, 0)),
                           ("shearY", (1, 0, 0, sign * m, 1, 0))):
            out = apply_op(img, op, m, sign)
            np.testing.assert_array_equal(out, np_affine_bicubic(img, coeffs),
                                          err_msg=f"{op} {sign * m}")
            direct = pil(img).transform(pil(img).size, Image.Transform.AFFINE, coeffs,
                                        Image.Resampling.BICUBIC, fillcolor=(128, 128, 128))
            np.testing.assert_array_equal(out, arr(direct))
    np.testing.assert_array_equal(apply_op(img, "shearY", 0.0, 1), img)  # cifar100 shearY L0


def test_shear_is_about_top_left_and_fills_grey():
    # shearX +m reads input x + m*(y+0.5): the bottom-right corner falls outside -> grey,
    # while the top-left pixel stays (displacement 0.5*m, cubic on a near-integer position).
    out = apply_op(GRADIENT, "shearX", 0.3, +1)
    assert out[-1, -1].tolist() == [128, 128, 128]
    assert out[0, 0].tolist() != [128, 128, 128]


@pytest.mark.parametrize("name", IMAGES)
def test_translate_nearest_integer_shift(name):
    img = IMAGES[name]
    h, w = img.shape[:2]
    for m, sign in all_steps("translateX") + all_steps("translateY"):
        sx = math.floor(sign * m * w + 0.5)
        sy = math.floor(sign * m * h + 0.5)
        np.testing.assert_array_equal(apply_op(img, "translateX", m, sign), np_shift(img, sx, 0))
        np.testing.assert_array_equal(apply_op(img, "translateY", m, sign), np_shift(img, 0, sy))


def test_translate_positive_sign_moves_content_left():
    out = apply_op(RANDOM, "translateX", 0.25, +1)  # 0.25 * 20 = 5 pixels
    np.testing.assert_array_equal(out[:, :15], RANDOM[:, 5:])
    assert (out[:, 15:] == 128).all()


@pytest.mark.parametrize("name", IMAGES)
def test_rotate_matches_fixed_point_nearest(name):
    img = IMAGES[name]
    for degrees in (10.0, 20 / 3, 80 / 3, 30.0, 45.0, 90.0):
        out = apply_op(img, "rotate", degrees)
        np.testing.assert_array_equal(out, np_rotate_nearest(img, degrees), err_msg=str(degrees))
        # the RGBA composite equals a plain grey-filled rotate, since NEAREST alpha is 0 or 255
        np.testing.assert_array_equal(out, arr(pil(img).rotate(degrees, fillcolor=(128,) * 3)))


def test_rotate_identity_quarter_turn_and_fill():
    np.testing.assert_array_equal(apply_op(RANDOM, "rotate", 0.0), RANDOM)
    square = RANDOM[:20, :20]
    np.testing.assert_array_equal(apply_op(square, "rotate", 90.0), np.rot90(square))
    for degrees in (30.0, 45.0):
        out = apply_op(square, "rotate", degrees)
        for corner in (out[0, 0], out[0, -1], out[-1, 0], out[-1, -1]):
            assert corner.tolist() == [128, 128, 128]
        np.testing.assert_array_equal(out[10, 10], square[10, 10])  # the centre stays


def test_rotate_ignores_sign():
    np.testing.assert_array_equal(apply_op(RANDOM, "rotate", 10.0, -1),
                                  apply_op(RANDOM, "rotate", 10.0, 1))


def test_bad_op_and_sign():
    with pytest.raises(ValueError, match="unknown op"):
        apply_op(RANDOM, "blur", 1.0)
    with pytest.raises(ValueError, match="sign"):
        apply_op(RANDOM, "shearX", 0.1, 0)
    with pytest.raises(ValueError, match="uint8"):
        apply_op(RANDOM.astype(np.float32), "invert")


# ------------------------------------------------------------------------------- policies

# (op, magnitude as jda.md prints it, signed) straight from the spec page.
JDA_MD = {
    "cifar100": (0.3, [("autocontrast", None), ("contrast", 0.3), ("posterize", 8),
                       ("solarize", 142.2), ("translateY", 0.403), ("shearX", 0.167),
                       ("brightness", 0.3), ("shearY", 0.0), ("translateX", 0.050),
                       ("sharpness", 0.5), ("invert", None), ("color", 0.4), ("equalize", None),
                       ("rotate", 10.0)]),
    "cifar10": (0.5, [("invert", None), ("rotate", 6.67), ("shearY", 0.267), ("posterize", 4),
                      ("autocontrast", None), ("color", 0.3), ("sharpness", 0.9),
                      ("equalize", None), ("contrast", 0.7), ("translateY", 0.151),
                      ("brightness", 0.6), ("solarize", 199.1), ("translateX", 0.151),
                      ("shearX", 0.267)]),
    "imagenet": (0.2, [("posterize", 4), ("solarize", 113.8), ("equalize", None), ("posterize", 5),
                       ("equalize", None), ("equalize", None), ("solarize", 170.7),
                       ("posterize", 6),
                       ("rotate", 10.0), ("equalize", None), ("rotate", 26.7), ("rotate", 30.0),
                       ("equalize", None), ("invert", None), ("color", 0.4), ("rotate", 26.7),
                       ("color", 0.8), ("sharpness", 0.7), ("shearX", 0.167), ("color", 0.0),
                       ("equalize", None), ("solarize", 113.8), ("invert", None), ("color", 0.4),
                       ("equalize", None)]),
}
SIGNED = {"contrast", "brightness", "color", "sharpness", "shearX", "shearY", "translateX",
          "translateY"}


@pytest.mark.parametrize("name", JDA_MD)
def test_policy_magnitudes_match_spec(name):
    p, expected = JDA_MD[name]
    policy = POLICIES[name]
    assert policy.p == p
    assert [s.op for s in policy.steps] == [op for op, _ in expected]
    for step, (op, magnitude) in zip(policy.steps, expected):
        assert step.signed == (op in SIGNED), op
        if magnitude is None:
            assert step.magnitude is None, op
        elif op == "posterize":
            assert step.magnitude == magnitude
        else:
            digits = len(repr(magnitude).split(".")[1])
            assert round(step.magnitude, digits) == pytest.approx(magnitude, abs=1e-9), op


# ---------------------------------------------------------------------------------- chains

def test_chain_all_fired_equals_sequential_ops():
    policy = POLICIES["cifar10"]
    always = Policy("always", 1.0, policy.steps)
    signs = np.where(np.arange(len(policy)) % 2, -1, 1)
    out = apply_chain(GRADIENT, always, [True] * len(policy), signs)
    expected = GRADIENT
    for step, sign in zip(policy.steps, signs):
        expected = apply_op(expected, step.op, step.magnitude, sign)
    np.testing.assert_array_equal(out, expected)


def test_chain_none_fired_is_identity():
    never = Policy("never", 0.0, POLICIES["cifar100"].steps)
    out = apply_chain(RANDOM, never, [False] * len(never), [1] * len(never))
    np.testing.assert_array_equal(out, RANDOM)


def test_chain_order_matters():
    # invert then solarize(142.2) differs from solarize then invert on a full-range image
    a = Policy("a", 1.0, (OpStep("invert", 0), OpStep("solarize", 4)))
    b = Policy("b", 1.0, (OpStep("solarize", 4), OpStep("invert", 0)))
    out_a = apply_chain(RANDOM, a, [True, True], [1, 1])
    out_b = apply_chain(RANDOM, b, [True, True], [1, 1])
    x = RANDOM.astype(int)
    np.testing.assert_array_equal(out_a, np.where(255 - x >= 142.2, x, 255 - x))
    assert not np.array_equal(out_a, out_b)


# ------------------------------------------------------------------ standard transform pieces

def test_pad_crop_matches_torchvision():
    im = pil(RANDOM)
    for top, left in ((0, 0), (4, 4), (8, 3), (2, 8)):
        expected = TF.crop(TF.pad(im, 4, fill=0), top, left, 20, 20)
        np.testing.assert_array_equal(pad_crop(RANDOM, 4, top, left, 20), arr(expected))
    corner = pad_crop(RANDOM, 4, 0, 0, 20)
    assert (corner[:4] == 0).all() and (corner[:, :4] == 0).all()


def test_resized_crop_matches_torchvision_pil_path():
    big = np.random.default_rng(7).integers(0, 256, (64, 48, 3), dtype=np.uint8)
    cases = (((3, 5, 40, 30), 24), ((0, 0, 64, 48), 32), ((10, 2, 12, 9), 24))
    for (top, left, h, w), size in cases:
        expected = TF.resized_crop(pil(big), top, left, h, w, [size, size],
                                   interpolation=T.InterpolationMode.BILINEAR, antialias=True)
        np.testing.assert_array_equal(resized_crop(big, top, left, h, w, size), arr(expected))


def test_flip_rot90_normalize():
    np.testing.assert_array_equal(hflip(RANDOM), RANDOM[:, ::-1])
    square = RANDOM[:20, :20]
    # k=1 is counter-clockwise: the top-right pixel becomes the top-left one
    np.testing.assert_array_equal(rot90(square, 1)[0, 0], square[0, -1])
    np.testing.assert_array_equal(rot90(square, 4), square)
    mean, std = (0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761)
    out = normalize(RANDOM, mean, std)
    expected = T.Normalize(mean, std)(T.ToTensor()(pil(RANDOM))).numpy()
    assert out.dtype == np.float32 and out.shape == (3, 24, 20)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("shape", [(40, 60), (60, 40), (37, 37), (16, 24)])
def test_center_crop_eval_matches_torchvision(shape):
    img = np.random.default_rng(2).integers(0, 256, (*shape, 3), dtype=np.uint8)
    resize, size = 18, 16
    expected = T.Compose([T.Resize(resize), T.CenterCrop(size)])(pil(img))
    out = center_crop_eval(img, resize, size)
    assert out.shape == (size, size, 3)
    np.testing.assert_array_equal(out, arr(expected))

