"""kdaug compare: the paper's comparison in one command (the main job on the embedded data)."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click
from rich.table import Table

from kdaug.cli.main import cli, console
from kdaug.cli.options import backend_options, data_options, recipe_options
from kdaug.cli.train import run_training
from kdaug.engine.config import TrainConfig
from kdaug.errors import KdaugError

# (label, method, views): the rows of the paper's question "what does augmentation do for KD?"
DEFAULT_ROWS = ["ce", "kd", "ccd"]
LABELS = {"ce": "student alone", "kd": "KD+JDA", "ccd": "CCD (JDA)", "hsakd": "HSAKD",
          "sskd": "SSKD"}


@cli.command()
@data_options
@click.option("--methods", default=",".join(DEFAULT_ROWS), show_default=True,
              help="Comma-separated student methods to compare (hsakd and sskd also work).")
@click.option("--teacher", default=None, help="Teacher architecture [default: the dataset's].")
@click.option("--student", default=None, help="Student architecture [default: the dataset's].")
@click.option("--teacher-checkpoint", type=click.Path(dir_okay=False), default=None,
              help="Trained plain teacher; on the embedded data one is trained and cached if absent.")
@backend_options
@recipe_options
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Directory of the runs [default: runs/compare/DATASET-seedS]. Finished runs "
                   "there are reused, unfinished ones resumed.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None,
              help="Also write the table as JSON here (always written to OUT/results.json).")
def compare(methods, out, json_path, **kwargs):
    """Teacher, student alone, KD+JDA and CCD on one dataset: a table of top-1.

    On the embedded digits data (the default) this needs nothing else: the teacher is trained
    first and cached. Seeds are fixed (--seed) and printed.
    """
    names = [m.strip() for m in methods.split(",") if m.strip()]
    if not names:
        raise KdaugError("--methods is empty")
    base = TrainConfig(method=names[0], **kwargs).resolved()
    out = Path(out or Path("runs") / "compare" / f"{base.dataset}-seed{base.seed}")
    rows = []
    teacher_path = kwargs.get("teacher_checkpoint")
    for name in names:
        # every row trains the same student architecture (ce included: the student alone)
        cfg = dataclasses.replace(TrainConfig(method=name, **kwargs), run_dir=str(out / name),
                                  student=base.student)
        cfg.resume = (Path(cfg.run_dir) / "checkpoint.pt").exists()
        if teacher_path:
            cfg.teacher_checkpoint = teacher_path
        console.heading(f"{LABELS.get(name, name)} ({name})")
        summary = run_training(cfg)
        used = json.loads((Path(cfg.run_dir) / "config.json").read_text())
        if used.get("teacher_checkpoint"):
            teacher_path = used["teacher_checkpoint"]
        rows.append({"row": LABELS.get(name, name), "method": name, "arch": used["trained_arch"],
                     "views": used["views"], "top1": summary["final_top1"],
                     "best_top1": summary["best_top1"], "run_dir": summary["run_dir"]})
    if teacher_path:
        rows.insert(0, _teacher_row(teacher_path, base, kwargs))
    result = {"dataset": base.dataset, "seed": base.seed, "epochs": base.epochs,
              "backend": kwargs.get("backend"), "rows": rows}
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(result, indent=1))
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=1))
    table = Table(title=f"{base.dataset}: top-1 on the validation split (seed {base.seed}, "
                        f"{base.epochs} epochs)")
    for col in ("", "method", "model", "views", "final top-1", "best top-1"):
        table.add_column(col, justify="right" if "top" in col or col == "views" else "left")
    for r in rows:
        table.add_row(r["row"], r["method"], r["arch"], str(r["views"]), f"{r['top1']:.2f}",
                      f"{r['best_top1']:.2f}")
    console.print(table)
    console.print(f"results: {out / 'results.json'}")


def _teacher_row(path, base, kwargs) -> dict:
    """The teacher's own top-1: from its run's metrics when kdaug trained it, else evaluated."""
    rows_file = Path(path).parent / "metrics.json"
    if rows_file.exists():
        log = json.loads(rows_file.read_text())
        arch = json.loads((Path(path).parent / "config.json").read_text())["trained_arch"]
        top1, best = log[-1]["val_top1"], max(r["val_top1"] for r in log)
    else:
        from kdaug.engine.build import evaluate_checkpoint

        res = evaluate_checkpoint(path, base.dataset, data_dir=base.data_dir, arch=kwargs.get("teacher"),
                                  backend=base.backend, aug_device=base.aug_device,
                                  device=base.device, workers=base.workers)
        arch, top1, best = res["arch"], res["top1"], res["top1"]
    return {"row": "teacher", "method": "ce", "arch": arch, "views": 1, "top1": top1,
            "best_top1": best, "run_dir": str(Path(path).parent)}
