import csv
import gzip
import hashlib
import io
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from datasets_fixtures import make_cifar, make_class_folders
from kdaug.augment.plan import CIFAR_MEAN, IMAGENET_MEAN, IMAGENET_STD
from kdaug.data import Split, check_dataset, few_shot, list_datasets, load_dataset, synthetic_split
from kdaug.data.check import check_files
from kdaug.data.digits import DIGITS_FILE, read_digits
from kdaug.data.stats import channel_stats
from kdaug.errors import KdaugError

# --------------------------------------------------------------------------- CIFAR


def _expected_images(rows):
    """NHWC images from CHW rows, by the published formula: pixel (y, x) of channel c is
    row[c * 1024 + y * 32 + x]."""
    y, x, c = np.meshgrid(np.arange(32), np.arange(32), np.arange(3), indexing="ij")
    return rows[:, c * 1024 + y * 32 + x]


@pytest.mark.parametrize("variant", ["cifar10", "cifar100"])
@pytest.mark.parametrize("point_at_folder", [False, True])
def test_cifar_round_trip(tmp_path, variant, point_at_folder):
    written = make_cifar(tmp_path, variant, n_train=23, n_test=7, seed=1)
    ds = load_dataset(variant, written["dir"] if point_at_folder else str(tmp_path))
    for split, key in ((ds.train, "train"), (ds.val, "test")):
        assert split.kind == "arrays"
        assert split.images.dtype == np.uint8 and split.images.shape == (len(split), 32, 32, 3)
        assert split.labels.dtype == np.int64
        np.testing.assert_array_equal(split.images, _expected_images(written[f"{key}_rows"]))
        np.testing.assert_array_equal(split.labels, written[f"{key}_labels"])
    assert ds.classes == written["classes"]
    assert ds.num_classes == (100 if variant == "cifar100" else 10)
    assert (ds.geometry, ds.default_policy, ds.mean) == ("small", variant, CIFAR_MEAN)


def test_cifar_accepts_python3_reexport(tmp_path):
    """A batch re-saved by Python 3 (str keys, protocol 5, numpy 2 module names) loads too."""
    written = make_cifar(tmp_path, "cifar10", n_train=10, n_test=4, seed=2)
    batch = {"data": written["test_rows"], "labels": written["test_labels"].tolist()}
    with open(os.path.join(written["dir"], "test_batch"), "wb") as f:
        pickle.dump(batch, f, protocol=5)
    ds = load_dataset("cifar10", str(tmp_path))
    np.testing.assert_array_equal(ds.val.images, _expected_images(written["test_rows"]))
    np.testing.assert_array_equal(ds.val.labels, written["test_labels"])


def test_cifar_missing_dir_names_expected_file(tmp_path):
    with pytest.raises(KdaugError) as e:
        load_dataset("cifar100", str(tmp_path / "nowhere"))
    msg = str(e.value)
    assert os.path.join(str(tmp_path / "nowhere"), "cifar-100-python", "train") in msg
    assert "https://www.cs.toronto.edu/~kriz/cifar.html" in msg


def test_cifar_wrong_variant_hints(tmp_path):
    make_cifar(tmp_path, "cifar10", n_train=5, n_test=2)
    with pytest.raises(KdaugError, match="looks like CIFAR-10: pick --dataset cifar10"):
        load_dataset("cifar100", str(tmp_path))
    written = make_cifar(tmp_path, "cifar100", n_train=5, n_test=2)
    with pytest.raises(KdaugError, match="looks like CIFAR-100: pick --dataset cifar100"):
        load_dataset("cifar10", written["dir"])


def test_cifar_missing_batch_names_it(tmp_path):
    written = make_cifar(tmp_path, "cifar10", n_train=10, n_test=2)
    missing = os.path.join(written["dir"], "data_batch_3")
    os.remove(missing)
    with pytest.raises(KdaugError, match="data_batch_3") as e:
        load_dataset("cifar10", str(tmp_path))
    assert missing in str(e.value)


@pytest.mark.parametrize("content", [
    b"this is not a pickle",
    pickle.dumps(b"truncated" * 100, protocol=2)[:-5],
    pickle.dumps([1, 2, 3], protocol=2),                    # a pickle, but not a batch dict
    pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, protocol=2),
])
def test_cifar_malformed_pickle_names_file(tmp_path, content):
    written = make_cifar(tmp_path, "cifar10", n_train=10, n_test=2)
    bad = os.path.join(written["dir"], "test_batch")
    with open(bad, "wb") as f:
        f.write(content)
    with pytest.raises(KdaugError) as e:
        load_dataset("cifar10", str(tmp_path))
    assert bad in str(e.value)


class _Evil:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.makedirs, (self.target,))


def test_cifar_pickle_cannot_run_code(tmp_path):
    written = make_cifar(tmp_path, "cifar100", n_train=4, n_test=2)
    marker = str(tmp_path / "pwned")
    with open(os.path.join(written["dir"], "meta"), "wb") as f:
        pickle.dump({b"fine_label_names": _Evil(marker)}, f, protocol=2)
    with pytest.raises(KdaugError, match="meta"):
        load_dataset("cifar100", str(tmp_path))
    assert not os.path.exists(marker)


@pytest.mark.parametrize("name", ["cifar10", "cifar100", "imagenet", "folder"])
def test_data_dir_required(name):
    with pytest.raises(KdaugError, match=f"--data-dir is required for {name}"):
        load_dataset(name)


# --------------------------------------------------------------------------- class folders


def test_class_folders_classes_counts_labels(tmp_path):
    written = make_class_folders(tmp_path, ["zebra", "ant", "moth"], 3, 2, size=(40, 30), seed=2)
    for name in ("imagenet", "folder"):
        ds = load_dataset(name, str(tmp_path))
        assert ds.name == name and ds.classes == ["ant", "moth", "zebra"]
        for split, key in ((ds.train, "train"), (ds.val, "val")):
            assert split.kind == "files"
            assert list(zip(split.files, split.labels.tolist())) == written[key]
        assert np.bincount(ds.train.labels).tolist() == [3, 3, 3]
        assert np.bincount(ds.val.labels).tolist() == [2, 2, 2]
        assert (ds.geometry, ds.default_policy) == ("large", "imagenet")
        assert (ds.mean, ds.std) == (IMAGENET_MEAN, IMAGENET_STD)
    assert ds.train.load(0).shape == (30, 40, 3)


def test_class_folders_extensions_hidden_and_no_opening(tmp_path):
    make_class_folders(tmp_path, ["a", "b"], 1, 1, size=(16, 16))
    cls = tmp_path / "train" / "a"
    for name in ("x.PNG", "y.webp", "z.Jpeg", "w.bmp"):
        (cls / name).write_bytes(b"not decoded at load")   # load lists files, never opens them
    for name in ("notes.txt", "README"):
        (cls / name).write_text("ignored")
    (cls / "sub.jpg").mkdir()                               # a folder with an image-like name
    (tmp_path / "train" / ".cache").mkdir()                 # hidden folders are not classes
    (tmp_path / "val" / ".cache").mkdir()
    ds = load_dataset("folder", str(tmp_path))
    assert ds.classes == ["a", "b"]
    names = [os.path.basename(f) for f, y in zip(ds.train.files, ds.train.labels) if y == 0]
    assert names == sorted(["train_a_0000.JPEG", "x.PNG", "y.webp", "z.Jpeg", "w.bmp"])


def test_class_folders_missing_val(tmp_path):
    make_class_folders(tmp_path, ["a"], 1, 1, size=(16, 16))
    (tmp_path / "val" / "a" / "val_a_0000.JPEG").unlink()
    (tmp_path / "val" / "a").rmdir()
    (tmp_path / "val").rmdir()
    with pytest.raises(KdaugError, match="missing val split") as e:
        load_dataset("folder", str(tmp_path))
    assert str(tmp_path / "val") in str(e.value)


def test_class_folders_empty_class(tmp_path):
    make_class_folders(tmp_path, ["a", "b"], 1, 1, size=(16, 16))
    (tmp_path / "val" / "b" / "val_b_0000.JPEG").unlink()
    (tmp_path / "val" / "b" / "readme.txt").write_text("no images here")
    with pytest.raises(KdaugError, match="empty class folder") as e:
        load_dataset("folder", str(tmp_path))
    assert str(tmp_path / "val" / "b") in str(e.value)


def test_class_folders_no_classes_and_mismatch(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "val").mkdir()
    with pytest.raises(KdaugError, match="no class folders") as e:
        load_dataset("folder", str(tmp_path))
    assert str(tmp_path / "train") in str(e.value)
    make_class_folders(tmp_path / "x", ["a", "b"], 1, 1, size=(16, 16))
    os.rename(tmp_path / "x" / "val" / "b", tmp_path / "x" / "val" / "c")
    with pytest.raises(KdaugError, match="only in train: b; only in val: c"):
        load_dataset("folder", str(tmp_path / "x"))


def test_class_folders_missing_root(tmp_path):
    with pytest.raises(KdaugError, match="nothing"):
        check_dataset(str(tmp_path))
    with pytest.raises(KdaugError) as e:
        load_dataset("imagenet", str(tmp_path / "absent"))
    assert str(tmp_path / "absent") in str(e.value)


# --------------------------------------------------------------------------- digits


def _csv_digits():
    with gzip.open(DIGITS_FILE, "rt") as f:
        rows = np.array([[int(v) for v in r] for r in csv.reader(f)])
    return rows[:, :64].reshape(-1, 8, 8), rows[:, 64]


def _digests(images):
    return sorted(hashlib.sha1(im.tobytes()).hexdigest() for im in images)


def test_digits_embedded_dataset():
    pixels, labels = _csv_digits()
    counts = np.bincount(labels)
    ds = load_dataset("digits")
    assert len(ds.train) + len(ds.val) == 1797 == len(labels)
    assert ds.classes == [str(d) for d in range(10)]
    assert (ds.geometry, ds.default_policy) == ("small", "cifar10")
    for split in (ds.train, ds.val):
        assert split.images.shape == (len(split), 32, 32, 3) and split.images.dtype == np.uint8
        assert split.labels.dtype == np.int64
        np.testing.assert_array_equal(split.images[..., 0], split.images[..., 2])
    # stratified 80/20: each class holds round(0.2 * count) images out for validation
    np.testing.assert_array_equal(np.bincount(ds.val.labels), np.round(0.2 * counts))
    np.testing.assert_array_equal(np.bincount(ds.train.labels), counts - np.round(0.2 * counts))
    # train + val are exactly the 1797 images, none twice
    every, _ = read_digits()
    assert _digests(np.concatenate([ds.train.images, ds.val.images])) == _digests(every)
    # and they are the CSV digits: 4x4 block means track the 8x8 source (0..16 -> 0..255)
    blocks = every[..., 0].reshape(-1, 8, 4, 8, 4).mean(axis=(2, 4))
    assert np.abs(blocks - pixels * 255 / 16).mean() < 12
    assert min(np.corrcoef(b.ravel(), p.ravel())[0, 1] for b, p in zip(blocks[:50], pixels[:50])
               if p.std() > 0) > 0.9


def test_digits_deterministic_and_stats():
    a, b = load_dataset("digits"), load_dataset("digits", seed=5)   # the split ignores the seed
    np.testing.assert_array_equal(a.train.images, b.train.images)
    np.testing.assert_array_equal(a.val.labels, b.val.labels)
    pixels = a.train.images.astype(np.float64) / 255
    assert a.mean == tuple(round(float(v), 4) for v in pixels.mean(axis=(0, 1, 2)))
    assert a.std == tuple(round(float(v), 4) for v in pixels.std(axis=(0, 1, 2)))
    assert all(isinstance(v, float) for v in a.mean + a.std)


def test_digits_needs_no_sklearn():
    code = ("import sys, kdaug.data as d; d.load_dataset('digits'); "
            "sys.exit(1 if 'sklearn' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_channel_stats_chunked():
    imgs = np.random.default_rng(0).integers(0, 256, (7, 5, 4, 3), dtype=np.uint8)
    mean, std = channel_stats(imgs, chunk=3)
    ref = imgs.astype(np.float64) / 255
    np.testing.assert_allclose(mean, ref.mean(axis=(0, 1, 2)), atol=5e-5)
    np.testing.assert_allclose(std, ref.std(axis=(0, 1, 2)), atol=5e-5)


# --------------------------------------------------------------------------- few-shot


def _indexed_split(counts):
    """Labels with the given class counts, interleaved; image i holds the value i."""
    labels = np.concatenate([np.full(n, c) for c, n in enumerate(counts)])
    labels = labels[np.random.default_rng(0).permutation(len(labels))]
    images = np.broadcast_to(np.arange(len(labels), dtype=np.uint8)[:, None, None, None],
                             (len(labels), 2, 2, 3)).copy()
    return Split(labels, images=images)


def test_few_shot_stratified():
    split = _indexed_split([10, 20, 3])
    sub = few_shot(split, 0.3, seed=0)
    assert np.bincount(sub.labels).tolist() == [3, 6, 1]        # 0.9 rounds to 1
    assert np.bincount(few_shot(split, 0.01, seed=0).labels).tolist() == [1, 1, 1]
    kept = sub.images[:, 0, 0, 0].astype(int)
    assert (np.diff(kept) > 0).all()                             # original order kept
    np.testing.assert_array_equal(split.labels[kept], sub.labels)
    assert len(few_shot(split, 1.0, seed=0)) == len(split)


def test_few_shot_seeded():
    split = _indexed_split([50, 50])
    pick = lambda seed: few_shot(split, 0.2, seed).images[:, 0, 0, 0].tolist()  # noqa: E731
    assert pick(3) == pick(3)
    assert pick(3) != pick(4)


def test_few_shot_files_and_through_registry(tmp_path):
    split = Split(np.array([0, 0, 0, 0, 1, 1]), files=[f"f{i}.jpg" for i in range(6)])
    sub = few_shot(split, 0.5, seed=1)
    assert np.bincount(sub.labels).tolist() == [2, 1]
    assert all(split.files.index(f) in range(6) for f in sub.files)
    full = load_dataset("digits")
    ds = load_dataset("digits", few_shot=0.1, seed=2)
    np.testing.assert_array_equal(np.bincount(ds.train.labels),
                                  np.round(0.1 * np.bincount(full.train.labels)))
    assert len(ds.val) == len(full.val) and ds.info["few_shot"] == 0.1


@pytest.mark.parametrize("fraction", [0, -0.5, 1.5, float("nan"), "0.5", True])
def test_few_shot_bad_fraction(fraction):
    with pytest.raises(KdaugError, match="--few-shot"):
        few_shot(_indexed_split([4, 4]), fraction, seed=0)


# --------------------------------------------------------------------------- registry, synthetic


def test_registry_names_and_errors():
    known = list_datasets()
    assert set(known) == {"digits", "cifar10", "cifar100", "imagenet", "folder", "synthetic"}
    assert all(isinstance(d, str) and d and "\n" not in d for d in known.values())
    with pytest.raises(KdaugError, match="unknown dataset 'mnist'; known: digits, cifar10"):
        load_dataset("mnist")
    with pytest.raises(KdaugError, match="--data-dir is not used by digits"):
        load_dataset("digits", data_dir="/data")
    with pytest.raises(KdaugError, match="no option size"):
        load_dataset("digits", size=8)


def test_synthetic_structured_and_learnable():
    opts = dict(n_train=120, n_val=60, size=16, num_classes=4)
    ds = load_dataset("synthetic", seed=7, **opts)
    assert ds.train.images.shape == (120, 16, 16, 3) and ds.train.images.dtype == np.uint8
    assert np.bincount(ds.train.labels).tolist() == [30] * 4
    assert ds.num_classes == 4 and ds.geometry == "small"
    again = load_dataset("synthetic", seed=7, **opts)
    np.testing.assert_array_equal(ds.train.images, again.train.images)
    assert not np.array_equal(ds.train.images, ds.val.images[:60].repeat(2, axis=0))
    assert not np.array_equal(synthetic_split(8, 16, 4, seed=0).images,
                              synthetic_split(8, 16, 4, seed=1).images)
    # learnable: a nearest-class-mean classifier on mean colour separates the classes
    means = np.stack([ds.train.images[ds.train.labels == c].mean(axis=(0, 1, 2)) for c in range(4)])
    colour = ds.val.images.mean(axis=(1, 2))
    guess = np.argmin(((colour[:, None] - means[None]) ** 2).sum(-1), axis=1)
    assert (guess == ds.val.labels).mean() > 0.9
    # and not flat: pixels vary within each image
    assert ds.train.images.reshape(120, -1, 3).std(axis=1).mean() > 10


def test_synthetic_large_geometry():
    ds = load_dataset("synthetic", n_train=4, n_val=2, size=96, num_classes=2)
    assert (ds.geometry, ds.default_policy) == ("large", "imagenet")


# --------------------------------------------------------------------------- check_dataset


def _jpeg_bytes(im, **save):
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90, **save)
    return buf.getvalue()


def test_check_dataset_flags_each_bad_file(tmp_path):
    written = make_class_folders(tmp_path, ["a", "b"], 2, 1, size=(48, 40), seed=3)
    rgb = Image.open(written["train"][0][0]).convert("RGB")
    folder = tmp_path / "train" / "b"
    png = io.BytesIO()
    rgb.save(png, "PNG")
    good_jpeg = _jpeg_bytes(rgb)
    bad = {
        "truncated.jpg": (good_jpeg[:len(good_jpeg) // 2], "truncated"),
        "renamed_png.jpg": (png.getvalue(), "not a JPEG (PNG data)"),
        "cmyk.jpg": (_jpeg_bytes(rgb.convert("CMYK")), "CMYK JPEG"),
        "grey.jpeg": (_jpeg_bytes(rgb.convert("L")), "greyscale JPEG"),
        "progressive.JPEG": (_jpeg_bytes(rgb, progressive=True), "progressive JPEG"),
        "empty.jpg": (b"", "empty file"),
        "garbage.jpg": (b"\x00\x01 random bytes", "cannot decode"),
    }
    for name, (content, _) in bad.items():
        (folder / name).write_bytes(content)
    (folder / "fine.jpg").write_bytes(good_jpeg)
    calls = []
    found = check_dataset(str(tmp_path), progress=lambda done, total: calls.append((done, total)),
                          workers=1)
    flagged = {os.path.basename(p): problem for p, problem in found}
    assert sorted(flagged) == sorted(bad)                       # good files are not reported
    for name, (_, expected) in bad.items():
        assert flagged[name].startswith(expected), (name, flagged[name])
    total = 2 * 2 + 2 * 1 + len(bad) + 1
    assert calls[-1] == (total, total) and all(t == total for _, t in calls)
    assert check_dataset(str(tmp_path), workers=4) == found     # the thread pool agrees


def test_check_files_missing_file(tmp_path):
    missing = str(tmp_path / "gone.jpg")
    assert check_files([missing], workers=1) == [(missing, "unreadable: No such file or directory")]


def test_check_dataset_unreadable(tmp_path):
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        pytest.skip("root reads every file")
    make_class_folders(tmp_path, ["a"], 1, 1, size=(16, 16))
    path = tmp_path / "val" / "a" / "val_a_0000.JPEG"
    path.chmod(0)
    try:
        expected = [(str(path), "unreadable: Permission denied")]
        assert check_dataset(str(tmp_path), workers=1) == expected
    finally:
        path.chmod(0o644)


def test_fixture_images_are_clean_and_natural(tmp_path):
    written = make_class_folders(tmp_path, ["a", "b"], 2, 1, size=(64, 48), seed=0)
    assert check_dataset(str(tmp_path), workers=2) == []
    with Image.open(written["train"][0][0]) as im:
        assert (im.format, im.mode, im.size) == ("JPEG", "RGB", (64, 48))
        pixels = np.asarray(im, dtype=np.float64)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 500   # not flat colours
