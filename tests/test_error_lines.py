"""Bad input and a hostile environment end in one line naming the problem, a non-zero exit and
no traceback; nothing already written is lost."""
import errno
import os
import subprocess
import sys

import pytest
import torch

from kdaug import models
from kdaug.engine import checkpoint as ckpt
from cli_helpers import SMALL, assert_one_line, run, small
from datasets_fixtures import make_class_folders


@pytest.fixture
def broken_folder(tmp_path):
    """A class-folder dataset with one truncated training JPEG; returns (root, bad file)."""
    written = make_class_folders(tmp_path / "data", ("a", "b"), 4, 2, size=(40, 30))
    bad = written["train"][1][0]
    with open(bad, "rb") as f:
        data = f.read()
    with open(bad, "wb") as f:
        f.write(data[: len(data) // 2])
    return tmp_path / "data", bad


@pytest.mark.parametrize("workers", ["0", "1"])
def test_reference_backend_names_the_bad_jpeg(workers, broken_folder, tmp_path):
    root, bad = broken_folder
    res = run(["train", "--dataset", "folder", "--data-dir", str(root), "--method", "ce",
               "--teacher", "resnet18", "--batch-size", "2", "--epochs", "1", "--quiet",
               "--backend", "reference", "--workers", workers, "--run-dir", str(tmp_path / "r")],
              tmp_path)
    line = assert_one_line(res.output, res.exit_code, 1, "bad image file", bad, "Truncated")
    assert "DataLoader" not in line
    assert not (tmp_path / "r" / "checkpoint.pt").exists()


def _unreadable_checkpoints(tmp_path):
    """(file, what the error must say) for each way a checkpoint cannot be read."""
    good = tmp_path / "good.pt"
    torch.save({"w": torch.zeros(4)}, good)
    data = good.read_bytes()
    truncated, text, empty, code = (tmp_path / n for n in ("cut.pt", "notes.pt", "empty.pt", "code.pt"))
    truncated.write_bytes(data[: len(data) // 2])
    text.write_text("these are not weights\n")
    empty.write_bytes(b"")
    # a pickle that would create a directory if its code ever ran
    torch.save({"w": _Payload(str(tmp_path / "code_ran"))}, code)
    return [(truncated, "is truncated or damaged"), (text, "is not a checkpoint"),
            (empty, "is empty"), (code, "holds objects other than tensors: refused for safety")]


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def test_unreadable_checkpoints_say_what_they_are(tmp_path):
    for path, reason in _unreadable_checkpoints(tmp_path):
        res = run(["eval", "--checkpoint", str(path), "--dataset", "digits", "--arch", "resnet8"],
                  tmp_path)
        line = assert_one_line(res.output, res.exit_code, 1, str(path), reason)
        assert "weights_only" not in line
    assert not (tmp_path / "code_ran").exists()


def test_unknown_architecture_in_checkpoint_or_flag(tmp_path):
    record = ckpt.model_record("plain", "resnet8", 10, models.create("resnet8", 10).state_dict())
    odd = tmp_path / "odd.pt"
    torch.save({**record, "arch": "resnet9000"}, odd)
    res = run(["eval", "--checkpoint", str(odd), "--dataset", "digits"], tmp_path)
    assert_one_line(res.output, res.exit_code, 1, str(odd), "unknown model ('resnet9000'")
    bare = tmp_path / "bare.pt"
    torch.save(record["model"], bare)
    res = run(["eval", "--checkpoint", str(bare), "--dataset", "digits", "--arch", "nope"], tmp_path)
    assert_one_line(res.output, res.exit_code, 1, "unknown model 'nope'")


def _ce_run(run_dir, *extra):
    return ["train", "--method", "ce", "--teacher", "resnet8", "--backend", "reference",
            "--run-dir", str(run_dir), *extra]


def test_disk_full_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    real_fsync, synced = os.fsync, []

    def fsync(fd):  # the third write (epoch 1's checkpoint.pt) meets a full disk
        synced.append(fd)
        if len(synced) > 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    res = run(_ce_run(tmp_path / "r", *small(epochs=2, limit_batches=1)), tmp_path)
    assert_one_line(res.output, res.exit_code, 1, f"cannot write {tmp_path / 'r' / 'checkpoint.pt'}",
                    "No space left on device", "the previous checkpoint.pt is kept")
    assert torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)["epoch"] == 0
    assert not list((tmp_path / "r").glob("*.tmp"))


def test_resume_from_a_weights_only_file(tmp_path):
    assert run(_ce_run(tmp_path / "r", *SMALL), tmp_path).exit_code == 0
    state = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)
    weights_only = {k: state[k] for k in ("format", "version", "kind", "arch", "num_classes",
                                          "classes", "model", "config")}
    torch.save(weights_only, tmp_path / "r" / "checkpoint.pt")
    res = run(_ce_run(tmp_path / "r", *SMALL, "--resume"), tmp_path)
    assert_one_line(res.output, res.exit_code, 1, "--resume", "holds no optimizer")


REFUSED_OPTIONS = [
    (["--lr", "inf"], 1, "--lr must be a finite number, got inf"),
    (["--weight-decay", "nan"], 1, "--weight-decay must be a finite number, got nan"),
    (["--momentum", "nan"], 1, "--momentum must be a finite number"),
    (["--clip-grad", "inf"], 1, "--clip-grad must be a finite number"),
    (["--few-shot", "nan"], 1, "--few-shot must be a finite number"),
    (["--hp", "T=-4"], 1, "--hp: T=-4 is out of range: T > 0"),
    (["--hp", "T=nan"], 1, "--hp: T=nan is out of range"),
    (["--method", "kd", "--hp", "alpha=5"], 1, "alpha=5 is out of range: alpha >= 0 and <= 1"),
    (["--hp", "=3"], 1, "--hp expects NAME=NUMBER, got '=3'"),
    (["--hp", "tau=3"], 1, "method ccd has no hyper-parameter tau (it has: T)"),
    (["--seed", "-1"], 2, "--seed"),
]


@pytest.mark.parametrize("extra,code,message", REFUSED_OPTIONS)
def test_refused_options_train_nothing(extra, code, message, tmp_path):
    res = run(["train", "--run-dir", str(tmp_path / "x"), "--backend", "reference"] + SMALL + extra,
              tmp_path)
    assert_one_line(res.output, res.exit_code, code, message)
    assert not (tmp_path / "x").exists() and not (tmp_path / "cache").exists()


def test_show_aug_refuses_a_negative_seed(tmp_path):
    res = run(["show-aug", "--seed", "-1", "-o", str(tmp_path / "g.png")], tmp_path)
    assert_one_line(res.output, res.exit_code, 2, "--seed")


@pytest.mark.parametrize("output,message", [("nowhere/grid.png", "does not exist"),
                                            ("grid.txt", "not an image file name")])
def test_show_aug_output_that_cannot_be_written(output, message, tmp_path):
    target = tmp_path / output
    res = run(["show-aug", "-n", "1", "--backend", "reference", "-o", str(target)], tmp_path)
    assert_one_line(res.output, res.exit_code, 1, f"-o {target}", message)
    assert not target.exists()


@pytest.mark.parametrize("backend", ["reference", "dali"])
def test_show_aug_on_undecodable_images(backend, broken_folder, tmp_path):
    root, bad = broken_folder
    res = run(["show-aug", "--dataset", "folder", "--data-dir", str(root), "-n", "8",
               "--backend", backend, "-o", str(tmp_path / "g.png")], tmp_path)
    assert_one_line(res.output, res.exit_code, 1, "bad image file", bad)
    assert not (tmp_path / "g.png").exists()


def test_dali_backend_screen_shows_only_kdaugs_line(broken_folder, tmp_path):
    """DALI's decoder prints its own "[ERROR] ..." to the process's stderr: it goes to the
    native-messages log, and the screen keeps kdaug's line naming the file."""
    root, bad = broken_folder
    env = {**os.environ, "KDAUG_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1",
           "COLUMNS": "400"}
    proc = subprocess.run([sys.executable, "-m", "kdaug.cli", "train", "--dataset", "folder",
                           "--data-dir", str(root), "--method", "ce", "--teacher", "resnet18",
                           "--batch-size", "2", "--epochs", "1", "--quiet", "--backend", "dali",
                           "--workers", "1", "--run-dir", str(tmp_path / "r")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stderr.splitlines() == [f"error: bad image file: {bad}: cannot decode: Truncated File Read"]
    assert "[ERROR]" in (tmp_path / "cache" / "native-messages.log").read_text()
