"""kdaug.augment.draws: every random choice of a view as a pure function of (seed, epoch,
sample index, view): statistics, independence, determinism, and the crop rules."""
import math
from dataclasses import replace

import numpy as np
import pytest

from kdaug.augment.draws import RRC_TRIES, draw, rrc_windows, uniforms
from kdaug.augment.plan import PlanError, ViewPlan, eval_plan, train_plan
from kdaug.augment.policies import POLICIES
from kdaug.errors import KdaugError

N = 10_000
INDEX = np.arange(N)


def three_sigma(p, n):
    return 3 * math.sqrt(p * (1 - p) / n)


def test_uniforms_are_uniform_and_independent():
    u = uniforms(3, 1, INDEX, np.arange(2), np.arange(4))          # (N, 2, 4)
    assert u.shape == (N, 2, 4) and (u >= 0).all() and (u < 1).all()
    flat = u.reshape(N, -1)
    # ten equal bins per slot within 3 sigma, and no correlation between slots or views
    for column in flat.T:
        counts = np.bincount((column * 10).astype(int), minlength=10) / N
        assert np.all(np.abs(counts - 0.1) <= three_sigma(0.1, N)), counts
    corr = np.corrcoef(flat.T)
    assert np.abs(corr[~np.eye(8, dtype=bool)]).max() < 4 / math.sqrt(N)


def test_uniforms_depend_on_every_key_and_nothing_else():
    base = uniforms(0, 0, [5, 6], [0, 1], [0, 1, 2])
    assert np.array_equal(base, uniforms(0, 0, [5, 6], [0, 1], [0, 1, 2]))
    # one sample alone draws what it draws inside a batch
    assert np.array_equal(base[1:], uniforms(0, 0, [6], [0, 1], [0, 1, 2]))
    for other in (uniforms(1, 0, [5, 6], [0, 1], [0, 1, 2]), uniforms(0, 1, [5, 6], [0, 1], [0, 1, 2]),
                  uniforms(0, 0, [7, 8], [0, 1], [0, 1, 2])):
        assert not np.isclose(base, other).any()


JDA_POLICIES = [name for name, policy in POLICIES.items() if not policy.library]


@pytest.mark.parametrize("name", JDA_POLICIES)
def test_gate_and_sign_statistics(name):
    policy = POLICIES[name]
    plan = ViewPlan("jda", 3, "none", 32, False, (0.5,) * 3, (0.5,) * 3, policy)
    d = draw(plan, 0, 0, INDEX)
    assert not d.fired[:, 0].any()                           # view 0 has no chain
    fired = d.fired[:, 1:]                                   # (N, 2, L)
    rates = fired.reshape(-1, len(policy)).mean(0)
    assert np.all(np.abs(rates - policy.p) <= three_sigma(policy.p, 2 * N)), rates
    # steps and views draw independently: pairs fire together at p^2
    both = (fired[:, 0, 0] & fired[:, 0, 1]).mean()
    assert abs(both - policy.p ** 2) <= three_sigma(policy.p ** 2, N)
    agree = (fired[:, 0] == fired[:, 1]).mean()
    expected = policy.p ** 2 + (1 - policy.p) ** 2
    assert abs(agree - expected) <= three_sigma(expected, fired[:, 0].size)
    signed = np.array([s.signed for s in policy.steps])
    plus = (d.signs[:, 1:] == 1).reshape(-1, len(policy)).mean(0)
    assert np.all(np.abs(plus[signed] - 0.5) <= three_sigma(0.5, 2 * N)), plus
    assert np.all(plus[~signed] == 1.0) and set(np.unique(d.signs)) <= {-1, 1}


@pytest.mark.parametrize("name", sorted(set(POLICIES) - set(JDA_POLICIES)))
def test_library_policies_draw_one_seed_per_view(name):
    plan = ViewPlan("jda", 3, "none", 32, False, (0.5,) * 3, (0.5,) * 3, POLICIES[name])
    d = draw(plan, 0, 0, INDEX)
    assert d.fired.shape[-1] == 0 and d.library_seeds.shape == (N, 3)
    seeds = d.library_seeds[:, 1:].ravel()
    assert d.library_seeds.dtype == np.uint64 and len(np.unique(seeds)) == seeds.size
    again = draw(plan, 0, 0, INDEX[::-1])           # a pure function of (seed, epoch, index)
    assert (again.library_seeds[::-1] == d.library_seeds).all()
    assert (draw(plan, 0, 1, INDEX).library_seeds[:, 1:] != d.library_seeds[:, 1:]).all()


def test_pad_crop_and_flip_statistics():
    plan = train_plan("small", family="plain", num_views=2)
    d = draw(plan, 1, 0, INDEX)
    assert d.crop.shape == (N, 2, 4) and (d.crop[..., 2:] == 32).all()
    tops = d.crop[..., 0].ravel()
    assert tops.min() == -4 and tops.max() == 4              # RandomCrop(32, padding=4)
    counts = np.bincount(tops + 4, minlength=9) / tops.size
    assert np.all(np.abs(counts - 1 / 9) <= three_sigma(1 / 9, tops.size))
    assert abs(d.flip.mean() - 0.5) <= three_sigma(0.5, d.flip.size)
    # own crop and flip per view
    assert (d.crop[:, 0] != d.crop[:, 1]).any(axis=1).mean() > 0.8
    assert abs((d.flip[:, 0] == d.flip[:, 1]).mean() - 0.5) <= three_sigma(0.5, N)


def test_families_share_what_they_share():
    rot = draw(train_plan("small", family="rotation", num_views=4), 2, 0, INDEX[:500])
    assert (rot.crop == rot.crop[:, :1]).all() and (rot.flip == rot.flip[:, :1]).all()
    rc = draw(train_plan("small", family="rotation-crop", num_views=4), 2, 0, INDEX[:500])
    assert (rc.flip == rc.flip[:, :1]).all()
    assert (rc.crop != rc.crop[:, :1]).any(axis=(1, 2)).mean() > 0.9


def test_epochs_and_seeds_redraw_and_samples_are_independent_of_batch():
    plan = train_plan("small", family="jda", num_views=2, policy="cifar10")
    a = draw(plan, 0, 0, INDEX[:64])
    for other in (draw(plan, 0, 1, INDEX[:64]), draw(plan, 1, 0, INDEX[:64])):
        assert (other.fired != a.fired).any() and (other.crop != a.crop).any()
    alone = draw(plan, 0, 0, [10])
    assert np.array_equal(alone.fired[0], a.fired[10]) and np.array_equal(alone.crop[0],
                                                                          a.crop[10])
    assert np.array_equal(a.take([10]).signs, alone.signs)


def _torchvision_rrc(height, width, scale, ratio, area_u, ratio_u, top_u, left_u):
    """torchvision RandomResizedCrop.get_params, written out, with given uniforms."""
    area = height * width
    for t in range(RRC_TRIES):
        target = area * (scale[0] + (scale[1] - scale[0]) * area_u[t])
        aspect = math.exp(math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0]))
                          * ratio_u[t])
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            return (int(math.floor(top_u * (height - h + 1))),
                    int(math.floor(left_u * (width - w + 1))), h, w)
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        w, h = int(round(height * max(ratio))), height
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


@pytest.mark.parametrize("scale", [(0.08, 1.0), (0.9, 1.0)])
def test_rrc_windows_follow_torchvision(scale):
    plan = replace(train_plan("large", family="plain", num_views=1), rrc_scale=scale)
    rng = np.random.default_rng(0)
    shapes = np.array([[375, 500], [500, 375], [10, 100], [100, 10], [64, 48]] * 40)
    u = rng.random((len(shapes), 1, 2 * RRC_TRIES + 2))
    windows = rrc_windows(plan, shapes, u)
    for (height, width), row, window in zip(shapes, u[:, 0], windows[:, 0]):
        expected = _torchvision_rrc(height, width, scale, plan.rrc_ratio,
                                    row[0:2 * RRC_TRIES:2], row[1:2 * RRC_TRIES:2],
                                    row[-2], row[-1])
        assert tuple(window) == expected


def test_center_crop_needs_sizes_and_eval_draws_nothing():
    plan = eval_plan("large")
    with pytest.raises(KdaugError, match="image sizes"):
        draw(plan, 0, 0, [0, 1])
    d = draw(plan, 0, 0, [0, 1], shapes=[[375, 500], [500, 375]])
    assert d.resized.tolist() == [[256, 341], [341, 256]]
    assert d.crop[:, 0].tolist() == [[16, 58, 224, 224], [58, 16, 224, 224]]
    assert not d.flip.any() and d.fired.size == 0
    assert np.array_equal(draw(plan, 5, 9, [0, 1], shapes=[[375, 500], [500, 375]]).crop, d.crop)


def test_impossible_plans_and_keys_are_refused_alike():
    with pytest.raises(PlanError, match="at least one view"):
        train_plan("small", family="plain", num_views=0)
    with pytest.raises(KdaugError, match="unknown view family"):
        ViewPlan("mosaic", 2, "pad", 32, True, (0.5,) * 3, (0.5,) * 3)
    plan = train_plan("small", family="plain", num_views=1)
    with pytest.raises(KdaugError, match="non-negative"):
        draw(plan, -1, 0, [0])
    with pytest.raises(KdaugError, match="smaller than"):
        draw(plan, 0, 0, [0], shapes=(16, 16))
