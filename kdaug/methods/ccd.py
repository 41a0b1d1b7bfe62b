"""ccd: Cosine Confidence Distillation (the JDA paper's method; reference losses/SingleCCD.py).

KD+JDA in which each augmented view's KL term is weighted by w = 1 + cos(z_T(original),
z_T(augmented)), the cosine of the **raw** teacher logits (no temperature, no softmax), in [0, 2],
without gradient:
    L = CE(all views) + T² · (KL_orig + KL_aug) / 2,  T = 4
    KL_orig = mean over images of Σ_c KL on view 0 (batchmean)
    KL_aug  = mean over all augmented views (images × views 1..V-1) of w · Σ_c KL
With V > 2 each augmented view is weighted against its own image's original and KL_aug averages
over all of them, so the original and the augmented views keep half of the soft loss each."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from kdaug.methods.base import Method, MethodOutput, register
from kdaug.methods.catalog import METHODS
from kdaug.methods.common import flatten_views, kl_rows, per_view, repeat_per_view
from kdaug.methods.hparams import positive


@register
class CCD(Method):
    info = METHODS["ccd"]
    hparams = {"T": positive(4.0)}

    def forward(self, views, labels):
        num_views = views.shape[1]
        x = flatten_views(views)
        z_s = self.model(x).float()
        with torch.no_grad():
            z_t = self.teacher(x).float()
            t = z_t.view(-1, num_views, z_t.shape[1])
            weight = 1 + F.cosine_similarity(t[:, 1:], t[:, :1], dim=2)  # (B, V-1)
        T = self.hp["T"]
        ce = F.cross_entropy(z_s, repeat_per_view(labels, num_views))
        kl = kl_rows(z_s, z_t, T).view(-1, num_views)  # (B, V)
        kl_orig = kl[:, 0].mean()
        kl_aug = (weight * kl[:, 1:]).mean()
        losses = {"ce": ce, "kd_orig": T * T * kl_orig / 2, "kd_aug": T * T * kl_aug / 2}
        return MethodOutput(losses, per_view(z_s, num_views)[:, 0].detach())
