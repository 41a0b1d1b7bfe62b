"""Rich progress for training: one bar per epoch with loss and views/s, a line per epoch."""
from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


class EpochProgress:
    def __init__(self, console: Console, label: str = ""):
        self.console, self.label = console, label
        self.bar = None

    def epoch_start(self, epoch: int, epochs: int, total: int) -> None:
        if not self.console.is_terminal:  # logs get the per-epoch line only, no bar residue
            return
        self.bar = Progress(
            TextColumn(f"[bold]{escape(self.label)}[/] epoch {epoch + 1}/{epochs}"), BarColumn(),
            MofNCompleteColumn(), TextColumn("loss {task.fields[loss]:.3f}"),
            TextColumn("{task.fields[vps]:,.0f} views/s"), TimeRemainingColumn(),
            console=self.console, transient=True)
        self.bar.start()
        self.task = self.bar.add_task("train", total=total, loss=float("nan"), vps=0.0)

    @property
    def completed(self) -> int:
        return int(self.bar.tasks[0].completed) if self.bar is not None else 0

    def step(self, loss: float, views_per_s: float, advance: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(self.task, advance=advance, loss=loss, vps=views_per_s)

    def epoch_done(self, row: dict) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
        self.console.print(
            f"{self.label} epoch {row['epoch'] + 1}: loss {row['train_loss']:.3f}  "
            f"train top-1 {row['train_top1']:.1f}  val top-1 {row['val_top1']:.2f}  "
            f"top-5 {row['val_top5']:.2f}  {row['views_per_s']:,.0f} views/s  "
            f"({row['epoch_time_s']:.1f}s)", highlight=False)
