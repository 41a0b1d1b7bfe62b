"""View plans through DaliLoader (kdaug.pipelines): shapes, the JDA chain per view, statistics
of gates and signs, determinism, epochs and sharding, file sources and bad files."""
from pathlib import Path

import numpy as np
import pytest

from conftest import dali_or_skip  # noqa: E402

dali_or_skip()

import torch  # noqa: E402
from PIL import Image  # noqa: E402

from kdaug.augment import reference  # noqa: E402
from kdaug.augment.draws import draw  # noqa: E402
from kdaug.augment.plan import CIFAR_MEAN, CIFAR_STD, eval_plan, train_plan  # noqa: E402
from kdaug.augment.reference_loader import ReferenceLoader, epoch_indices  # noqa: E402
from kdaug.data.source import Split  # noqa: E402
from kdaug.errors import KdaugError  # noqa: E402
from kdaug.pipelines import build_loader  # noqa: E402
from kdaug.pipelines.files import folder_split  # noqa: E402
from kdaug.pipelines import loader as loader_module  # noqa: E402
from kdaug.pipelines.loader import DaliLoader  # noqa: E402


def _cifar_like(n, seed=0, size=32):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    base = np.stack([3 * xx, 2 * yy + 40, 200 - 3 * xx], -1)[None].astype(float)
    images = np.clip(base + rng.normal(0, 40, (n, size, size, 3)), 0, 255).astype(np.uint8)
    return Split(rng.integers(0, 10, n), images=images)


SPLIT = _cifar_like(48)


def loader(plan, split=SPLIT, batch_size=16, train=True, **kw):
    return DaliLoader(split, plan, batch_size, train=train, device="cpu", num_threads=1, **kw)


def first(loader_):
    return next(iter(loader_))


def to_uint8(view, plan):
    """(3, S, S) normalised float -> (S, S, 3) uint8, inverting the normalisation."""
    mean = np.asarray(plan.mean, np.float32)[:, None, None]
    std = np.asarray(plan.std, np.float32)[:, None, None]
    return np.rint((np.asarray(view) * std + mean) * 255).astype(np.int64).transpose(1, 2, 0)


def find_crop(view_img, source, pad):
    """(top, left, flip) of the pad-crop and flip of ``source`` equal to ``view_img``, or None."""
    size = view_img.shape[0]
    padded = np.pad(source.astype(np.int64), ((pad, pad), (pad, pad), (0, 0)))
    for top in range(padded.shape[0] - size + 1):
        for left in range(padded.shape[1] - size + 1):
            window = padded[top:top + size, left:left + size]
            for flip in (0, 1):
                if np.array_equal(window[:, ::-1] if flip else window, view_img):
                    return top, left, flip
    return None


# ------------------------------------------------------------------------------- families

@pytest.mark.parametrize("family,views", [("plain", 1), ("plain", 2), ("jda", 2), ("jda", 3),
                                          ("rotation", 4), ("rotation-crop", 4)])
def test_shapes_and_dtypes(family, views):
    plan = train_plan("small", family=family, num_views=views, policy="cifar100")
    batch = first(loader(plan))
    assert batch.views.shape == (16, views, 3, 32, 32)
    assert batch.views.dtype == torch.float32 and batch.views.device.type == "cpu"
    assert batch.labels.dtype == torch.int64 and batch.index.dtype == torch.int64
    assert torch.equal(batch.labels, torch.as_tensor(SPLIT.labels)[batch.index])
    if family.startswith("rotation"):
        assert batch.rotation.tolist() == [0, 1, 2, 3]
    else:
        assert batch.rotation is None


def test_eval_view_is_the_normalised_image():
    batch = first(loader(eval_plan("small"), train=False))
    assert batch.index.tolist() == list(range(16))
    for i in range(16):
        expected = reference.normalize(SPLIT.images[i], CIFAR_MEAN, CIFAR_STD)
        np.testing.assert_allclose(batch.views[i, 0].numpy(), expected, atol=1e-5)


def test_eval_batches_equal_reference_loader():
    from kdaug.augment.reference_loader import ReferenceLoader

    split = _cifar_like(40)
    ours = list(loader(eval_plan("small"), split, batch_size=16, train=False, shard_id=1,
                       num_shards=2))
    theirs = list(ReferenceLoader(split, eval_plan("small"), 16, train=False, shard_id=1,
                                  num_shards=2))
    assert len(ours) == len(theirs) == 2
    for a, b in zip(ours, theirs):
        assert torch.equal(a.index, b.index) and torch.equal(a.labels, b.labels)
        assert torch.allclose(a.views, b.views, atol=1e-5)


TRAIN_PLANS = [(policy, family, views, family == "jda") for policy in ("cifar100", "cifar10")
               for family, views in (("jda", 2), ("jda", 4), ("plain", 1), ("rotation", 4),
                                     ("rotation-crop", 4))]
# rotation views through the chain (HSAKD+JDA, SSKD+JDA)
TRAIN_PLANS += [("cifar100", "rotation", 4, True), ("cifar10", "rotation-crop", 4, True)]


@pytest.mark.parametrize("policy,family,views,augment", TRAIN_PLANS)
def test_whole_views_equal_the_reference(policy, family, views, augment):
    # randomness is data: the same seed gives the same views on both backends, every op
    # exact, so whole views agree up to float32 rounding of the normalisation
    split = _cifar_like(96, seed=4)
    plan = train_plan("small", family=family, num_views=views, policy=policy, augment=augment)
    ours = list(DaliLoader(split, plan, 32, train=True, device="cpu", num_threads=2, seed=3))
    theirs = list(ReferenceLoader(split, plan, 32, train=True, seed=3))
    assert len(ours) == len(theirs) == 3
    for a, b in zip(ours, theirs):
        assert torch.equal(a.index, b.index) and torch.equal(a.labels, b.labels)
        assert (a.views - b.views).abs().max() <= 1e-6


@pytest.mark.parametrize("policy,family,views,augment", TRAIN_PLANS)
def test_packed_views_equal_the_reference(policy, family, views, augment):
    # the GPU's realisation for small in-memory images (packs of F images, every step gated
    # by a per-image parameter), run on the CPU: the same views again; 40 = 2 packs of 16 and
    # a padded one
    split = _cifar_like(80, seed=5)
    plan = train_plan("small", family=family, num_views=views, policy=policy, augment=augment)
    ours = list(DaliLoader(split, plan, 40, train=True, device="cpu", num_threads=1, seed=6,
                           frames=16))
    theirs = list(ReferenceLoader(split, plan, 40, train=True, seed=6))
    for a, b in zip(ours, theirs):
        assert torch.equal(a.index, b.index) and a.views.shape == b.views.shape
        assert (a.views - b.views).abs().max() <= 1e-6


def test_views_do_not_depend_on_lanes_threads_or_batches(monkeypatch):
    plan = train_plan("small", family="jda", num_views=3, policy="cifar10")
    split = _cifar_like(64)

    def by_index(loader):
        loader.set_epoch(2)
        return {int(i): v for b in loader for i, v in zip(b.index, b.views)}

    base = by_index(loader(plan, split, batch_size=16))                   # one lane
    monkeypatch.setattr(loader_module, "LANE_BATCH", 32)
    two_lanes = by_index(DaliLoader(split, plan, 16, train=True, device="cpu", num_threads=2))
    other_batches = by_index(DaliLoader(split, plan, 8, train=True, device="cpu", num_threads=2))
    assert base.keys() == two_lanes.keys()
    for i, view in base.items():
        assert torch.equal(view, two_lanes[i])
        if i in other_batches:
            assert torch.equal(view, other_batches[i])


def test_pipelines_are_built_once(monkeypatch):
    monkeypatch.setattr(loader_module, "LANE_BATCH", 32)     # two runs of two batches: 2 lanes
    plan = train_plan("small", family="jda", num_views=2, policy="cifar100")
    dl = DaliLoader(_cifar_like(64), plan, 16, train=True, device="cpu", num_threads=2)
    seen = []
    for epoch in range(3):
        dl.set_epoch(epoch)
        seen.append(torch.cat([b.index for b in dl]))
    assert dl.builds == dl.lanes == 2
    assert not torch.equal(seen[0], seen[1])
    # a pass left early (a --limit-batches run, a benchmark window) is drained, not rebuilt
    next(iter(dl))
    after = torch.cat([b.index for b in dl])
    assert dl.builds == 2 and len(after) == 64


def test_gates_come_from_the_draws():
    plan = train_plan("small", family="jda", num_views=2, policy="cifar100")
    dl = loader(plan, batch_size=24, seed=9)
    dl.set_epoch(1)
    for batch, fired, signs in dl.iter_with_gates():
        expected = draw(plan, 9, 1, batch.index.numpy())
        assert torch.equal(fired, torch.from_numpy(expected.fired))
        assert torch.equal(signs, torch.from_numpy(expected.signs))
        assert not fired[:, 0].any() and fired[:, 1].any()
        for b in range(4):   # and the view is that chain, replayed by the reference
            raw = SPLIT.images[int(batch.index[b])]
            ref = reference.make_views(raw, plan, expected.take([b]))
            np.testing.assert_allclose(batch.views[b].numpy(), ref, atol=1e-6)


def test_rotation_views_share_crop_and_flip():
    plan = train_plan("small", family="rotation", num_views=4)
    batch = first(loader(plan))
    for k in range(1, 4):
        assert torch.equal(batch.views[:, k], torch.rot90(batch.views[:, 0], k, dims=(2, 3)))
    for b in range(16):
        assert find_crop(to_uint8(batch.views[b, 0], plan),
                         SPLIT.images[int(batch.index[b])], plan.pad) is not None


def test_rotation_crop_views_share_flip_not_crop():
    plan = train_plan("small", family="rotation-crop", num_views=4)
    batch = first(loader(plan))
    crops_differ = 0
    for b in range(16):
        raw = SPLIT.images[int(batch.index[b])]
        found = [find_crop(to_uint8(torch.rot90(batch.views[b, k], -k, dims=(1, 2)), plan),
                           raw, plan.pad) for k in range(4)]
        assert all(f is not None for f in found)
        assert len({f[2] for f in found}) == 1          # one flip for the four views
        crops_differ += len({f[:2] for f in found}) > 1
    assert crops_differ >= 12                            # 4 crops drawn from 81 positions


def test_views_of_one_image_differ():
    plan = train_plan("small", family="jda", num_views=3, policy="cifar10")
    batch = first(loader(plan))
    v = batch.views
    differ = lambda a, b: int(((a - b).abs().flatten(1).amax(1) > 0).sum())  # noqa: E731
    # own crop (81 positions), flip and chain per view: a coincidence is rare
    assert differ(v[:, 0], v[:, 1]) >= 15 and differ(v[:, 1], v[:, 2]) >= 15


# --------------------------------------------------------------------------- determinism

def test_same_seed_same_views_and_epochs_differ():
    plan = train_plan("small", family="jda", num_views=2, policy="cifar100")
    a, b, c = loader(plan, seed=3), loader(plan, seed=3), loader(plan, seed=4)
    first_a, first_b, first_c = first(a), first(b), first(c)
    assert torch.equal(first_a.views, first_b.views) and torch.equal(first_a.index, first_b.index)
    assert not torch.equal(first_a.index, first_c.index)
    a.set_epoch(0)
    assert torch.equal(first(a).views, first_a.views)        # a pinned epoch repeats
    a.set_epoch(1)
    second = first(a)
    assert not torch.equal(second.index, first_a.index)
    same = torch.nonzero(second.index[:, None] == first_a.index[None, :])
    for i, j in same.tolist():   # an image met in both epochs gets new draws
        assert not torch.equal(second.views[i], first_a.views[j])


@pytest.mark.parametrize("backend", ["dali", "reference"])
def test_epochs_advance_by_themselves_unless_pinned(backend):
    plan = train_plan("small", family="jda", num_views=2, policy="cifar10")
    make = (lambda: loader(plan)) if backend == "dali" else (
        lambda: ReferenceLoader(SPLIT, plan, 16, train=True))

    def passes(dl, count):
        return [torch.cat([b.index for b in dl]) for _ in range(count)]

    free = make()
    orders = passes(free, 3)                  # like a shuffling DataLoader: a new order each
    assert free.epoch == 2
    for e, order in enumerate(orders):
        assert np.array_equal(order.numpy(), epoch_indices(48, e, 0, True)[:48])
    pinned = make()
    pinned.set_epoch(5)                       # like a DistributedSampler: set_epoch decides
    repeat = passes(pinned, 2)
    assert torch.equal(repeat[0], repeat[1]) and pinned.epoch == 5
    assert np.array_equal(repeat[0].numpy(), epoch_indices(48, 5, 0, True)[:48])


# ----------------------------------------------------------------------- epochs, shards

def test_epoch_length_eval_exact_train_drops_tail():
    split = _cifar_like(70)
    ev = loader(eval_plan("small"), split, batch_size=32, train=False)
    sizes = [b.batch_size for b in ev]
    assert len(ev) == 3 and sizes == [32, 32, 6]
    tr = loader(train_plan("small", family="plain", num_views=1), split, batch_size=32)
    tr.set_epoch(2)
    seen = torch.cat([b.index for b in tr]).numpy()
    assert len(tr) == 2 and len(seen) == 64
    assert np.array_equal(seen, epoch_indices(70, 2, 0, True)[:64])


def test_shards_are_disjoint_and_follow_epoch_indices():
    split = _cifar_like(70)
    plan = train_plan("small", family="plain", num_views=1)
    shards = []
    for rank in range(2):
        tr = loader(plan, split, batch_size=8, shard_id=rank, num_shards=2)
        tr.set_epoch(1)
        batches = list(tr)
        index = torch.cat([b.index for b in batches]).numpy()
        assert np.array_equal(index, epoch_indices(70, 1, 0, True, rank, 2)[:32])
        for b in batches:
            assert torch.equal(b.labels, torch.as_tensor(split.labels)[b.index])
        shards.append((set(index.tolist()), batches[0].views))
    assert not shards[0][0] & shards[1][0]
    ev = [torch.cat([b.index for b in loader(eval_plan("small"), split, 16, train=False,
                                              shard_id=r, num_shards=2)]) for r in range(2)]
    assert sorted(torch.cat(ev).tolist()) == list(range(70))


def test_bad_arguments():
    plan = eval_plan("small")
    with pytest.raises(KdaugError, match="shard 2 of 2"):
        DaliLoader(SPLIT, plan, 8, train=False, device="cpu", shard_id=2, num_shards=2)
    with pytest.raises(KdaugError, match="batch_size 64"):
        DaliLoader(SPLIT, train_plan("small", policy="cifar100"), 64, train=True, device="cpu")
    with pytest.raises(KdaugError, match="unknown device"):
        DaliLoader(SPLIT, plan, 8, train=False, device="tpu")
    with pytest.raises(KdaugError, match="uncropped"):
        DaliLoader(_cifar_like(4, size=8), plan, 2, train=False, device="cpu")


# ------------------------------------------------------------------------ build_loader

def test_build_loader_from_arrays_and_errors(monkeypatch):
    images, labels = SPLIT.images, SPLIT.labels
    dl = build_loader((images, labels), policy="cifar10", views=2, batch_size=8, device="cpu")
    batch = first(dl)
    assert batch.views.shape == (8, 2, 3, 32, 32) and len(dl) == 6
    with pytest.raises(KdaugError, match="unknown policy"):
        build_loader((images, labels), policy="svhn", device="cpu")
    with pytest.raises(KdaugError, match="uint8"):
        build_loader((images.astype(np.float32), labels), device="cpu")
    with pytest.raises(KdaugError, match="4 views"):
        build_loader((images, labels), family="rotation", views=2, device="cpu")
    if not torch.cuda.is_available():
        with pytest.raises(KdaugError, match="no CUDA GPU"):
            build_loader((images, labels), batch_size=8, device="gpu")
    monkeypatch.setitem(__import__("sys").modules, "nvidia.dali", None)
    with pytest.raises(KdaugError, match="DALI is not installed"):
        build_loader((images, labels), device="cpu")


@pytest.mark.parametrize("backend", ["dali", "reference"])
def test_views_of_chosen_samples_are_their_training_views(backend):
    # what show-aug draws: the views these samples get in that epoch of a training pass
    plan = train_plan("small", family="jda", num_views=3, policy="cifar10")
    make = (lambda: loader(plan, seed=1)) if backend == "dali" else (
        lambda: ReferenceLoader(SPLIT, plan, 16, train=True, seed=1))
    picked = make().views_of([7, 3, 40], epoch=2)
    assert picked.index.tolist() == [7, 3, 40] and picked.views.shape == (3, 3, 3, 32, 32)
    trained = make()
    trained.set_epoch(2)
    by_index = {int(i): v for b in trained for i, v in zip(b.index, b.views)}
    for i, view in zip(picked.index.tolist(), picked.views):
        if i in by_index:
            assert torch.equal(view, by_index[i])


# ------------------------------------------------------------------------------- files

def _jpeg_folder(root: Path, count=3, size=(300, 260)):
    rng = np.random.default_rng(2)
    arrays = []
    for c in ("cat", "dog"):
        (root / c).mkdir(parents=True)
        for i in range(count):
            yy, xx = np.mgrid[0:size[1], 0:size[0]]
            img = np.clip(np.stack([xx, yy, 255 - xx], -1) * 0.8
                          + rng.normal(0, 10, (size[1], size[0], 3)), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(root / c / f"{i}.jpg", quality=92)
            arrays.append(img)
    return arrays


def test_file_source_eval_matches_reference_center_crop(tmp_path):
    # DALI's CPU decoder gives PIL's pixels (measured: identical); the resize is DALI's
    # antialiased linear against PIL's BILINEAR reduce, not the same filter: measured max 1
    # level, mean 0.19 on these images; bounds leave room for more texture.
    _jpeg_folder(tmp_path)
    dl = build_loader(tmp_path, train=False, batch_size=4, device="cpu")
    batches = list(dl)
    assert [b.batch_size for b in batches] == [4, 2]
    assert batches[0].views.shape[1:] == (1, 3, 224, 224)
    plan, split = dl.plan, dl.split
    for b in batches:
        for view, i in zip(b.views, b.index.tolist()):
            expected = reference.center_crop_eval(split.load(i), plan.resize, plan.size)
            diff = np.abs(to_uint8(view[0], plan) - expected.astype(np.int64))
            assert diff.mean() <= 0.5 and diff.max() <= 3
    assert torch.equal(torch.cat([b.labels for b in batches]), torch.tensor([0, 0, 0, 1, 1, 1]))


def test_file_source_jda_train(tmp_path):
    _jpeg_folder(tmp_path, count=2)
    plan = train_plan("large", family="jda", num_views=2, policy="imagenet", size=64)
    split, classes = folder_split(tmp_path)
    assert classes == ["cat", "dog"] and len(split) == 4
    batch = first(DaliLoader(split, plan, 4, train=True, device="cpu", num_threads=1))
    assert batch.views.shape == (4, 2, 3, 64, 64) and torch.isfinite(batch.views).all()


@pytest.mark.parametrize("family,views", [("plain", 2), ("jda", 4)])
def test_file_views_near_the_reference(tmp_path, family, views):
    # JPEGs take the same draws on both backends; the differences are the resize filters
    # (DALI's antialiased linear, PIL's BILINEAR reduce), which JDA's colour ops can widen,
    # and on 375x500 images the rare warp boundary pixels (docs: tolerances). Measured: plain
    # views at most 3 levels apart, 0.14 on average; JDA views 0.13 on average, 0.3% of the
    # values more than one level apart, up to 22 levels where an equalize or autocontrast
    # sees a slightly different image.
    _jpeg_folder(tmp_path, count=4, size=(500, 375))
    split, _ = folder_split(tmp_path)
    plan = train_plan("large", family=family, num_views=views, policy="imagenet", size=112)
    ours = list(DaliLoader(split, plan, 4, train=True, device="cpu", num_threads=2, seed=2))
    theirs = list(ReferenceLoader(split, plan, 4, train=True, seed=2))
    diffs = np.stack([np.abs(to_uint8(a.views[i, v], plan) - to_uint8(b.views[i, v], plan))
                      for a, b in zip(ours, theirs) for i in range(a.batch_size)
                      for v in range(views)])
    assert [a.index.tolist() for a in ours] == [b.index.tolist() for b in theirs]
    assert diffs.reshape(len(diffs), -1).mean(1).max() <= 0.3
    assert (diffs > 1).mean() <= 0.01
    if family == "plain":
        assert diffs.max() <= 3


def test_bad_file_is_named(tmp_path):
    _jpeg_folder(tmp_path, count=2)
    bad = tmp_path / "dog" / "1.jpg"
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 3])
    dl = build_loader(tmp_path, train=False, batch_size=4, device="cpu")
    with pytest.raises(KdaugError, match=r"dog/1\.jpg: (truncated|cannot decode)"):
        list(dl)


# -------------------------------------------------------------------------------- GPU

def _gpu_loader(plan, split, batch_size, train=True):
    return DaliLoader(split, plan, batch_size, train=train, device="gpu")


@pytest.mark.gpu
@pytest.mark.parametrize("family,views", [("plain", 1), ("jda", 2), ("jda", 4),
                                          ("rotation", 4), ("rotation-crop", 4)])
def test_gpu_batch_256(family, views):
    split = _cifar_like(600)
    plan = train_plan("small", family=family, num_views=views, policy="cifar100")
    dl = _gpu_loader(plan, split, 256)
    batches = list(dl)
    assert len(batches) == 2
    for b in batches:
        assert b.views.shape == (256, views, 3, 32, 32) and b.views.dtype == torch.float16
        assert b.views.device.type == "cuda" and b.labels.device.type == "cuda"
        assert torch.equal(b.labels.cpu(), torch.as_tensor(split.labels)[b.index.cpu()])
        assert torch.isfinite(b.views.float()).all()
    if family == "rotation":
        v = batches[0].views
        assert torch.equal(v[:, 1], torch.rot90(v[:, 0], 1, dims=(2, 3)))


def _level_differences(gpu_views, ref_views, plan):
    """|GPU - reference| in levels of 255 per value (the GPU emits float16)."""
    return np.abs(to_uint8(gpu_views, plan) - to_uint8(ref_views, plan))


@pytest.mark.gpu
@pytest.mark.parametrize("policy,family,views", [("cifar100", "jda", 2), ("cifar10", "jda", 4),
                                                 ("cifar100", "rotation", 4),
                                                 ("cifar10", "rotation-crop", 4)])
def test_gpu_packed_views_equal_the_reference(policy, family, views):
    # the packed GPU graph takes the same draws: whole views agree up to float16 rounding
    # (at most half a level after un-normalising) and, where a GPU kernel contracts a
    # multiply-add that PIL truncates, one level on a few values
    split = _cifar_like(600, seed=8)
    plan = train_plan("small", family=family, num_views=views, policy=policy)
    gpu = DaliLoader(split, plan, 256, train=True, device="gpu", seed=2)
    assert gpu.frames > 0
    ref = list(ReferenceLoader(split, plan, 256, train=True, seed=2))
    for a, b in zip(gpu, ref):
        assert torch.equal(a.index.cpu(), b.index)
        diff = np.stack([_level_differences(a.views[i, v].float().cpu(), b.views[i, v], plan)
                         for i in range(a.batch_size) for v in range(views)])
        assert diff.max() <= 1 and (diff > 0).mean() <= 0.01, (diff.max(), (diff > 0).mean())


@pytest.mark.gpu
def test_gpu_file_views_near_the_cpu_ones(tmp_path):
    # files on the GPU: nvJPEG decodes (chroma upsampling other than libjpeg's), the chain
    # runs with DALI's equalize (OpenCV's formula) and per-pixel float32 warps; against the
    # DALI CPU views of the same draws: a few levels on average at most
    _jpeg_folder(tmp_path, count=8, size=(500, 375))
    split, _ = folder_split(tmp_path)
    plan = train_plan("large", family="jda", num_views=2, policy="imagenet", size=112)
    gpu = list(DaliLoader(split, plan, 8, train=True, device="gpu", seed=1))
    cpu = list(DaliLoader(split, plan, 8, train=True, device="cpu", seed=1,
                          exact_equalize=False))
    for a, b in zip(gpu, cpu):
        assert torch.equal(a.index.cpu(), b.index)
        diff = _level_differences(a.views.float().cpu()[:, 0], b.views[:, 0], plan)
        assert diff.mean() <= 2.0, diff.mean()            # view 0: decode and resize only


@pytest.mark.gpu
def test_gpu_pipelines_are_built_once():
    plan = train_plan("small", family="jda", num_views=2, policy="cifar100")
    dl = DaliLoader(_cifar_like(600), plan, 256, train=True, device="gpu")
    for epoch in range(3):
        dl.set_epoch(epoch)
        assert sum(b.batch_size for b in dl) == 512
    assert dl.builds == 1


@pytest.mark.gpu
def test_gpu_eval_matches_cpu_and_files_decode_on_gpu(tmp_path):
    cpu = first(loader(eval_plan("small"), train=False)).views
    gpu = first(_gpu_loader(eval_plan("small"), SPLIT, 16, train=False)).views
    assert torch.allclose(gpu.float().cpu(), cpu, atol=1e-2)
    _jpeg_folder(tmp_path)
    batches = list(build_loader(tmp_path, train=False, batch_size=4, device="gpu"))
    assert batches[0].views.shape == (4, 1, 3, 224, 224) and batches[0].views.is_cuda
