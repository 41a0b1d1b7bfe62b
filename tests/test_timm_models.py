"""timm models as teacher or student (timm:NAME), weights from local files, and the one-line
refusals: HSAKD on a model whose stages kdaug cannot reach, timm not installed."""
import argparse
import json
import sys

import pytest
import torch
from click.testing import CliRunner

import kdaug.cli.commands  # noqa: F401  (registers the commands)
from kdaug.cli.main import cli
from kdaug.engine import checkpoint as ckpt
from kdaug.errors import KdaugError
from kdaug.models import aux_param_count, build, create

timm = pytest.importorskip("timm", reason="timm is in the test extra (kdaug[timm])")

SMALL = ["--dataset", "digits", "--few-shot", "0.15", "--batch-size", "16", "--epochs", "1",
         "--limit-batches", "2", "--quiet", "--workers", "0", "--backend", "reference",
         "--no-tensorboard"]
IMAGES = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def invoke(*args, cache=None):
    env = {"KDAUG_CACHE": str(cache)} if cache else {}
    return CliRunner().invoke(cli, list(args), env=env)


def timm_state(name="resnet18", num_classes=10, seed=1):
    torch.manual_seed(seed)
    return timm.create_model(name, pretrained=False, num_classes=num_classes).state_dict()


def test_plain_logits_are_timms_own():
    model = create("timm:resnet18", 10).eval()
    assert model.arch == "timm:resnet18"
    with torch.no_grad():
        assert torch.equal(model(IMAGES), model.net(IMAGES))


@pytest.mark.parametrize("name", ["resnet18", "convnext_atto"])
def test_hsakd_branches_on_reachable_stages(name):
    model = build("hsakd", f"timm:{name}", 10).eval()
    with torch.no_grad():
        logits, aux = model(IMAGES)
        plain = model.backbone.net(IMAGES)
    assert len(aux) == 4 and all(a.shape == (2, 40) for a in aux)
    assert torch.allclose(logits, plain, atol=1e-5)  # stage by stage == timm's forward
    assert aux_param_count(model) > 0


def test_sskd_head_on_pooled_features():
    model = build("sskd", "timm:convnext_atto", 10).eval()
    with torch.no_grad():
        logits, embedding = model(IMAGES)
    assert logits.shape == (2, 10) and embedding.shape == (2, model.backbone.feature_dim)


def test_hsakd_refused_in_one_line_where_stages_are_out_of_reach(tmp_path):
    with pytest.raises(KdaugError, match=r"timm:vit_tiny_patch16_224: kdaug cannot reach its "
                                         r"stages \(its forward is not the chain"):
        build("hsakd", "timm:vit_tiny_patch16_224", 10)
    res = invoke("train", "--method", "hsakd-teacher", "--teacher", "timm:vit_tiny_patch16_224",
                 "--run-dir", str(tmp_path / "r"), *SMALL)
    assert res.exit_code == 1 and "Traceback" not in res.output
    line = res.stderr.strip()
    assert "\n" not in line and "so HSAKD cannot attach its auxiliary branches" in line


def test_a_model_that_cannot_take_the_image_size_is_one_line(tmp_path):
    res = invoke("train", "--method", "ce", "--teacher", "timm:vit_tiny_patch16_224",
                 "--run-dir", str(tmp_path / "r"), *SMALL)
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "timm:vit_tiny_patch16_224 does not take (3, 32, 32) inputs" in res.stderr


def test_train_a_timm_teacher_then_distil_into_a_timm_student(tmp_path):
    res = invoke("train", "--method", "ce", "--teacher", "timm:resnet18", "--run-dir",
                 str(tmp_path / "t"), *SMALL)
    assert res.exit_code == 0, res.output
    state = torch.load(tmp_path / "t" / "checkpoint.pt", weights_only=True)
    assert state["arch"] == "timm:resnet18"
    res = invoke("train", "--method", "kd", "--student", "timm:convnext_atto", "--teacher-checkpoint",
                 str(tmp_path / "t" / "checkpoint.pt"), "--run-dir", str(tmp_path / "s"), *SMALL)
    assert res.exit_code == 0, res.output
    used = json.loads((tmp_path / "s" / "config.json").read_text())
    assert (used["teacher"], used["trained_arch"]) == ("timm:resnet18", "timm:convnext_atto")
    res = invoke("eval", "--checkpoint", str(tmp_path / "s" / "checkpoint.pt"), "--dataset",
                 "digits", "--backend", "reference", "--workers", "0")
    assert res.exit_code == 0 and "timm:convnext_atto on digits val (359 images)" in res.output


def test_default_run_directory_has_no_colon(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = invoke("train", "--method", "ce", "--teacher", "timm:resnet18", *SMALL)
    assert res.exit_code == 0, res.output
    made = list((tmp_path / "runs" / "digits").glob("ce-timm-resnet18-v1-seed0-*/checkpoint.pt"))
    assert len(made) == 1 and ":" not in str(made[0])


def _loaded_teacher_equals(path, state):
    module, arch = ckpt.load_model(path, "plain", "timm:resnet18", 10)
    assert arch == "timm:resnet18"
    assert all(torch.equal(module.net.state_dict()[k], v) for k, v in state.items())


def test_weights_from_a_bare_state_dict(tmp_path):
    state = timm_state()
    torch.save(state, tmp_path / "resnet18.pth")
    _loaded_teacher_equals(tmp_path / "resnet18.pth", state)


def test_weights_from_a_timm_training_checkpoint(tmp_path):
    state = timm_state()
    # the layout timm's train.py saves: its argparse arguments beside the weights
    torch.save({"epoch": 9, "arch": "resnet18", "state_dict": state, "version": 2,
                "args": argparse.Namespace(model="resnet18", lr=0.1, sched="cosine"),
                "metric": 91.0}, tmp_path / "model_best.pth.tar")
    _loaded_teacher_equals(tmp_path / "model_best.pth.tar", state)


def test_weights_from_safetensors(tmp_path):
    from safetensors.torch import save_file

    state = timm_state()
    save_file(state, tmp_path / "model.safetensors")
    _loaded_teacher_equals(tmp_path / "model.safetensors", state)


def test_a_state_dict_of_another_model_names_the_mismatch(tmp_path):
    torch.save(timm_state("resnet34"), tmp_path / "r34.pth")
    with pytest.raises(KdaugError, match=r"checkpoint .*r34.pth does not fit timm:resnet18: "
                                         r".*unexpected net\.layer1\.2"):
        ckpt.load_model(tmp_path / "r34.pth", "plain", "timm:resnet18", 10)


def test_timm_distils_with_a_local_teacher_file(tmp_path):
    torch.save(timm_state(), tmp_path / "resnet18.pth")
    res = invoke("train", "--method", "ccd", "--teacher", "timm:resnet18", "--teacher-checkpoint",
                 str(tmp_path / "resnet18.pth"), "--student", "resnet8", "--run-dir",
                 str(tmp_path / "s"), *SMALL)
    assert res.exit_code == 0, res.output


def test_unknown_timm_name_is_one_line(tmp_path):
    res = invoke("train", "--method", "ce", "--teacher", "timm:resnet_nope", "--run-dir",
                 str(tmp_path / "r"), *SMALL)
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert res.stderr.startswith("error: unknown timm model 'resnet_nope'")


def test_without_timm_the_install_hint_keeps_its_brackets(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # import timm now fails
    res = invoke("train", "--method", "ce", "--teacher", "timm:resnet18", "--run-dir",
                 str(tmp_path / "r"), *SMALL)
    assert res.exit_code == 1
    assert res.stderr.strip() == "error: timm is not installed: pip install 'kdaug[timm]'"


def test_list_models_names_timm_and_lists_its_architectures():
    res = invoke("list", "models")
    assert res.exit_code == 0
    assert f"timm {timm.__version__} is installed" in res.output
    res = invoke("list", "models", "--timm", "resnet1*")
    assert res.exit_code == 0 and "timm:resnet18\n" in res.output


def test_hsakd_teacher_trains_on_a_timm_model(tmp_path):
    res = invoke("train", "--method", "hsakd-teacher", "--teacher", "timm:resnet18", "--run-dir",
                 str(tmp_path / "h"), *SMALL)
    assert res.exit_code == 0, res.output
    rows = json.loads((tmp_path / "h" / "metrics.json").read_text())
    assert {"train_ce", "train_aux"} <= set(rows[0])
    assert torch.load(tmp_path / "h" / "checkpoint.pt", weights_only=True)["kind"] == "hsakd"
