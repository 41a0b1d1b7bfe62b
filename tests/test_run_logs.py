"""What a run logs beside metrics.csv: TensorBoard event files and curves.png, and
`kdaug plot RUN_DIR`."""
import json

import pytest
from click.testing import CliRunner
from PIL import Image

import kdaug.cli.commands  # noqa: F401  (registers the commands)
from kdaug.cli.main import cli

SMALL = ["--dataset", "digits", "--few-shot", "0.15", "--batch-size", "32", "--limit-batches", "2",
         "--quiet", "--workers", "0", "--backend", "reference", "--method", "ce"]


def invoke(args):
    return CliRunner().invoke(cli, args)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    pytest.importorskip("tensorboard", reason="the test extra installs TensorBoard")
    out = tmp_path_factory.mktemp("logs") / "run"
    res = invoke(["train", "--epochs", "2", "--run-dir", str(out)] + SMALL)
    assert res.exit_code == 0, res.output
    return out


def test_event_files_hold_every_metric_per_epoch(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir))
    events.Reload()
    rows = json.loads((run_dir / "metrics.json").read_text())
    scalars = events.Tags()["scalars"]
    for tag, key in (("train/loss", "train_loss"), ("train/ce", "train_ce"),
                     ("train/top1", "train_top1"), ("val/top1", "val_top1"),
                     ("val/top5", "val_top5"), ("val/loss", "val_loss"), ("lr", "lr")):
        assert tag in scalars
        points = events.Scalars(tag)
        assert [p.step for p in points] == [1, 2]
        assert [p.value for p in points] == pytest.approx([r[key] for r in rows], rel=1e-6)


def test_curves_png_is_written_at_the_end(run_dir):
    with Image.open(run_dir / "curves.png") as png:
        assert png.format == "PNG" and png.width > 1000


def test_plot_command_redraws_a_run(run_dir, tmp_path):
    res = invoke(["plot", str(run_dir), "-o", str(tmp_path / "again.png")])
    assert res.exit_code == 0, res.output
    assert f"wrote {tmp_path / 'again.png'}" in res.output
    with Image.open(tmp_path / "again.png") as png:
        assert png.format == "PNG"


def test_plot_of_a_directory_without_metrics_is_one_line(tmp_path):
    res = invoke(["plot", str(tmp_path)])
    assert res.exit_code == 1
    assert res.stderr.strip() == (f"error: {tmp_path} has no metrics.json: not a kdaug run "
                                  f"directory, or no epoch has finished yet")


def test_plot_without_matplotlib_is_one_line(run_dir, monkeypatch):
    monkeypatch.setattr("kdaug.engine.curves.matplotlib_available", lambda: False)
    res = invoke(["plot", str(run_dir)])
    assert res.exit_code == 1
    assert res.stderr.strip() == ("error: curves.png needs matplotlib, and matplotlib is not "
                                  "installed (pip install 'kdaug[plot]')")


def test_no_tensorboard_writes_no_events(tmp_path):
    res = invoke(["train", "--epochs", "1", "--no-tensorboard", "--run-dir", str(tmp_path / "r")]
                 + SMALL)
    assert res.exit_code == 0, res.output
    assert not list((tmp_path / "r").glob("events.out.tfevents.*"))
    assert (tmp_path / "r" / "curves.png").exists()


def test_tensorboard_asked_for_but_missing_fails_before_training(tmp_path, monkeypatch):
    monkeypatch.setattr("kdaug.engine.tensorboard_log.tensorboard_available", lambda: False)
    res = invoke(["train", "--tensorboard", "--run-dir", str(tmp_path / "r")] + SMALL)
    assert res.exit_code == 1
    assert res.stderr.strip() == ("error: --tensorboard: TensorBoard is not installed "
                                  "(pip install tensorboard)")
    assert not (tmp_path / "r").exists()


def test_missing_tensorboard_is_no_error_by_default(tmp_path, monkeypatch):
    monkeypatch.setattr("kdaug.engine.tensorboard_log.tensorboard_available", lambda: False)
    res = invoke(["train", "--epochs", "1", "--run-dir", str(tmp_path / "r")] + SMALL)
    assert res.exit_code == 0, res.output
    assert not list((tmp_path / "r").glob("events.out.tfevents.*"))
