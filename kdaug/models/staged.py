"""The staged-backbone contract every model in kdaug satisfies, so that wrappers (HSAKD
auxiliary branches, SSKD projection head, feature-based methods) are written once.

A backbone is a sequence of stages (the stem folded into the first), a pooling head and a
final Linear: ``classifier(head_pool(stages[-1](...stages[0](x))))`` are its logits.
Parameter names follow the reference definitions (RepDistiller, torchvision), so published
checkpoints load; the stage views are therefore built on the fly from registered modules
instead of being registered themselves (which would duplicate state_dict keys).
"""
from __future__ import annotations

from typing import Dict, List, Tuple

import torch
from torch import nn


class Staged(nn.Module):
    """Mixin base. Subclasses set ``feature_dim`` and ``classifier_attr``, implement
    ``stages()`` and ``tail_stage()``, optionally ``pre_pool()``, and choose the reference
    initialisation through ``conv_init`` / ``linear_init``."""

    feature_dim: int
    classifier_attr: str = "fc"          # name of the registered final Linear
    conv_init: str = "kaiming"           # "kaiming" (normal, fan_out, relu) or "torch" (default)
    linear_init: str = "torch"           # "torch", "zero_bias" or "normal" (std 0.01, bias 0)
    # Renamed parameter prefixes of other published layouts: {their prefix: ours}.
    state_dict_aliases: Dict[str, str] = {}

    # --- the contract -----------------------------------------------------------------
    def stages(self) -> List[nn.Module]:
        raise NotImplementedError

    def tail_stage(self) -> nn.Module:
        """A fresh module shaped like the last stage but with stride 1 and as many input as
        output channels: HSAKD's extra stage in the auxiliary branch after the last stage."""
        raise NotImplementedError

    def pre_pool(self) -> List[nn.Module]:
        """Layers between the last stage and global pooling (e.g. WRN's final BN-ReLU)."""
        return []

    @property
    def head_pool(self) -> nn.Module:
        return nn.Sequential(*self.pre_pool(), nn.AdaptiveAvgPool2d(1), nn.Flatten(1))

    @property
    def classifier(self) -> nn.Linear:
        return self._modules[self.classifier_attr]

    def forward_features(self, x: torch.Tensor) -> Tuple[List[torch.Tensor], torch.Tensor]:
        feats = []
        for stage in self.stages():
            x = stage(x)
            feats.append(x)
        return feats, self.head_pool(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x)[1])

    # --- initialisation -----------------------------------------------------------------
    def init_weights(self, module: nn.Module) -> None:
        """(Re-)initialise ``module`` (this model or a fresh copy of its parts) the way the
        reference definition initialises the model; also resets BN running statistics."""
        for m in module.modules():
            if isinstance(m, nn.Conv2d):
                if self.conv_init == "kaiming":
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)
                else:
                    m.reset_parameters()
            elif isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.reset_parameters()
            elif isinstance(m, nn.Linear):
                if self.linear_init == "normal":
                    nn.init.normal_(m.weight, 0.0, 0.01)
                else:
                    m.reset_parameters()
                if self.linear_init != "torch":
                    nn.init.zeros_(m.bias)
