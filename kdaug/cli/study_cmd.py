"""kdaug study PROPERTY: the paper's five findings, each a command; kdaug compare shares the
flags and the report."""
from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path

import click
from rich.table import Table

from kdaug.cli.main import cli, console
from kdaug.cli.options import (_stack, backend_options, data_options,
                               recipe_options_without_seed)
from kdaug.engine.config import TrainConfig
from kdaug.errors import KdaugError
from kdaug.study import properties


def study_options(f):
    """Flags of every study: data, models, teacher, backend, the student's recipe, seeds, OUT."""
    f = recipe_options_without_seed(f)
    f = backend_options(f)
    f = _stack(f, [
        click.option("--teacher", default=None, help="Teacher architecture [default: the dataset's]."),
        click.option("--student", default=None, help="Student architecture [default: the dataset's]."),
        click.option("--teacher-checkpoint", type=click.Path(dir_okay=False), default=None,
                     help="Trained plain teacher [default: one trained with its own recipe on "
                          "the whole training split, cached]."),
        click.option("--seeds", default="0-4", show_default=True,
                     help="Seeds of the students, e.g. 0,1,2 or 0-4 (the teachers use the "
                          "first). Every row is a mean ± std over them."),
        click.option("--out", type=click.Path(file_okay=False), default=None,
                     help="The study's directory [default: runs/study/NAME-DATASET]; finished "
                          "runs there are reused, unfinished ones resumed."),
    ])
    return data_options(f)


def run_study(study, kwargs: dict, out_default: str, fixed=(), out_root: str = "runs/study") -> dict:
    """Train what the study misses, then print and write its table (and plot)."""
    from kdaug.cli.train import config_from, run_training
    from kdaug.study import report, runner, stats
    from kdaug.study.properties import student_defaults

    seeds = stats.parse_seeds(kwargs.pop("seeds"))
    out = kwargs.pop("out")
    kwargs = {k: v for k, v in kwargs.items() if k in _TRAIN_KEYS}
    for key, value in student_defaults(kwargs["dataset"]).items():
        if kwargs.get(key) is None and key not in fixed:
            kwargs[key] = value
    base = config_from({**kwargs, "seed": seeds[0], "method": "ce"})
    resolved = base.resolved()
    # every arm trains the same student (ce included: the student alone); the teacher stays
    # unnamed unless given, so that a checkpoint's own architecture is used
    base = dataclasses.replace(base, student=resolved.student)
    out = Path(out or Path(out_root) / "-".join(filter(None, [out_default, base.dataset])))
    console.print(f"{study.question}\n{len(study.arms)} arms x {len(seeds)} seeds "
                  f"{seeds} -> {out}", highlight=False)
    result = runner.run(study, base, seeds, out,
                        runner.Runner(train=run_training, say=_say,
                                      progress_factory=None if base.quiet else _progress),
                        kwargs.get("teacher_checkpoint"))
    command = command_line(click.get_current_context())
    (out / "results.md").write_text(report.markdown(result, command))
    png = report.plot(result, out / "results.png")
    _print(result)
    console.print(f"results: {out / 'results.json'}, {out / 'results.md'}"
                  + (f", {png}" if png else " (no plot: matplotlib is not installed, "
                                            "pip install 'kdaug[plot]')"), highlight=False)
    return result


_TRAIN_KEYS = {f.name for f in dataclasses.fields(TrainConfig)}


def command_line(ctx: click.Context) -> str:
    """The command as typed, but for its order: `kdaug NAME` and every flag given on it."""
    from click.core import ParameterSource

    words = ["kdaug", *ctx.command_path.split()[1:]]
    for param in ctx.command.params:
        if ctx.get_parameter_source(param.name) != ParameterSource.COMMANDLINE:
            continue
        value = ctx.params[param.name]
        if isinstance(value, bool) and getattr(param, "is_flag", False):
            words.append(param.opts[0] if value else param.secondary_opts[0])
        else:
            words += [param.opts[0], shlex.quote(",".join(map(str, value))
                                                 if isinstance(value, tuple) else str(value))]
    return " ".join(words)


def _progress(name: str):
    from kdaug.cli.progress import EpochProgress

    return EpochProgress(console, name)


def _say(text: str) -> None:
    console.print(text, highlight=False)


def _print(result: dict) -> None:
    from kdaug.study import report

    table = Table(title=report.heading(result), title_justify="left")
    for col in report.COLUMNS:
        table.add_column(col, justify="right" if col.startswith(("top", "Δ", "seeds")) else "left")
    for row in report.rows(result):
        table.add_row(*row)
    console.print(table)


class StudyGroup(click.Group):
    def resolve_command(self, ctx, args):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            raise KdaugError(f"unknown study property {args[0]!r}; known: "
                             f"{', '.join(self.commands)}")
        return super().resolve_command(ctx, args)


@cli.group(cls=StudyGroup)
def study():
    """The paper's five properties of augmentation in distillation, one command each.

    Each trains its arms over several seeds (teachers once, cached), then writes
    OUT/results.json, results.md and results.png: final top-1, mean ± std, and each arm
    against the arm it varies, seed by seed (a paired t-test says whether the difference
    exceeds the spread). Finished runs are reused: run a study again to extend or re-plot it.
    On the embedded digits the students train on 10% of the training split, batch 16, 40
    epochs, unless flags say otherwise.

    \b
    Example:
      kdaug study proportion --seeds 0-2
    """


def _numbers(text: str, flag: str, kind, ok, what: str) -> list:
    try:
        values = [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise KdaugError(f"{flag} expects comma-separated numbers, got {text!r}") from None
    if not values:
        raise KdaugError(f"{flag} is empty")
    bad = [v for v in values if not ok(v)]
    if bad:
        raise KdaugError(f"{flag}: {bad[0]} is not {what}")
    if len(set(values)) != len(values):
        raise KdaugError(f"{flag}: a value is given twice")
    return values


@study.command(name="augment-vs-rotate")
@study_options
def augment_vs_rotate(**kwargs):
    """(a) KD without augmentation, with rotation views and with JDA (the teacher trained
    without augmentation)."""
    run_study(properties.augment_vs_rotate(), kwargs, "augment-vs-rotate")


@study.command(name="teacher-aug")
@study_options
def teacher_aug(**kwargs):
    """(b) KD+JDA from a teacher trained without JDA and from one trained with it."""
    run_study(properties.teacher_aug(), kwargs, "teacher-aug")


@study.command()
@study_options
@click.option("--views-list", default="1,2,4,8", show_default=True,
              help="Views per image of the KD arms (V-1 of them JDA views).")
def proportion(views_list, **kwargs):
    """(c) Top-1 against the number of JDA views per original image: KD with V = 1, 2, 4, 8."""
    views = _numbers(views_list, "--views-list", int, lambda v: v >= 1, "a view count (1 or more)")
    run_study(properties.proportion(views), kwargs, "proportion")


@study.command(name="few-shot")
@study_options
@click.option("--fractions", default="0.05,0.1,0.25,0.5", show_default=True,
              help="Fractions of the training split the students learn from, in (0, 1].")
def few_shot(fractions, **kwargs):
    """(d) Top-1 against the training fraction, KD with and without JDA (the teacher learns
    from the whole split)."""
    values = _numbers(fractions, "--fractions", float, lambda f: 0 < f <= 1, "in (0, 1]")
    if kwargs.get("few_shot") is not None:
        raise KdaugError("--few-shot: this study sets the fraction of each arm (--fractions)")
    run_study(properties.few_shot(values), kwargs, "few-shot", fixed=("few_shot",))


@study.command(name="with-methods")
@study_options
def with_methods(**kwargs):
    """(e) KD, HSAKD and SSKD without and with JDA, and CCD beside them."""
    run_study(properties.with_methods(), kwargs, "with-methods")
