"""What a run directory guarantees: one run at a time, names that never mix configurations,
resumes that continue the same run (same teacher), a teacher cache that holds only teachers
worth reusing, and nothing saved from a run that went non-finite."""
import json
import os
import shutil
import signal
import subprocess
import sys

import pytest
import torch

from kdaug.engine import teacher_cache
from kdaug.engine.build import default_run_dir
from kdaug.engine.config import TrainConfig
from kdaug.engine.rundir import RunLock
from cli_helpers import SMALL, assert_one_line, run, small


def ce_run(run_dir, *extra):
    return ["train", "--method", "ce", "--teacher", "resnet8", "--backend", "reference",
            "--run-dir", str(run_dir), *extra]


def kd_run(run_dir, *extra):
    return ["train", "--method", "kd", "--teacher", "resnet8", "--student", "resnet8",
            "--run-dir", str(run_dir), *extra]


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("teacher")
    res = run(ce_run(tmp / "t", *SMALL), tmp)
    assert res.exit_code == 0, res.output
    return tmp / "t" / "checkpoint.pt"


# -- one run at a time -------------------------------------------------------------------
def start(args, tmp_path):
    env = {**os.environ, "KDAUG_CACHE": str(tmp_path / "cache"), "PYTHONUNBUFFERED": "1",
           "OMP_NUM_THREADS": "1", "COLUMNS": "400"}
    return subprocess.Popen([sys.executable, "-m", "kdaug.cli", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_until_training(proc) -> None:
    """Read the run's first lines until its header: by then it holds the run directory."""
    for line in proc.stdout:
        if "backend reference" in line:
            return
    raise AssertionError(f"the run ended before training: {proc.stderr.read()}")


def test_two_processes_on_one_run_directory(tmp_path):
    args = ce_run(tmp_path / "r", *SMALL)
    first = start(args, tmp_path)
    try:
        wait_until_training(first)
        os.kill(first.pid, signal.SIGSTOP)  # hold it mid-run while the second one tries
        second = start(args, tmp_path)
        out, err = second.communicate(timeout=300)
    finally:
        os.kill(first.pid, signal.SIGCONT)
    first_out, first_err = first.communicate(timeout=300)
    assert first.returncode == 0 and "done:" in first_out, first_out + first_err
    assert_one_line(out + err, second.returncode, 1,
                    f"run directory {tmp_path / 'r'} is in use by another run (pid {first.pid})")
    assert "done:" not in out
    assert len(json.loads((tmp_path / "r" / "metrics.json").read_text())) == 1


def test_a_killed_run_leaves_no_lock_behind(tmp_path):
    proc = start(ce_run(tmp_path / "r", *SMALL), tmp_path)
    wait_until_training(proc)
    proc.kill()
    proc.wait(timeout=60)
    assert (tmp_path / "r" / ".lock").exists()
    RunLock(tmp_path / "r").release()  # taken at once: the dead run's lock went with it


def test_default_run_directories_never_mix_configurations(tmp_path, monkeypatch):
    base = dict(method="ce", teacher="resnet8", views=1)
    variants = [{}, {"lr": 0.1}, {"batch_size": 16}, {"backend": "dali"}, {"epochs": 3},
                {"preset": "cifar"}, {"seed": 1}, {"weight_decay": 0.0}]
    names = [default_run_dir(TrainConfig(**base, **v).resolved(), "resnet8") for v in variants]
    assert len(set(names)) == len(variants)
    assert names[0] == default_run_dir(TrainConfig(**base).resolved(), "resnet8")
    assert names[0].parent.as_posix() == "runs/digits" and names[0].name.startswith("ce-resnet8-v1-seed0-")
    # two runs that differ only in --lr, both without --run-dir: two directories, both kept
    monkeypatch.chdir(tmp_path)
    args = ["train", "--method", "ce", "--teacher", "resnet8", "--backend", "reference"] + SMALL
    assert run(args, tmp_path).exit_code == 0
    assert run(args + ["--lr", "0.01"], tmp_path).exit_code == 0
    runs = sorted((tmp_path / "runs" / "digits").iterdir())
    assert len(runs) == 2 and all((r / "checkpoint.pt").exists() for r in runs)


# -- run directories that cannot be used ----------------------------------------------------
def test_run_directory_under_a_file(tmp_path):
    (tmp_path / "afile").write_text("x")
    res = run(ce_run(tmp_path / "afile" / "run", *SMALL), tmp_path)
    assert_one_line(res.output, res.exit_code, 1, f"run directory {tmp_path / 'afile' / 'run'} "
                    f"cannot be created: {tmp_path / 'afile'} is a file")


@pytest.fixture
def read_only_fs(tmp_path):
    mount = tmp_path / "ro"
    mount.mkdir()
    made = shutil.which("mount") and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(mount)],
        capture_output=True).returncode == 0
    if not made:
        pytest.skip("mounting a read-only file system needs root")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_run_directory_on_a_read_only_file_system(read_only_fs, tmp_path):
    res = run(ce_run(read_only_fs / "run", *SMALL), tmp_path)
    assert_one_line(res.output, res.exit_code, 1, f"run directory {read_only_fs / 'run'} cannot "
                    "be created: Read-only file system")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through permission bits")
def test_run_directory_without_write_permission(tmp_path):
    (tmp_path / "locked").mkdir(mode=0o555)
    res = run(ce_run(tmp_path / "locked" / "run", *SMALL), tmp_path)
    assert_one_line(res.output, res.exit_code, 1, "cannot be created: Permission denied")


# -- the teacher cache ----------------------------------------------------------------------
def test_teacher_cache_key_holds_every_value_that_changes_the_teacher(tmp_path):
    base = dict(method="ce", teacher="resnet8", cache_dir=str(tmp_path))
    variants = [{}, {"lr": 0.01}, {"batch_size": 16}, {"weight_decay": 0.0}, {"preset": "cifar"},
                {"limit_batches": 1}, {"epochs": 2}, {"backend": "reference"}]
    dirs = {teacher_cache.cache_dir(TrainConfig(**base, **v).resolved(), "plain") for v in variants}
    assert len(dirs) == len(variants)


def test_chance_level_and_non_finite_teachers_are_not_reusable(teacher, tmp_path):
    assert teacher_cache.at_chance(10.0, 10, 359) and not teacher_cache.at_chance(45.0, 10, 359)
    bad = tmp_path / "bad"
    shutil.copytree(teacher.parent, bad)
    state = torch.load(bad / "checkpoint.pt", weights_only=True)
    first = next(k for k, v in state["model"].items() if v.is_floating_point())
    state["model"][first] = torch.full_like(state["model"][first], float("nan"))
    torch.save(state, bad / "checkpoint.pt")
    assert teacher_cache.unusable(bad) == "has non-finite weights"


def test_a_chance_level_teacher_is_used_once_and_never_cached(tmp_path):
    # one epoch of two batches: the teacher learns nothing
    res = run(kd_run(tmp_path / "s", "--backend", "reference", "--teacher-epochs", "1", *SMALL),
              tmp_path)
    assert res.exit_code == 0, res.output
    assert "chance level for 10 classes: not cached" in " ".join(res.output.split())
    assert not list((tmp_path / "cache" / "teachers").iterdir())
    used = json.loads((tmp_path / "s" / "config.json").read_text())["teacher_checkpoint"]
    assert used == str(tmp_path / "s" / "teacher" / "checkpoint.pt")
    again = run(kd_run(tmp_path / "s2", "--backend", "reference", "--teacher-epochs", "1",
                       *SMALL), tmp_path)
    assert again.exit_code == 0 and "reusing" not in again.output


# -- resume continues the same run ----------------------------------------------------------
def test_resume_refuses_another_run(teacher, tmp_path):
    first = kd_run(tmp_path / "r", "--teacher-checkpoint", str(teacher), "--seed", "7",
                   "--backend", "reference", *SMALL)
    assert run(first, tmp_path).exit_code == 0
    before = {p: (tmp_path / "r" / p).read_bytes() for p in ("config.json", "checkpoint.pt")}
    other = ["train", "--method", "ccd", "--teacher", "resnet8", "--student", "resnet8",
             "--run-dir", str(tmp_path / "r"), "--teacher-checkpoint", str(teacher), "--seed",
             "99", "--backend", "dali", "--resume", "--allow-changes", *SMALL]
    res = run(other, tmp_path)
    assert_one_line(res.output, res.exit_code, 1, "holds another run", "method 'kd' -> 'ccd'",
                    "backend 'reference' -> 'dali'", "seed 7 -> 99")
    assert before == {p: (tmp_path / "r" / p).read_bytes() for p in before}


def test_resume_keeps_the_runs_teacher(teacher, tmp_path):
    own = tmp_path / "own.pt"
    shutil.copy(teacher, own)
    args = kd_run(tmp_path / "r", "--backend", "reference", "--teacher-checkpoint", str(own))
    assert run(args + SMALL, tmp_path).exit_code == 0
    state = torch.load(own, weights_only=True)
    state["model"] = {k: v + 1 if v.is_floating_point() else v for k, v in state["model"].items()}
    other = tmp_path / "other.pt"
    torch.save(state, other)
    res = run(kd_run(tmp_path / "r", "--backend", "reference", "--teacher-checkpoint", str(other))
              + SMALL + ["--resume"], tmp_path)
    assert_one_line(res.output, res.exit_code, 1, f"{other} is another teacher than the run's {own}")
    shutil.copy(other, own)  # the run's own file, changed in place
    res = run(args + SMALL + ["--resume"], tmp_path)
    assert_one_line(res.output, res.exit_code, 1, f"{own} has changed since the run started")


def test_resume_without_teacher_flag_uses_the_recorded_teacher(tmp_path):
    """More epochs of a run whose teacher was trained on the fly: no new teacher."""
    assert run(kd_run(tmp_path / "r", "--backend", "reference", *SMALL), tmp_path).exit_code == 0
    started = json.loads((tmp_path / "r" / "config.json").read_text())
    res = run(kd_run(tmp_path / "r", "--backend", "reference", *small(epochs=2), "--resume",
                     "--allow-changes"), tmp_path)
    assert res.exit_code == 0, res.output
    assert "training a" not in res.output
    now = json.loads((tmp_path / "r" / "config.json").read_text())
    assert now["teacher_checkpoint"] == started["teacher_checkpoint"]
    assert now["teacher_sha256"] == started["teacher_sha256"] is not None


# -- non-finite runs save nothing -----------------------------------------------------------
def test_weights_that_become_non_finite_are_never_saved(tmp_path):
    # one step at lr 1e30: the loss of that step is finite, the weights after it are not
    res = run(ce_run(tmp_path / "r", *small(limit_batches=1), "--lr", "1e30"), tmp_path)
    assert_one_line(res.output, res.exit_code, 1, "non-finite during epoch 0", "nothing was saved")
    assert not (tmp_path / "r" / "checkpoint.pt").exists()
    assert not (tmp_path / "r" / "best.pt").exists()


def test_a_run_that_goes_non_finite_keeps_its_last_good_checkpoint(tmp_path):
    assert run(ce_run(tmp_path / "r", *SMALL), tmp_path).exit_code == 0
    saved = {p: (tmp_path / "r" / p).read_bytes() for p in ("checkpoint.pt", "best.pt")}
    res = run(ce_run(tmp_path / "r", *small(epochs=2, limit_batches=1), "--lr", "1e30",
                     "--resume", "--allow-changes"), tmp_path)
    assert_one_line(res.output, res.exit_code, 1, "non-finite during epoch 1",
                    "(epoch 0) and best.pt are kept")
    assert saved == {p: (tmp_path / "r" / p).read_bytes() for p in saved}


def test_resume_of_a_default_directory_that_changed_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["train", "--method", "ce", "--teacher", "resnet8", "--backend", "reference"]
    assert run(args + SMALL, tmp_path).exit_code == 0
    res = run(args + small(epochs=2) + ["--resume"], tmp_path)
    assert_one_line(res.output, res.exit_code, 1, "--resume: no checkpoint.pt in runs/digits/",
                    "pass the --run-dir of the run to continue")
