"""What each method is, declared without torch: the views it trains on, the model it trains,
the teacher it reads. The method classes take these attributes from here (Method.info), and
`kdaug list methods` prints them without importing the implementations (and torch)."""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Dict, Optional, Tuple

from kdaug.families import FAMILIES


@dataclass(frozen=True)
class MethodInfo:
    name: str
    summary: str                             # one line for `kdaug list methods`
    view_family: str                         # family of the training views (kdaug.augment.plan)
    default_views: int
    views_range: Tuple[int, Optional[int]]   # allowed V: (min, max or None)
    model_kind: str = "plain"                # kind of the trained module (kdaug.models.build)
    teacher_kind: Optional[str] = None       # kind of teacher checkpoint it reads
    teacher_required: bool = False
    trains_teacher: bool = False             # True: the trained model is a teacher (--teacher arch)
    families: Tuple[str, ...] = ()           # view families its loss takes (default: view_family)

    @property
    def view_families(self) -> Tuple[str, ...]:
        return self.families or (self.view_family,)


# the class attributes a method takes from its MethodInfo
ATTRIBUTES = tuple(f.name for f in fields(MethodInfo))

_ROTATIONS = dict(default_views=4, views_range=(4, 4))
# losses that treat every view alike (CE and KD on each) take any family: rotation as augmentation
_ANY = FAMILIES

METHODS: Dict[str, MethodInfo] = {info.name: info for info in (
    MethodInfo("ce", "cross-entropy alone on every view (teachers, student-alone baseline)",
               "plain", 1, (1, None), families=_ANY),
    MethodInfo("kd", "Hinton KD on every view (KD+JDA with V >= 2, plain KD with V = 1)",
               "jda", 2, (1, None), teacher_kind="plain", teacher_required=True, families=_ANY),
    MethodInfo("ccd", "cosine confidence distillation: KD+JDA, augmented KL weighted by "
                      "1+cos(teacher logits)",
               "jda", 2, (2, None), teacher_kind="plain", teacher_required=True),
    MethodInfo("hsakd-teacher", "trains an HSAKD teacher: main CE + CE of each auxiliary branch "
                                "on 4y+k",
               "rotation", **_ROTATIONS, model_kind="hsakd", teacher_kind="plain",
               trains_teacher=True),  # with a plain teacher: frozen backbone; without: jointly
    MethodInfo("hsakd", "HSAKD student: CE + KL of every auxiliary branch (4N-way) and of the "
                        "main head, 4 rotations",
               "rotation", **_ROTATIONS, model_kind="hsakd", teacher_kind="hsakd",
               teacher_required=True),
    MethodInfo("sskd-teacher", "trains the SSKD projection head on a frozen plain teacher "
                               "(rotation contrastive task)",
               "rotation-crop", **_ROTATIONS, model_kind="sskd", teacher_kind="plain",
               teacher_required=True, trains_teacher=True),
    MethodInfo("sskd", "SSKD student: CE + KD on 0-degree views, KD on rotated views, "
                       "similarity-matrix KD",
               "rotation-crop", **_ROTATIONS, model_kind="sskd", teacher_kind="sskd",
               teacher_required=True),
)}
