"""kdaug data check: find the files that would break GPU decoding before a run meets them."""
from __future__ import annotations

import sys

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from kdaug.cli.main import cli, console


@cli.group(name="data")
def data_group():
    """Dataset tools."""


@data_group.command(name="check")
@click.argument("data_dir", type=click.Path(file_okay=False))
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Decoding threads [default: all cores, at most 32].")
def check(data_dir, workers):
    """Scan a class-folder dataset (DIR/train/<class>/*, DIR/val/<class>/*) and name every
    unreadable, truncated, non-JPEG, CMYK/greyscale or progressive JPEG file.

    The GPU decoder (nvJPEG) takes baseline RGB JPEG; exits 1 when any file is flagged.
    """
    from kdaug.data.check import check_files, dataset_files

    files = dataset_files(data_dir)
    with Progress(TextColumn("checking"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=console, transient=True) as bar:
        task = bar.add_task("check", total=len(files))
        problems = check_files(files, lambda done, total: bar.update(task, completed=done), workers)
    for path, problem in problems:
        console.print(f"{path}: {problem}", highlight=False, soft_wrap=True)
    console.print(f"{len(files)} files checked, {len({p for p, _ in problems})} with problems")
    if problems:
        sys.exit(1)
