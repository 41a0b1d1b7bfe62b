"""HSAKD: Hierarchical Self-supervised Augmented KD (IJCAI 2021; reference winycg/HSAKD).

Views: 4 rotations of each image (view k turned k quarter turns); the self-supervised augmented
label of view k of an image of class y is 4·y + k. Models are of kind "hsakd": ``forward(x) ->
(logits, [aux logits (N, 4·num_classes) per branch])`` with ``.backbone`` and ``.detach_aux``.

Facts taken from the reference (train_teacher_cifar.py, train_student_cifar.py):
- every CE is nn.CrossEntropyLoss (mean over rows); every KL is DistillKL:
  F.kl_div(log_softmax(s/T), softmax(t/T), reduction="batchmean") · T², i.e. a mean over the 4B
  rows of the per-row KL sums.
- teacher: CE(main logits of the 0-degree views, y) + Σ_l CE(aux_l on all 4B views, 4y+k).
  Frozen backbone: net(input, grad=False), the branches see detached features. Joint training
  from scratch: net(input, grad=True), the branch CE also trains the backbone.
- student: net(input, grad=True) (branch losses reach the student's backbone); the teacher runs
  under no_grad and its outputs are .detach()ed. The main-head KL covers all 4B views, not only the
  0-degree ones.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from kdaug.errors import KdaugError
from kdaug.methods.base import Method, MethodOutput, register
from kdaug.methods.catalog import METHODS
from kdaug.methods.common import BackboneFromTeacher, flatten_views, kl_rows, per_view
from kdaug.methods.hparams import positive


def rotation_labels(labels: torch.Tensor, num_views: int = 4) -> torch.Tensor:
    """(B,) class labels -> (B·V,) joint labels 4·y + k of the image-major flat batch."""
    k = torch.arange(num_views, device=labels.device)
    return (labels[:, None] * num_views + k).flatten()


@register
class HSAKDTeacher(BackboneFromTeacher):
    info = METHODS["hsakd-teacher"]

    def __init__(self, model, teacher, num_classes, **hparams):
        super().__init__(model, teacher, num_classes, **hparams)
        self.model.detach_aux = self.frozen_backbone  # reference: grad=False iff --freezed

    def forward(self, views, labels):
        num_views = views.shape[1]
        logits, aux = self.model(flatten_views(views))
        logits = per_view(logits, num_views)
        joint = rotation_labels(labels, num_views)
        ce = F.cross_entropy(logits[:, 0], labels)
        aux_ce = sum(F.cross_entropy(a.float(), joint) for a in aux)
        return MethodOutput({"ce": ce, "aux": aux_ce}, logits[:, 0].detach())


@register
class HSAKD(Method):
    info = METHODS["hsakd"]
    hparams = {"T": positive(3.0)}

    def __init__(self, model, teacher, num_classes, **hparams):
        super().__init__(model, teacher, num_classes, **hparams)
        self.model.detach_aux = False  # reference student: net(input, grad=True)

    def forward(self, views, labels):
        num_views = views.shape[1]
        x = flatten_views(views)
        logits, aux = self.model(x)
        with torch.no_grad():
            t_logits, t_aux = self.teacher(x)
        if len(aux) != len(t_aux):
            raise KdaugError(f"method hsakd pairs auxiliary branches one to one: the teacher has "
                             f"{len(t_aux)}, the student {len(aux)}; pick architectures with as many")
        T = self.hp["T"]
        ce = F.cross_entropy(per_view(logits, num_views)[:, 0], labels)
        kd_aux = sum(kl_rows(s, t, T).mean() for s, t in zip(aux, t_aux)) * T * T
        kd = kl_rows(logits, t_logits, T).mean() * T * T
        losses = {"ce": ce, "kd_aux": kd_aux, "kd": kd}
        return MethodOutput(losses, per_view(logits, num_views)[:, 0].detach())
