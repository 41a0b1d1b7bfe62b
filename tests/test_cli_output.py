"""What the commands print: brackets of install hints survive, and output that is not a
terminal (a log file, tee, CI) keeps every line whole at 80 columns."""
import io
import os
import re
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from rich.table import Table

import kdaug.cli.commands  # noqa: F401  (registers the commands)
from kdaug.cli.main import cli
from kdaug.cli.output import KdaugConsole

ROOT = Path(__file__).resolve().parents[1]


def kdaug_piped(*args, timeout=120):
    """Run `kdaug ARGS` in a fresh process whose stdout is a pipe, as under tee or a batch
    job, with a COLUMNS=80 environment that rich would otherwise wrap to."""
    env = {**os.environ, "COLUMNS": "80", "PYTHONPATH": str(ROOT)}
    env.pop("FORCE_COLOR", None)
    env.pop("TTY_COMPATIBLE", None)
    proc = subprocess.run([sys.executable, "-m", "kdaug.cli", *args], capture_output=True,
                          text=True, env=env, timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def table_rows(text):
    """The body lines of a rich table (between the header rule and the bottom rule)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("┡"))
    end = next(i for i, line in enumerate(lines) if line.startswith("└"))
    return lines[start + 1:end]


def test_install_hint_keeps_its_brackets(monkeypatch):
    monkeypatch.setattr("kdaug.engine.loaders.dali_available", lambda: False)
    res = CliRunner().invoke(cli, ["train", "--backend", "dali", "--aug-device", "gpu"])
    assert res.exit_code == 1
    assert "pip install 'kdaug[dali]'" in res.stderr
    assert "Traceback" not in res.output


def test_table_cells_and_lines_keep_brackets():
    buf = io.StringIO()
    console = KdaugConsole(file=buf, markup=False)
    table = Table()
    table.add_column("hint")
    table.add_row("pip install 'kdaug[plot]'")
    console.print(table)
    console.print("runs/[exp1]/metrics.csv [bold]")
    assert "pip install 'kdaug[plot]'" in buf.getvalue()
    assert "runs/[exp1]/metrics.csv [bold]" in buf.getvalue()


def test_wide_table_rows_stay_whole_off_a_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    buf = io.StringIO()  # not a terminal
    console = KdaugConsole(file=buf, markup=False)
    table = Table(title="loader only")
    numbers = [f"{10_140 + i:,} / {8 + i}" for i in range(12)]
    for i in range(12):
        table.add_column(f"column {i}", justify="right")
    table.add_row(*numbers)
    console.print(table)
    rows = table_rows(buf.getvalue())
    assert len(rows) == 1, buf.getvalue()  # one row, one line: nothing folded
    assert all(n in rows[0] for n in numbers)
    assert len(rows[0]) > 80


def test_list_methods_rows_stay_whole_when_piped():
    from kdaug.methods.catalog import METHODS

    rows = table_rows(kdaug_piped("list", "methods"))
    assert len(rows) == len(METHODS)
    for info in METHODS.values():
        line = next(r for r in rows if r.startswith(f"│ {info.name} "))
        assert info.summary in line


def test_list_models_rows_stay_whole_when_piped():
    from kdaug.models.catalog import MODELS

    out = kdaug_piped("list", "models")
    rows = table_rows(out)
    assert len(rows) == len(MODELS)
    assert all(row.count("│") == rows[0].count("│") for row in rows)


EPOCH_LINE = re.compile(r"^ce epoch (\d+): loss [\d.]+  train top-1 [\d.]+  val top-1 [\d.]+  "
                        r"top-5 [\d.]+  [\d,]+ views/s  \([\d.]+s\)$")


def test_training_lines_stay_whole_when_piped(tmp_path):
    run_dir = tmp_path / "a-long-run-directory-name-that-pushes-the-line-past-eighty-columns"
    out = kdaug_piped("train", "--method", "ce", "--teacher", "resnet8", "--epochs", "2",
                      "--batch-size", "32", "--limit-batches", "2", "--backend", "reference",
                      "--workers", "0", "--no-tensorboard", "--run-dir", str(run_dir))
    epochs = [m.group(1) for m in map(EPOCH_LINE.match, out.splitlines()) if m]
    assert epochs == ["1", "2"], out
    start = next(line for line in out.splitlines() if line.startswith("ce: resnet8 on digits"))
    assert start.endswith(f"-> {run_dir}"), out
    assert any(line.startswith("done: best top-1") and line.endswith(str(run_dir))
               for line in out.splitlines()), out
