"""`kdaug compare` labels each teacher row with what trained it, and rows whose method reads a
teacher of another kind (hsakd, sskd) get that kind, built on the plain teacher of the kd rows,
each stage once."""
import json
from pathlib import Path

import torch
from click.testing import CliRunner

import kdaug.cli.commands  # noqa: F401  (registers the commands)
from kdaug.cli.main import cli

SMALL = ["--dataset", "digits", "--few-shot", "0.15", "--batch-size", "32", "--epochs", "1",
         "--teacher-epochs", "1", "--limit-batches", "2", "--quiet", "--workers", "0",
         "--backend", "reference", "--seeds", "0"]


def compare(tmp_path, *args):
    res = CliRunner().invoke(cli, ["compare", *args, "--out", str(tmp_path / "cmp")] + SMALL,
                             env={"KDAUG_CACHE": str(tmp_path / "cache")}, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return json.loads((tmp_path / "cmp" / "results.json").read_text())


def test_each_teacher_row_says_what_trained_it(tmp_path):
    result = compare(tmp_path, "--methods", "kd,sskd")
    teachers = result["teachers"]
    assert [(t["label"], t["method"]) for t in teachers] == [
        ("teacher", "ce"), ("teacher (sskd)", "sskd-teacher")]
    config = {a["key"]: json.loads((tmp_path / "cmp" / a["key"] / "seed0" / "config.json")
                                   .read_text()) for a in result["arms"]}
    assert config["kd"]["teacher_checkpoint"].startswith(teachers[0]["run_dir"])
    assert config["sskd"]["teacher_checkpoint"].startswith(teachers[1]["run_dir"])
    # the SSKD head was trained on the plain teacher of the kd row
    stage = json.loads((Path(teachers[1]["run_dir"]) / "config.json").read_text())
    assert stage["teacher_checkpoint"].startswith(teachers[0]["run_dir"])


def test_weights_kdaug_did_not_train_are_external(tmp_path):
    first = compare(tmp_path / "a", "--methods", "kd")
    bare = tmp_path / "bare.pth"
    state = torch.load(f"{first['teachers'][0]['run_dir']}/checkpoint.pt", weights_only=True)
    torch.save(state["model"], bare)
    second = compare(tmp_path / "b", "--methods", "kd,hsakd", "--teacher", "resnet20",
                     "--teacher-checkpoint", str(bare))
    plain, stage = second["teachers"]
    assert (plain["method"], plain["arch"]) == ("external", "resnet20")
    # the HSAKD branches are trained on the given weights, not on a teacher of kdaug's own
    config = json.loads((Path(stage["run_dir"]) / "config.json").read_text())
    assert stage["method"] == "hsakd-teacher" and config["teacher_checkpoint"] == str(bare)
