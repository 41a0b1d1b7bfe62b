"""kdaug list models|methods|datasets|policies."""
from __future__ import annotations

import click
from rich.table import Table

from kdaug.cli.main import cli, console
from kdaug.cli.output import styled


@cli.group(name="list")
def list_group():
    """What kdaug knows: models, methods, datasets, policies."""


@list_group.command()
def models():
    """Registered architectures (CIFAR zoo at 32x32, torchvision at 224)."""
    from kdaug.models import list_models

    table = Table(title="models")
    for col in ("name", "family", "input", "parameters"):
        table.add_column(col, justify="right" if col in ("input", "parameters") else "left",
                         no_wrap=True)
    for name, info in list_models().items():
        table.add_row(name, info["family"], str(info["input"]), f"{info['params'] / 1e6:.2f}M")
    console.print(table)


@list_group.command()
def methods():
    """Distillation methods: the views and the teacher each one needs."""
    from kdaug.methods.base import list_methods

    table = Table(title="methods")
    for col in ("name", "views", "view family", "trains", "teacher needed"):
        table.add_column(col, no_wrap=True)
    table.add_column("summary", ratio=1)
    for name, cls in list_methods().items():
        lo, hi = cls.views_range
        views = f"{cls.default_views}" + ("" if lo == hi else f" ({lo}-{hi or '∞'})")
        trains = ("teacher" if cls.trains_teacher else "model") + (
            f" +{cls.model_kind}" if cls.model_kind != "plain" else "")
        teacher = "-" if cls.teacher_kind is None else (
            cls.teacher_kind + ("" if cls.teacher_required else " (optional)"))
        table.add_row(name, views, cls.view_family, trains, teacher, cls.summary)
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
    """JDA policies: ordered ops with magnitudes, each firing with probability p."""
    from kdaug.augment.policies import POLICIES

    for policy in POLICIES.values():
        console.print(styled((policy.name, "bold"), f" (p={policy.p}, {len(policy)} ops): "
                             + ", ".join(s.describe() for s in policy.steps)), highlight=False)
