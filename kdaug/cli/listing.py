"""kdaug list models|methods|datasets|policies."""
from __future__ import annotations

import click
from rich.table import Table

from kdaug.cli.main import cli, console
from kdaug.cli.output import styled
from kdaug.errors import KdaugError


@cli.group(name="list")
def list_group():
    """What kdaug knows: models, methods, datasets, policies."""


@list_group.command()
@click.option("--timm", "timm_pattern", metavar="PATTERN", default=None,
              help="List the timm architectures matching PATTERN instead (e.g. 'convnext*'; "
                   "'*' for all); this imports timm, a few seconds.")
def models(timm_pattern):
    """Registered architectures (CIFAR zoo at 32x32, torchvision at 224), and whether timm's
    are available (any timm model trains as timm:NAME)."""
    from kdaug.models.catalog import FAMILIES, MODELS, timm_version

    if timm_pattern is not None:
        return _timm_models(timm_pattern)

    table = Table(title="models")
    for col in ("name", "family", "input", "parameters"):
        table.add_column(col, justify="right" if col in ("input", "parameters") else "left",
                         no_wrap=True)
    for name, info in MODELS.items():
        table.add_row(name, info.family, str(FAMILIES[info.family][0]), f"{info.params / 1e6:.2f}M")
    console.print(table)
    version = timm_version()
    if version is None:
        console.print("timm models: not installed (pip install 'kdaug[timm]'), then any timm "
                      "architecture trains as timm:NAME")
    else:
        console.print(f"timm models: timm {version} is installed: any of its architectures trains "
                      f"as timm:NAME, e.g. --teacher timm:convnext_tiny --student timm:resnet18; "
                      f"`kdaug list models --timm 'convnext*'` lists them")


def _timm_models(pattern: str) -> None:
    from kdaug.models.timm_models import matching

    names = matching(pattern)
    if not names:
        raise KdaugError(f"--timm {pattern!r}: no timm architecture matches (patterns as in "
                         f"timm.list_models: 'resnet*', '*vit*')")
    for name in names:
        console.print(name, highlight=False)
    console.print(f"{len(names)} timm architectures (random weights; load trained ones from a "
                  f"local file with --teacher-checkpoint)", highlight=False)


@list_group.command()
def methods():
    """Distillation methods: the views and the teacher each one needs."""
    from kdaug.methods.catalog import METHODS

    table = Table(title="methods")
    for col in ("name", "views", "view family", "trains", "teacher needed"):
        table.add_column(col, no_wrap=True)
    table.add_column("summary", ratio=1)
    for name, info in sorted(METHODS.items()):
        lo, hi = info.views_range
        views = f"{info.default_views}" + ("" if lo == hi else f" ({lo}-{hi or '∞'})")
        trains = ("teacher" if info.trains_teacher else "model") + (
            f" +{info.model_kind}" if info.model_kind != "plain" else "")
        teacher = "-" if info.teacher_kind is None else (
            info.teacher_kind + ("" if info.teacher_required else " (optional)"))
        family = info.view_family + (" (or any: --view-family)" if len(info.view_families) > 1
                                     else "")
        table.add_row(name, views, family, trains, teacher, info.summary)
    console.print(table)


@list_group.command()
def datasets():
    """Dataset names for --dataset."""
    from kdaug.data import list_datasets

    table = Table(title="datasets")
    table.add_column("name")
    table.add_column("description")
    for name, desc in list_datasets().items():
        table.add_row(name, desc)
    console.print(table)


@list_group.command()
def policies():
    """Augmentation policies: the JDA chains (ordered ops with magnitudes, each firing with
    probability p) and the library policies RandAugment and AutoAugment."""
    from kdaug.augment.policies import POLICIES

    for policy in POLICIES.values():
        console.print(styled((policy.name, "bold"), f" ({policy.describe()})"),
                      highlight=False)
