"""kdaug bench: loader-only speed, end-to-end speed and the ceiling of every backend, together."""
from __future__ import annotations

import json
import shlex
from pathlib import Path

import click
from click.core import ParameterSource

from kdaug.cli.main import cli, console


def _command_line(ctx: click.Context) -> str:
    """The flags the user actually typed, in a form that can be pasted back."""
    words = ["kdaug", ctx.info_name or "bench"]
    for param in ctx.command.params:
        if not isinstance(param, click.Option):
            continue
        if ctx.get_parameter_source(param.name) != ParameterSource.COMMANDLINE:
            continue
        value = ctx.params[param.name]
        if param.is_flag:
            opts = param.opts if value or not param.secondary_opts else param.secondary_opts
            words.append(opts[0])
        else:
            words += [param.opts[0], str(value)]
    return shlex.join(words)


@cli.command()
@click.option("--quick", is_flag=True,
              help="Views 1 and 2, small sources, short windows, the 32x32 pair only: under "
                   "2 minutes on 2 CPU cores. Same as --preset quick.")
@click.option("--preset", type=click.Choice(["full", "quick", "targets", "tiny"]), default=None,
              help="full: the README's numbers [default]; quick; targets: the target figures "
                   "and the per-step table (for a GPU machine); tiny: a smoke run (tests).")
@click.option("--backends", default=None,
              help="Comma-separated, from reference, dali-cpu, dali-gpu, synthetic, "
                   "dali-autoaugment (DALI's own AutoAugment: the nearest peer) [default: all; "
                   "unavailable ones are listed with the reason].")
@click.option("--views", default=None, help="View counts V, e.g. 1,2,4,8 [default: the preset's].")
@click.option("--sources", default=None,
              help="Loader-only sources: arrays (CIFAR-style 32x32), jpeg (class folder) "
                   "[default: both].")
@click.option("--end-to-end/--no-end-to-end", default=True, show_default=True,
              help="Also time KD training steps fed by each backend.")
@click.option("--pairs", default=None,
              help="End-to-end teacher->student pairs: cifar (resnet32x4->resnet8x4 @32), "
                   "imagenet (resnet34->resnet18 @224), digits (resnet20->resnet8 @32) "
                   "[default: cifar,imagenet; quick: cifar].")
@click.option("--dataset", type=click.Choice(["synthetic", "cifar10", "cifar100"]),
              default="synthetic", show_default=True,
              help="The arrays source: synthetic CIFAR-style arrays, or CIFAR from --data-dir.")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="CIFAR folder for --dataset cifar10/cifar100.")
@click.option("--jpeg-dir", type=click.Path(file_okay=False), default=None,
              help="A class folder of JPEGs (DIR/<class>/* or DIR/train/<class>/*) [default: "
                   "generated 500x375 baseline JPEGs, cached].")
@click.option("--jpeg-cache", type=click.Path(file_okay=False), default=None,
              help="Where generated JPEGs are kept [default: $KDAUG_CACHE/bench-jpegs or "
                   "~/.cache/kdaug/bench-jpegs].")
@click.option("--device", default="auto", show_default=True,
              help="Training device: auto, cpu, cuda. DALI on GPU needs a CUDA device.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Reference DataLoader workers and DALI threads [default: all cores].")
@click.option("--windows", type=click.IntRange(min=5), default=None,
              help="Timed windows per measurement (at least 5) [default: 5].")
@click.option("--window-s", type=click.FloatRange(min=0), default=None,
              help="Minimum seconds per loader-only window [default: 0.75; quick: 0.3].")
@click.option("--batch-arrays", type=click.IntRange(min=1), default=None,
              help="Images per loader-only batch of the arrays source [default: 256].")
@click.option("--batch-jpeg", type=click.IntRange(min=1), default=None,
              help="Images per loader-only batch of the JPEG source [default: 64].")
@click.option("--op-table/--no-op-table", default=None,
              help="Also time each JDA step alone in the DALI graphs (microseconds per image "
                   "when it fires) [default: on with --preset targets].")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None,
              help="Write every measurement (windows included) and the context as JSON here.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="Write a PNG of views/s per backend and V (needs matplotlib: kdaug[plot]).")
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False), default=None,
              help="Write the tables and context as Markdown (benchmarks/RESULTS.md entries).")
@click.pass_context
def bench(ctx, quick, preset, backends, views, sources, end_to_end, pairs, dataset, data_dir,
          jpeg_dir, jpeg_cache, device, workers, windows, window_s, batch_arrays, batch_jpeg,
          op_table, seed, json_path, plot_path, markdown_path):
    """Measure every augmentation backend in one process and one run.

    \b
    For each backend (reference CPU pipeline through a DataLoader, DALI on CPU, DALI on GPU,
    DALI's own AutoAugment as the nearest peer, and a synthetic source: the ceiling):
      loader only   views/s and images/s for each V, on CIFAR-style arrays and on JPEGs
      end to end    KD training steps fed by the backend, and the data-stall share
      context       cores, threads, GPU, GPU memory peak, library versions
    Ratios compare backends measured in this same run, never numbers from elsewhere.

    \b
    Examples:
      kdaug bench --quick
      kdaug bench --json bench.json --plot bench.png
      kdaug bench --dataset cifar100 --data-dir ~/data --jpeg-dir /data/imagenet
      kdaug bench --preset targets --json targets.json     # on a GPU machine
    """
    from kdaug.bench import failures, run_bench
    from kdaug.bench import report
    from kdaug.bench.settings import parse_csv, preset as make_preset
    from kdaug.errors import KdaugError

    if quick and preset not in (None, "quick"):
        raise KdaugError(f"--quick and --preset {preset} disagree: give one of them")
    if dataset != "synthetic" and not data_dir:
        raise KdaugError(f"--dataset {dataset} needs --data-dir")
    if data_dir and dataset == "synthetic":
        raise KdaugError("--data-dir is read only with --dataset cifar10 or cifar100")
    if plot_path:
        report.check_plot_support()  # before the run, not after minutes of measuring
    settings = make_preset(
        "quick" if quick else (preset or "full"),
        backends=parse_csv(backends, flag="--backends"),
        views=parse_csv(views, int, "--views"),
        sources=parse_csv(sources, flag="--sources"),
        pairs=parse_csv(pairs, flag="--pairs") if end_to_end else (),
        windows=windows, window_s=window_s, workers=workers, seed=seed,
        batch_arrays=batch_arrays, batch_jpeg=batch_jpeg, op_table=op_table)

    def write_json(result):
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(f"{json_path}.tmp")
        tmp.write_text(json.dumps(result, indent=1))
        tmp.replace(json_path)  # a reader never sees half a file

    result = run_bench(settings, device=device, dataset=dataset, data_dir=data_dir,
                       jpeg_dir=jpeg_dir, jpeg_cache=jpeg_cache, command=_command_line(ctx),
                       say=lambda line: console.print(line, highlight=False, soft_wrap=True),
                       on_row=write_json if json_path else None)
    report.print_report(result, console)
    for path, write in ((json_path, lambda p: write_json(result)),
                        (markdown_path, lambda p: Path(p).write_text(report.markdown(result))),
                        (plot_path, lambda p: report.plot(result, p))):
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            write(path)
            console.print(f"wrote {path}", highlight=False)
    failed = failures(result)
    if failed:
        names = ", ".join(sorted({r["backend"] for r in failed}))
        raise KdaugError(f"{len(failed)} measurement(s) failed ({names}); the errors are in "
                         f"the table{' and ' + json_path if json_path else ''}")
