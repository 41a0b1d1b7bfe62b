"""Pieces several methods share: view flattening, per-row KL, SSKD-style similarity matrices, and
the base of methods that train a teacher-kind model on top of a plain classifier.

Views are flattened image-major: row b·V + v of the flat batch is view v of image b (view 0 the
original / 0-degree view). This is the layout of the HSAKD and SSKD reference loops.
Losses are computed in float32 whatever dtype the models return (the trainer may run autocast)."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from kdaug.errors import KdaugError
from kdaug.methods.base import Method


def flatten_views(views: torch.Tensor) -> torch.Tensor:
    """(B, V, C, H, W) -> (B·V, C, H, W), image-major."""
    return views.reshape(-1, *views.shape[2:])


def per_view(rows: torch.Tensor, num_views: int) -> torch.Tensor:
    """(B·V, ...) -> (B, V, ...) in float32: the inverse of flatten_views for model outputs."""
    return rows.float().reshape(-1, num_views, *rows.shape[1:])


def repeat_per_view(labels: torch.Tensor, num_views: int) -> torch.Tensor:
    """(B,) per-image labels -> (B·V,) per-row labels of the flat batch."""
    return labels.repeat_interleave(num_views)


def kl_rows(student: torch.Tensor, teacher: torch.Tensor, T: float) -> torch.Tensor:
    """KL(σ_T(teacher) || σ_T(student)) summed over classes, one value per row, float32.
    ``kl_rows(...).mean()`` is F.kl_div(..., reduction="batchmean")."""
    log_s = F.log_softmax(student.float() / T, dim=1)
    log_t = F.log_softmax(teacher.float() / T, dim=1)
    return F.kl_div(log_s, log_t, reduction="none", log_target=True).sum(1)


def rotated_vs_upright_similarity(embedding: torch.Tensor, num_views: int) -> torch.Tensor:
    """SSKD's similarity matrix: cosine of each rotated view's embedding (rows, image-major:
    image b's views 1..V-1) with every 0-degree view's embedding (columns): (B·(V-1), B), float32.
    Row i's "own" column is image i // (V-1)."""
    with torch.autocast(device_type=embedding.device.type, enabled=False):  # keep the matmul fp32
        e = per_view(embedding, num_views)
        upright = F.normalize(e[:, 0], dim=1)
        rotated = F.normalize(e[:, 1:].flatten(0, 1), dim=1)
        return rotated @ upright.t()


class BackboneFromTeacher(Method):
    """Base of methods that train a teacher-kind model (``model.backbone`` is a plain classifier
    with extra heads around it). When a trained plain teacher is given, its weights are copied
    into ``model.backbone``, which is then frozen and kept in eval mode (BN statistics included),
    so only the extra heads train; the plain teacher itself is not kept. (Its methods declare
    trains_teacher and a "plain" teacher_kind in kdaug.methods.catalog.)"""

    def __init__(self, model: nn.Module, teacher: Optional[nn.Module], num_classes: int, **hparams):
        if teacher is not None:
            try:
                model.backbone.load_state_dict(teacher.state_dict())
            except RuntimeError as err:
                first = str(err).strip().splitlines()[0]
                raise KdaugError(f"method {self.name}: the plain teacher checkpoint does not fit the "
                                 f"backbone of the model being trained ({first})") from None
            model.backbone.requires_grad_(False)
        super().__init__(model, None, num_classes, **hparams)
        self.frozen_backbone = teacher is not None

    def train(self, mode: bool = True):
        super().train(mode)
        if self.frozen_backbone:
            self.model.backbone.eval()
        return self
