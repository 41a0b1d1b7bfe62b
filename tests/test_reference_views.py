"""Views, gates and the CPU loader of the reference backend."""
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from kdaug.augment.plan import CIFAR_MEAN, CIFAR_STD, eval_plan, train_plan
from kdaug.augment.policies import POLICIES, Policy
from kdaug.augment.reference import (
    apply_chain, apply_op, draw_chain, hflip, make_views, normalize, pad_crop, pad_crop_params,
)
from kdaug.augment.reference_loader import ReferenceLoader, ReferenceViewDataset, epoch_indices
from kdaug.data.source import Split
from kdaug.errors import KdaugError

DRAWS = 10_000
IMG = np.random.default_rng(99).integers(0, 256, (32, 32, 3), dtype=np.uint8)


def small_split(n=26, seed=5):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    return Split(rng.integers(0, 10, n), images=images)


# ------------------------------------------------------------------------------ gates, signs

def _draw_many(policy, seed=0):
    rng = np.random.default_rng(seed)
    pairs = [draw_chain(policy, rng) for _ in range(DRAWS)]
    return np.array([f for f, _ in pairs]), np.array([s for _, s in pairs])


@pytest.mark.parametrize("name", POLICIES)
def test_gate_frequencies_within_3_sigma(name):
    policy = POLICIES[name]
    fired, _ = _draw_many(policy)
    sigma = math.sqrt(policy.p * (1 - policy.p) / DRAWS)
    rates = fired.mean(0)
    for step, rate in zip(policy.steps, rates):
        assert abs(rate - policy.p) < 3 * sigma, (step.op, rate)
    # gates of different steps are independent: two fire together at rate p^2
    both = (fired[:, 0] & fired[:, 1]).mean()
    assert abs(both - policy.p ** 2) < 3 * math.sqrt(policy.p ** 2 * (1 - policy.p ** 2) / DRAWS)


@pytest.mark.parametrize("name", POLICIES)
def test_sign_balance(name):
    policy = POLICIES[name]
    _, signs = _draw_many(policy, seed=1)
    assert set(np.unique(signs)) <= {-1, 1}
    sigma = math.sqrt(0.25 / DRAWS)
    for j, step in enumerate(policy.steps):
        positive = (signs[:, j] == 1).mean()
        if step.signed:
            assert abs(positive - 0.5) < 3 * sigma, (step.op, positive)
        else:
            assert positive == 1.0, step.op


@pytest.mark.parametrize("name", POLICIES)
def test_apply_chain_uses_draw_chain(name):
    # same seed -> apply_chain reports exactly the gates/signs draw_chain produces, and leaves
    # the generator where draw_chain leaves it
    policy = POLICIES[name]
    a, b = np.random.default_rng(11), np.random.default_rng(11)
    _, fired, signs = apply_chain(IMG, policy, a)
    f, s = draw_chain(policy, b)
    assert fired == f.tolist() and signs == s.tolist()
    assert a.random() == b.random()


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


@pytest.mark.parametrize("name", PLANS)
def test_view_shapes_and_dtypes(name):
    plan = PLANS[name]
    img = IMG if plan.crop in ("pad", "none") else np.random.default_rng(1).integers(
        0, 256, (40, 56, 3), dtype=np.uint8)
    views, fired = make_views(img, plan, np.random.default_rng(0))
    assert views.shape == (plan.num_views, 3, plan.size, plan.size)
    assert views.dtype == np.float32 and np.isfinite(views).all()
    assert len(fired) == plan.num_views
    for v, f in enumerate(fired):
        assert len(f) == (len(plan.policy) if plan.augmented(v) else 0)


def test_jda_view0_is_standard_transform_and_view1_chains_before_crop():
    policy = Policy("always", 1.0, POLICIES["cifar100"].steps)
    plan = train_plan("small", family="jda", num_views=2, policy="cifar100")
    plan = replace(plan, policy=policy)
    views, fired = make_views(IMG, plan, np.random.default_rng(21))
    assert fired[0] == [] and fired[1] == [True] * len(policy)

    rng = np.random.default_rng(21)  # replay the documented draw order by hand
    top, left = pad_crop_params(32, 32, 4, 32, rng)
    view0 = pad_crop(IMG, 4, top, left, 32)
    if rng.random() < 0.5:
        view0 = hflip(view0)
    np.testing.assert_array_equal(views[0], normalize(view0, CIFAR_MEAN, CIFAR_STD))

    _, signs = draw_chain(policy, rng)
    chained = IMG
    for step, sign in zip(policy.steps, signs):
        chained = apply_op(chained, step.op, step.magnitude, int(sign))
    top, left = pad_crop_params(32, 32, 4, 32, rng)
    view1 = pad_crop(chained, 4, top, left, 32)
    if rng.random() < 0.5:
        view1 = hflip(view1)
    np.testing.assert_array_equal(views[1], normalize(view1, CIFAR_MEAN, CIFAR_STD))


def test_jda_views_draw_independent_crops():
    plan = train_plan("small", family="jda", num_views=2, policy="cifar100")
    never = replace(plan, policy=Policy("never", 0.0, plan.policy.steps))
    # with no op firing, the two views still differ through their own crop/flip draws
    differ = sum(not np.array_equal(*make_views(IMG, never, np.random.default_rng(s))[0])
                 for s in range(20))
    assert differ >= 15


def test_rotation_views_are_exact_quarter_turns_of_view0():
    views, fired = make_views(IMG, PLANS["rotation"], np.random.default_rng(4))
    assert fired == [[], [], [], []]
    for k in range(4):
        np.testing.assert_array_equal(views[k], np.rot90(views[0], k, axes=(1, 2)))


def test_rotation_crop_views_have_own_crops_and_shared_flip():
    views, _ = make_views(IMG, PLANS["rotation-crop"], np.random.default_rng(8))
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
    a, _ = make_views(IMG, plan, np.random.default_rng(0))
    b, _ = make_views(IMG, plan, np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[0], normalize(IMG, CIFAR_MEAN, CIFAR_STD))


def test_determinism_under_seed():
    plan = PLANS["jda-4"]
    a, fa = make_views(IMG, plan, np.random.default_rng(123))
    b, fb = make_views(IMG, plan, np.random.default_rng(123))
    c, _ = make_views(IMG, plan, np.random.default_rng(124))
    np.testing.assert_array_equal(a, b)
    assert fa == fb
    assert not np.array_equal(a, c)


def test_crop_none_rejects_wrong_size():
    with pytest.raises(ValueError, match="32x32"):
        make_views(IMG[:30], PLANS["eval-small"], np.random.default_rng(0))


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
    with pytest.raises(ValueError):
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
    with pytest.raises(KdaugError, match="batch size"):
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
        expected, _ = make_views(raw, plan, np.random.default_rng(0))
        assert torch.equal(got, torch.from_numpy(expected))


@pytest.mark.gpu
def test_loader_moves_batches_to_cuda():
    loader = ReferenceLoader(small_split(), PLANS["rotation"], 8, train=True, device="cuda")
    batch = next(iter(loader))
    assert batch.views.is_cuda and batch.labels.is_cuda and batch.rotation.is_cuda
    assert batch.views.dtype == torch.float32
