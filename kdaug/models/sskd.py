"""SSKD wrapper (xuguodong03/SSKD wrapper.py): the backbone plus a projection head
Linear(d, d) - ReLU - Linear(d, d) on the pooled features (d = the classifier's input size)."""
from __future__ import annotations

from typing import Tuple

import torch
from torch import nn

from .staged import Staged


class SSKDModel(nn.Module):
    """forward(x) -> (logits, embedding (N, feature_dim))."""

    def __init__(self, backbone: Staged, detach_features: bool = False):
        super().__init__()
        self.backbone = backbone
        # True: the head trains on frozen features (the reference's bb_grad=False).
        self.detach_features = detach_features
        d = backbone.feature_dim
        self.proj_head = nn.Sequential(nn.Linear(d, d), nn.ReLU(inplace=True), nn.Linear(d, d))

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        _, feat = self.backbone.forward_features(x)
        logits = self.backbone.classifier(feat)
        return logits, self.proj_head(feat.detach() if self.detach_features else feat)
