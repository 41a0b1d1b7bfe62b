"""The README's code runs as printed: each block marked `<!-- test: NAME -->` is executed here,
and the Lightning example trains."""
import pathlib
import re

import numpy as np
import pytest

from conftest import dali_or_skip

dali_or_skip()

ROOT = pathlib.Path(__file__).resolve().parents[1]


def readme_block(name: str) -> str:
    text = (ROOT / "README.md").read_text()
    found = re.search(rf"<!-- test: {re.escape(name)} -->\n```python\n(.*?)```", text, re.S)
    assert found, f"README.md has no python block marked test: {name}"
    return found.group(1)


def test_plain_loop_runs_and_learns():
    import torch
    from kdaug.pipelines import build_loader

    scope = {}
    exec(compile(readme_block("plain-loop"), "README.md:plain-loop", "exec"), scope)
    loader, model, data = scope["loader"], scope["model"], scope["data"]
    assert loader.epoch == 1                     # two passes: epochs 0 and 1
    assert next(model.parameters()).device == loader.device
    # two epochs of the linear model on JDA views: far above chance (10%) on held-out digits
    # (measured: 69%)
    val = build_loader((data.val.images, data.val.labels), train=False, batch_size=128,
                       device="auto")
    correct = 0
    with torch.no_grad():
        for batch in val:
            correct += int((model(batch.views[:, 0].float()).argmax(1) == batch.labels).sum())
    assert correct / len(data.val.labels) > 0.45


class StandInCIFAR:
    """What torchvision.datasets.CIFAR100 exposes: .data uint8 (N, 32, 32, 3), .targets list."""

    def __init__(self, n=600, seed=0):
        rng = np.random.default_rng(seed)
        self.data = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        self.targets = [int(t) for t in rng.integers(0, 100, n)]


def test_dataloader_replacement_runs():
    train_set = StandInCIFAR()
    scope = {"train_set": train_set}
    exec(compile(readme_block("replace-dataloader"), "README.md:replace-dataloader", "exec"),
         scope)
    loader = scope["loader"]
    assert len(loader) == len(train_set.data) // 128
    images, labels = scope["images"], scope["labels"]
    assert images.dtype.is_floating_point and labels.dtype.is_signed
    # image-major: both views of an image carry its label
    assert (labels[0::2] == labels[1::2]).all()


def test_lightning_example_trains(monkeypatch):
    pytest.importorskip("lightning", reason="the Lightning example needs `pip install lightning`")
    import importlib.util

    spec = importlib.util.spec_from_file_location("lightning_jda", ROOT / "examples" / "lightning_jda.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    module, trainer = example.main(max_epochs=2, accelerator="cpu", enable_progress_bar=False,
                                   enable_model_summary=False)
    assert trainer.state.finished and trainer.current_epoch == 2
    assert trainer.global_step == 2 * (1438 // 128)
    assert float(trainer.callback_metrics["train_loss"]) < 2.0
