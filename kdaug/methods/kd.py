"""kd: Hinton et al. knowledge distillation over all B·V views (KD+JDA when V >= 2).

L = scale · [α·CE + (1-α)·T²·KL_batchmean(σ_T(z_T) || σ_T(z_S))]; the JDA reference uses
α = 0.5, scale = 2, T = 4, i.e. CE + T²·KL."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from kdaug.methods.base import Method, MethodOutput, register
from kdaug.methods.catalog import METHODS
from kdaug.methods.common import flatten_views, kl_rows, per_view, repeat_per_view
from kdaug.methods.hparams import fraction, positive


@register
class KD(Method):
    info = METHODS["kd"]
    hparams = {"T": positive(4.0), "alpha": fraction(0.5), "scale": positive(2.0)}

    @classmethod
    def family_for(cls, num_views: int) -> str:
        return "plain" if num_views == 1 else "jda"  # the jda family needs an augmented view

    def forward(self, views, labels):
        num_views = views.shape[1]
        x = flatten_views(views)
        z_s = self.model(x).float()
        with torch.no_grad():
            z_t = self.teacher(x).float()
        T, alpha, scale = self.hp["T"], self.hp["alpha"], self.hp["scale"]
        ce = F.cross_entropy(z_s, repeat_per_view(labels, num_views))
        kd = kl_rows(z_s, z_t, T).mean() * T * T
        losses = {"ce": scale * alpha * ce, "kd": scale * (1 - alpha) * kd}
        return MethodOutput(losses, per_view(z_s, num_views)[:, 0].detach())
