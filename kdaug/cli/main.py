"""The `kdaug` command. Commands are thin: parse, build, call the library. User errors
(KdaugError) are printed as one line with a non-zero exit, never a traceback."""
from __future__ import annotations

import sys

import click

from kdaug import __version__
from kdaug.cli.output import make_console, styled
from kdaug.errors import KdaugError

console = make_console()
err_console = make_console(stderr=True)


class KdaugGroup(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KdaugError as exc:
            err_console.print(styled(("error:", "bold red"), f" {exc}"), highlight=False, soft_wrap=True)
            sys.exit(1)
        except OSError as exc:
            if exc.filename is None:
                raise
            # a file the command had to read or write (disk full, read-only, permissions)
            err_console.print(f"[bold red]error:[/] {exc.filename}: {exc.strerror or exc}",
                              highlight=False, soft_wrap=True)
            sys.exit(1)
        except KeyboardInterrupt:
            err_console.print("interrupted: completed epochs are saved in the run directory; "
                              "continue with --resume")
            sys.exit(130)


@click.group(cls=KdaugGroup, context_settings={"help_option_names": ["-h", "--help"],
                                               "max_content_width": 100})
@click.version_option(__version__, prog_name="kdaug")
def cli():
    """kdaug: knowledge distillation with data augmentation on the GPU.

    Joint Data Augmentation (JDA) and Cosine Confidence Distillation (CCD), with KD, HSAKD and
    SSKD, fed by NVIDIA DALI pipelines (GPU, or CPU where there is no GPU).

    \b
    Start here:
      kdaug compare                      teacher, student alone, KD+JDA, CCD on the embedded data
      kdaug train --dataset cifar100 --data-dir DIR --method ccd --teacher-checkpoint T.pt
      kdaug list methods                 what each method needs (views, teacher)
    """


def main():
    from kdaug.cli import commands  # noqa: F401  (registers the commands on `cli`)
    from kdaug.cli.native_log import native_stderr_to_log

    with native_stderr_to_log():
        cli(prog_name="kdaug")


if __name__ == "__main__":
    main()
