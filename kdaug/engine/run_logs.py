"""The logs a run writes beside metrics.csv/json: TensorBoard event files and curves.png,
chosen from the configuration. What is asked for and cannot be written is said before any
training starts."""
from __future__ import annotations

from typing import Callable, List

from kdaug.engine import curves, tensorboard_log
from kdaug.errors import KdaugError


def check_requested(cfg) -> None:
    if cfg.tensorboard and not tensorboard_log.tensorboard_available():
        raise KdaugError(tensorboard_log.MISSING)


def epoch_sinks(cfg, run_dir, start_epoch: int, say: Callable[[str], None]) -> List:
    sinks = []
    tensorboard = tensorboard_log.open_tensorboard(cfg.tensorboard, run_dir, start_epoch)
    if tensorboard is not None:
        sinks.append(tensorboard)
    if curves.matplotlib_available():
        sinks.append(curves.CurvesPNG(run_dir))
    else:
        say(f"no {curves.FILENAME} for this run: {curves.MATPLOTLIB_MISSING}")
    return sinks
