"""The registered architectures declared without torch, for `kdaug list models` (which must
answer without importing torch). tests/test_models.py checks this table against the registry:
the same names, families and parameter counts."""
from __future__ import annotations

import importlib.metadata
import importlib.util
from typing import Dict, NamedTuple, Optional

FAMILIES = {  # family -> (input size, reference num_classes of the listed parameter count)
    "cifar": (32, 100),
    "imagenet": (224, 1000),
}


class ModelInfo(NamedTuple):
    family: str
    params: int  # at the family's reference num_classes


MODELS: Dict[str, ModelInfo] = {
    "resnet8": ModelInfo("cifar", 83892),
    "resnet14": ModelInfo("cifar", 181108),
    "resnet20": ModelInfo("cifar", 278324),
    "resnet32": ModelInfo("cifar", 472756),
    "resnet44": ModelInfo("cifar", 667188),
    "resnet56": ModelInfo("cifar", 861620),
    "resnet110": ModelInfo("cifar", 1736564),
    "resnet8x4": ModelInfo("cifar", 1233540),
    "resnet32x4": ModelInfo("cifar", 7433860),
    "wrn_16_1": ModelInfo("cifar", 180916),
    "wrn_16_2": ModelInfo("cifar", 703284),
    "wrn_40_1": ModelInfo("cifar", 569780),
    "wrn_40_2": ModelInfo("cifar", 2255156),
    "vgg8": ModelInfo("cifar", 3965028),
    "vgg11": ModelInfo("cifar", 9277284),
    "vgg13": ModelInfo("cifar", 9462180),
    "vgg16": ModelInfo("cifar", 14774436),
    "vgg19": ModelInfo("cifar", 20086692),
    "ResNet50": ModelInfo("cifar", 23705252),
    "MobileNetV2": ModelInfo("cifar", 812836),
    "ShuffleV1": ModelInfo("cifar", 949258),
    "ShuffleV2": ModelInfo("cifar", 1355528),
    "resnet18": ModelInfo("imagenet", 11689512),
    "resnet34": ModelInfo("imagenet", 21797672),
    "resnet50": ModelInfo("imagenet", 25557032),
    "mobilenet_v2": ModelInfo("imagenet", 3504872),
}


def timm_version() -> Optional[str]:
    """The installed timm's version, found without importing timm (None when absent); any
    timm architecture is then a model too (timm:NAME, kdaug.models.timm_models)."""
    if importlib.util.find_spec("timm") is None:
        return None
    return importlib.metadata.version("timm")
