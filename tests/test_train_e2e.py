"""kdaug train/eval/compare end to end on small real data (digits, a few-shot subset), CPU."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cli_helpers import SMALL, assert_one_line, run, small


@pytest.fixture(scope="module")
def teacher_ckpt(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("teacher")
    res = run(["train", "--method", "ce", "--teacher", "resnet8", "--run-dir", str(tmp / "t"),
               "--backend", "reference"] + SMALL, tmp)
    assert res.exit_code == 0, res.output
    return tmp / "t" / "checkpoint.pt"


def test_teacher_run_writes_everything(teacher_ckpt):
    run_dir = teacher_ckpt.parent
    cfg = json.loads((run_dir / "config.json").read_text())
    assert cfg["method"] == "ce" and cfg["trained_arch"] == "resnet8" and cfg["epochs"] == 1
    assert cfg["backend_resolved"] == "reference (cpu)"
    rows = json.loads((run_dir / "metrics.json").read_text())
    assert len(rows) == 1 and 0 <= rows[0]["val_top1"] <= 100 and rows[0]["val_top5"] >= rows[0]["val_top1"]
    header = (run_dir / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"epoch", "train_loss", "val_top1", "val_top5", "views_per_s"} <= set(header)
    state = torch.load(teacher_ckpt, weights_only=True)  # loads without pickled code
    assert state["arch"] == "resnet8" and state["kind"] == "plain" and state["num_classes"] == 10
    assert (run_dir / "best.pt").exists()


@pytest.mark.parametrize("method,views", [("kd", 2), ("ccd", 3)])
def test_distill_with_teacher_checkpoint_dali(method, views, teacher_ckpt, tmp_path):
    res = run(["train", "--method", method, "--student", "resnet8", "--views", str(views),
               "--teacher-checkpoint", str(teacher_ckpt), "--run-dir", str(tmp_path / "s"),
               "--backend", "dali"] + SMALL, tmp_path)
    assert res.exit_code == 0, res.output
    cfg = json.loads((tmp_path / "s" / "config.json").read_text())
    assert cfg["backend_resolved"] == "dali (cpu)" and cfg["views"] == views
    assert cfg["teacher"] == "resnet8" and cfg["train_views_family"] == "jda"
    assert "best top-1" in res.output


def test_resume_continues_and_refuses_overwrite(teacher_ckpt, tmp_path):
    args = ["train", "--method", "kd", "--student", "resnet8", "--teacher-checkpoint",
            str(teacher_ckpt), "--run-dir", str(tmp_path / "r"), "--backend", "reference"] + SMALL
    assert run(args, tmp_path).exit_code == 0
    again = run(args, tmp_path)
    assert again.exit_code == 1 and "already holds a checkpoint" in again.output
    longer = args[:-len(SMALL)] + small(epochs=2) + ["--resume"]
    refused = run(longer, tmp_path)  # more epochs is another recipe: only when asked for
    assert_one_line(refused.output, refused.exit_code, 1, "epochs 1 -> 2", "--allow-changes")
    resumed = run(longer + ["--allow-changes"], tmp_path)
    assert resumed.exit_code == 0, resumed.output
    assert "resuming with changed settings: epochs 1 -> 2" in resumed.output
    rows = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert [r["epoch"] for r in rows] == [0, 1]
    assert torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)["epoch"] == 1
    # config.json describes the run now and keeps how it started
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert (cfg["epochs"], cfg["start_epoch"]) == (2, 1)
    assert [(h["epochs"], h["start_epoch"]) for h in cfg["history"]] == [(1, 0)]


def test_eval_command(teacher_ckpt, tmp_path):
    res = run(["eval", "--checkpoint", str(teacher_ckpt), "--dataset", "digits",
               "--backend", "reference", "--workers", "0"], tmp_path)
    assert res.exit_code == 0, res.output
    rows = json.loads((teacher_ckpt.parent / "metrics.json").read_text())
    # the same weights on the same deterministic validation views give the same top-1
    assert f"top-1 {rows[-1]['val_top1']:.2f}" in res.output


def test_embedded_teacher_is_trained_once_then_reused(tmp_path):
    # one whole epoch of the embedded data: a teacher clearly above chance (one at chance
    # level is never cached, see test_run_safety)
    args = ["train", "--method", "kd", "--teacher", "resnet8", "--student", "resnet8",
            "--backend", "reference", "--cache-dir", str(tmp_path / "cache")] + small(
        few_shot=1, batch_size=16, limit_batches=90)
    first = run(args + ["--run-dir", str(tmp_path / "a")], tmp_path)
    assert first.exit_code == 0, first.output
    assert "training a resnet8 (plain)" in first.output
    second = run(args + ["--run-dir", str(tmp_path / "b")], tmp_path)
    assert second.exit_code == 0 and "reusing the cached resnet8" in second.output


BAD = [
    (["--method", "nope"], "unknown --method 'nope'"),
    (["--student", "resnet9000"], "unknown model 'resnet9000'"),
    (["--policy", "svhn"], "unknown policy 'svhn'"),
    (["--method", "ccd", "--views", "1"], "--views 1: method ccd uses 2 or more views"),
    (["--dataset", "cifar100"], "--data-dir is required for cifar100"),
    (["--method", "ccd", "--teacher-checkpoint", "missing.pt"], "missing.pt does not exist"),
]


@pytest.mark.parametrize("extra,message", BAD)
def test_bad_input_one_clear_line(extra, message, tmp_path):
    args = ["train", "--run-dir", str(tmp_path / "x"), "--backend", "reference"] + SMALL + extra
    res = run(args, tmp_path)
    assert res.exit_code != 0
    assert message in res.output, res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "x" / "checkpoint.pt").exists()


def test_bad_epochs_and_missing_dir(tmp_path):
    res = run(["train", "--epochs", "0"], tmp_path)
    assert res.exit_code == 2 and "--epochs" in res.output and "Traceback" not in res.output
    res = run(["train", "--dataset", "cifar10", "--data-dir", str(tmp_path / "nowhere")] + SMALL[2:], tmp_path)
    assert res.exit_code == 1 and "nowhere" in res.output


def test_checkpoint_that_does_not_fit(teacher_ckpt, tmp_path):
    res = run(["train", "--method", "kd", "--teacher", "resnet20", "--teacher-checkpoint",
               str(teacher_ckpt), "--run-dir", str(tmp_path / "m"), "--backend", "reference"] + SMALL,
              tmp_path)
    assert res.exit_code == 1 and "holds a resnet8, not a resnet20" in res.output
    # a bare state_dict of the wrong shape is refused naming the file
    bare = tmp_path / "bare.pt"
    torch.save({"fc.weight": torch.zeros(3, 3)}, bare)
    res = run(["train", "--method", "kd", "--teacher", "resnet8", "--teacher-checkpoint", str(bare),
               "--run-dir", str(tmp_path / "n"), "--backend", "reference"] + SMALL, tmp_path)
    assert res.exit_code == 1 and "bare.pt" in res.output and "Traceback" not in res.output


def test_compare_prints_the_table(teacher_ckpt, tmp_path):
    res = run(["compare", "--teacher-checkpoint", str(teacher_ckpt), "--student", "resnet8",
               "--out", str(tmp_path / "cmp"), "--backend", "reference"] + SMALL, tmp_path)
    assert res.exit_code == 0, res.output
    result = json.loads((tmp_path / "cmp" / "results.json").read_text())
    assert [t["label"] for t in result["teachers"]] == ["teacher"]
    assert [a["label"] for a in result["arms"]] == ["student alone", "KD+JDA", "CCD (JDA)"]
    assert result["seeds"] == [0, 1, 2, 3, 4]  # the default: a mean ± std over 5 seeds
    assert all(0 <= v <= 100 for a in result["arms"] for v in a["top1"]["values"])
    text = " ".join(res.output.split())
    assert "student alone" in text and "CCD" in text and "over 5 seeds" in text


@pytest.mark.parametrize("backend", ["reference", "dali"])
def test_ddp_two_processes_gloo(backend, teacher_ckpt, tmp_path):
    """torchrun with 2 CPU processes (gloo): same result shape as one process."""
    env = {**os.environ, "KDAUG_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_port", str(29517 + (backend == "dali")), "-m", "kdaug.cli", "train", "--method", "kd",
           "--student", "resnet8", "--teacher-checkpoint", str(teacher_ckpt), "--device", "cpu",
           "--run-dir", str(tmp_path / "ddp"), "--backend", backend] + SMALL
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    single = run(cmd[cmd.index("train"):-len(SMALL) - 4] + ["--run-dir", str(tmp_path / "one"),
                                                             "--backend", backend] + SMALL, tmp_path)
    assert single.exit_code == 0, single.output
    ddp_rows = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    one_rows = json.loads((tmp_path / "one" / "metrics.json").read_text())
    assert [sorted(r) for r in ddp_rows] == [sorted(r) for r in one_rows]
    # exact evaluation over shards: both count every validation image once
    assert ddp_rows[0]["val_count"] == one_rows[0]["val_count"] == 359
    cfg = json.loads((tmp_path / "ddp" / "config.json").read_text())
    assert cfg["world_size"] == 2


def test_compare_evaluates_a_foreign_teacher(teacher_ckpt, tmp_path):
    """A bare state_dict (as torchvision ships) has no kdaug metrics: the teacher row is
    evaluated, and equals what `kdaug eval` says of the same weights."""
    bare = tmp_path / "bare.pth"
    torch.save(torch.load(teacher_ckpt, weights_only=True)["model"], bare)
    res = run(["compare", "--methods", "kd", "--teacher", "resnet8", "--student", "resnet8",
               "--teacher-checkpoint", str(bare), "--out", str(tmp_path / "cmp"),
               "--backend", "reference"] + SMALL, tmp_path)
    assert res.exit_code == 0, res.output
    [teacher] = json.loads((tmp_path / "cmp" / "results.json").read_text())["teachers"]
    own = json.loads((teacher_ckpt.parent / "metrics.json").read_text())[-1]["val_top1"]
    assert teacher["method"] == "external" and teacher["top1"] == pytest.approx(own)
