"""SSKD: Self-supervised Knowledge Distillation (ECCV 2020; reference xuguodong03/SSKD).

Views: 4 rotations of each image, each with its own crop, the flip shared (view k turned k quarter
turns). Models are of kind "sskd": ``forward(x) -> (logits, embedding)`` where the embedding is the
2-layer MLP ``proj_head`` on the pooled backbone features; ``.backbone`` is the plain classifier.
The student has its own projection head too (reference: ``s_model = wrapper(s_model)``).

Facts taken from the reference (student.py, wrapper.py):
- similarity matrix: F.cosine_similarity of every rotated view's embedding with every 0-degree
  view's embedding, (3B, B), rows image-major; the target of a row is its own image.
- teacher head: F.cross_entropy(similarity, own image) on the **raw** cosines (no temperature),
  backbone features detached (lr 0 on the backbone, whole wrapper in eval mode).
- student: 0.1·CE(0-degree views) + 0.9·T²·KL_batchmean(0-degree views, T=4)
  + 2.7·T²·KL_batchmean(kept rotated views, T=4) + 10·T²·KL_batchmean(kept similarity rows, T=0.5),
  "batchmean" dividing by the number of kept rows. Rows are kept by error-level ranking, below.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from kdaug.methods.base import Method, MethodOutput, register
from kdaug.methods.catalog import METHODS
from kdaug.methods.common import (BackboneFromTeacher, flatten_views, kl_rows, per_view,
                                  repeat_per_view, rotated_vs_upright_similarity)
from kdaug.methods.hparams import fraction, non_negative, positive


def error_level_keep(teacher_scores: torch.Tensor, target: torch.Tensor, ratio: float) -> torch.Tensor:
    """SSKD's error-level ranking, as a boolean mask over rows.

    A row's rank is the position of its target column once the teacher's scores are sorted in
    descending order (rank 0: the teacher is right). Every right row is kept; of the wrong rows
    only the int(ratio · #wrong) with the smallest rank (the teacher's least wrong answers) are
    kept, so ratio 1 keeps all and ratio 0 drops every row the teacher gets wrong.
    Sorts are stable: ties in rank go to the lower row, where the reference's argsort leaves them
    unspecified. No host synchronisation (the count stays on the device)."""
    order = torch.argsort(teacher_scores, dim=1, descending=True, stable=True)
    rank = (order == target[:, None]).int().argmax(1)
    wrong = (rank != 0).sum()
    keep = (rank.numel() - wrong) + torch.floor(wrong.double() * ratio).long()
    position = torch.empty_like(rank)
    position[torch.argsort(rank, stable=True)] = torch.arange(rank.numel(), device=rank.device)
    return position < keep


def masked_mean(values: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Mean over kept rows (the reference's batchmean over the selected rows); 0 if none is kept,
    where the reference would give NaN."""
    return (values * keep).sum() / keep.sum().clamp(min=1)


@register
class SSKDTeacher(BackboneFromTeacher):
    info = METHODS["sskd-teacher"]

    def forward(self, views, labels):
        num_views = views.shape[1]
        logits, embedding = self.model(flatten_views(views))
        similarity = rotated_vs_upright_similarity(embedding, num_views)  # (B·(V-1), B)
        own = repeat_per_view(torch.arange(views.shape[0], device=labels.device), num_views - 1)
        loss = F.cross_entropy(similarity, own)
        return MethodOutput({"ss": loss}, per_view(logits, num_views)[:, 0].detach())


@register
class SSKD(Method):
    info = METHODS["sskd"]
    hparams = {"ce": non_negative(0.1), "kd": non_negative(0.9), "tf": non_negative(2.7),
               "ss": non_negative(10.0), "kd_T": positive(4.0), "tf_T": positive(4.0),
               "ss_T": positive(0.5), "ratio_tf": fraction(1.0), "ratio_ss": fraction(0.75)}

    def forward(self, views, labels):
        hp = self.hp
        batch, num_views = views.shape[:2]
        x = flatten_views(views)
        logits, embedding = self.model(x)
        with torch.no_grad():
            t_logits, t_embedding = self.teacher(x)
        z_s, z_t = per_view(logits, num_views), per_view(t_logits, num_views)
        rot_s, rot_t = z_s[:, 1:].flatten(0, 1), z_t[:, 1:].flatten(0, 1)  # (B·(V-1), K)

        ce = F.cross_entropy(z_s[:, 0], labels)
        kd = kl_rows(z_s[:, 0], z_t[:, 0], hp["kd_T"]).mean() * hp["kd_T"] ** 2

        # transformation term: drop rotated views whose class the teacher ranks worst
        # (the reference ranks the teacher's softmax at tf_T; ratio_tf = 1 keeps every row)
        keep_tf = error_level_keep(F.softmax(rot_t / hp["tf_T"], dim=1),
                                   repeat_per_view(labels, num_views - 1), hp["ratio_tf"])
        tf = masked_mean(kl_rows(rot_s, rot_t, hp["tf_T"]), keep_tf) * hp["tf_T"] ** 2

        # self-supervision term: drop similarity rows in which the teacher ranks the row's own
        # image worst (ratio_ss = 0.75 keeps 3/4 of the rows it gets wrong, the least wrong ones)
        s_sim = rotated_vs_upright_similarity(embedding, num_views)
        t_sim = rotated_vs_upright_similarity(t_embedding, num_views)
        own = repeat_per_view(torch.arange(batch, device=labels.device), num_views - 1)
        keep_ss = error_level_keep(t_sim, own, hp["ratio_ss"])
        ss = masked_mean(kl_rows(s_sim, t_sim, hp["ss_T"]), keep_ss) * hp["ss_T"] ** 2

        losses = {"ce": hp["ce"] * ce, "kd": hp["kd"] * kd, "tf": hp["tf"] * tf, "ss": hp["ss"] * ss}
        return MethodOutput(losses, z_s[:, 0].detach())
