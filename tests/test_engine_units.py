"""Engine pieces that need no model: configuration, checkpoints, metrics, backend choice."""
import json

import pytest
import torch

from kdaug.engine import checkpoint as ckpt
from kdaug.engine.config import PRESETS, TrainConfig, parse_hp
from kdaug.engine.loaders import choose_backend
from kdaug.engine.metrics import MetricLog, topk_correct
from kdaug.errors import KdaugError


def test_config_resolution_order():
    cfg = TrainConfig(dataset="cifar100", lr=0.02).resolved()
    assert cfg.preset == "cifar"
    assert cfg.lr == 0.02                               # the flag wins
    assert cfg.epochs == PRESETS["cifar"]["epochs"]     # the preset fills the rest
    assert cfg.milestones == (150, 180, 210)
    assert (cfg.teacher, cfg.student) == ("resnet32x4", "resnet8x4")
    im = TrainConfig(dataset="imagenet").resolved()
    assert (im.teacher, im.student, im.batch_size) == ("resnet34", "resnet18", 256)


def test_config_round_trip():
    cfg = TrainConfig(dataset="cifar10", hp={"T": 3.0}).resolved()
    again = TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg


def test_unknown_dataset_and_preset():
    with pytest.raises(KdaugError, match="unknown dataset 'mnist'"):
        TrainConfig(dataset="mnist").resolved()
    with pytest.raises(KdaugError, match="--preset"):
        TrainConfig(preset="nope").resolved()


def test_parse_hp():
    assert parse_hp(["T=3", "alpha = 0.25"]) == {"T": 3.0, "alpha": 0.25}
    with pytest.raises(KdaugError, match="--hp expects NAME=NUMBER"):
        parse_hp(["T"])
    with pytest.raises(KdaugError):
        parse_hp(["T=high"])


def test_topk_correct_by_hand():
    logits = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.1, 0.3], [0.2, 0.3, 0.5]])
    labels = torch.tensor([1, 2, 0])
    # row 0: top-1 hit; row 1: label 2 is second; row 2: label 0 is last (third)
    assert topk_correct(logits, labels, (1, 2, 5)) == [1, 2, 3]


def test_metric_log_writes_csv_and_json(tmp_path):
    log = MetricLog(tmp_path)
    log.append({"epoch": 0, "val_top1": 10.0})
    log.append({"epoch": 1, "val_top1": 20.0, "extra": 1})
    rows = json.loads((tmp_path / "metrics.json").read_text())
    assert [r["val_top1"] for r in rows] == [10.0, 20.0]
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert lines[0] == "epoch,val_top1,extra" and len(lines) == 3


def test_atomic_save_and_weights_only_load(tmp_path):
    rec = ckpt.model_record("plain", "resnet8", 10, {"w": torch.ones(2)}, ["a", "b"])
    rec["epoch"] = 3
    path = tmp_path / "c.pt"
    ckpt.save_atomic(rec, path)
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temporary file left behind
    back = torch.load(path, weights_only=True)
    assert back["arch"] == "resnet8" and back["epoch"] == 3 and torch.equal(back["model"]["w"], torch.ones(2))
    assert ckpt.is_kdaug(ckpt.load(path))


def test_interrupted_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    ckpt.save_atomic({"epoch": 1}, path)

    def boom(obj, f):
        f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save_atomic({"epoch": 2}, path)
    monkeypatch.undo()
    assert ckpt.load(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


def test_checkpoint_errors_name_the_file(tmp_path):
    with pytest.raises(KdaugError, match="missing.pt does not exist"):
        ckpt.load(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(KdaugError, match="bad.pt is not a checkpoint"):
        ckpt.load(bad)


def test_backend_choice_never_silently_cpu(monkeypatch):
    from kdaug.engine import loaders

    cpu = torch.device("cpu")
    monkeypatch.setattr(loaders, "dali_available", lambda: False)
    choice = choose_backend("dali", "auto", cpu)
    assert choice.backend == "reference" and "not installed" in choice.notes[0]
    with pytest.raises(KdaugError, match="--aug-device gpu"):
        choose_backend("auto", "gpu", cpu)
    monkeypatch.setattr(loaders, "dali_available", lambda: True)
    monkeypatch.setattr(loaders, "dali_gpu_count", lambda: 0)
    assert choose_backend("auto", "auto", cpu) == loaders.BackendChoice("dali", "cpu")
    with pytest.raises(KdaugError, match="no CUDA GPU"):
        choose_backend("dali", "gpu", cpu)
    assert choose_backend("reference", "auto", cpu).backend == "reference"


def test_auto_backend_takes_the_faster_one_for_the_data():
    # image files on the CPU: PIL beats DALI's CPU operators and the views are the same
    from kdaug.engine.loaders import choose_backend, dali_available

    if not dali_available():
        pytest.skip("needs DALI installed to choose between the two")
    cpu = torch.device("cpu")
    files = choose_backend("auto", "auto", cpu, files=True)
    assert files.backend == "reference" and any("--backend dali" in n for n in files.notes)
    assert choose_backend("auto", "auto", cpu, files=False).backend == "dali"
    assert choose_backend("dali", "auto", cpu, files=True).backend == "dali"
