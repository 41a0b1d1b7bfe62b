"""From a configuration to a ready Trainer: dataset -> view plans -> loaders -> models ->
method. Data flows one way; the only decisions are made here, from the method's declared
needs (view family, view count, teacher kind), never from its name."""
from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil
from pathlib import Path
from typing import Callable, Optional

import torch

from kdaug.augment.plan import eval_plan, train_plan
from kdaug.augment.policies import get_policy
from kdaug.engine import checkpoint as ckpt
from kdaug.engine import resume, run_logs, teacher_cache
from kdaug.engine.config import TrainConfig, milestone_note
from kdaug.engine.distributed import DistInfo, barrier
from kdaug.engine.loaders import choose_backend, make_loader, resolve_device
from kdaug.engine.rundir import RunLock, fingerprint
from kdaug.engine.trainer import Trainer
from kdaug.engine.validate import check_config
from kdaug.errors import KdaugError
from kdaug.methods.base import get_method, list_methods
from kdaug.paths import path_part

def method_class(name: str):
    try:
        return get_method(name)
    except KeyError as exc:
        raise KdaugError(f"unknown --method {name!r}; known: {', '.join(list_methods())}") from None


def choose_views(cfg: TrainConfig, method_cls):
    """(views, family, augment) of the training plan: the method's unless --view-family or
    --jda/--no-jda say otherwise, and only families the method's loss takes."""
    family = cfg.view_family
    views = cfg.views or (4 if family and family.startswith("rotation") else method_cls.default_views)
    try:
        method_cls.check_views(views)
    except ValueError as exc:
        raise KdaugError(f"--views {views}: {exc}") from None
    family = family or method_cls.family_for(views)
    if cfg.jda is not None and family in ("plain", "jda"):
        family = "jda" if cfg.jda else "plain"  # jda is the plain family with augmented views
    allowed = method_cls.info.view_families
    if family not in allowed:
        raise KdaugError(f"--view-family {family}: method {method_cls.name} trains on "
                         f"{', '.join(allowed)} views")
    if family == "jda" and views < 2:
        raise KdaugError("--jda: view 0 is the original, so JDA needs --views 2 or more")
    if family.startswith("rotation") and views != 4:
        raise KdaugError(f"--views {views}: the {family} family has 4 views (0/90/180/270 degrees)")
    augment = family == "jda" or (family.startswith("rotation") and bool(cfg.jda))
    return views, family, augment


def trained_arch(cfg: TrainConfig, method_cls, explicit_student: bool) -> str:
    """The architecture a run trains: the teacher for teacher-training methods (and for ce
    unless --student is given: `kdaug train --method ce` trains a teacher), else the student."""
    teacherish = method_cls.trains_teacher or (method_cls.teacher_kind is None and not explicit_student)
    return cfg.teacher if teacherish else cfg.student


def default_run_dir(cfg: TrainConfig, arch: str) -> Path:
    """runs/DATASET/METHOD-ARCH-vV-seedS-FINGERPRINT: readable, and two configurations that
    differ in anything else (lr, batch size, backend, epochs, preset...) never share one."""
    return (Path("runs") / cfg.dataset
            / f"{cfg.method}-{path_part(arch)}-v{cfg.views}-seed{cfg.seed}-{fingerprint(cfg)}")


def build_trainer(cfg: TrainConfig, dist: DistInfo = DistInfo(), progress_factory: Callable = None,
                  say: Callable[[str], None] = print) -> Trainer:
    explicit_student, explicit_teacher = cfg.student is not None, cfg.teacher is not None
    given, cfg = cfg, cfg.resolved()
    note = milestone_note(given, cfg)
    if note:
        say(note)
    run_logs.check_requested(cfg)
    method_cls = method_class(cfg.method)
    check_config(cfg, method_cls)
    views, family, augment = choose_views(cfg, method_cls)
    cfg = dataclasses.replace(cfg, views=views, view_family=family, jda=augment)

    device = resolve_device(cfg.device)
    if device.type == "cuda" and dist.enabled:
        device = torch.device("cuda", dist.local_rank)
    from kdaug.data import load_dataset

    data = load_dataset(cfg.dataset, data_dir=cfg.data_dir, few_shot=cfg.few_shot, seed=cfg.seed)
    policy = cfg.policy or data.default_policy
    try:
        get_policy(policy)
    except KeyError as exc:
        raise KdaugError(f"--policy: {exc.args[0]}") from None
    cfg = dataclasses.replace(cfg, policy=policy)
    tplan = train_plan(data.geometry, family, views, policy, data.mean, data.std, augment=augment)
    vplan = eval_plan(data.geometry, data.mean, data.std)

    choice = choose_backend(cfg.backend, cfg.aug_device, device, files=data.train.files is not None)
    for note in choice.notes:
        say(note)
    # one seed on every rank: the shards of one permutation are disjoint, and each sample's
    # draws depend on its index, so ranks still see different views
    train_loader = make_loader(choice, data.train, tplan, cfg.batch_size, train=True, seed=cfg.seed,
                               train_device=device, shard_id=dist.rank, num_shards=dist.world,
                               workers=cfg.workers)
    val_loader = make_loader(choice, data.val, vplan, cfg.batch_size, train=False, seed=cfg.seed,
                             train_device=device, shard_id=dist.rank, num_shards=dist.world,
                             workers=cfg.workers)

    from kdaug import models

    torch.manual_seed(cfg.seed)  # the same initial weights on every rank and every run
    arch = trained_arch(cfg, method_cls, explicit_student)
    try:
        model = models.build(method_cls.model_kind, arch, data.num_classes)
    except KeyError as exc:
        raise KdaugError(f"unknown model {arch!r}: see `kdaug list models`") from None
    teacher = None
    if method_cls.teacher_kind is not None and cfg.teacher_checkpoint is not None:
        teacher, cfg, arch, model = _load_teacher(cfg, cfg.teacher_checkpoint, method_cls,
                                                  explicit_teacher, data.num_classes, arch, model)

    named = cfg.run_dir is not None
    run_dir = Path(cfg.run_dir) if named else default_run_dir(cfg, arch)
    cfg = dataclasses.replace(cfg, run_dir=str(run_dir))
    lock = RunLock(run_dir) if dist.is_main else None  # held until fit() ends
    try:
        state = _checkpoint_to_resume(cfg, run_dir, named)
        old = resume.recorded(state) if state is not None else None
        run_info, changed = {"trained_arch": arch, "backend": choice.backend}, []
        if old is not None:  # before any teacher is trained: another run is refused at once
            changed = resume.check_same_run(old, {**cfg.to_dict(), **run_info}, run_dir,
                                            cfg.allow_changes)
            if changed:
                say(f"resuming with changed settings: {'; '.join(changed)}")
        if method_cls.teacher_kind is not None:
            path = resume.teacher_to_resume_with(old, cfg.teacher_checkpoint) if old else cfg.teacher_checkpoint
            if path is None and method_cls.teacher_required:
                # `kdaug train --dataset imagenet --method ccd` works as written: the missing
                # teacher is trained first (through its stages) and cached, loudly
                path = ensure_teacher(cfg, method_cls.teacher_kind, cfg.teacher, dist,
                                      progress_factory, say, run_dir)
            if path is not None and teacher is None:
                teacher, cfg, arch, model = _load_teacher(cfg, path, method_cls, explicit_teacher,
                                                          data.num_classes, arch, model)
        run_info = {"trained_arch": arch, "backend": choice.backend,
                    "teacher_sha256": resume.file_sha256(cfg.teacher_checkpoint) if teacher else None}
        try:
            method = method_cls(model, teacher, data.num_classes, **cfg.hp)
        except ValueError as exc:
            raise KdaugError(f"--hp: {exc}") from None
        record = {"kind": method_cls.model_kind, "arch": arch, "num_classes": data.num_classes,
                  "classes": data.classes}
        progress = progress_factory(cfg.method) if (progress_factory and dist.is_main and not cfg.quiet) else None
        trainer = Trainer(cfg, method, train_loader, val_loader, device, dist, run_dir, record, progress)
        trainer.backend, trainer.dataset, trainer.train_plan = choice, data, tplan
        trainer.run_info, trainer.lock = run_info, lock
        if state is not None:
            trainer.resume(state)
            if changed:
                trainer.use_current_recipe()
        if dist.is_main:
            resolved = {**cfg.to_dict(), "trained_arch": arch, "backend_resolved": choice.describe(),
                        "teacher_sha256": run_info["teacher_sha256"],
                        "device_resolved": str(device), "world_size": dist.world,
                        "train_views_family": family, "num_classes": data.num_classes,
                        "train_images": len(data.train), "val_images": len(data.val),
                        "start_epoch": trainer.start_epoch, "versions": versions()}
            write_config(run_dir, resolved, resumed=state is not None)
            trainer.sinks += run_logs.epoch_sinks(cfg, run_dir, trainer.start_epoch, say)
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    return trainer


def _load_teacher(cfg, path, method_cls, explicit_teacher: bool, num_classes: int, arch, model):
    """Load the teacher checkpoint; methods that train the teacher itself (hsakd-teacher,
    sskd-teacher) then train the checkpoint's architecture. Returns (teacher, cfg, arch, model)."""
    from kdaug import models

    teacher, teacher_arch = ckpt.load_model(path, method_cls.teacher_kind,
                                            cfg.teacher if explicit_teacher else None, num_classes)
    cfg = dataclasses.replace(cfg, teacher=teacher_arch, teacher_checkpoint=str(path))
    if method_cls.trains_teacher:
        arch = teacher_arch
        model = models.build(method_cls.model_kind, arch, num_classes)
    return teacher, cfg, arch, model


def _checkpoint_to_resume(cfg: TrainConfig, run_dir: Path, named: bool) -> Optional[dict]:
    """The run directory's checkpoint when resuming (None for a new run); a new run never
    starts over an existing one, and --resume needs one."""
    path = run_dir / "checkpoint.pt"
    if path.exists() and not cfg.resume:
        raise KdaugError(f"run directory {run_dir} already holds a checkpoint: pass --resume to "
                         f"continue it, or --run-dir to start a new run elsewhere")
    if not cfg.resume:
        return None
    if not path.exists():
        hint = ("" if named else " (the default run directory is named after every setting: "
                                 "pass the --run-dir of the run to continue)")
        raise KdaugError(f"--resume: no checkpoint.pt in {run_dir}{hint}")
    return ckpt.load(path)


def write_config(run_dir: Path, resolved: dict, resumed: bool) -> None:
    """config.json describes the run as it goes on now; each earlier start (the first one,
    then every resume) stays in its "history", oldest first."""
    path = run_dir / "config.json"
    history = []
    if resumed and path.exists():
        try:
            before = json.loads(path.read_text())
        except ValueError:
            before = {}
        history = before.pop("history", []) + ([before] if before else [])
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({**resolved, "history": history}, indent=1))
    os.replace(tmp, path)


def versions() -> dict:
    out = {"python": platform.python_version(), "torch": torch.__version__}
    try:
        import nvidia.dali

        out["dali"] = nvidia.dali.__version__
    except Exception:
        out["dali"] = None
    import kdaug

    out["kdaug"] = kdaug.__version__
    return out


def _producer(kind: str) -> str:
    """The method that trains a teacher of ``kind`` (plain teachers come from ce)."""
    if kind == "plain":
        return "ce"
    for name, cls in list_methods().items():
        if cls.trains_teacher and cls.model_kind == kind:
            return name
    raise KdaugError(f"no method trains a '{kind}' teacher")


# what a teacher trained on the fly takes from the run that needs it: the data, the machine and
# the seed; its recipe is its own (the preset's, --teacher-epochs), never the student's
_TEACHER_CARRIES = ("dataset", "data_dir", "preset", "backend", "aug_device", "device", "workers",
                    "seed", "cache_dir", "limit_batches", "amp", "channels_last", "tensorboard",
                    "quiet", "teacher_epochs")


def teacher_config(cfg: TrainConfig, method: str, arch: str, **values) -> TrainConfig:
    """The configuration that trains a teacher with ``method`` for a run configured by ``cfg``,
    on the whole training split (a few-shot student still learns from a full teacher)."""
    carried = {k: getattr(cfg, k) for k in _TEACHER_CARRIES}
    return TrainConfig(**{**carried, "method": method, "teacher": arch,
                          "epochs": cfg.teacher_epochs, **values})


def _epochs(n: int) -> str:
    return f"{n} epoch" + ("" if n == 1 else "s")


def ensure_teacher(cfg: TrainConfig, kind: str, arch: str, dist: DistInfo,
                   progress_factory: Callable, say: Callable, student_dir: Path,
                   plain: Optional[str] = None, variant: Optional[dict] = None) -> Path:
    """The teacher of ``kind`` for ``cfg``, trained once and cached, with the chain it needs
    first: a teacher stage that reads a plain teacher (hsakd-teacher, sskd-teacher) is trained
    on ``plain`` (else on the plain teacher this function trains). A teacher not worth reusing
    (non-finite, at chance level) is moved out of the cache into ``student_dir``, for this run
    only. ``variant``: values of the plain teacher's own training (e.g. jda=True, views=2 for
    a teacher trained with JDA); each variant is cached apart."""
    if kind == "plain" and plain is not None:
        return Path(plain)
    producer = _producer(kind)
    reads = method_class(producer).teacher_kind
    stage = (str(ensure_teacher(cfg, reads, arch, dist, progress_factory, say, student_dir, plain,
                                variant)) if reads is not None else None)
    own = dict(variant or {}) if kind == "plain" else {}
    sub = teacher_config(cfg, producer, arch, teacher_checkpoint=stage, **own)
    recipe = sub.resolved()
    run_dir = teacher_cache.cache_dir(sub, kind)
    path = run_dir / "checkpoint.pt"
    if path.exists() and int(ckpt.load(path).get("epoch", -1)) >= recipe.epochs - 1:
        problem = teacher_cache.unusable(run_dir)
        if problem:
            raise KdaugError(f"the cached teacher in {run_dir} {problem}: delete that directory "
                             f"to train it again")
        say(f"teacher: reusing the cached {arch} ({kind}) in {run_dir}")
        return path
    say(f"teacher: no --teacher-checkpoint given; training a {arch} ({kind}) with "
        f"`--method {producer}` first ({_epochs(recipe.epochs)}, preset {recipe.preset}; "
        f"--teacher-epochs sets them, --teacher-checkpoint skips this), cached in {run_dir}")
    sub = dataclasses.replace(sub, run_dir=str(run_dir), resume=path.exists())
    build_trainer(sub, dist, progress_factory, say).fit()
    barrier(dist)
    problem = teacher_cache.unusable(run_dir)
    if problem is None:
        return path
    # beside the run, one directory per stage and variant (the fingerprint tells variants apart)
    kept = student_dir / ("teacher" + ("" if kind == "plain" else f"-{kind}")
                          + (f"-{run_dir.name.rsplit('-', 1)[-1]}" if own else ""))
    if dist.is_main:
        if kept.exists():
            shutil.rmtree(kept)
        shutil.move(str(run_dir), str(kept))
    barrier(dist)
    say(f"teacher: the trained {arch} {problem}: not cached; this run uses it from {kept}")
    return kept / "checkpoint.pt"


def evaluate_checkpoint(path, dataset: str, *, data_dir=None, arch=None, backend="auto",
                        aug_device="auto", device="auto", workers=None, batch_size=256) -> dict:
    """Top-1/top-5/loss of a checkpoint (any kind: its plain classifier) on a validation split."""
    from kdaug.data import load_dataset
    from kdaug.engine.trainer import evaluate

    dev = resolve_device(device)
    data = load_dataset(dataset, data_dir=data_dir)
    model, arch = ckpt.load_model(path, "plain", arch, data.num_classes)
    choice = choose_backend(backend, aug_device, dev, files=data.val.files is not None)
    loader = make_loader(choice, data.val, eval_plan(data.geometry, data.mean, data.std),
                         batch_size, train=False, seed=0, train_device=dev, workers=workers)
    return {**evaluate(model.to(dev), loader, dev), "arch": arch}
