"""DALI ops (kdaug.pipelines.ops) against the PIL reference (kdaug.augment.reference.apply_op).

Every (op, level) of the three JDA policies runs with both signs on the same uint8 images as
the reference, in both kinds of graph: one image size known when the graph is built
(in-memory arrays: geometry as constants) and images of several sizes (files: geometry from
per-sample inputs, computed by kdaug.pipelines.geometry as the loader's feeder does).
"""
import numpy as np
import pytest

from conftest import dali_or_skip  # noqa: E402

dali_or_skip()

from nvidia.dali import fn, pipeline_def, types  # noqa: E402

from kdaug.augment import reference  # noqa: E402
from kdaug.augment.draws import Draws  # noqa: E402
from kdaug.augment.plan import ViewPlan  # noqa: E402
from kdaug.augment.policies import POLICIES, OpStep, Policy  # noqa: E402
from kdaug.pipelines import geometry, ops  # noqa: E402
from kdaug.pipelines.inputs import input_arrays, input_specs  # noqa: E402
from kdaug.pipelines.ops import Site  # noqa: E402
from kdaug.pipelines.views import finish  # noqa: E402


def textured(h, w, rng, lo=0, hi=255, noise=18.0):
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([40 + 150 * xx / w, 60 + 120 * yy / h, 120 + 60 * np.sin(xx / 5.0)], -1)
    img = base + rng.normal(0, noise, (h, w, 3))
    return np.clip(lo + img * (hi - lo) / 255.0, 0, 255).astype(np.uint8)


def _images():
    rng = np.random.default_rng(7)
    two_levels = np.where(rng.random((32, 32, 1)) < 0.3, 40, 200).repeat(3, axis=2)
    same = [
        textured(32, 32, rng),                                   # CIFAR size
        rng.integers(0, 256, (32, 32, 3), dtype=np.uint8),       # pure noise
        textured(32, 32, rng, lo=90, hi=150),                    # low contrast: stretching ops
        np.full((32, 32, 3), 77, dtype=np.uint8),                # flat: identity cases
        two_levels.astype(np.uint8),                             # two grey levels
    ]
    mixed = same[:3] + [textured(45, 61, rng), textured(29, 37, rng, noise=40.0)]
    return same, mixed


SAME, MIXED = _images()
STEPS = sorted({(s.op, s.level) for p in POLICIES.values() for s in p.steps})
ACTIVE = [(op, level) for op, level in STEPS if not ops.is_identity(OpStep(op, level))]

# Allowed (max |diff|, fraction of differing values) against PIL on the CPU. The DALI ops
# redo PIL's own arithmetic (blend tables made by PIL, the integer L conversion, the rounded
# ImageStat mean, float64 LUT maths, the SMOOTH kernel with the source border, PIL's equalize
# formula, 16.16 fixed-point rotation, nearest translation with the integer shift), so they
# are bit-exact: measured 0 differing values for every op on these images. Shear alone has a
# margin: its taps are read on a grid nudged by 2**-10, so a sample within 2**-10 of a pixel
# boundary could truncate one level apart (measured: 0 differences here).
EXACT = (0, 0.0)
CPU_TOLERANCE = {"shearX": (1, 0.001), "shearY": (1, 0.001)}
# On the GPU, DALI may evaluate arithmetic with fused multiply-adds, so a float result that
# PIL truncates can move by one level; table lookups, nearest-neighbour geometry and the
# integer ops stay exact.
GPU_EXACT = {"invert", "posterize", "solarize", "brightness", "color", "contrast",
             "sharpness", "translateX", "translateY", "rotate"}
GPU_TOLERANCE = (1, 0.01)
KEY = "step/1/0"


def step_inputs(step: OpStep, sign: int, images, dynamic: bool, gpu: bool = False):
    """The per-sample inputs the graph gets for this step fired with ``sign`` on every image,
    made by the feeder's own code (kdaug.pipelines.inputs) from such draws."""
    plan = ViewPlan("jda", 2, "none", images[0].shape[0], False, (0.5,) * 3, (0.5,) * 3,
                    Policy("one", 1.0, (step,)))
    count = len(images)
    draws = Draws(np.arange(count), np.ones((count, 2, 1), bool),
                  np.full((count, 2, 1), sign, np.int8), np.zeros((count, 2, 4), np.int64),
                  np.zeros((count, 2), bool))
    hw = np.array([img.shape[:2] for img in images])
    specs = [s for s in input_specs(plan, dynamic, gpu)
             if s.name.startswith(KEY) or s.name == "hw"]
    return specs, dict(zip([s.name for s in specs], input_arrays(specs, plan, draws, hw)))


def _arrays_of(inputs, names):
    return lambda: [inputs[n] for n in names]   # no argument: DALI would pass an iteration


def run_graph(graph, images, inputs=None, gpu=False, on_device=()):
    """graph(images, {name: DataNode}) through a DALI pipeline, outputs as numpy arrays;
    inputs named in ``on_device`` are placed with the images (arithmetic operands)."""
    inputs = inputs or {}
    device = "gpu" if gpu else "cpu"

    @pipeline_def(batch_size=len(images), num_threads=1, device_id=0 if gpu else None)
    def pipe():
        x = fn.external_source(source=lambda: images, batch=True, layout="HWC", device=device)
        nodes = {}
        for group, where in ((sorted(set(inputs) - set(on_device)), "cpu"),
                             (sorted(on_device), device)):
            if group:
                out = fn.external_source(source=_arrays_of(inputs, group),
                                         num_outputs=len(group), batch=True, device=where)
                nodes.update(zip(group, out))
        return graph(x, nodes)

    p = pipe()
    p.build()
    out = p.run()[0]
    if gpu:
        out = out.as_cpu()
    return [np.array(out[i]) for i in range(len(images))]


def run_op(op, level, sign, images, gpu=False, exact_equalize=True, gpu_inputs=None):
    """One step with one sign: constants when the images share a size, inputs otherwise;
    ``gpu_inputs``: the GPU graph's inputs (parameter-gated cheap ops) [default: ``gpu``]."""
    step = OpStep(op, level)
    same = len({img.shape for img in images}) == 1
    specs, inputs = step_inputs(step, sign, images, dynamic=not same,
                                gpu=gpu if gpu_inputs is None else gpu_inputs)
    size = images[0].shape[:2] if same else None
    max_side = max(max(img.shape[:2]) for img in images)

    def graph(x, nodes):
        site = Site(gpu, exact_equalize, size=size, max_side=max_side, inputs=nodes)
        return ops.apply_op(x, step, sign, site, KEY)

    return run_graph(graph, images, inputs, gpu, [s.name for s in specs if s.data])


def compare(op, level, sign, outputs, images):
    """(max |diff|, fraction of differing values) over the batch, against PIL."""
    magnitude = OpStep(op, level).magnitude
    worst, differing, total = 0, 0, 0
    for img, out in zip(images, outputs):
        ref = reference.apply_op(img, op, magnitude, sign)
        assert out.shape == ref.shape and out.dtype == np.uint8, op
        diff = np.abs(out.astype(int) - ref.astype(int))
        worst = max(worst, int(diff.max()))
        differing += int((diff > 0).sum())
        total += diff.size
    return worst, differing / total


@pytest.mark.parametrize("images", [SAME, MIXED], ids=["one-size", "mixed-sizes"])
@pytest.mark.parametrize("op,level", ACTIVE)
def test_op_matches_pil_on_cpu(op, level, images):
    signs = (1, -1) if OpStep(op, level).signed else (1,)
    for sign in signs:
        worst, fraction = compare(op, level, sign, run_op(op, level, sign, images), images)
        max_diff, max_fraction = CPU_TOLERANCE.get(op, EXACT)
        assert worst <= max_diff and fraction <= max_fraction, (op, level, sign, worst, fraction)


@pytest.mark.parametrize("images", [SAME, MIXED], ids=["one-size", "mixed-sizes"])
@pytest.mark.parametrize("op,level", [(op, level) for op, level in ACTIVE
                                      if op in ops.PARAM_GATED])
def test_parameter_gated_ops_match_pil(op, level, images):
    # the GPU graph's form of the cheap ops (a per-sample operand, no conditional), on the CPU
    for sign in ((1, -1) if OpStep(op, level).signed else (1,)):
        outputs = run_op(op, level, sign, images, gpu_inputs=True)
        assert compare(op, level, sign, outputs, images) == (0, 0.0), (op, level, sign)


def test_both_exact_equalize_implementations():
    # numpy through python_function (the CPU's), the all-DALI staircase (the GPU's): both
    # PIL's formula, checked here on the CPU; numpy stacks same-size images, so both of its
    # paths run (mixed sizes, then one size)
    for images in (MIXED, SAME):
        for graph in (lambda x, _: fn.python_function(x, function=ops.equalize_numpy,
                                                      batch_processing=True,
                                                      output_layouts="HWC"),
                      lambda x, _: ops.equalize_staircase(x, Site(True, True, data_device="cpu"))):
            assert compare("equalize", 0, 1, run_graph(graph, images), images) == (0, 0.0)


def test_skipped_steps_are_identities():
    # the chain gives these steps no conditional: PIL must leave the image as it is
    skipped = [(op, level) for op, level in STEPS if ops.is_identity(OpStep(op, level))]
    assert {op for op, _ in skipped} >= {"posterize", "shearY", "color"}
    for op, level in skipped:
        for img in MIXED[:4]:
            assert np.array_equal(reference.apply_op(img, op, OpStep(op, level).magnitude), img)


def test_ops_are_not_identities():
    # guards the parity test against comparing two no-ops: every active step changes the
    # textured image
    for op, level in ACTIVE:
        out = run_op(op, level, 1, SAME[:1])[0]
        assert not np.array_equal(out, SAME[0]), op


def natural_images():
    """375x500 crops of a natural photograph (matplotlib's sample Grace Hopper JPEG), as a
    decoded ImageNet image would reach the chain."""
    import matplotlib.cbook
    from PIL import Image

    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    photo = np.asarray(Image.open(path).convert("RGB"))               # 600 x 512
    big = np.asarray(Image.fromarray(photo).resize((700, 820), Image.Resampling.BICUBIC))
    return [np.ascontiguousarray(big[top:top + 375, left:left + 500])
            for top, left in ((0, 0), (220, 150), (445, 200))] + [
        np.ascontiguousarray(photo[:500, :375])]                      # portrait 500 x 375


NATURAL = natural_images()


# Large images (measured on NATURAL, both kinds of graph alike; the docs state these bounds).
# DALI's CPU warp_affine steps its sample position along each output row in float32, so the
# position drifts by about 1e-3 pixel over 500 columns: where it crosses a pixel boundary that
# PIL's float64 position does not, a neighbouring pixel is taken. Rotation: at most 7.7e-4 of
# the values; shearY: 1.5e-3 (the column where s*(x + .5) = 66 exactly); shearX steps by exact
# whole pixels along rows and stays exact, as does translate. (ImageNet's chain has no shearY.)
LARGE_IMAGE_BOUNDS = [("rotate", 2, 1, 1e-3), ("rotate", 3, 1, 1e-3), ("rotate", 8, 1, 1e-3),
                      ("rotate", 9, 1, 1e-3), ("shearX", 5, 1, 0.0), ("shearX", 5, -1, 0.0),
                      ("shearX", 8, 1, 0.0), ("shearY", 8, 1, 2e-3), ("shearY", 8, -1, 2e-3),
                      ("translateY", 3, 1, 0.0), ("translateX", 3, -1, 0.0)]


@pytest.mark.parametrize("op,level,sign,bound", LARGE_IMAGE_BOUNDS)
def test_geometry_on_natural_images(op, level, sign, bound):
    for images in [[img] for img in NATURAL] + [NATURAL]:   # one size per graph, every size
        worst, fraction = compare(op, level, sign, run_op(op, level, sign, images), images)
        assert fraction <= bound, (op, level, worst, fraction)


def test_dali_equalize_against_pil_on_natural_images():
    """fn.equalize is OpenCV's formula, lut = round(255 * (cdf(v) - cdf_min) / (N - cdf_min));
    PIL's is lut = (step//2 + count(x < v)) // step with the integer step
    (N - count(max)) // 255. Measured on these natural images: 5-12 levels apart at most,
    1.5-5.8 levels on average, on 74-96% of the values; on 32x32 the integer step is coarse
    and PIL saturates early (measured up to 64 levels). Hence PIL's exact formula wherever
    kdaug can run it: always on the CPU, on the GPU for in-memory images up to 64x64. The
    statement in the docs comes from this test."""
    outputs = run_op("equalize", 0, 1, NATURAL, exact_equalize=False)
    worst, means = 0, []
    for img, out in zip(NATURAL, outputs):
        diff = np.abs(out.astype(int) - reference.apply_op(img, "equalize"))
        worst = max(worst, int(diff.max()))
        means.append(diff.mean())
    assert 0 < worst <= 14 and max(means) <= 6.5, (worst, means)
    small = run_op("equalize", 0, 1, SAME[1:2], exact_equalize=False)[0]
    assert np.abs(small.astype(int) - reference.apply_op(SAME[1], "equalize")).max() > 16


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_finish_orders_flip_before_rotation(k):
    # finish() rotates by -k for flipped samples and lets crop_mirror_normalize flip:
    # rot_k(flip(x)) == flip(rot_-k(x)). Normalisation is float maths in another order
    # ((x - 255m) / 255s against (x/255 - m) / s): equal within 1e-5.
    plan = ViewPlan(family="rotation", num_views=4, crop="none", size=32, flip=True,
                    mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3))
    images, flips = SAME[:2] * 2, np.array([0, 0, 1, 1], dtype=np.int32)
    inputs = {"flip/0": flips, f"angle/{k}": (90.0 * k * (1 - 2 * flips)).astype(np.float32)}

    def graph(x, nodes):
        return finish(x, plan, Site(False, True, size=(32, 32), inputs=nodes), k, k,
                      types.FLOAT)

    out = run_graph(graph, images, inputs)
    for img, f, got in zip(images, flips, out):
        expected = reference.normalize(reference.rot90(reference.hflip(img) if f else img, k),
                                       plan.mean, plan.std)
        np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("gpu_formula", [False, True], ids=["cpu-rounding", "explicit-floor"])
def test_luma_equals_pil_for_every_rgb_colour(gpu_formula):
    """The grey image behind color and contrast: PIL's fixed-point L for all 2^24 colours,
    with the CPU's rounding uint8 coord_transform and with the GPU's explicit +0.5/floor
    (whose result cannot depend on the cast's rounding mode)."""
    from PIL import Image

    v = np.arange(1 << 24, dtype=np.uint32)
    img = np.stack([(v >> 16) & 255, (v >> 8) & 255, v & 255], -1).astype(np.uint8)
    img = img.reshape(4096, 4096, 3)
    out = run_graph(lambda x, _: ops.luma(x, Site(gpu_formula, True)), [img])[0][..., 0]
    assert np.array_equal(out, np.asarray(Image.fromarray(img).convert("L")))


def test_blend_tables_are_pil_enhance():
    # the tables behind brightness, contrast, color and sharpness are PIL's own blend
    from PIL import Image, ImageEnhance

    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    for factor in (0.1, 0.7, 1.3, 1.9):
        table = geometry.blend_table(factor)
        expected = ImageEnhance.Brightness(Image.fromarray(img)).enhance(factor)
        assert np.array_equal(table[0][img], np.asarray(expected))


# exact equalize on the GPU needs one small size (the staircase); mixed sizes use DALI's
GPU_CASES = [(op, level, images) for op, level in ACTIVE for images in ("one-size", "mixed")
             if not (op == "equalize" and images == "mixed")]


@pytest.mark.gpu
@pytest.mark.parametrize("op,level,images", GPU_CASES)
def test_op_matches_pil_on_gpu(op, level, images):
    images = SAME if images == "one-size" else MIXED
    exact_equalize = len({img.shape for img in images}) == 1
    for sign in ((1, -1) if OpStep(op, level).signed else (1,)):
        outputs = run_op(op, level, sign, images, gpu=True, exact_equalize=exact_equalize)
        worst, fraction = compare(op, level, sign, outputs, images)
        max_diff, max_fraction = EXACT if op in GPU_EXACT else GPU_TOLERANCE
        assert worst <= max_diff and fraction <= max_fraction, (op, level, sign, worst, fraction)
