"""ce: cross-entropy on every view with the plain label (teachers, the student-alone baseline)."""
from __future__ import annotations

import torch.nn.functional as F

from kdaug.methods.base import Method, MethodOutput, register
from kdaug.methods.catalog import METHODS
from kdaug.methods.common import flatten_views, per_view, repeat_per_view


@register
class CE(Method):
    info = METHODS["ce"]

    def forward(self, views, labels):
        num_views = views.shape[1]
        logits = per_view(self.model(flatten_views(views)), num_views)  # (B, V, K)
        ce = F.cross_entropy(logits.flatten(0, 1), repeat_per_view(labels, num_views))
        return MethodOutput({"ce": ce}, logits[:, 0].detach())
