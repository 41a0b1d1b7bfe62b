"""HSAKD and SSKD end to end through the CLI: teacher stages, students, refused combinations."""
import json

import pytest
import torch
from click.testing import CliRunner

import kdaug.cli.commands  # noqa: F401  (registers the commands)
from kdaug.cli.main import cli
from datasets_fixtures import make_cifar

FAST = ["--batch-size", "16", "--epochs", "1", "--limit-batches", "2", "--quiet", "--workers", "0"]


def invoke(args, tmp_path):
    return CliRunner().invoke(cli, args, env={"KDAUG_CACHE": str(tmp_path / "cache")},
                              catch_exceptions=False)


@pytest.fixture(scope="module")
def cifar_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar")
    make_cifar(root, "cifar100", n_train=64, n_test=16, seed=0)
    return root


@pytest.mark.parametrize("backend", ["dali", "reference"])
def test_hsakd_and_sskd_on_generated_cifar(cifar_dir, tmp_path, backend):
    data = ["--dataset", "cifar100", "--data-dir", str(cifar_dir), "--backend", backend] + FAST
    plain = tmp_path / "plain"
    assert invoke(["train", "--method", "ce", "--teacher", "resnet8", "--run-dir", str(plain)] + data,
                  tmp_path).exit_code == 0
    ckpt = str(plain / "checkpoint.pt")
    # HSAKD teacher: branches on the frozen trained backbone, then the student
    res = invoke(["train", "--method", "hsakd-teacher", "--teacher", "resnet8", "--teacher-checkpoint",
                  ckpt, "--run-dir", str(tmp_path / "ht")] + data, tmp_path)
    assert res.exit_code == 0, res.output
    state = torch.load(tmp_path / "ht" / "checkpoint.pt", weights_only=True)
    assert state["kind"] == "hsakd" and state["arch"] == "resnet8"
    frozen = torch.load(ckpt, weights_only=True)["model"]
    # the backbone did not move: only the branches trained
    assert all(torch.equal(state["model"][f"backbone.{k}"], v) for k, v in frozen.items())
    res = invoke(["train", "--method", "hsakd", "--student", "resnet8", "--teacher-checkpoint",
                  str(tmp_path / "ht" / "checkpoint.pt"), "--run-dir", str(tmp_path / "hs")] + data, tmp_path)
    assert res.exit_code == 0, res.output
    cfg = json.loads((tmp_path / "hs" / "config.json").read_text())
    assert cfg["train_views_family"] == "rotation" and cfg["views"] == 4
    # SSKD teacher head on the frozen plain teacher, then the student
    res = invoke(["train", "--method", "sskd-teacher", "--teacher-checkpoint", ckpt,
                  "--run-dir", str(tmp_path / "st")] + data, tmp_path)
    assert res.exit_code == 0, res.output
    res = invoke(["train", "--method", "sskd", "--student", "resnet8", "--teacher-checkpoint",
                  str(tmp_path / "st" / "checkpoint.pt"), "--run-dir", str(tmp_path / "ss")] + data, tmp_path)
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "ss" / "config.json").read_text())["train_views_family"] == "rotation-crop"
    rows = json.loads((tmp_path / "ss" / "metrics.json").read_text())
    assert {"train_ce", "train_kd", "train_tf", "train_ss"} <= set(rows[0])


@pytest.mark.parametrize("method", ["hsakd", "sskd"])
def test_students_on_embedded_default_train_their_teachers(method, tmp_path):
    """No checkpoint on the embedded data: the chain of teacher stages is trained first. At
    this smoke size each stage is at chance level, so none is cached: the run keeps the chain
    in its own directory: the plain teacher in teacher/, the stage trained on it beside."""
    res = invoke(["train", "--method", method, "--teacher", "resnet8", "--student", "resnet8",
                  "--few-shot", "0.1", "--backend", "dali", "--teacher-epochs", "1",
                  "--run-dir", str(tmp_path / "s")] + FAST,
                 tmp_path)
    assert res.exit_code == 0, res.output
    assert not list((tmp_path / "cache" / "teachers").iterdir())
    for folder, producer in (("teacher", "ce"), (f"teacher-{method}", f"{method}-teacher")):
        config = json.loads((tmp_path / "s" / folder / "config.json").read_text())
        assert config["method"] == producer
    stage = json.loads((tmp_path / "s" / f"teacher-{method}" / "config.json").read_text())
    assert stage["teacher_checkpoint"].startswith(str(tmp_path / "s" / "teacher"))


def test_wrong_combinations_refused(tmp_path, cifar_dir):
    data = ["--dataset", "cifar100", "--data-dir", str(cifar_dir), "--backend", "reference"] + FAST
    plain = tmp_path / "plain"
    invoke(["train", "--method", "ce", "--teacher", "resnet8", "--run-dir", str(plain)] + data, tmp_path)
    res = invoke(["train", "--method", "hsakd", "--student", "resnet8", "--teacher-checkpoint",
                  str(plain / "checkpoint.pt"), "--run-dir", str(tmp_path / "x")] + data, tmp_path)
    assert res.exit_code == 1 and "hsakd-teacher" in res.output and "Traceback" not in res.output
    res = invoke(["train", "--method", "sskd", "--views", "2", "--run-dir", str(tmp_path / "y")] + data, tmp_path)
    assert res.exit_code == 1 and "--views 2: method sskd uses 4 views" in res.output
    # no checkpoint: the teacher stage is trained first, and the command says so
    # (the teacher's recipe is the preset's: digits' batch of 64 fits the 64 images)
    res = invoke(["train", "--method", "hsakd", "--teacher", "resnet8", "--student", "resnet8",
                  "--preset", "digits", "--teacher-epochs", "1",
                  "--run-dir", str(tmp_path / "z")] + data, tmp_path)
    assert res.exit_code == 0, res.output
    assert "training a resnet8 (hsakd) with `--method hsakd-teacher`" in " ".join(res.output.split())
