"""HSAKD auxiliary classifiers (winycg/HSAKD), built generically from any staged backbone.

Branch l reads the output of stage l and runs fresh, re-initialised copies of the later
stages, then the backbone's pooling head (fresh copy) and a Linear over 4 x num_classes
(the rotation-joint labels). The branch after the last stage runs the backbone's
``tail_stage()``, a fresh stride-1 copy of the last stage, as every HSAKD model does (its
block_extractor after the final features), before pooling and the Linear.
There is one branch per stage: 3 for CIFAR ResNet/WRN/ShuffleNet, 4 for VGG, ResNet50,
MobileNetV2 and the torchvision models (the stage splits are chosen to match HSAKD's taps).
"""
from __future__ import annotations

import copy
from typing import List, Tuple

import torch
from torch import nn

from .staged import Staged


def _branch(backbone: Staged, later: List[nn.Module], num_outputs: int) -> nn.Sequential:
    body = [copy.deepcopy(stage) for stage in later] if later else [backbone.tail_stage()]
    branch = nn.Sequential(*body, copy.deepcopy(backbone.head_pool), nn.Linear(backbone.feature_dim, num_outputs))
    backbone.init_weights(branch)
    return branch.to(next(backbone.parameters()).device)


class AuxModel(nn.Module):
    """forward(x) -> (logits, [aux logits (N, 4*num_classes) per stage])."""

    def __init__(self, backbone: Staged, detach_aux: bool = False):
        super().__init__()
        self.backbone = backbone
        self.detach_aux = detach_aux  # True for teachers: branches train on frozen features
        num_outputs = 4 * backbone.classifier.out_features
        stages = backbone.stages()
        self.branches = nn.ModuleList(_branch(backbone, stages[i + 1:], num_outputs) for i in range(len(stages)))

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        feats, pooled = self.backbone.forward_features(x)
        logits = self.backbone.classifier(pooled)
        aux = [branch(f.detach() if self.detach_aux else f) for branch, f in zip(self.branches, feats)]
        return logits, aux


def aux_param_count(model: AuxModel) -> int:
    """Parameters of the auxiliary branches only (what HSAKD adds for training)."""
    return sum(p.numel() for p in model.branches.parameters())
