"""Flags shared by the commands that build a training run (train, compare)."""
from __future__ import annotations

import click

from kdaug.engine.config import PRESETS
from kdaug.engine.schedules import SCHEDULES

SEED = click.IntRange(0, 2**32 - 1)  # what every generator a seed reaches accepts


def _milestones(ctx, param, value):
    if value is None:
        return None
    try:
        return tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter("expected comma-separated epochs, e.g. 150,180,210") from None


def _stack(f, opts):  # shared by the commands that define their own flag groups
    """Apply click options so that --help lists them in the order written."""
    for opt in reversed(opts):
        f = opt(f)
    return f


def data_options(f):
    opts = [
        click.option("--dataset", default="digits", show_default=True,
                     help="digits (embedded, no download), cifar10, cifar100 (python-pickle "
                          "layout), imagenet or folder (class folders: DIR/train/<class>/*, "
                          "DIR/val/<class>/*), synthetic. See `kdaug list datasets`."),
        click.option("--data-dir", type=click.Path(file_okay=False), default=None,
                     help="Dataset directory (required for all but digits and synthetic)."),
        click.option("--few-shot", type=click.FloatRange(0, 1, min_open=True), default=None,
                     help="Train on this stratified, seeded fraction of the training split."),
    ]
    return _stack(f, opts)


def backend_options(f):
    opts = [
        click.option("--backend", type=click.Choice(["auto", "dali", "reference"]), default="auto",
                     show_default=True,
                     help="Augmentation backend: dali (NVIDIA DALI pipelines; the default when "
                          "installed) or reference (PIL/torchvision on CPU workers)."),
        click.option("--aug-device", type=click.Choice(["auto", "cpu", "gpu"]), default="auto",
                     show_default=True,
                     help="Where DALI augments: gpu when a GPU trains, else cpu. Asking for gpu "
                          "without one is an error, never a silent CPU run."),
        click.option("--device", default="auto", show_default=True,
                     help="Where the models train: auto, cpu, cuda, cuda:N."),
        click.option("--workers", type=click.IntRange(min=0), default=None,
                     help="Reference DataLoader workers / DALI threads [default: all cores]."),
    ]
    return _stack(f, opts)


def recipe_options(f):
    return _stack(f, _recipe(seed=True))


def recipe_options_without_seed(f):
    """The recipe flags of commands that run several seeds (--seeds instead of --seed)."""
    return _stack(f, _recipe(seed=False))


def _recipe(seed: bool):
    opts = [
        click.option("--preset", type=click.Choice(sorted(PRESETS)), default=None,
                     help="Reference recipe [default: cifar for CIFAR, imagenet for class "
                          "folders, digits for the embedded data]; flags below override it."),
        click.option("--epochs", type=click.IntRange(min=1), default=None,
                     help="Epochs [default: the preset's]; without --milestones the preset's "
                          "milestones move to the same fractions of the run."),
        click.option("--teacher-epochs", type=click.IntRange(min=1), default=None,
                     help="Epochs of a teacher trained on the fly [default: the preset's]; "
                          "the teacher's recipe is the preset's, whatever the student's flags."),
        click.option("--batch-size", type=click.IntRange(min=1), default=None,
                     help="Images per batch and per process (each brings V views)."),
        click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None,
                     help="Initial learning rate (SGD)."),
        click.option("--momentum", type=click.FloatRange(0, 1), default=0.9, show_default=True),
        click.option("--nesterov/--no-nesterov", default=None, help="Nesterov momentum."),
        click.option("--weight-decay", type=click.FloatRange(min=0), default=None),
        click.option("--schedule", type=click.Choice(SCHEDULES), default="multistep",
                     show_default=True,
                     help="lr schedule: multistep (x --gamma at each of --milestones, the "
                          "papers' recipes) or cosine (half a cosine down to --min-lr)."),
        click.option("--milestones", callback=_milestones, default=None,
                     help="multistep: epochs at which the lr is multiplied by --gamma, e.g. "
                          "150,180,210."),
        click.option("--gamma", type=click.FloatRange(0, 1, min_open=True), default=0.1,
                     show_default=True, help="multistep: the lr factor at each milestone."),
        click.option("--warmup-epochs", type=click.FloatRange(min=0), default=0.0,
                     show_default=True,
                     help="Linear lr warm-up over this many epochs (fractions allowed), step by "
                          "step, before either schedule."),
        click.option("--min-lr", type=click.FloatRange(min=0), default=0.0, show_default=True,
                     help="cosine: the lr at the end of the last epoch."),
        click.option("--clip-grad", type=click.FloatRange(min=0, min_open=True), default=None,
                     help="Clip the gradient norm to this value."),
        click.option("--amp/--no-amp", default=True, show_default=True,
                     help="bf16 autocast (CUDA only)."),
        click.option("--channels-last/--no-channels-last", default=True, show_default=True,
                     help="NHWC memory layout (CUDA only)."),
        click.option("--limit-batches", type=click.IntRange(min=1), default=None,
                     help="Stop each epoch after this many batches (smoke tests)."),
        click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
                     help="Where teachers trained on the fly are cached "
                          "[default: $KDAUG_CACHE or ~/.cache/kdaug]."),
        click.option("--tensorboard/--no-tensorboard", default=None,
                     help="TensorBoard event files in the run directory [default: when "
                          "TensorBoard is installed]."),
        click.option("--quiet", is_flag=True, help="No progress bars."),
    ]
    if seed:
        opts.insert(len(opts) - 4, click.option(  # before --limit-batches
            "--seed", type=SEED, default=0, show_default=True,
            help="Seed of weights, shuffling and augmentation (printed with results)."))
    return opts
