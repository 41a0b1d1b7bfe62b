"""The training curves of a run as a PNG (curves.png in the run directory): loss terms,
train/val top-1 and the learning rate against the epoch, read from metrics.json. Written at
the end of every run and by `kdaug plot RUN_DIR`; needs matplotlib (kdaug[plot])."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Dict, List, Optional

from kdaug.errors import KdaugError

FILENAME = "curves.png"
MATPLOTLIB_MISSING = "matplotlib is not installed (pip install 'kdaug[plot]')"
_NOT_LOSSES = ("train_top1",)  # train_* keys that are not loss terms


def matplotlib_available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def read_rows(run_dir) -> List[Dict]:
    path = Path(run_dir) / "metrics.json"
    if not path.is_file():
        raise KdaugError(f"{run_dir} has no metrics.json: not a kdaug run directory, or no epoch "
                         f"has finished yet")
    try:
        rows = json.loads(path.read_text())
    except ValueError as exc:
        raise KdaugError(f"{path} is not valid JSON ({exc})") from None
    if not rows:
        raise KdaugError(f"{path} holds no epoch yet")
    return rows


def _title(run_dir: Path) -> str:
    config = run_dir / "config.json"
    if not config.is_file():
        return run_dir.name
    c = json.loads(config.read_text())
    return (f"{c.get('method')}: {c.get('trained_arch')} on {c.get('dataset')}, "
            f"V={c.get('views')}, {c.get('schedule', 'multistep')} lr, seed {c.get('seed')}  "
            f"({run_dir.name})")


def write_curves(run_dir, out: Optional[str] = None) -> Path:
    """Draw the run's curves; returns the PNG's path (RUN_DIR/curves.png unless ``out``)."""
    run_dir = Path(run_dir)
    rows = read_rows(run_dir)
    if not matplotlib_available():
        raise KdaugError(f"{FILENAME} needs matplotlib, and {MATPLOTLIB_MISSING}")
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed on a cluster node
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    epochs = [r["epoch"] + 1 for r in rows]
    keys = list(dict.fromkeys(k for r in rows for k in r))

    def series(key):
        return [r.get(key, float("nan")) for r in rows]

    fig, (losses, top1, lr) = plt.subplots(1, 3, figsize=(15, 4.2))
    for key in keys:
        if key.startswith("train_") and key not in _NOT_LOSSES:
            name = "loss (sum)" if key == "train_loss" else key[len("train_"):]
            losses.plot(epochs, series(key), marker=".", label=f"train {name}",
                        linewidth=2.2 if key == "train_loss" else 1.2)
    if "val_loss" in keys:
        losses.plot(epochs, series("val_loss"), marker=".", linestyle="--", label="val CE")
    losses.set_title("loss terms (mean per step)")
    for key, label, style in (("train_top1", "train top-1", "-"), ("val_top1", "val top-1", "-"),
                              ("val_top5", "val top-5", ":")):
        if key in keys:
            top1.plot(epochs, series(key), marker=".", linestyle=style, label=label)
    top1.set_title("accuracy (%)")
    if "lr" in keys:
        values = series("lr")
        lr.plot(epochs, values, marker=".", color="black")
        positive = [v for v in values if v and v > 0]
        if positive and max(positive) / min(positive) > 20:  # multistep decays read better in log
            lr.set_yscale("log")
    lr.set_title("learning rate (last step of the epoch)")
    for ax in (losses, top1, lr):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.suptitle(_title(run_dir), fontsize=10)
    fig.tight_layout()
    path = Path(out) if out else run_dir / FILENAME
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


class CurvesPNG:
    """An epoch sink of the trainer: draws curves.png when the run ends (or stops)."""

    def __init__(self, run_dir):
        self.run_dir = Path(run_dir)

    def append(self, row: Dict) -> None:
        pass  # metrics.json, written by MetricLog, is the source

    def close(self) -> None:
        if (self.run_dir / "metrics.json").is_file():
            write_curves(self.run_dir)
