"""Views, gates and the CPU loader of the reference backend."""
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from kdaug.augment.draws import draw
from kdaug.augment.plan import CIFAR_MEAN, CIFAR_STD, eval_plan, train_plan
from kdaug.augment.policies import POLICIES, Policy
from kdaug.augment.reference import apply_op, hflip, make_views, normalize, pad_crop
from kdaug.augment.reference_loader import ReferenceLoader, ReferenceViewDataset, epoch_indices
from kdaug.data.source import Split
from kdaug.errors import KdaugError

IMG = np.random.default_rng(99).integers(0, 256, (32, 32, 3), dtype=np.uint8)


def small_split(n=26, seed=5):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    return Split(rng.integers(0, 10, n), images=images)


# ------------------------------------------------------------------------------------ views

PLANS = {
    "plain-1": train_plan("small", family="plain", num_views=1),
    "plain-2": train_plan("small", family="plain", num_views=2),
    "jda-2": train_plan("small", family="jda", num_views=2, policy="cifar100"),
    "jda-4": train_plan("small", family="jda", num_views=4, policy="cifar10"),
    "rotation": train_plan("small", family="rotation", num_views=4),
    "rotation-crop": train_plan("small", family="rotation-crop", num_views=4),
    "eval-small": eval_plan("small"),
    "jda-large": train_plan("large", family="jda", num_views=2, policy="imagenet", size=24),
    "eval-large": eval_plan("large", size=24),
}


def views_of(img, plan, seed=0, epoch=0, index=0):
    draws = draw(plan, seed, epoch, [index], shapes=img.shape[:2])
    return make_views(img, plan, draws), draws


@pytest.mark.parametrize("name", PLANS)
def test_view_shapes_and_dtypes(name):
    plan = PLANS[name]
    img = IMG if plan.crop in ("pad", "none") else np.random.default_rng(1).integers(
        0, 256, (40, 56, 3), dtype=np.uint8)
    views, draws = views_of(img, plan)
    assert views.shape == (plan.num_views, 3, plan.size, plan.size)
    assert views.dtype == np.float32 and np.isfinite(views).all()
    assert draws.fired.shape == (1, plan.num_views, len(plan.policy) if plan.policy else 0)


def test_jda_view0_is_standard_transform_and_view1_chains_before_crop():
    policy = Policy("always", 1.0, POLICIES["cifar100"].steps)
    plan = replace(train_plan("small", family="jda", num_views=2, policy="cifar100"),
                   policy=policy)
    views, draws = views_of(IMG, plan, seed=21)
    assert not draws.fired[0, 0].any() and draws.fired[0, 1].all()

    def standard(img, v):   # the documented order, by hand: pad-crop at the drawn window, flip
        top, left = draws.crop[0, v, :2] + 4
        out = pad_crop(img, 4, top, left, 32)
        return normalize(hflip(out) if draws.flip[0, v] else out, CIFAR_MEAN, CIFAR_STD)

    np.testing.assert_array_equal(views[0], standard(IMG, 0))
    chained = IMG
    for step, sign in zip(policy.steps, draws.signs[0, 1]):
        chained = apply_op(chained, step.op, step.magnitude, int(sign))
    np.testing.assert_array_equal(views[1], standard(chained, 1))


def test_jda_views_draw_independent_crops():
    plan = train_plan("small", family="jda", num_views=2, policy="cifar100")
    never = replace(plan, policy=Policy("never", 0.0, plan.policy.steps))
    # with no op firing, the two views still differ through their own crop/flip draws
    differ = sum(not np.array_equal(*views_of(IMG, never, seed=s)[0]) for s in range(20))
    assert differ >= 15


def test_rotation_views_are_exact_quarter_turns_of_view0():
    views, draws = views_of(IMG, PLANS["rotation"], seed=4)
    assert not draws.fired.any()
    for k in range(4):
        np.testing.assert_array_equal(views[k], np.rot90(views[0], k, axes=(1, 2)))


def test_rotation_crop_views_have_own_crops_and_shared_flip():
    views, _ = views_of(IMG, PLANS["rotation-crop"], seed=8)
    # every candidate pad-crop (81 windows x 2 flips) of the raw image, normalised
    candidates = {}
    for top in range(9):
        for left in range(9):
            crop = pad_crop(IMG, 4, top, left, 32)
            for flip in (False, True):
                candidates[(top, left, flip)] = normalize(hflip(crop) if flip else crop,
                                                          CIFAR_MEAN, CIFAR_STD)
    found = []
    for k in range(4):
        upright = np.rot90(views[k], -k, axes=(1, 2))
        match = [key for key, c in candidates.items() if np.array_equal(c, upright)]
        assert len(match) == 1, k
        found.append(match[0])
    assert len({flip for _, _, flip in found}) == 1  # one flip for all views
    assert len({(top, left) for top, left, _ in found}) > 1  # crops drawn per view


def test_eval_views_are_deterministic():
    plan = PLANS["eval-small"]
    a, _ = views_of(IMG, plan, seed=0)
    b, _ = views_of(IMG, plan, seed=1, epoch=3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[0], normalize(IMG, CIFAR_MEAN, CIFAR_STD))


def test_determinism_under_seed():
    plan = PLANS["jda-4"]
    a, fa = views_of(IMG, plan, seed=123)
    b, fb = views_of(IMG, plan, seed=123)
    c, _ = views_of(IMG, plan, seed=124)
    np.testing.assert_array_equal(a, b)
    assert np.array_equal(fa.fired, fb.fired)
    assert not np.array_equal(a, c)


def test_crop_none_rejects_wrong_size():
    with pytest.raises(ValueError, match="32x32"):
        views_of(IMG[:30], PLANS["eval-small"])


# ------------------------------------------------------------------------- epoch_indices

@pytest.mark.parametrize("n,shards", [(26, 1), (26, 3), (100, 4), (7, 2)])
def test_epoch_indices_train(n, shards):
    parts = [epoch_indices(n, 3, 0, True, s, shards) for s in range(shards)]
    assert all(len(p) == n // shards for p in parts)
    joined = np.concatenate(parts)
    assert len(set(joined.tolist())) == len(joined)  # disjoint, no repeats
    assert set(joined.tolist()) <= set(range(n))
    # deterministic for (seed, epoch); a new epoch or seed reshuffles
    np.testing.assert_array_equal(parts[0], epoch_indices(n, 3, 0, True, 0, shards))
    assert not np.array_equal(parts[0], epoch_indices(n, 4, 0, True, 0, shards))
    assert not np.array_equal(parts[0], epoch_indices(n, 3, 1, True, 0, shards))
    # the documented rule, written out
    perm = np.random.default_rng([0, 3]).permutation(n)
    np.testing.assert_array_equal(parts[-1], perm[shards - 1::shards][: n // shards])


@pytest.mark.parametrize("n,shards", [(26, 1), (26, 3), (7, 4)])
def test_epoch_indices_eval_exact_cover(n, shards):
    parts = [epoch_indices(n, e, 0, False, s, shards) for s, e in zip(range(shards), range(9))]
    np.testing.assert_array_equal(np.sort(np.concatenate(parts)), np.arange(n))
    for s, p in enumerate(parts):
        np.testing.assert_array_equal(p, np.arange(s, n, shards))


def test_epoch_indices_bad_shard():
    with pytest.raises(KdaugError):
        epoch_indices(10, 0, 0, True, 2, 2)


# -------------------------------------------------------------------------------- loader

def _collect(loader):
    return [(b.views.clone(), b.labels.clone(), b.index.clone()) for b in loader]


def test_loader_batches_and_worker_independence():
    split = small_split()
    plan = PLANS["jda-2"]
    serial = ReferenceLoader(split, plan, 8, train=True, seed=7, num_workers=0)
    parallel = ReferenceLoader(split, plan, 8, train=True, seed=7, num_workers=2)
    assert len(serial) == 3  # 26 // 8, the tail dropped
    epochs = []
    for epoch in (0, 1):
        serial.set_epoch(epoch)
        parallel.set_epoch(epoch)
        a, b = _collect(serial), _collect(parallel)
        assert len(a) == len(b) == 3
        for (va, la, ia), (vb, lb, ib) in zip(a, b):
            assert torch.equal(va, vb) and torch.equal(la, lb) and torch.equal(ia, ib)
        epochs.append(a)
    first = epochs[0][0]
    views, labels, index = first
    assert views.shape == (8, 2, 3, 32, 32) and views.dtype == torch.float32
    assert labels.dtype == torch.int64 and index.dtype == torch.int64
    np.testing.assert_array_equal(labels.numpy(), split.labels[index.numpy()])
    np.testing.assert_array_equal(np.concatenate([i.numpy() for _, _, i in epochs[0]]),
                                  epoch_indices(26, 0, 7, True)[:24])
    assert not torch.equal(epochs[0][0][2], epochs[1][0][2])  # reshuffled next epoch


def test_loader_item_equals_dataset_item():
    split = small_split()
    plan = PLANS["jda-2"]
    loader = ReferenceLoader(split, plan, 4, train=True, seed=3)
    loader.set_epoch(2)
    batch = next(iter(loader))
    dataset = ReferenceViewDataset(split, plan, seed=3)
    dataset.set_epoch(2)
    views, label, index = dataset[int(batch.index[1])]
    assert torch.equal(batch.views[1], views) and int(batch.labels[1]) == label
    assert batch.rotation is None


def test_loader_eval_keeps_partial_batch_and_shards():
    split = small_split()
    plan = PLANS["eval-small"]
    seen = []
    for shard in range(3):
        loader = ReferenceLoader(split, plan, 4, train=False, shard_id=shard, num_shards=3)
        batches = list(loader)
        assert len(batches) == len(loader) == math.ceil(len(range(shard, 26, 3)) / 4)
        seen.extend(torch.cat([b.index for b in batches]).tolist())
    assert sorted(seen) == list(range(26))


def test_loader_rotation_tensor():
    loader = ReferenceLoader(small_split(), PLANS["rotation"], 8, train=True)
    batch = next(iter(loader))
    assert batch.rotation.tolist() == [0, 1, 2, 3] and batch.rotation.dtype == torch.int64
    assert batch.views.shape == (8, 4, 3, 32, 32)


def test_loader_rejects_bad_settings():
    with pytest.raises(KdaugError, match="batch_size"):
        ReferenceLoader(small_split(), PLANS["plain-1"], 30, train=True)
    with pytest.raises(KdaugError, match="shard"):
        ReferenceLoader(small_split(), PLANS["plain-1"], 4, train=True, shard_id=3, num_shards=2)


def test_loader_reads_image_files(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(4)
    files, raws = [], []
    for i, shape in enumerate([(40, 56), (60, 30), (33, 33)]):
        raw = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
        path = tmp_path / f"{i}.png"  # lossless, so the decoded pixels are the raw ones
        Image.fromarray(raw).save(path)
        files.append(str(path))
        raws.append(raw)
    plan = PLANS["eval-large"]
    loader = ReferenceLoader(Split(np.array([2, 0, 1]), files=files), plan, 2, train=False)
    batches = list(loader)
    assert [b.views.shape[0] for b in batches] == [2, 1]
    views = torch.cat([b.views for b in batches])
    for raw, got in zip(raws, views):
        expected, _ = views_of(raw, plan)
        assert torch.equal(got, torch.from_numpy(expected))


@pytest.mark.gpu
def test_loader_moves_batches_to_cuda():
    loader = ReferenceLoader(small_split(), PLANS["rotation"], 8, train=True, device="cuda")
    batch = next(iter(loader))
    assert batch.views.is_cuda and batch.labels.is_cuda and batch.rotation.is_cuda
    assert batch.views.dtype == torch.float32
