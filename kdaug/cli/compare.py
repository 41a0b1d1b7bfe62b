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
from kdaug.methods.catalog import METHODS

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
    plain_teacher = kwargs.get("teacher_checkpoint")
    teachers = [plain_teacher] if plain_teacher else []  # every teacher a row read, in order
    for name in names:
        # every row trains the same student architecture (ce included: the student alone)
        cfg = dataclasses.replace(TrainConfig(method=name, **kwargs), run_dir=str(out / name),
                                  student=base.student, teacher_checkpoint=None)
        cfg.resume = (Path(cfg.run_dir) / "checkpoint.pt").exists()
        reads_plain = name in METHODS and METHODS[name].teacher_kind == "plain"
        if reads_plain and plain_teacher:
            cfg.teacher_checkpoint = plain_teacher  # the same teacher for kd, ccd, ...
        # hsakd/sskd read a teacher of their own kind: build_trainer trains that stage (cached)
        console.heading(f"{LABELS.get(name, name)} ({name})")
        summary = run_training(cfg)
        used = json.loads((Path(cfg.run_dir) / "config.json").read_text())
        teacher = used.get("teacher_checkpoint")
        if teacher and reads_plain:
            plain_teacher = plain_teacher or teacher
        if teacher and teacher not in teachers:
            teachers.append(teacher)
        rows.append({"row": LABELS.get(name, name), "method": name, "arch": used["trained_arch"],
                     "views": used["views"], "top1": summary["final_top1"],
                     "best_top1": summary["best_top1"], "run_dir": summary["run_dir"]})
    rows[:0] = [_teacher_row(path, base, kwargs) for path in teachers]
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
    """The teacher's own top-1 (from its run's metrics when kdaug trained it, else evaluated),
    labelled with the method that trained it: ce, hsakd-teacher, sskd-teacher, or external
    for weights kdaug did not train."""
    run = Path(path).parent
    if (run / "metrics.json").exists() and (run / "config.json").exists():
        log = json.loads((run / "metrics.json").read_text())
        config = json.loads((run / "config.json").read_text())
        return {"row": "teacher", "method": config["method"], "arch": config["trained_arch"],
                "views": config["views"], "top1": log[-1]["val_top1"],
                "best_top1": max(r["val_top1"] for r in log), "run_dir": str(run)}
    from kdaug.engine import checkpoint as ckpt
    from kdaug.engine.build import evaluate_checkpoint

    state = ckpt.load(path)
    trained_by = state.get("config", {}).get("method", "external") if ckpt.is_kdaug(state) else "external"
    res = evaluate_checkpoint(path, base.dataset, data_dir=base.data_dir, arch=kwargs.get("teacher"),
                              backend=base.backend, aug_device=base.aug_device,
                              device=base.device, workers=base.workers)
    return {"row": "teacher", "method": trained_by, "arch": res["arch"], "views": 1,
            "top1": res["top1"], "best_top1": res["top1"], "run_dir": str(run)}
