"""Run a study: every arm over every seed, each run in OUT/ARM/seedS. Finished runs are reused
and unfinished ones resumed (the engine refuses a run directory that holds another run), the
teachers are trained once (cached like those of `kdaug train`), and every configuration is
checked before anything trains."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from kdaug.engine.config import TrainConfig
from kdaug.errors import KdaugError
from kdaug.study import stats

MARKER = "study.json"


@dataclass(frozen=True)
class Arm:
    key: str                                    # its directory in the study
    label: str                                  # its row in the table
    values: Dict = field(default_factory=dict)  # TrainConfig values over the study's base
    teacher: Dict = field(default_factory=dict)  # the plain teacher's own values ({}: default)
    teacher_label: str = "teacher"
    against: Optional[str] = None               # arm it is compared with, seed by seed
    x: Optional[float] = None                   # position on the study's curve
    curve: Optional[str] = None                 # which curve of the plot


@dataclass(frozen=True)
class Study:
    name: str                 # compare, or the property (augment-vs-rotate, ...)
    question: str             # one line: what the study asks
    arms: Tuple[Arm, ...]
    plot: str = "bars"        # bars | curve
    xlabel: str = ""


@dataclass
class Runner:
    """Trains with ``train(cfg) -> summary`` (the CLI's run_training) and reports with ``say``."""
    train: Callable[[TrainConfig], Dict]
    say: Callable[[str], None] = print
    progress_factory: Optional[Callable] = None


def arm_config(base: TrainConfig, arm: Arm, seed: int, out: Path) -> TrainConfig:
    return dataclasses.replace(base, **arm.values, seed=seed,
                               run_dir=str(out / arm.key / f"seed{seed}"))


def check(study: Study, base: TrainConfig, seeds: List[int]) -> None:
    """Every arm's configuration must resolve (method, views, family, preset) before a run."""
    from kdaug.engine.build import choose_views, method_class

    for arm in study.arms:
        cfg = arm_config(base, arm, seeds[0], Path(".")).resolved()
        try:
            choose_views(cfg, method_class(cfg.method))
        except KdaugError as exc:
            raise KdaugError(f"{arm.label}: {exc}") from None


def claim(out: Path, study: Study, base: TrainConfig) -> None:
    """OUT is this study's directory (new, or one it started); never another study's."""
    marker = out / MARKER
    me = {"study": study.name, "dataset": base.dataset, "data_dir": base.data_dir}
    if marker.exists():
        try:
            held = json.loads(marker.read_text())
        except ValueError:
            held = {}
        if {k: held.get(k) for k in me} != me:
            raise KdaugError(f"{out} holds another study ({held.get('study')} on "
                             f"{held.get('dataset')}): give another --out")
    elif out.exists() and any(out.iterdir()):
        raise KdaugError(f"{out} is not empty and holds no study: give another --out")
    out.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(me, indent=1))


def run(study: Study, base: TrainConfig, seeds: List[int], out: Path, runner: Runner,
        teacher_checkpoint: Optional[str] = None) -> Dict:
    """Train what is missing and return the study's results (also OUT/results.json)."""
    check(study, base, seeds)
    claim(out, study, base)
    teachers = _Teachers(base, seeds[0], out, runner, teacher_checkpoint)
    total, done = len(study.arms) * len(seeds), 0
    arms = []
    for arm in study.arms:
        runs = []
        for seed in seeds:
            done += 1
            cfg = arm_config(base, arm, seed, out)
            runner.say(f"[{done}/{total}] {arm.label}, seed {seed}")
            cfg.teacher_checkpoint = teachers.for_run(cfg, arm)
            cfg.resume = (Path(cfg.run_dir) / "checkpoint.pt").exists()
            summary = runner.train(cfg)
            runs.append({"seed": seed, "top1": summary["final_top1"],
                         "best_top1": summary["best_top1"], "run_dir": summary["run_dir"]})
        arms.append(_arm_result(arm, runs))
    by_key = {a["key"]: a for a in arms}
    for a in arms:
        if a["against"]:
            a["vs"] = stats.paired(a["top1"]["values"], by_key[a["against"]]["top1"]["values"])
            a["verdict"] = stats.verdict(a["vs"])
    result = {"study": study.name, "question": study.question, "dataset": base.dataset,
              "few_shot": base.few_shot, "epochs": base.resolved().epochs, "seeds": seeds,
              "plot": study.plot, "xlabel": study.xlabel, "teachers": teachers.rows(),
              "arms": arms, "measure": "final top-1 on the validation split (%)"}
    (out / "results.json").write_text(json.dumps(result, indent=1))
    return result


def _arm_result(arm: Arm, runs: List[Dict]) -> Dict:
    used = json.loads((Path(runs[0]["run_dir"]) / "config.json").read_text())
    return {"key": arm.key, "label": arm.label, "method": used["method"],
            "arch": used["trained_arch"], "views": used["views"],
            "view_family": used.get("view_family"), "jda": used.get("jda"),
            "few_shot": used.get("few_shot"), "x": arm.x, "curve": arm.curve,
            "against": arm.against, "teacher": used.get("teacher_checkpoint"),
            "top1": stats.summary([r["top1"] for r in runs]),
            "best_top1": stats.summary([r["best_top1"] for r in runs]), "runs": runs,
            "vs": None, "verdict": ""}


class _Teachers:
    """The teachers of a study: one per (kind, variant), trained with the first seed."""

    def __init__(self, base: TrainConfig, seed: int, out: Path, runner: Runner,
                 given: Optional[str]):
        self.base, self.seed, self.out, self.runner, self.given = base, seed, out, runner, given
        self.paths: Dict[str, Tuple[str, str]] = {}  # key -> (path, label)

    def for_run(self, cfg: TrainConfig, arm: Arm) -> Optional[str]:
        from kdaug.engine.build import ensure_teacher, method_class
        from kdaug.engine.distributed import DistInfo

        kind = method_class(cfg.method).teacher_kind
        if kind is None:
            return None
        key = json.dumps([kind, arm.teacher], sort_keys=True)
        if key not in self.paths:
            plain = self.given if not arm.teacher else None
            teacher_base = dataclasses.replace(self.base.resolved(), seed=self.seed)
            path = ensure_teacher(teacher_base, kind, self.base.resolved().teacher, DistInfo(),
                                  self.runner.progress_factory, self.runner.say,
                                  self.out / "teachers", plain, arm.teacher)
            label = arm.teacher_label if kind == "plain" else f"{arm.teacher_label} ({kind})"
            self.paths[key] = (str(path), label)
        return self.paths[key][0]

    def rows(self) -> List[Dict]:
        seen, out = set(), []
        for path, label in self.paths.values():
            if path not in seen:
                seen.add(path)
                out.append({"label": label, **teacher_facts(path, self.base)})
        return out


def teacher_facts(path: str, base: TrainConfig) -> Dict:
    """What trained a teacher (ce, hsakd-teacher, ..., or external) and its final top-1, from
    its run's metrics when kdaug trained it, else evaluated on the validation split."""
    run = Path(path).parent
    if (run / "metrics.json").exists() and (run / "config.json").exists():
        log = json.loads((run / "metrics.json").read_text())
        config = json.loads((run / "config.json").read_text())
        return {"method": config["method"], "arch": config["trained_arch"],
                "views": config["views"], "view_family": config.get("view_family"),
                "jda": config.get("jda"), "top1": log[-1]["val_top1"],
                "best_top1": max(r["val_top1"] for r in log), "run_dir": str(run)}
    from kdaug.engine import checkpoint as ckpt
    from kdaug.engine.build import evaluate_checkpoint

    state = ckpt.load(path)
    trained_by = state.get("config", {}).get("method", "external") if ckpt.is_kdaug(state) else "external"
    res = evaluate_checkpoint(path, base.dataset, data_dir=base.data_dir, arch=base.teacher,
                              backend=base.backend, aug_device=base.aug_device,
                              device=base.device, workers=base.workers)
    return {"method": trained_by, "arch": res["arch"], "views": 1, "jda": None,
            "top1": res["top1"], "best_top1": res["top1"], "run_dir": str(run)}
