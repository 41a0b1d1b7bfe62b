"""The training views a run gets (--view-family, --jda/--no-jda), milestones that follow
--epochs, and the recipe of a teacher trained on the fly (its own, never the student's)."""
import json

import pytest
from click.testing import CliRunner

import kdaug.cli.commands  # noqa: F401  (registers the commands)
from kdaug.augment.plan import PlanError, train_plan
from kdaug.cli.main import cli
from kdaug.engine.build import choose_views, method_class, teacher_config
from kdaug.engine.config import TrainConfig, milestone_note, scale_milestones
from kdaug.errors import KdaugError


def views_of(method, **values):
    cfg = TrainConfig(method=method, **values).resolved()
    return choose_views(cfg, method_class(method))


@pytest.mark.parametrize("method,values,expected", [
    ("kd", {}, (2, "jda", True)),
    ("kd", {"views": 1}, (1, "plain", False)),
    ("kd", {"jda": False}, (2, "plain", False)),             # two plain views
    ("kd", {"view_family": "rotation"}, (4, "rotation", False)),  # rotation as augmentation
    ("ce", {}, (1, "plain", False)),
    ("ce", {"views": 2, "jda": True}, (2, "jda", True)),        # a teacher trained with JDA
    ("hsakd", {}, (4, "rotation", False)),
    ("hsakd", {"jda": True}, (4, "rotation", True)),            # HSAKD+JDA
    ("sskd", {"jda": True}, (4, "rotation-crop", True)),
    ("ccd", {}, (2, "jda", True)),
])
def test_views_of_each_method(method, values, expected):
    assert views_of(method, **values) == expected


@pytest.mark.parametrize("method,values,message", [
    ("ccd", {"jda": False}, "method ccd trains on jda views"),
    ("hsakd", {"view_family": "plain"}, "method hsakd trains on rotation views"),
    ("kd", {"views": 1, "jda": True}, "JDA needs --views 2 or more"),
    ("kd", {"view_family": "rotation", "views": 2}, "the rotation family has 4 views"),
    ("ccd", {"views": 1}, "--views 1: method ccd uses 2 or more views"),
])
def test_views_a_method_cannot_take(method, values, message):
    with pytest.raises(KdaugError, match=message):
        views_of(method, **values)


def test_augmented_rotation_plan():
    plan = train_plan("small", "rotation", 4, "cifar100", augment=True)
    assert [plan.augmented(v) for v in range(4)] == [False, True, True, True]
    assert plan.rotations == (0, 1, 2, 3)
    # without augment=True a rotation family ignores the policy, as before
    assert train_plan("small", "rotation", 4, "cifar100").policy is None
    with pytest.raises(PlanError, match="plain views are not augmented"):
        train_plan("small", "plain", 1, "cifar100", augment=True)


def test_milestones_scale_with_epochs():
    assert scale_milestones((150, 180, 210), 240, 40) == (25, 30, 35)
    assert scale_milestones((8, 11), 12, 40) == (27, 37)
    assert scale_milestones((8, 11), 12, 1) == (1,)          # distinct, at least 1
    cfg = TrainConfig(epochs=40)
    resolved = cfg.resolved()
    assert resolved.milestones == (27, 37)
    assert "scaled with --epochs 40: 27,37" in milestone_note(cfg, resolved)
    # the preset's own epochs, explicit milestones, cosine: nothing moves, nothing said
    for given in (TrainConfig(), TrainConfig(epochs=40, milestones=(5,)),
                  TrainConfig(epochs=40, schedule="cosine")):
        assert milestone_note(given, given.resolved()) is None
    assert TrainConfig(epochs=40, milestones=(5,)).resolved().milestones == (5,)


def test_teacher_recipe_is_its_own():
    student = TrainConfig(method="kd", epochs=40, batch_size=16, lr=0.01, few_shot=0.1, seed=3,
                          milestones=(5,), teacher_epochs=7).resolved()
    teacher = teacher_config(student, "ce", "resnet20").resolved()
    assert (teacher.epochs, teacher.batch_size, teacher.lr) == (7, 64, 0.05)
    assert teacher.milestones == scale_milestones((8, 11), 12, 7)
    assert teacher.few_shot is None and teacher.seed == 3 and teacher.views is None
    default = teacher_config(TrainConfig(method="kd", epochs=3).resolved(), "ce", "resnet20")
    assert default.resolved().epochs == 12        # the preset's, not the student's 3


def test_train_records_the_recipe_used(tmp_path):
    run = tmp_path / "run"
    res = CliRunner().invoke(cli, ["train", "--method", "kd", "--few-shot", "0.1", "--epochs", "2",
                                   "--teacher-epochs", "1", "--limit-batches", "1", "--quiet",
                                   "--backend", "reference", "--workers", "0",
                                   "--run-dir", str(run)],
                             env={"KDAUG_CACHE": str(tmp_path / "cache")}, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "lr milestones scaled with --epochs 2: 1,2" in text
    assert "(1 epoch, preset digits" in text
    student = json.loads((run / "config.json").read_text())
    assert student["milestones"] == [1, 2] and student["view_family"] == "jda" and student["jda"]
    # one batch leaves the teacher at chance: it is kept beside the run, not cached
    [found] = list(tmp_path.glob("cache/teachers/*/config.json")) + list(run.glob("teacher/config.json"))
    teacher = json.loads(found.read_text())
    assert teacher["epochs"] == 1 and teacher["few_shot"] is None and teacher["batch_size"] == 64
    assert teacher["train_images"] == 1438 and student["train_images"] == 143
