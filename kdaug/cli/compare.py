"""kdaug compare: the main job. The student alone and distilled with JDA, over several seeds."""
from __future__ import annotations

import json
from pathlib import Path

import click

from kdaug.cli.main import cli
from kdaug.cli.study_cmd import run_study, study_options
from kdaug.errors import KdaugError
from kdaug.methods.catalog import METHODS
from kdaug.study import properties

DEFAULT_METHODS = "ce,kd,ccd"


@cli.command()
@study_options
@click.option("--methods", default=DEFAULT_METHODS, show_default=True,
              help=f"Comma-separated methods, each with the teacher it needs (built once, "
                   f"cached): {', '.join(METHODS)}. Each is compared with ce (the student "
                   f"alone) when ce is listed, else with the first.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None,
              help="Also write the results here (always in OUT/results.json).")
def compare(methods, json_path, **kwargs):
    """The student alone, KD+JDA and CCD on one dataset: top-1, mean ± std over seeds.

    On the embedded digits (the default) this needs nothing else: the teacher is trained
    first with its own recipe on the whole training split and cached; the students learn from
    a tenth of it (batch 16, 40 epochs), where augmentation has room to matter. Every row is
    a mean ± std over --seeds, and each method is compared with the student alone seed by
    seed. Writes OUT/results.json, results.md, results.png.

    \b
    Examples:
      kdaug compare
      kdaug compare --methods ce,kd,ccd,hsakd,sskd --seeds 0-2
      kdaug compare --dataset cifar100 --data-dir ~/data --teacher-checkpoint T.pt --seeds 0-2
    """
    names = [m.strip() for m in methods.split(",") if m.strip()]
    if not names:
        raise KdaugError("--methods is empty")
    unknown = [m for m in names if m not in METHODS]
    if unknown:
        raise KdaugError(f"--methods: unknown method {unknown[0]!r}; known: {', '.join(METHODS)}")
    if len(set(names)) != len(names):
        raise KdaugError("--methods: a method is given twice")
    result = run_study(properties.compare(names), kwargs, "", out_root="runs/compare")
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=1))
