"""Any timm model as teacher or student: ``timm:NAME`` (e.g. timm:convnext_tiny), created
with random weights (nothing is downloaded; trained weights come from a local file:
--teacher-checkpoint takes bare state_dicts in timm's names, timm's train.py checkpoints and
.safetensors files). Optional: kdaug[timm].

A timm model serves every method that reads logits and pooled features (ce, kd, ccd, sskd):
the pooled features are timm's own ``forward_head(..., pre_logits=True)``. HSAKD also needs the
stages, to tap its auxiliary branches: kdaug reaches them when the model's forward is the
chain of its top-level modules (ResNets, ConvNeXt, RegNet, DenseNet, ...), checked by running
that chain against the model's own forward on a probe image, and when its last stage ends in
a block with as many input as output channels (repeated as HSAKD's extra stage). Other models
(a ViT adds position embeddings; EfficientNet's last block widens) are refused in one line.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import List, Optional, Tuple

import torch
from torch import nn

from kdaug.errors import KdaugError

from .staged import Staged

PREFIX = "timm:"
MISSING = "timm is not installed: pip install 'kdaug[timm]'"
MAX_STAGES = 4  # HSAKD taps at most four stages (the last four feature levels)


def _timm():
    try:
        import timm
    except ImportError:
        raise KdaugError(MISSING) from None
    return timm


def list_timm_models(pattern: str = "*") -> List[str]:
    return _timm().list_models(pattern)


@dataclass
class _Layout:
    """Where the stages of a timm model are: groups of its (flattened) top-level modules."""
    groups: List[List[str]]   # module paths of each stage, in order
    tail: List[str]           # module paths after the last stage that forward_features runs


def _top_level(net: nn.Module) -> List[Tuple[str, nn.Module]]:
    """The model's children in order, an nn.Sequential child flattened one level when timm
    names feature modules inside it ('stages.0', 'blocks.4'; 'layer1' stays whole)."""
    taps = {info["module"] for info in getattr(net, "feature_info", None) or []}
    out = []
    for name, child in net.named_children():
        if isinstance(child, nn.Sequential) and any(t.startswith(name + ".") for t in taps):
            out += [(f"{name}.{sub}", module) for sub, module in child.named_children()]
        else:
            out.append((name, child))
    return out


def _chain(modules, names) -> nn.Sequential:
    return nn.Sequential(*(modules[n] for n in names))


class TimmBackbone(Staged):
    """A timm model behind kdaug's staged contract. Its parameters are those of the timm model
    under ``net.``; timm's own key names load too (state_dict_aliases)."""

    conv_init = "torch"  # fresh HSAKD branches: each layer's own reset_parameters
    state_dict_aliases = {"": "net."}

    def __init__(self, name: str, num_classes: int):
        super().__init__()
        timm = _timm()
        try:
            self.net = timm.create_model(name, pretrained=False, num_classes=num_classes)
        except RuntimeError as exc:  # timm: "Unknown model (...)"
            raise KdaugError(f"unknown timm model {name!r} ({exc}): see `kdaug list models "
                             f"--timm PATTERN`") from None
        self.timm_name = name
        self._layout: Optional[_Layout] = None
        self._input_checked = False
        head = self.net.get_classifier()
        self._no_linear = (None if isinstance(head, nn.Linear) else
                           f"its classifier is a {type(head).__name__}, not a Linear layer")

    # --- the contract ---------------------------------------------------------------------
    @property
    def classifier(self) -> nn.Linear:
        if self._no_linear:
            raise KdaugError(f"{PREFIX}{self.timm_name} cannot carry kdaug's extra heads: "
                             f"{self._no_linear}")
        return self.net.get_classifier()

    @property
    def feature_dim(self) -> int:
        return self.classifier.in_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._checked(self.net, x)

    def forward_features(self, x: torch.Tensor):
        """(stage outputs, pooled features). The stage outputs are computed once the stages
        were asked for (HSAKD builds its branches from them); otherwise, for the methods
        that only pool, the list is empty and timm's own forward_features runs."""
        net = self.net
        if self._layout is None:
            return [], net.forward_head(self._checked(net.forward_features, x), pre_logits=True)
        feats = []
        for stage in self.stages():
            x = self._checked(stage, x)
            feats.append(x)
        modules = dict(_top_level(net))
        return feats, net.forward_head(_chain(modules, self._layout.tail)(x), pre_logits=True)

    def _checked(self, fn, x):
        """fn(x); on the first batch, a model that cannot take the dataset's image size
        (a ViT built for 224x224 fed 32x32) is one line, not a traceback from inside timm."""
        if self._input_checked:
            return fn(x)
        try:
            out = fn(x)
        except (RuntimeError, AssertionError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise KdaugError(f"{PREFIX}{self.timm_name} does not take {tuple(x.shape[1:])} "
                             f"inputs ({first[:160]}): pick a model that does") from None
        self._input_checked = True
        return out

    def stages(self) -> List[nn.Module]:
        layout = self._analyse()
        modules = dict(_top_level(self.net))
        return [_chain(modules, group) for group in layout.groups]

    @property
    def head_pool(self) -> nn.Module:
        """A fresh copy of everything after the last stage up to the classifier's input (the
        classifier itself replaced by Identity): HSAKD's branches end with it."""
        layout = self._analyse()
        top = _top_level(self.net)
        last = top.index(next(t for t in top if t[0] == layout.groups[-1][-1]))
        copies = {}
        head = copy.deepcopy(nn.Sequential(*(m for _, m in top[last + 1:])), copies)
        classifier = copies[id(self.net.get_classifier())]
        for parent in head.modules():
            for child_name, child in parent.named_children():
                if child is classifier:
                    setattr(parent, child_name, nn.Identity())
        return head

    def tail_stage(self) -> nn.Module:
        last = self.stages()[-1][-1]
        blocks = last.blocks if isinstance(getattr(last, "blocks", None), nn.Sequential) else last
        blocks = list(blocks.children()) or [last]
        return nn.Sequential(*(copy.deepcopy(blocks[-1]) for _ in blocks))

    # --- reaching the stages ----------------------------------------------------------------
    def _analyse(self) -> _Layout:
        if self._layout is None:
            reason = self._no_linear or self._find_layout()
            if reason:
                raise KdaugError(f"{PREFIX}{self.timm_name}: kdaug cannot reach its stages "
                                 f"({reason}), so HSAKD cannot attach its auxiliary branches; "
                                 f"it works with ce, kd, ccd and sskd")
        return self._layout

    def _find_layout(self) -> Optional[str]:
        """Set self._layout, or return why the stages cannot be reached."""
        net = self.net
        taps = [info["module"] for info in getattr(net, "feature_info", None) or []]
        top = _top_level(net)
        names = [n for n, _ in top]
        taps = [t for t in taps if t in names][-MAX_STAGES:]
        if len(taps) < 2:
            return "timm lists no feature stages among its top-level modules"
        ends = [names.index(t) for t in taps]
        groups = [names[a + 1:b + 1] for a, b in zip([-1] + ends, ends)]
        after = names[ends[-1] + 1:]
        was_training = net.training
        net.eval()
        try:
            with torch.no_grad(), torch.autocast(_device(net).type, enabled=False):
                return self._check_chain(net, groups, after, dict(top))
        except Exception as exc:  # whatever running the chain raises: not reachable
            return f"running its modules in order fails: {type(exc).__name__}"
        finally:
            net.train(was_training)

    def _check_chain(self, net, groups, after, modules) -> Optional[str]:
        x = _probe(net)
        reference = net.forward_features(x)
        for group in groups:
            x = _chain(modules, group)(x)
        last = x
        for k in range(len(after) + 1):  # how much of the rest forward_features runs
            y = _chain(modules, after[:k])(last)
            if y.shape == reference.shape and torch.allclose(y, reference, atol=1e-5):
                break
        else:
            return "its forward is not the chain of its modules"
        self._layout = _Layout(groups, after[:k])
        try:
            fits = self.tail_stage()(last).shape == last.shape
        except RuntimeError:
            fits = False
        if not fits:
            self._layout = None
            return ("its last stage ends in no block with as many input as output channels, "
                    "to repeat as HSAKD's extra stage")
        return None

def _device(net: nn.Module) -> torch.device:
    return next(net.parameters()).device


def _probe(net: nn.Module) -> torch.Tensor:
    """A small image the model takes: 64x64 if it can, else its pretrained input size."""
    device = _device(net)
    # a generator of its own: probing must not move the global RNG (weight init, shuffling)
    noise = torch.Generator().manual_seed(0)
    x = torch.randn(1, 3, 64, 64, generator=noise).to(device)
    try:
        net.forward_features(x)
        return x
    except Exception:  # e.g. a fixed input size
        size = tuple(net.pretrained_cfg.get("input_size", (3, 224, 224)))
        return torch.randn(1, *size, generator=noise).to(device)


def create(arch: str, num_classes: int) -> TimmBackbone:
    """``timm:NAME`` -> a TimmBackbone with random weights."""
    return TimmBackbone(arch[len(PREFIX):], num_classes)


def matching(pattern: str) -> List[str]:
    return [PREFIX + name for name in list_timm_models(pattern)]


def is_timm(arch: str) -> bool:
    return arch.startswith(PREFIX)


