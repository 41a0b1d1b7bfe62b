"""From a configuration to a ready Trainer: dataset -> view plans -> loaders -> models ->
method. Data flows one way; the only decisions are made here, from the method's declared
needs (view family, view count, teacher kind), never from its name."""
from __future__ import annotations

import dataclasses
import json
import os
import platform
from pathlib import Path
from typing import Callable, Optional

import torch

from kdaug.augment.plan import eval_plan, train_plan
from kdaug.augment.policies import get_policy
from kdaug.engine import checkpoint as ckpt
from kdaug.engine import run_logs
from kdaug.engine.config import TrainConfig
from kdaug.engine.distributed import DistInfo
from kdaug.engine.loaders import choose_backend, make_loader, resolve_device
from kdaug.engine.trainer import Trainer
from kdaug.errors import KdaugError
from kdaug.methods.base import get_method, list_methods

def method_class(name: str):
    try:
        return get_method(name)
    except KeyError as exc:
        raise KdaugError(f"unknown --method {name!r}; known: {', '.join(list_methods())}") from None


def trained_arch(cfg: TrainConfig, method_cls, explicit_student: bool) -> str:
    """The architecture a run trains: the teacher for teacher-training methods (and for ce
    unless --student is given: `kdaug train --method ce` trains a teacher), else the student."""
    teacherish = method_cls.trains_teacher or (method_cls.teacher_kind is None and not explicit_student)
    return cfg.teacher if teacherish else cfg.student


def path_part(arch: str) -> str:
    """An architecture name fit for a directory name (timm:resnet18 -> timm-resnet18)."""
    return arch.replace(":", "-")


def default_run_dir(cfg: TrainConfig, arch: str) -> Path:
    return Path("runs") / cfg.dataset / f"{cfg.method}-{path_part(arch)}-v{cfg.views}-seed{cfg.seed}"


def cache_root(cfg: TrainConfig) -> Path:
    return Path(cfg.cache_dir or os.environ.get("KDAUG_CACHE") or Path.home() / ".cache" / "kdaug")


def build_trainer(cfg: TrainConfig, dist: DistInfo = DistInfo(), progress_factory: Callable = None,
                  say: Callable[[str], None] = print) -> Trainer:
    explicit_student, explicit_teacher = cfg.student is not None, cfg.teacher is not None
    cfg = cfg.resolved()
    run_logs.check_requested(cfg)
    method_cls = method_class(cfg.method)
    views = cfg.views or method_cls.default_views
    try:
        method_cls.check_views(views)
    except ValueError as exc:
        raise KdaugError(f"--views {views}: {exc}") from None
    cfg = dataclasses.replace(cfg, views=views)

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
    family = method_cls.family_for(views)
    tplan = train_plan(data.geometry, family, views, policy, data.mean, data.std)
    vplan = eval_plan(data.geometry, data.mean, data.std)

    choice = choose_backend(cfg.backend, cfg.aug_device, device)
    for note in choice.notes:
        say(note)
    rank_seed = cfg.seed + 1000 * dist.rank  # a seed per rank: shards draw different views
    train_loader = make_loader(choice, data.train, tplan, cfg.batch_size, train=True, seed=rank_seed,
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
    if method_cls.teacher_kind is not None:
        path = cfg.teacher_checkpoint
        if path is None and method_cls.teacher_required:
            # `kdaug train --dataset imagenet --method ccd` works as written: the missing
            # teacher is trained first (through its stages) and cached, loudly
            path = ensure_teacher(cfg, method_cls.teacher_kind, cfg.teacher, dist, progress_factory, say)
        if path is not None:
            teacher, teacher_arch = ckpt.load_model(
                path, method_cls.teacher_kind, cfg.teacher if explicit_teacher else None,
                data.num_classes)
            cfg = dataclasses.replace(cfg, teacher=teacher_arch, teacher_checkpoint=str(path))
            if method_cls.trains_teacher:
                arch = teacher_arch
                model = models.build(method_cls.model_kind, arch, data.num_classes)
    try:
        method = method_cls(model, teacher, data.num_classes, **cfg.hp)
    except ValueError as exc:
        raise KdaugError(f"--hp: {exc}") from None

    run_dir = Path(cfg.run_dir) if cfg.run_dir else default_run_dir(cfg, arch)
    has_checkpoint = (run_dir / "checkpoint.pt").exists()
    if has_checkpoint and not cfg.resume:
        raise KdaugError(f"run directory {run_dir} already holds a checkpoint: pass --resume to "
                         f"continue it, or --run-dir to start a new run elsewhere")
    if cfg.resume and not has_checkpoint:
        raise KdaugError(f"--resume: no checkpoint.pt in {run_dir}")
    cfg = dataclasses.replace(cfg, run_dir=str(run_dir))
    record = {"kind": method_cls.model_kind, "arch": arch, "num_classes": data.num_classes,
              "classes": data.classes}
    progress = progress_factory(cfg.method) if (progress_factory and dist.is_main and not cfg.quiet) else None
    trainer = Trainer(cfg, method, train_loader, val_loader, device, dist, run_dir, record, progress)
    trainer.backend, trainer.dataset, trainer.train_plan = choice, data, tplan
    if cfg.resume:
        trainer.resume()
    if dist.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        resolved = {**cfg.to_dict(), "trained_arch": arch, "backend_resolved": choice.describe(),
                    "device_resolved": str(device), "world_size": dist.world,
                    "train_views_family": family, "num_classes": data.num_classes,
                    "train_images": len(data.train), "val_images": len(data.val),
                    "versions": versions()}
        (run_dir / "config.json").write_text(json.dumps(resolved, indent=1))
        trainer.sinks += run_logs.epoch_sinks(cfg, run_dir, trainer.start_epoch, say)
    return trainer


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


def ensure_teacher(cfg: TrainConfig, kind: str, arch: str, dist: DistInfo,
                   progress_factory: Callable, say: Callable) -> Path:
    """Train the missing teacher once (with its own teacher stages first), cache it, reuse it."""
    producer = _producer(kind)
    run_dir = cache_root(cfg) / "teachers" / (
        f"{cfg.dataset}-{path_part(arch)}-{kind}-seed{cfg.seed}-e{cfg.epochs}-fs{cfg.few_shot}-{cfg.backend}")
    path = run_dir / "checkpoint.pt"
    if path.exists():
        state = ckpt.load(path)
        if int(state.get("epoch", -1)) >= cfg.epochs - 1:
            say(f"teacher: reusing the cached {arch} ({kind}) in {run_dir}")
            return path
    say(f"teacher: no --teacher-checkpoint given; training a {arch} ({kind}) with "
        f"`--method {producer}` first ({cfg.epochs} epochs; pass --teacher-checkpoint to skip "
        f"this), cached in {run_dir}")
    sub = dataclasses.replace(cfg, method=producer, teacher=arch, student=None, views=None,
                              policy=None, teacher_checkpoint=None, run_dir=str(run_dir),
                              resume=path.exists(), hp={})
    trainer = build_trainer(sub, dist, progress_factory, say)
    trainer.fit()
    return path


def evaluate_checkpoint(path, dataset: str, *, data_dir=None, arch=None, backend="auto",
                        aug_device="auto", device="auto", workers=None, batch_size=256) -> dict:
    """Top-1/top-5/loss of a checkpoint (any kind: its plain classifier) on a validation split."""
    from kdaug.data import load_dataset
    from kdaug.engine.trainer import evaluate

    dev = resolve_device(device)
    data = load_dataset(dataset, data_dir=data_dir)
    model, arch = ckpt.load_model(path, "plain", arch, data.num_classes)
    choice = choose_backend(backend, aug_device, dev)
    loader = make_loader(choice, data.val, eval_plan(data.geometry, data.mean, data.std),
                         batch_size, train=False, seed=0, train_device=dev, workers=workers)
    return {**evaluate(model.to(dev), loader, dev), "arch": arch}
