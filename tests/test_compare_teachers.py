"""`kdaug compare` labels each teacher row with what trained it, and rows whose method reads a
teacher of another kind (hsakd, sskd) get that kind, not the plain teacher of the kd rows."""
import json

import torch
from click.testing import CliRunner

import kdaug.cli.commands  # noqa: F401  (registers the commands)
from kdaug.cli.main import cli

SMALL = ["--dataset", "digits", "--few-shot", "0.15", "--batch-size", "32", "--epochs", "1",
         "--limit-batches", "2", "--quiet", "--workers", "0", "--backend", "reference"]


def compare(tmp_path, *args):
    res = CliRunner().invoke(cli, ["compare", *args, "--out", str(tmp_path / "cmp")] + SMALL,
                             env={"KDAUG_CACHE": str(tmp_path / "cache")}, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return json.loads((tmp_path / "cmp" / "results.json").read_text())["rows"]


def test_each_teacher_row_says_what_trained_it(tmp_path):
    rows = compare(tmp_path, "--methods", "kd,sskd")
    assert [(r["row"], r["method"]) for r in rows] == [
        ("teacher", "ce"), ("teacher", "sskd-teacher"), ("KD+JDA", "kd"), ("SSKD", "sskd")]
    kd_teacher = json.loads((tmp_path / "cmp" / "kd" / "config.json").read_text())
    sskd_teacher = json.loads((tmp_path / "cmp" / "sskd" / "config.json").read_text())
    assert kd_teacher["teacher_checkpoint"].startswith(rows[0]["run_dir"])
    assert sskd_teacher["teacher_checkpoint"].startswith(rows[1]["run_dir"])


def test_weights_kdaug_did_not_train_are_external(tmp_path):
    first = compare(tmp_path / "a", "--methods", "kd")
    bare = tmp_path / "bare.pth"
    state = torch.load(f"{first[0]['run_dir']}/checkpoint.pt", weights_only=True)
    torch.save(state["model"], bare)
    rows = compare(tmp_path / "b", "--methods", "kd", "--teacher", "resnet20",
                   "--teacher-checkpoint", str(bare))
    assert (rows[0]["row"], rows[0]["method"], rows[0]["arch"]) == ("teacher", "external", "resnet20")
