"""Training configuration: reference recipes as presets, every value overridable by a flag.

Resolution order: dataset defaults -> preset -> explicit flags. The resolved configuration is
saved beside each run (config.json) so that a run can be read back and reproduced.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

# Reference recipes (../shared/spec/methods.md, "Reference recipes").
PRESETS: Dict[str, dict] = {
    # CCD reference, CIFAR-100: batch 128 images (256 views at V=2).
    "cifar": dict(epochs=240, lr=0.1, milestones=(150, 180, 210), weight_decay=1e-4,
                  batch_size=128, nesterov=True),
    # HSAKD/CRD protocol, CIFAR-100 (use --lr 0.01 for MobileNetV2/ShuffleNet students).
    "cifar-crd": dict(epochs=240, lr=0.05, milestones=(150, 180, 210), weight_decay=5e-4,
                      batch_size=64, nesterov=False),
    # The common ImageNet protocol (HSAKD, CRD, torchdistill, mdistiller).
    "imagenet": dict(epochs=100, lr=0.1, milestones=(30, 60, 90), weight_decay=1e-4,
                     batch_size=256, nesterov=False),
    # CCD reference, ImageNet: global batch 1536, clip-norm 20.
    "imagenet-ccd": dict(epochs=200, lr=0.1 * 1536 / 256, milestones=(60, 120, 180),
                         weight_decay=1e-4, batch_size=1536, nesterov=True, clip_grad=20.0),
    # The embedded default: a few minutes on 2 CPU cores (not a paper recipe).
    "digits": dict(epochs=12, lr=0.05, milestones=(8, 11), weight_decay=5e-4, batch_size=64,
                   nesterov=True),
}

DATASET_DEFAULTS: Dict[str, dict] = {
    "digits": dict(preset="digits", teacher="resnet20", student="resnet8"),
    "cifar10": dict(preset="cifar", teacher="resnet32x4", student="resnet8x4"),
    "cifar100": dict(preset="cifar", teacher="resnet32x4", student="resnet8x4"),
    "imagenet": dict(preset="imagenet", teacher="resnet34", student="resnet18"),
    "folder": dict(preset="imagenet", teacher="resnet34", student="resnet18"),
    "synthetic": dict(preset="digits", teacher="resnet20", student="resnet8"),
}


@dataclass
class TrainConfig:
    dataset: str = "digits"
    data_dir: Optional[str] = None
    few_shot: Optional[float] = None
    method: str = "ccd"
    teacher: Optional[str] = None
    student: Optional[str] = None
    teacher_checkpoint: Optional[str] = None
    views: Optional[int] = None
    policy: Optional[str] = None
    view_family: Optional[str] = None  # None: the method's (kdaug.augment.plan.FAMILIES)
    jda: Optional[bool] = None        # augment with the policy; None: the method's default
    backend: str = "auto"            # auto | dali | reference
    aug_device: str = "auto"         # auto | cpu | gpu (where DALI runs)
    device: str = "auto"             # auto | cpu | cuda (where the models train)
    preset: Optional[str] = None
    epochs: Optional[int] = None
    teacher_epochs: Optional[int] = None  # a teacher trained on the fly; None: the preset's
    batch_size: Optional[int] = None
    lr: Optional[float] = None
    momentum: float = 0.9
    nesterov: Optional[bool] = None
    weight_decay: Optional[float] = None
    milestones: Optional[Tuple[int, ...]] = None
    gamma: float = 0.1
    schedule: str = "multistep"      # multistep | cosine (kdaug.engine.schedules)
    warmup_epochs: float = 0.0       # linear lr warm-up before either schedule
    min_lr: float = 0.0              # where cosine ends
    clip_grad: Optional[float] = None
    amp: bool = True                 # bf16 autocast, on CUDA only
    channels_last: bool = True       # on CUDA only
    workers: Optional[int] = None    # reference backend DataLoader workers / DALI threads
    seed: int = 0
    run_dir: Optional[str] = None
    resume: bool = False
    allow_changes: bool = False      # with resume: accept changed recipe values (epochs, lr...)
    cache_dir: Optional[str] = None
    hp: Dict[str, float] = field(default_factory=dict)
    limit_batches: Optional[int] = None  # cap batches per epoch (smoke tests, benchmarks)
    tensorboard: Optional[bool] = None   # None: event files when TensorBoard is installed
    quiet: bool = False

    def resolved(self) -> "TrainConfig":
        """Fill every None from the dataset defaults and the preset."""
        if self.dataset not in DATASET_DEFAULTS:
            from kdaug.errors import KdaugError

            raise KdaugError(f"unknown dataset {self.dataset!r}; known: {', '.join(DATASET_DEFAULTS)}")
        base = DATASET_DEFAULTS[self.dataset]
        preset_name = self.preset or base["preset"]
        if preset_name not in PRESETS:
            from kdaug.errors import KdaugError

            raise KdaugError(f"unknown --preset {preset_name!r}; known: {', '.join(PRESETS)}")
        preset = PRESETS[preset_name]
        if self.schedule == "cosine" and self.milestones:
            from kdaug.errors import KdaugError

            raise KdaugError("--milestones belongs to --schedule multistep; cosine has none")
        out = dataclasses.replace(self, preset=preset_name)
        for key in ("teacher", "student"):
            if getattr(out, key) is None:
                setattr(out, key, base[key])
        scaled = out.milestones is None and out.epochs is not None
        for key, value in preset.items():
            if getattr(out, key, None) is None:
                setattr(out, key, value)
        if scaled:  # --epochs without --milestones: the lr decays at the same fractions of the run
            out.milestones = scale_milestones(preset["milestones"], preset["epochs"], out.epochs)
        # a cosine run records no milestones (the preset's belong to its multistep schedule)
        out.milestones = () if out.schedule == "cosine" else tuple(int(m) for m in out.milestones)
        return out

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["milestones"] = list(d["milestones"]) if d["milestones"] is not None else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in d.items() if k in names}
        if d.get("milestones") is not None:
            d["milestones"] = tuple(d["milestones"])
        return cls(**d)


def scale_milestones(milestones, preset_epochs: int, epochs: int) -> Tuple[int, ...]:
    """The preset's milestones moved to the same fractions of ``epochs`` epochs (distinct,
    at least 1): (150, 180, 210) of 240 -> (25, 30, 35) of 40."""
    out = sorted({max(1, round(m * epochs / preset_epochs)) for m in milestones})
    return tuple(out)


def milestone_note(cfg: "TrainConfig", resolved: "TrainConfig") -> Optional[str]:
    """What the CLI says when --epochs moved the preset's milestones (None when it did not)."""
    preset = PRESETS[resolved.preset]
    if cfg.milestones is not None or cfg.epochs is None or resolved.schedule != "multistep" \
            or tuple(resolved.milestones) == tuple(preset["milestones"]):
        return None
    given = ",".join(str(m) for m in preset["milestones"])
    return (f"lr milestones scaled with --epochs {resolved.epochs}: "
            f"{','.join(str(m) for m in resolved.milestones)} (preset {resolved.preset}: "
            f"{given} of {preset['epochs']} epochs; --milestones sets them)")


def parse_hp(items: List[str]) -> Dict[str, float]:
    """--hp T=3 --hp alpha=0.5 -> {"T": 3.0, "alpha": 0.5}."""
    from kdaug.errors import KdaugError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        try:
            if not sep or not key.strip():
                raise ValueError
            out[key.strip()] = float(value)
        except ValueError:
            raise KdaugError(f"--hp expects NAME=NUMBER, got {item!r}") from None
    return out
