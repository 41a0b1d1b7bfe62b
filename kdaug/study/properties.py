"""The paper's five properties of augmentation in distillation, and `kdaug compare`, as
studies: arms of training values, each compared seed by seed with the arm it varies."""
from __future__ import annotations

from typing import Dict, List, Sequence

from kdaug.study.runner import Arm, Study

# On the embedded digits the full split is too easy to separate the methods (every student is
# within a point of the teacher); a tenth of it, where the paper says augmentation matters
# most, leaves room for a difference, and 40 short epochs fit a 2-core machine.
EMBEDDED_STUDENT = {"few_shot": 0.1, "batch_size": 16, "epochs": 40}

LABELS = {"ce": "student alone", "kd": "KD+JDA", "ccd": "CCD (JDA)", "hsakd": "HSAKD",
          "sskd": "SSKD"}


def student_defaults(dataset: str) -> Dict:
    """The student values a study uses where no flag says otherwise."""
    return dict(EMBEDDED_STUDENT) if dataset == "digits" else {}


def _kd(views: int, **more) -> Dict:
    return {"method": "kd", "views": views, **more}


def compare(methods: Sequence[str]) -> Study:
    """The main job: each method beside the student alone (or the first method without ce)."""
    baseline = "ce" if "ce" in methods else methods[0]
    arms = tuple(Arm(m, LABELS.get(m, m), {"method": m},
                     against=None if m == baseline else baseline) for m in methods)
    return Study("compare", "Distillation with JDA against the student alone", arms)


def augment_vs_rotate() -> Study:
    return Study("augment-vs-rotate",
                 "(a) Is rotation just augmentation? KD without augmentation, with rotation "
                 "views, with JDA; the teacher never saw augmented samples", (
                     Arm("kd-plain", "KD, no augmentation", _kd(1)),
                     Arm("kd-rotation", "KD, rotation views", _kd(4, view_family="rotation"),
                         against="kd-plain"),
                     Arm("kd-jda", "KD+JDA", _kd(2), against="kd-plain"),
                 ))


def teacher_aug() -> Study:
    return Study("teacher-aug",
                 "(b) Does the teacher need augmentation? KD+JDA from a teacher trained without "
                 "and with JDA", (
                     Arm("plain-teacher", "teacher without JDA", _kd(2)),
                     Arm("jda-teacher", "teacher with JDA", _kd(2), teacher={"jda": True, "views": 2},
                         teacher_label="teacher trained with JDA", against="plain-teacher"),
                 ))


def proportion(views: Sequence[int] = (1, 2, 4, 8)) -> Study:
    base = f"v{views[0]}"
    arms = tuple(Arm(f"v{v}", f"KD, V={v}", _kd(v), x=v - 1, curve="KD",
                     against=None if f"v{v}" == base else base) for v in views)
    return Study("proportion", "(c) How many augmented samples? KD with V-1 JDA views per "
                 "original", arms, plot="curve", xlabel="JDA views per original image (V-1)")


def few_shot(fractions: Sequence[float] = (0.05, 0.1, 0.25, 0.5)) -> Study:
    arms: List[Arm] = []
    for f in fractions:
        part = {"few_shot": None if f == 1 else f}
        arms.append(Arm(f"kd-f{f:g}", f"KD, {f:.0%}", _kd(1, **part), x=f,
                        curve="KD, no augmentation"))
        arms.append(Arm(f"jda-f{f:g}", f"KD+JDA, {f:.0%}", _kd(2, **part), x=f, curve="KD+JDA",
                        against=f"kd-f{f:g}"))
    return Study("few-shot", "(d) Does augmentation matter more with less data? KD with and "
                 "without JDA against the training fraction", tuple(arms), plot="curve",
                 xlabel="fraction of the training split")


def with_methods() -> Study:
    return Study("with-methods", "(e) Does JDA help other distillers? KD, HSAKD and SSKD "
                 "without and with JDA, CCD beside them", (
                     Arm("kd", "KD", _kd(1)),
                     Arm("kd-jda", "KD+JDA", _kd(2), against="kd"),
                     Arm("hsakd", "HSAKD", {"method": "hsakd"}),
                     Arm("hsakd-jda", "HSAKD+JDA", {"method": "hsakd", "jda": True},
                         against="hsakd"),
                     Arm("sskd", "SSKD", {"method": "sskd"}),
                     Arm("sskd-jda", "SSKD+JDA", {"method": "sskd", "jda": True}, against="sskd"),
                     Arm("ccd", "CCD (JDA)", {"method": "ccd"}, against="kd-jda"),
                 ))


PROPERTIES = {"augment-vs-rotate": augment_vs_rotate, "teacher-aug": teacher_aug,
              "proportion": proportion, "few-shot": few_shot, "with-methods": with_methods}
