"""TensorBoard event files beside metrics.csv: every number of an epoch's row as a scalar
(train/loss, train/<loss term>, train/top1, val/top1, val/top5, val/loss, lr, ...), at step
= the number of epochs done. Written when TensorBoard is installed, unless --no-tensorboard;
--tensorboard makes a missing TensorBoard an error instead of a silent omission."""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Dict, Optional

from kdaug.errors import KdaugError

MISSING = "--tensorboard: TensorBoard is not installed (pip install tensorboard)"


def tensorboard_available() -> bool:
    return importlib.util.find_spec("tensorboard") is not None


def tag(key: str) -> str:
    """train_top1 -> train/top1, val_loss -> val/loss, lr -> lr."""
    for split in ("train", "val"):
        if key.startswith(split + "_"):
            return f"{split}/{key[len(split) + 1:]}"
    return key


class TensorBoardLog:
    """An epoch sink of the trainer (append each row, close at the end)."""

    def __init__(self, run_dir, start_epoch: int = 0):
        from torch.utils.tensorboard import SummaryWriter

        # purge_step: a resumed run drops the events of epochs it is about to redo
        self.writer = SummaryWriter(log_dir=str(Path(run_dir)), purge_step=start_epoch + 1)

    def append(self, row: Dict) -> None:
        step = int(row["epoch"]) + 1
        for key, value in row.items():
            if key != "epoch" and isinstance(value, (int, float)) and math.isfinite(value):
                self.writer.add_scalar(tag(key), value, step)
        self.writer.flush()  # an interrupted run keeps every finished epoch

    def close(self) -> None:
        self.writer.close()


def open_tensorboard(wanted: Optional[bool], run_dir, start_epoch: int) -> Optional[TensorBoardLog]:
    """None: write when installed; True: write, and fail in one line when not installed."""
    if wanted is False:
        return None
    if not tensorboard_available():
        if wanted:
            raise KdaugError(MISSING)
        return None
    return TensorBoardLog(run_dir, start_epoch)
