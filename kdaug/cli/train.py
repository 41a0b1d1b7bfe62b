"""kdaug train / kdaug eval."""
from __future__ import annotations

import click

from kdaug.cli.config_file import config_option
from kdaug.cli.main import cli, console
from kdaug.cli.output import styled
from kdaug.cli.options import backend_options, data_options, recipe_options
from kdaug.cli.progress import EpochProgress
from kdaug.families import FAMILIES
from kdaug.engine.config import TrainConfig, parse_hp


def config_from(kwargs) -> TrainConfig:
    kwargs = dict(kwargs)
    kwargs["hp"] = parse_hp(kwargs.pop("hp", ()) or ())
    return TrainConfig(**kwargs)


@cli.command()
@config_option
@data_options
@click.option("--method", default="ccd", show_default=True,
              help="ce, kd, ccd, hsakd-teacher, hsakd, sskd-teacher, sskd "
                   "(`kdaug list methods` says what each needs).")
@click.option("--teacher", default=None,
              help="Teacher architecture [default: resnet32x4 on CIFAR, resnet34 on class "
                   "folders, resnet20 on digits]; timm:NAME for any timm model (kdaug[timm]). "
                   "`--method ce` trains this one.")
@click.option("--student", default=None,
              help="Student architecture [default: resnet8x4 on CIFAR, resnet18 on class "
                   "folders, resnet8 on digits]; timm:NAME for any timm model. With "
                   "`--method ce`, trains it alone.")
@click.option("--teacher-checkpoint", type=click.Path(dir_okay=False), default=None,
              help="Trained teacher: a kdaug checkpoint, a torchvision or timm state_dict, "
                   "a checkpoint of timm's train.py or a .safetensors file. "
                   "Without one, the teacher (and the stages it needs) is trained first with "
                   "its own recipe (the preset's, --teacher-epochs) on the whole training split and "
                   "cached in --cache-dir.")
@click.option("--views", type=click.IntRange(min=1), default=None,
              help="Views per image, view 0 the original [default: the method's: 2 for kd/ccd, "
                   "4 for hsakd/sskd, 1 for ce].")
@click.option("--policy", default=None,
              help="Augmentation policy: cifar10, cifar100, imagenet (JDA), randaugment, "
                   "autoaugment [default: the dataset's JDA policy].")
@click.option("--view-family", type=click.Choice(FAMILIES), default=None,
              help="Training views [default: the method's]: plain, jda (view 0 the original, "
                   "views 1.. through the policy), rotation (4 quarter turns, one crop), "
                   "rotation-crop (4 turns, own crops). ce and kd take any; `kdaug list "
                   "methods` says which each method takes.")
@click.option("--jda/--no-jda", default=None,
              help="Put views 1.. through the policy [default: yes for jda views, no for "
                   "plain and rotation views]. --jda on hsakd/sskd augments the rotated views; "
                   "--no-jda on kd gives plain views.")
@backend_options
@recipe_options
@click.option("--hp", multiple=True, metavar="NAME=VALUE",
              help="Method hyper-parameter, repeatable, e.g. --hp T=3.")
@click.option("--run-dir", type=click.Path(file_okay=False), default=None,
              help="Where config.json, metrics.csv/json and checkpoints go "
                   "[default: runs/DATASET/METHOD-ARCH-vV-seedS].")
@click.option("--resume", is_flag=True, help="Continue the run in --run-dir from its last checkpoint.")
@click.option("--allow-changes", is_flag=True,
              help="With --resume: continue although recipe values (epochs, lr, batch size...) "
                   "differ from the run's; config.json keeps the earlier ones. Method, models, "
                   "data, seed, views, policy, backend and teacher never change in a run.")
def train(**kwargs):
    """Train a student by distillation (or a teacher with --method ce).

    \b
    Examples:
      kdaug train                                   CCD on the embedded digits (teacher cached)
      kdaug train --method ce --dataset cifar100 --data-dir ~/data --teacher resnet32x4
      kdaug train --method ccd --dataset cifar100 --data-dir ~/data --teacher-checkpoint T.pt
      kdaug train --dataset imagenet --method ccd --data-dir /data/imagenet \\
                  --teacher-checkpoint resnet34.pth
      torchrun --nproc_per_node 8 -m kdaug.cli train --dataset imagenet ...   (DDP)
      kdaug train --config runs/digits/ccd-resnet8-v2-seed0/config.json --seed 1
    """
    cfg = config_from(kwargs)
    run_training(cfg)


def _views(plan) -> str:
    if plan.policy is None:
        return f"{plan.family} views"
    extra = "" if plan.family == "jda" else " with JDA"
    return f"{plan.family} views{extra}, policy {plan.policy.name}"


def run_training(cfg: TrainConfig) -> dict:
    from kdaug.engine import distributed
    from kdaug.engine.build import build_trainer
    from kdaug.engine.loaders import resolve_device

    dist = distributed.init(resolve_device(cfg.device).type)
    try:
        trainer = build_trainer(cfg, dist, lambda name: EpochProgress(console, name),
                                say=console.print if dist.is_main else (lambda *_: None))
        if dist.is_main:
            c = trainer.cfg
            console.print(styled(
                (c.method, "bold"), f": {trainer.record['arch']} on {c.dataset} "
                f"({len(trainer.dataset.train)} train / {len(trainer.dataset.val)} val images), "
                f"V={c.views} {_views(trainer.train_plan)}, "
                f"backend {trainer.backend.describe()}, device {trainer.device}, seed {c.seed}, "
                f"world {dist.world} -> {c.run_dir}"), highlight=False)
        summary = trainer.fit()
        if dist.is_main:
            console.print(f"done: best top-1 {summary['best_top1']:.2f}, final top-1 "
                          f"{summary['final_top1']:.2f} -> {summary['run_dir']}", highlight=False)
        return summary
    finally:
        distributed.shutdown(dist)


@cli.command(name="eval")
@click.option("--checkpoint", type=click.Path(dir_okay=False), required=True,
              help="A kdaug checkpoint (its architecture and kind are read from it) or a "
                   "torchvision state_dict (then give --arch).")
@click.option("--arch", default=None, help="Architecture of a bare state_dict.")
@data_options
@backend_options
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True)
def evaluate_cmd(checkpoint, arch, dataset, data_dir, few_shot, backend, aug_device, device,
                 workers, batch_size):
    """Top-1/top-5 of a checkpoint on a dataset's validation split."""
    from kdaug.engine.build import evaluate_checkpoint

    res = evaluate_checkpoint(checkpoint, dataset, data_dir=data_dir, arch=arch, backend=backend,
                              aug_device=aug_device, device=device, workers=workers,
                              batch_size=batch_size)
    console.print(f"{res['arch']} on {dataset} val ({res['count']} images): top-1 "
                  f"{res['top1']:.2f}  top-5 {res['top5']:.2f}  loss {res['loss']:.4f}")
