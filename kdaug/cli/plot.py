"""kdaug plot: the training curves of a run directory as a PNG."""
from __future__ import annotations

import click

from kdaug.cli.main import cli, console


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="PNG to write [default: RUN_DIR/curves.png].")
def plot(run_dir, output):
    """Draw a run's curves from its metrics.json: loss terms, train/val top-1, learning rate.

    Works on a finished run and on one still training (the epochs done so far). Every run
    also writes RUN_DIR/curves.png when it ends. Needs matplotlib (kdaug[plot]).

    \b
    Example:
      kdaug plot runs/digits/ccd-resnet8-v2-seed0
    """
    from kdaug.engine.curves import write_curves

    console.print(f"wrote {write_curves(run_dir, output)}", highlight=False)
