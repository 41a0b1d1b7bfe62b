"""The training loop. It sums the loss terms a method returns and never branches on the
method: everything method-specific lives in kdaug/methods."""
from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path
from typing import Callable, Dict, Optional

import torch
from torch import nn

from kdaug.engine import checkpoint as ckpt
from kdaug.engine.distributed import DistInfo, all_sum
from kdaug.engine.metrics import MetricLog, topk_correct
from kdaug.engine.schedules import StepSchedule
from kdaug.errors import KdaugError

RESUME_KEYS = ("model", "optimizer", "scheduler", "epoch", "best_top1", "torch_rng")
SYNC_EVERY = 20  # steps between reads of a loss value (each read waits for the GPU)


def prepare_views(views: torch.Tensor, device: torch.device, channels_last: bool,
                  autocast: bool) -> torch.Tensor:
    """Move (B, V, C, H, W) views to the device; with channels_last, lay the flattened
    (B*V, C, H, W) batch out NHWC so that methods' flatten(0, 1) is a free view. Without
    autocast, float16 views (DALI on GPU) become float32 for float32 weights."""
    views = views.to(device, non_blocking=True)
    if not autocast and views.dtype != torch.float32:
        views = views.float()
    if channels_last and device.type == "cuda":
        b, v = views.shape[:2]
        views = views.flatten(0, 1).contiguous(memory_format=torch.channels_last).unflatten(0, (b, v))
    return views


class Trainer:
    def __init__(self, cfg, method, train_loader, val_loader, device: torch.device,
                 dist: DistInfo, run_dir: Path, record: Dict, progress=None):
        self.cfg, self.method = cfg, method
        self.train_loader, self.val_loader = train_loader, val_loader
        self.device, self.dist, self.run_dir = device, dist, Path(run_dir)
        self.record = record  # kind, arch, num_classes, classes: what the checkpoint describes
        self.progress = progress  # a kdaug.cli.progress.EpochProgress or None
        self.use_amp = bool(cfg.amp and device.type == "cuda")
        self.channels_last = bool(cfg.channels_last and device.type == "cuda")
        method.to(device)
        if self.channels_last:
            method.to(memory_format=torch.channels_last)
        self.trainable = [p for p in method.parameters() if p.requires_grad]
        if not self.trainable:
            raise KdaugError(f"method {method.name} has nothing to train")
        self.optimizer = torch.optim.SGD(self.trainable, lr=cfg.lr, momentum=cfg.momentum,
                                         nesterov=bool(cfg.nesterov), weight_decay=cfg.weight_decay)
        self.scheduler = StepSchedule(self.optimizer, cfg)
        self.forward = method
        if dist.enabled:  # DDP wraps only what trains: the teacher has no gradients
            self.forward = nn.parallel.DistributedDataParallel(
                method, device_ids=[device.index] if device.type == "cuda" else None)
        self.start_epoch, self.best_top1 = 0, 0.0
        self.log = MetricLog(self.run_dir)
        self.run_info: Dict = {}  # resolved facts a resume must match (kdaug.engine.resume)
        self.lock = None          # the run directory's RunLock, released when fit() ends
        self.sinks = []  # more epoch logs (TensorBoard, curves.png): append(row), then close()

    # -- checkpoints -------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / "checkpoint.pt"

    def save(self, epoch: int, path: Optional[Path] = None) -> None:
        if not self.dist.is_main:
            return
        rec = ckpt.model_record(self.record["kind"], self.record["arch"], self.record["num_classes"],
                                self.method.model.state_dict(), self.record.get("classes"))
        rec.update(epoch=epoch, best_top1=self.best_top1, optimizer=self.optimizer.state_dict(),
                   scheduler=self.scheduler.state_dict(), config=self.cfg.to_dict(),
                   run=self.run_info, torch_rng=torch.get_rng_state())
        ckpt.save_atomic(rec, path or self.checkpoint_path)

    def resume(self, state: Optional[dict] = None) -> None:
        state = ckpt.load(self.checkpoint_path) if state is None else state
        missing = [k for k in RESUME_KEYS if k not in state]
        if missing:
            raise KdaugError(f"--resume: {self.checkpoint_path} holds no {', '.join(missing)} "
                             f"state: it is a weights file, not a run's checkpoint")
        from kdaug.models import load_state

        load_state(self.method.model, state["model"], str(self.checkpoint_path))
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        self.start_epoch, self.best_top1 = int(state["epoch"]) + 1, float(state["best_top1"])
        if self.log.json.exists():
            import json

            rows = json.loads(self.log.json.read_text())
            self.log.rows = [r for r in rows if r["epoch"] < self.start_epoch]

    def use_current_recipe(self) -> None:
        """After resume(): the optimizer and schedule take this run's values (a resume with
        --allow-changes) instead of the checkpoint's (the schedule sets the lr of every step
        from the run's own recipe)."""
        cfg = self.cfg
        for group in self.optimizer.param_groups:
            group.update(lr=cfg.lr, initial_lr=cfg.lr, momentum=cfg.momentum,
                         weight_decay=cfg.weight_decay, nesterov=bool(cfg.nesterov))
        self.scheduler = StepSchedule(self.optimizer, cfg)

    # -- loop --------------------------------------------------------------------------
    def fit(self) -> Dict:
        try:
            return self._fit()
        finally:  # an interrupted run still gets its curves and flushed events
            for sink in self.sinks:
                sink.close()
            if self.lock is not None:
                self.lock.release()

    def _fit(self) -> Dict:
        for epoch in range(self.start_epoch, self.cfg.epochs):
            train_stats = self.train_epoch(epoch)
            val = self.evaluate()
            if not (math.isfinite(val["loss"]) and weights_finite(self.method.model)):
                raise self._not_finite(f"the weights became non-finite during epoch {epoch}", epoch)
            self.best_top1 = max(self.best_top1, val["top1"])
            row = {"epoch": epoch, **train_stats, **{f"val_{k}": v for k, v in val.items()}}
            if self.dist.is_main:
                self.log.append(row)
                for sink in self.sinks:
                    sink.append(row)
                self.save(epoch)
                if val["top1"] >= self.best_top1:
                    self.save(epoch, self.run_dir / "best.pt")
            if self.progress:
                self.progress.epoch_done(row)
        last = self.log.rows[-1] if self.log.rows else {}
        return {"best_top1": self.best_top1, "final_top1": last.get("val_top1"),
                "final_top5": last.get("val_top5"), "epochs": self.cfg.epochs,
                "run_dir": str(self.run_dir)}

    def _not_finite(self, what: str, epoch: int) -> KdaugError:
        """Stop before anything is saved: checkpoint.pt and best.pt keep the last good epoch."""
        kept = (f"{self.checkpoint_path} (epoch {epoch - 1}) and best.pt are kept" if epoch > 0
                else "nothing was saved")
        return KdaugError(f"{what}: lower --lr or check the teacher checkpoint; {kept}")

    def _autocast(self):
        if self.use_amp:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def train_epoch(self, epoch: int) -> Dict:
        self.method.train()
        self.train_loader.set_epoch(epoch)
        total = len(self.train_loader)
        if self.cfg.limit_batches:
            total = min(total, self.cfg.limit_batches)
        if total == 0:
            raise KdaugError("the training split is smaller than one batch: lower --batch-size")
        # running sums stay on the device: reading a value back forces a GPU sync, so that
        # happens only every SYNC_EVERY steps (finite-loss check, progress) and at the end
        sums: Dict[str, torch.Tensor] = {}
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        seen = views_seen = 0
        start = time.perf_counter()
        if self.progress:
            self.progress.epoch_start(epoch, self.cfg.epochs, total)
        for step, batch in enumerate(self.train_loader):
            if step >= total:
                break
            views = prepare_views(batch.views, self.device, self.channels_last, self.use_amp)
            labels = batch.labels.to(self.device, non_blocking=True)
            lr = self.scheduler.at(epoch, step, total)
            with self._autocast():
                out = self.forward(views, labels)
            loss = sum(out.losses.values())
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.cfg.clip_grad:
                nn.utils.clip_grad_norm_(self.trainable, self.cfg.clip_grad)
            self.optimizer.step()
            for k, v in {**out.losses, "loss": loss}.items():
                sums[k] = sums[k] + v.detach() if k in sums else v.detach().clone()
            correct += (out.logits.detach().argmax(1) == labels).sum()
            seen += labels.shape[0]
            views_seen += views.shape[0] * views.shape[1]
            if step % SYNC_EVERY == 0 or step == total - 1:
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise self._not_finite(f"the loss became {value} at epoch {epoch} step {step}",
                                           epoch)
                if self.progress:
                    self.progress.step(value, views_seen / (time.perf_counter() - start),
                                       advance=step + 1 - self.progress.completed)
        elapsed = time.perf_counter() - start
        steps = min(total, step + 1)
        stats = {f"train_{k}": float(v) / steps for k, v in sums.items()}
        stats.update(train_top1=100.0 * int(correct) / max(seen, 1),
                     views_per_s=views_seen / elapsed, epoch_time_s=elapsed,
                     lr=lr)  # the lr of the epoch's last step
        return stats

    @torch.no_grad()
    def evaluate(self) -> Dict:
        return evaluate(self.method.eval_model(), self.val_loader, self.device, self.dist,
                        self.use_amp, self.channels_last)


@torch.no_grad()
def weights_finite(model: nn.Module) -> bool:
    """Parameters and buffers (BN statistics too) hold no NaN or inf; one device sync."""
    tensors = [t for t in model.state_dict().values() if t.is_floating_point()]
    return bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all()) if tensors else True


@torch.no_grad()
def evaluate(model: nn.Module, loader, device: torch.device, dist: DistInfo = DistInfo(),
             use_amp: bool = False, channels_last: bool = False,
             on_batch: Optional[Callable[[], None]] = None) -> Dict:
    """Top-1/top-5 (percent) and mean cross-entropy over the whole split, exact under DDP:
    each rank evaluates its shard and the counts are summed."""
    was_training = model.training
    model.eval()
    loader.set_epoch(0)
    n = c1 = c5 = loss_sum = 0.0
    for batch in loader:
        views = prepare_views(batch.views, device, channels_last, use_amp)[:, 0]
        labels = batch.labels.to(device)
        ctx = torch.autocast("cuda", dtype=torch.bfloat16) if use_amp else contextlib.nullcontext()
        with ctx:
            logits = model(views)
        logits = logits.float()
        loss_sum += float(nn.functional.cross_entropy(logits, labels, reduction="sum"))
        k1, k5 = topk_correct(logits, labels, (1, 5))
        c1, c5, n = c1 + k1, c5 + k5, n + labels.shape[0]
        if on_batch:
            on_batch()
    n, c1, c5, loss_sum = all_sum([n, c1, c5, loss_sum], dist, device)
    model.train(was_training)
    if n == 0:
        raise KdaugError("the evaluation split is empty")
    return {"top1": 100.0 * c1 / n, "top5": 100.0 * c5 / n, "loss": loss_sum / n,
            "count": int(n)}
