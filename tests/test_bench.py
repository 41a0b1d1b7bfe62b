"""kdaug bench: structure of its JSON, arithmetic of its derived numbers, its JPEG folder.
Speed is never asserted; every measured number must be positive."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image, JpegImagePlugin

from kdaug.bench import jpegs, preset
from kdaug.bench.analysis import annotate
from kdaug.bench.backends import Backend
from kdaug.bench.context import GpuMemory
from kdaug.bench.loaders import measure_loader
from kdaug.bench.settings import BACKENDS
from kdaug.bench.timing import windows_from_stamps
from kdaug.data import synthetic_split
from kdaug.engine.loaders import dali_available
from kdaug.errors import KdaugError

STATS = ("views_per_s", "images_per_s")


def _cli():
    from kdaug.cli import bench  # noqa: F401  (registers the command on `kdaug`)
    from kdaug.cli.main import cli

    return cli


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One smoke run of `kdaug bench` through the CLI, shared by the structure tests."""
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("bench")
    args = ["bench", "--preset", "tiny", "--jpeg-cache", str(out / "cache"),
            "--json", str(out / "b.json"), "--plot", str(out / "b.png"),
            "--markdown", str(out / "b.md")]
    result = CliRunner().invoke(_cli(), args, catch_exceptions=False)
    return result, out


def _measured(rows):
    return [r for r in rows if "views_per_s" in r]


def _numbers(obj, path=""):
    if isinstance(obj, bool):
        return
    if isinstance(obj, (int, float)):
        yield path, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _numbers(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _numbers(v, f"{path}[{i}]")


def test_cli_run_writes_json_markdown_and_plot(tiny_run):
    result, out = tiny_run
    assert result.exit_code == 0, result.output
    data = json.loads((out / "b.json").read_text())
    assert data["complete"] is True
    assert data["command"] == ("kdaug bench --preset tiny --jpeg-cache " + str(out / "cache")
                               + f" --json {out / 'b.json'} --plot {out / 'b.png'}"
                               + f" --markdown {out / 'b.md'}")
    assert (out / "b.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "b.md").read_text()
    for title in ("Loader only", "End to end", "Targets (same run)"):
        assert title in md


def test_json_lists_every_backend_measured_or_with_a_reason(tiny_run):
    data = json.loads((tiny_run[1] / "b.json").read_text())
    assert [b["name"] for b in data["backends"]] == list(BACKENDS)
    for b in data["backends"]:
        assert b["available"] == (b["reason"] is None)
    settings = data["settings"]
    expected_loader = len(settings["sources"]) * len(settings["views"]) * len(BACKENDS)
    assert len(data["loader"]) == expected_loader
    assert len(data["end_to_end"]) == len(settings["pairs"]) * len(BACKENDS)
    available = {b["name"]: b["available"] for b in data["backends"]}
    assert available["reference"] and available["synthetic"]
    for row in data["loader"] + data["end_to_end"]:
        assert "failed" not in row, row
        peer_elsewhere = row["backend"] == "dali-autoaugment" and row.get("source") == "arrays"
        assert ("views_per_s" in row) == (available[row["backend"]] and not peer_elsewhere), row
        if not available[row["backend"]] or peer_elsewhere:
            assert row["unavailable"]
    ctx = data["context"]
    assert ctx["cpu_cores_used"] >= 1 and ctx["versions"]["torch"] == torch.__version__
    assert set(ctx["threads"]) == {"reference_workers", "dali_num_threads",
                                   "torch_threads_loader_only", "torch_threads_end_to_end"}
    assert [f["key"] for f in data["figures"]] == [
        "imagenet_jda_v2_gpu", "imagenet_v1_gpu", "cifar_jda_v2_gpu", "stall_imagenet_gpu",
        "cifar_jda_v2_cpu", "jpeg_jda_v2_cpu"]
    for f in data["figures"]:           # measured with its target, or unavailable with why
        assert ("value" in f and "met" in f) != bool(f.get("unavailable")), f


def test_every_measured_number_is_positive(tiny_run):
    data = json.loads((tiny_run[1] / "b.json").read_text())
    rows = _measured(data["loader"]) + _measured(data["end_to_end"])
    assert rows
    for row in rows:
        for path, value in _numbers(row):
            if path.endswith(".spread") or path == ".stall_share":
                assert value >= 0, (path, row)   # zero is a legitimate spread or stall
            else:
                assert value > 0, (path, row)
        for key in STATS:
            s = row[key]
            assert len(s["windows"]) == data["settings"]["windows"]
            assert s["min"] <= s["median"] <= s["max"]
            assert s["median"] == pytest.approx(float(np.median(s["windows"])))
    for fig in data["figures"]:
        for path, value in _numbers(fig):
            if path != ".target_ratio":
                assert value > 0, (path, fig)


def test_views_are_images_times_v_and_ratios_come_from_the_same_run(tiny_run):
    data = json.loads((tiny_run[1] / "b.json").read_text())
    for row in _measured(data["loader"]) + _measured(data["end_to_end"]):
        for w_views, w_images in zip(row["views_per_s"]["windows"],
                                     row["images_per_s"]["windows"]):
            assert w_views == pytest.approx(w_images * row["views"])
    loader = _measured(data["loader"])
    for row in loader:
        ref = next(r for r in loader if r["backend"] == "reference"
                   and r["source"] == row["source"] and r["views"] == row["views"])
        assert row["ratio_to_reference"] == pytest.approx(
            row["views_per_s"]["median"] / ref["views_per_s"]["median"])
    e2e = _measured(data["end_to_end"])
    ceiling = next(r for r in e2e if r["backend"] == "synthetic")
    for row in e2e:
        expected = max(0.0, 1 - row["views_per_s"]["median"] / ceiling["views_per_s"]["median"])
        assert row["stall_share"] == pytest.approx(expected)


def test_windows_from_stamps_drop_warmup_and_time_consecutive_steps():
    stamps = [0.0, 5.0, 6.0, 7.5, 8.0, 10.0, 10.5]   # step i starts at stamps[i]
    windows = windows_from_stamps(stamps, warmup=2, steps=2, windows=2, images_per_step=4,
                                  views_per_step=8)
    assert [w.seconds for w in windows] == [2.0, 2.5]   # 6 -> 8 and 8 -> 10.5
    assert [(w.images, w.views) for w in windows] == [(8, 16), (8, 16)]
    with pytest.raises(RuntimeError):
        windows_from_stamps(stamps, warmup=2, steps=3, windows=2, images_per_step=1,
                            views_per_step=1)


def test_failed_backend_is_recorded_not_swallowed(monkeypatch):
    import kdaug.bench.loaders as loaders

    def broken(*args, **kwargs):
        raise ValueError("pipeline exploded")

    monkeypatch.setattr(loaders, "open_loader", broken)
    cpu = torch.device("cpu")
    row = measure_loader(Backend("dali-cpu", True), "arrays", synthetic_split(64, 32, 10), 2,
                         settings=preset("tiny"), device=cpu, workers=1,
                         memory=GpuMemory(cpu), num_classes=10)
    assert row["failed"] == "ValueError: pipeline exploded"
    assert "in broken" in row["traceback"]
    result = annotate({"loader": [row], "end_to_end": []})
    figure = {f["key"]: f for f in result["figures"]}["cifar_jda_v2_cpu"]
    assert figure["unavailable"] == "ValueError: pipeline exploded"


def test_unavailable_backend_row_says_why():
    cpu = torch.device("cpu")
    row = measure_loader(Backend("dali-gpu", False, "no CUDA GPU"), "jpeg",
                         synthetic_split(8, 32, 2), 1, settings=preset("tiny"), device=cpu,
                         workers=1, memory=GpuMemory(cpu), num_classes=2)
    assert row["unavailable"] == "no CUDA GPU" and "views_per_s" not in row


def test_settings_reject_too_few_windows_and_unknown_names():
    with pytest.raises(KdaugError, match="at least 5"):
        preset("quick", windows=3)
    with pytest.raises(KdaugError, match="--backends"):
        preset("quick", backends=("reference", "ffcv"))


def test_generated_jpegs_are_baseline_500x375_420_and_reproducible(tmp_path):
    root = jpegs.generate_folder(6, classes=2, seed=3, root=tmp_path)
    split = jpegs.folder_split(str(root))
    assert len(split) == 6 and sorted(set(split.labels.tolist())) == [0, 1]
    with Image.open(split.files[0]) as im:
        assert im.format == "JPEG" and im.size == (500, 375) and im.mode == "RGB"
        assert not im.info.get("progressive") and not im.info.get("progression")
        assert JpegImagePlugin.get_sampling(im) == 2          # 4:2:0
        decoded = np.asarray(im, dtype=np.float32)
    original = jpegs.natural_image(3, int(split.files[0][-10:-4]))
    assert np.abs(decoded - original).mean() < 4             # what was drawn is what is stored
    assert decoded.std() > 20                                 # not a flat image
    # cached: a second call reuses the folder, the same seed and index give the same image
    mtime = (root / jpegs.MANIFEST).stat().st_mtime_ns
    assert jpegs.generate_folder(6, classes=2, seed=3, root=tmp_path) == root
    assert (root / jpegs.MANIFEST).stat().st_mtime_ns == mtime
    assert np.array_equal(jpegs.natural_image(3, 1), jpegs.natural_image(3, 1))
    assert not np.array_equal(jpegs.natural_image(3, 1), jpegs.natural_image(3, 2))


def test_bad_flags_are_one_line_errors(tmp_path):
    runner = CliRunner()
    res = runner.invoke(_cli(), ["bench", "--preset", "tiny", "--windows", "3"])
    assert res.exit_code != 0 and "--windows" in res.output
    res = runner.invoke(_cli(), ["bench", "--dataset", "cifar100"])
    assert res.exit_code == 1 and "needs --data-dir" in res.output
    res = runner.invoke(_cli(), ["bench", "--preset", "tiny", "--jpeg-dir", str(tmp_path / "no")])
    assert res.exit_code == 1 and "--jpeg-dir" in res.output


@pytest.mark.gpu
@pytest.mark.skipif(not dali_available(), reason="nvidia-dali is not installed")
def test_gpu_backend_is_measured_on_the_gpu_at_batch_256(tmp_path):
    """On a GPU machine DALI GPU must run, not be listed unavailable: float16 views, the GPU
    memory peak recorded, the figures of the JDA-on-GPU issue filled in."""
    from kdaug.bench import run_bench

    settings = preset("tiny", backends=("reference", "dali-gpu", "synthetic"),
                      arrays_images=1024, batch_arrays=256)   # dali-notes: test at batch 256
    result = run_bench(settings, device="cuda", jpeg_cache=str(tmp_path), say=lambda line: None)
    assert result["context"]["gpu"]["name"]
    assert result["context"]["gpu_memory_peak"]["device_used_peak_mb"] > 0
    gpu_rows = [r for r in result["loader"] + result["end_to_end"] if r["backend"] == "dali-gpu"]
    assert gpu_rows
    for row in gpu_rows:
        assert "views_per_s" in row, row.get("traceback") or row.get("unavailable")
        assert row["views_per_s"]["median"] > 0
    for row in result["loader"]:
        if row["backend"] == "dali-gpu":
            assert row["dtype"] == "float16"
    figures = {f["key"]: f for f in result["figures"]}
    for key in ("imagenet_jda_v2", "imagenet_v1", "cifar_jda_v2_gpu"):
        assert figures[key]["value"] > 0 and figures[key]["ratio"] > 0
