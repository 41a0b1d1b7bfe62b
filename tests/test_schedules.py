"""Learning-rate schedules: multistep as the papers' recipes, cosine with linear warm-up."""
import json
import math
from types import SimpleNamespace

import pytest
import torch
from click.testing import CliRunner

import kdaug.cli.commands  # noqa: F401  (registers the commands)
from kdaug.cli.main import cli
from kdaug.engine.schedules import StepSchedule

STEPS = 10  # per epoch


def lrs(epochs=6, **cfg):
    cfg = SimpleNamespace(**{"schedule": "multistep", "epochs": epochs, "lr": 0.1, "milestones": (),
                             "gamma": 0.1, "warmup_epochs": 0.0, "min_lr": 0.0, **cfg})
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=cfg.lr)
    schedule = StepSchedule(opt, cfg)
    return [[schedule.at(e, s, STEPS) for s in range(STEPS)] for e in range(epochs)]


def test_multistep_is_torch_multisteplr_per_epoch():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    ref = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[2, 4], gamma=0.1)
    expected = []
    for _ in range(6):
        expected.append(opt.param_groups[0]["lr"])
        opt.step()
        ref.step()
    got = lrs(milestones=(2, 4))
    assert all(len(set(epoch)) == 1 for epoch in got)  # constant within an epoch
    assert [epoch[0] for epoch in got] == pytest.approx(expected)


def test_cosine_with_linear_warmup():
    flat = [lr for epoch in lrs(epochs=6, schedule="cosine", warmup_epochs=1, min_lr=0.001)
            for lr in epoch]
    warm, rest = flat[:STEPS], flat[STEPS:]
    assert warm == pytest.approx([0.1 * (i + 1) / STEPS for i in range(STEPS)])
    assert rest[0] == pytest.approx(0.1)
    assert all(a > b for a, b in zip(rest, rest[1:]))  # strictly down after the warm-up
    half = 0.001 + (0.1 - 0.001) * 0.5 * (1 + math.cos(math.pi * 0.5))
    assert rest[len(rest) // 2] == pytest.approx(half)  # mid-way through the cosine
    assert 0.001 < rest[-1] < 0.0015


def test_warmup_also_precedes_multistep():
    got = lrs(epochs=3, milestones=(2,), warmup_epochs=0.5)
    assert got[0][:5] == pytest.approx([0.02, 0.04, 0.06, 0.08, 0.1])
    assert got[0][5:] == pytest.approx([0.1] * 5) and got[1] == pytest.approx([0.1] * STEPS)
    assert got[2] == pytest.approx([0.01] * STEPS)


SMALL = ["--dataset", "digits", "--few-shot", "0.15", "--batch-size", "32", "--limit-batches", "2",
         "--quiet", "--workers", "0", "--backend", "reference", "--method", "ce"]


def test_train_with_cosine_records_it(tmp_path):
    res = CliRunner().invoke(cli, ["train", "--epochs", "3", "--schedule", "cosine",
                                   "--warmup-epochs", "1", "--lr", "0.05",
                                   "--run-dir", str(tmp_path / "r")] + SMALL, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert (cfg["schedule"], cfg["warmup_epochs"], cfg["min_lr"], cfg["milestones"]) == \
        ("cosine", 1.0, 0.0, [])
    rows = json.loads((tmp_path / "r" / "metrics.json").read_text())
    # the lr of each epoch's last step: end of warm-up, then down the cosine
    assert [r["lr"] for r in rows] == pytest.approx([0.05, 0.05 * 0.5 * (1 + math.cos(math.pi / 4)),
                                                     0.05 * 0.5 * (1 + math.cos(math.pi * 3 / 4))])


def test_milestones_with_cosine_is_one_clear_line(tmp_path):
    res = CliRunner().invoke(cli, ["train", "--schedule", "cosine", "--milestones", "5,8",
                                   "--run-dir", str(tmp_path / "r")] + SMALL)
    assert res.exit_code == 1
    assert res.stderr.strip() == "error: --milestones belongs to --schedule multistep; cosine has none"
