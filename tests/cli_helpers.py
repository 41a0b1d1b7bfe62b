"""Running the `kdaug` command in-process and checking how it fails.

    from cli_helpers import SMALL, run, assert_one_line
"""
from __future__ import annotations

from click.testing import CliRunner

import kdaug.cli.commands  # noqa: F401  (registers the commands)
from kdaug.cli.main import cli as kdaug_cli

# the smallest real training run: embedded digits, one epoch of two batches
SMALL = ["--dataset", "digits", "--few-shot", "0.15", "--batch-size", "32", "--epochs", "1",
         "--limit-batches", "2", "--quiet", "--workers", "0"]


def run(args, tmp_path, **kw):
    env = {"KDAUG_CACHE": str(tmp_path / "cache")}
    return CliRunner().invoke(kdaug_cli, args, env=env, catch_exceptions=False, **kw)


def error_lines(output: str):
    """The lines kdaug ("error: ...") or click ("Error: ...") print for a failure."""
    return [line for line in output.splitlines() if line.lower().startswith("error:")]


def assert_one_line(output: str, exit_code: int, expected_code: int, *fragments: str) -> str:
    """A failure that the user reads as one line holding every fragment, no traceback."""
    assert exit_code == expected_code, output
    assert "Traceback" not in output, output
    lines = error_lines(output)
    assert len(lines) == 1, output
    for fragment in fragments:
        assert fragment in lines[0], output
    return lines[0]


def small(**overrides) -> list:
    """SMALL with some values replaced, e.g. small(epochs=2)."""
    args = list(SMALL)
    for name, value in overrides.items():
        flag = "--" + name.replace("_", "-")
        args[args.index(flag) + 1] = str(value)
    return args
