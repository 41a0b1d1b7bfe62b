"""kdaug.pipelines.build_loader where a torch DataLoader stood: the sources trainers have, the
layouts their losses take, the settings a DataLoader user sets, epochs and DDP sharding like
torch's, bad input refused at construction. Both backends alike."""
import math
import os
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from conftest import dali_or_skip

dali_or_skip()

from kdaug.augment.draws import draw  # noqa: E402
from kdaug.augment.reference import normalize  # noqa: E402
from kdaug.errors import KdaugError  # noqa: E402
from kdaug.pipelines import build_loader  # noqa: E402
from datasets_fixtures import make_class_folders  # noqa: E402

BACKENDS = ["dali", "reference"]
RNG = np.random.default_rng(3)
IMAGES = RNG.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)
LABELS = RNG.integers(0, 10, 40)


def make(backend, source=(IMAGES, LABELS), **kw):
    kw.setdefault("batch_size", 8)
    return build_loader(source, device="cpu", backend=backend, **kw)


def first(loader):
    return next(iter(loader))


@pytest.mark.parametrize("backend", BACKENDS)
def test_torchvision_style_datasets(backend, tmp_path):
    # torchvision's CIFAR keeps .data as a transposed (non-contiguous) view and .targets as a
    # list: taken as they are, with the views of the same images given contiguously
    chw = np.ascontiguousarray(IMAGES.transpose(0, 3, 1, 2))
    cifar_like = SimpleNamespace(data=chw.transpose(0, 2, 3, 1), targets=LABELS.tolist())
    assert not cifar_like.data.flags["C_CONTIGUOUS"]
    a, b = first(make(backend, cifar_like)), first(make(backend))
    assert torch.equal(a.views, b.views) and torch.equal(a.labels, b.labels)
    # an ImageFolder's (path, class) samples
    make_class_folders(tmp_path, ("a", "b"), 3, 1, size=(40, 30), seed=0)
    folder = tmp_path / "train"
    samples = [(str(p), c) for c, name in enumerate(("a", "b"))
               for p in sorted((folder / name).glob("*"))]
    loader = make(backend, SimpleNamespace(samples=samples), batch_size=2, size=24)
    batch = first(loader)
    assert batch.views.shape == (2, 2, 3, 24, 24) and set(batch.labels.tolist()) <= {0, 1}


@pytest.mark.parametrize("backend", BACKENDS)
def test_layouts(backend):
    views_batch = first(make(backend, seed=4))
    views, labels = first(make(backend, seed=4, layout="tuple"))
    assert torch.equal(views, views_batch.views) and torch.equal(labels, views_batch.labels)
    flat_views, flat_labels = first(make(backend, seed=4, layout="flat"))
    b, v = views.shape[:2]
    assert flat_views.shape == (b * v,) + views.shape[2:]
    for i in range(b):       # image-major: view k of image i at i*V + k
        for k in range(v):
            assert torch.equal(flat_views[i * v + k], views[i, k])
            assert flat_labels[i * v + k] == labels[i]
    for x, y in make(backend, layout="tuple"):   # unpacks like a DataLoader's batches
        assert x.shape[0] == y.shape[0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_dataloader_settings(backend):
    mean, std = (0.2, 0.3, 0.4), (0.5, 0.25, 0.125)
    ev = first(make(backend, train=False, mean=mean, std=std))
    np.testing.assert_allclose(ev.views[0, 0].numpy(), normalize(IMAGES[0], mean, std),
                               atol=1e-5)
    assert first(make(backend, size=24)).views.shape[-2:] == (24, 24)
    # p: the policy's probability; the views follow the draws made with it
    for p in (0.0, 1.0):
        loader = make(backend, p=p, seed=2)
        batch = first(loader)
        fired = draw(loader.plan, 2, 0, batch.index.numpy()).fired[:, 1]
        assert fired.all() if p else not fired.any()
    keep = make(backend, drop_last=False)
    assert len(keep) == math.ceil(40 / 8) == len(list(keep))
    assert len(make(backend, batch_size=16)) == 2 and len(make(backend, batch_size=16,
                                                               drop_last=False)) == 3
    assert [b.batch_size for b in make(backend, batch_size=16, drop_last=False)] == [16, 16, 8]
    assert first(make(backend, num_threads=2, seed=4)).views.equal(first(make(backend, seed=4))
                                                                   .views)


BAD = [
    (dict(source=(IMAGES.astype(np.float32), LABELS)), "images must be uint8"),
    (dict(source=(IMAGES[..., 0], LABELS)), r"images must be \(N, H, W, 3\).*greyscale"),
    (dict(source=(np.ascontiguousarray(IMAGES.transpose(0, 3, 1, 2)), LABELS)),
     "3 channels last.*channels first"),
    (dict(source=(IMAGES, LABELS[:-1])), "labels must be one label per image: 40 images"),
    (dict(source=(IMAGES[:0], LABELS[:0])), "images is empty"),
    (dict(layout="nested"), "unknown layout 'nested'"),
    (dict(mean=(0.5, 0.5)), r"mean must be three finite numbers"),
    (dict(std=(0.5, 0.0, 0.5)), "std must be positive"),
    (dict(p=1.5), r"p must be a probability in \[0, 1\]"),
    (dict(batch_size=0), "batch_size must be an integer >= 1"),
    (dict(source="/no/such/folder"), "/no/such/folder"),
    (dict(policy="svhn"), "unknown policy 'svhn'"),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kwargs,message", BAD)
def test_bad_input_is_one_line_at_construction(backend, kwargs, message):
    with pytest.raises(KdaugError, match=message) as err:
        make(backend, **kwargs)
    assert "\n" not in str(err.value)


def _shard_worker(rank, world, port, out):
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        result = {}
        for backend in BACKENDS:
            for train in (True, False):
                loader = make(backend, batch_size=4, train=train, drop_last=False)
                result[(backend, train)] = (loader.shard_id, loader.num_shards,
                                            torch.cat([b.index for b in loader]).tolist())
        torch.save(result, os.path.join(out, f"{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_shards_come_from_the_process_group(tmp_path):
    # under torchrun the loader shards itself like a DistributedSampler would
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_shard_worker, args=(2, port, str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"{r}.pt") for r in range(2)]
    for backend in BACKENDS:
        for train in (True, False):
            (s0, n0, a), (s1, n1, b) = (r[(backend, train)] for r in ranks)
            assert (s0, n0, s1, n1) == (0, 2, 1, 2)
            assert not set(a) & set(b)                       # disjoint
            covered = sorted(a + b)
            assert covered == list(range(40))                # 40 % 2 == 0: every sample
            if train:
                assert len(a) == len(b) == 20                # equal shards: same step count
