"""RandAugment (n=3, m=5) and AutoAugment (torchvision's ImageNet policy) on both backends:
nvidia.dali.auto_aug on DALI, torchvision on the reference. The libraries draw with their own
generators, so the two agree in distribution, not view for view; what they share is drawn by
kdaug (crops and flips), so the augmentation's effect is measured against the same crop of the
unaugmented image."""
import numpy as np
import pytest
import torch

from conftest import dali_or_skip

dali_or_skip()

from kdaug.augment.plan import train_plan  # noqa: E402
from kdaug.augment.policies import get_policy  # noqa: E402
from kdaug.augment.reference_loader import ReferenceLoader  # noqa: E402
from kdaug.pipelines.loader import DaliLoader  # noqa: E402
from test_pipelines_views import _cifar_like  # noqa: E402

SPLIT = _cifar_like(768, seed=1)


def augmented_views(loader_cls, plan, **kw):
    return torch.cat([b.views[:, 1] for b in loader_cls(SPLIT, plan, 128, train=True, seed=3,
                                                         **kw)])


@pytest.fixture(scope="module")
def plain_views():
    # view 1 of a plain plan takes the same crop and flip draws as view 1 of a JDA-family plan
    return augmented_views(ReferenceLoader, train_plan("small", family="plain", num_views=2))


def change(views, plain):
    """Per image: mean |augmented - unaugmented| of the same crop (normalised units)."""
    return (views - plain).abs().flatten(1).mean(1)


# Measured on these 768 images (DALI CPU against the reference): RandAugment mean change
# 0.506 / 0.514, median 0.529 / 0.525; AutoAugment 0.531 / 0.552, views left unchanged 15% /
# 18% (a sub-policy whose ops both skip). The bounds leave room for sampling noise.
@pytest.mark.parametrize("name", ["randaugment", "autoaugment"])
def test_backends_agree_in_distribution(name, plain_views):
    plan = train_plan("small", family="jda", num_views=2, policy=name)
    dali = change(augmented_views(DaliLoader, plan, device="cpu", num_threads=2), plain_views)
    ref = change(augmented_views(ReferenceLoader, plan), plain_views)
    assert abs(dali.mean() - ref.mean()) <= 0.1 * ref.mean(), (dali.mean(), ref.mean())
    assert abs(dali.median() - ref.median()) <= 0.15 * ref.median()
    unchanged_dali, unchanged_ref = (dali < 1e-6).float().mean(), (ref < 1e-6).float().mean()
    assert abs(unchanged_dali - unchanged_ref) <= 0.06
    if name == "randaugment":        # three ops per view: hardly any view stays as it was
        assert unchanged_ref < 0.02 and unchanged_dali < 0.02
    else:                            # AutoAugment skips both ops of a sub-policy now and then
        assert 0.05 < unchanged_ref < 0.35 and 0.05 < unchanged_dali < 0.35
    assert ref.mean() > 0.2           # the policy does change the images


@pytest.mark.parametrize("name", ["randaugment", "autoaugment"])
def test_library_views_are_reproducible(name):
    plan = train_plan("small", family="jda", num_views=2, policy=name)
    # the reference seeds torchvision from kdaug's draws: workers and batches do not matter
    a = ReferenceLoader(SPLIT, plan, 64, train=True, seed=5, num_workers=2)
    b = ReferenceLoader(SPLIT, plan, 32, train=True, seed=5)
    first_a = next(iter(a))
    by_index = {int(i): v for batch in b for i, v in zip(batch.index, batch.views)}
    for i, v in zip(first_a.index.tolist(), first_a.views):
        assert torch.equal(v, by_index[i])
    # DALI draws with its own generator, seeded from the loader's seed
    x, y = (next(iter(DaliLoader(SPLIT, plan, 64, train=True, device="cpu", seed=s)))
            for s in (5, 5))
    assert torch.equal(x.views, y.views)
    z = next(iter(DaliLoader(SPLIT, plan, 64, train=True, device="cpu", seed=6)))
    assert not torch.equal(x.views[:, 1], z.views[:, 1])


def test_policies_say_what_they_are():
    assert get_policy("randaugment").option("n") == 3 and get_policy("randaugment").option("m") == 5
    assert "ImageNet policy" in get_policy("autoaugment").describe()
    assert len(get_policy("autoaugment")) == 0 and bool(get_policy("autoaugment"))
