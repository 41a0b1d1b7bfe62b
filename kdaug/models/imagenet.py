"""torchvision ImageNet models (random init, nothing downloaded) adapted to the staged
contract by subclassing: parameter names stay torchvision's, so torchvision state_dicts
load (mobilenet_v2's classifier.1 is renamed, see state_dict_aliases).

Stages: ResNets stem+layer1, layer2, layer3, layer4 (HSAKD's 4 taps). mobilenet_v2 mirrors
the CIFAR MobileNetV2 split: features[0:4] (to the 24-channel group), [4:7] (32),
[7:14] (64 and 96), [14:18] (160 and 320); the 1x1 conv to 1280 and dropout sit in head_pool."""
from torch import nn
from torchvision.models import mobilenetv2 as tv_mobilenet, resnet as tv_resnet

from .staged import Staged


class TorchvisionResNet(Staged, tv_resnet.ResNet):
    def __init__(self, block, layers, num_classes: int):
        super().__init__(block, list(layers), num_classes=num_classes)
        self.block_type, self.last_blocks = block, layers[-1]
        self.feature_dim = self.fc.in_features

    def stages(self):
        return [nn.Sequential(self.conv1, self.bn1, self.relu, self.maxpool, self.layer1),
                self.layer2, self.layer3, self.layer4]

    def tail_stage(self):
        # in == out channels and stride 1: torchvision's blocks need no downsample path.
        planes = self.feature_dim // self.block_type.expansion
        return nn.Sequential(*[self.block_type(self.feature_dim, planes) for _ in range(self.last_blocks)])


class TorchvisionMobileNetV2(Staged, tv_mobilenet.MobileNetV2):
    classifier_attr = "classifier"
    linear_init = "normal"
    state_dict_aliases = {"classifier.1.": "classifier."}
    SPLITS = (0, 4, 7, 14, 18)

    def __init__(self, num_classes: int):
        super().__init__(num_classes=num_classes)
        dropout, linear = self._modules["classifier"]
        self.dropout, self.classifier = dropout, linear  # the interface wants the bare Linear
        self.feature_dim = linear.in_features

    def stages(self):
        s = self.SPLITS
        return [self.features[a:b] for a, b in zip(s, s[1:])]

    @property
    def head_pool(self):
        return nn.Sequential(self.features[self.SPLITS[-1]:], nn.AdaptiveAvgPool2d(1), nn.Flatten(1), self.dropout)

    def tail_stage(self):
        # torchvision's inverted-residual setting for the last stage (t=6; c=160 x3, c=320 x1), stride 1.
        channels, layers = self.features[self.SPLITS[-1] - 1].out_channels, []
        for c, n in ((160, 3), (320, 1)):
            for _ in range(n):
                layers.append(tv_mobilenet.InvertedResidual(channels, c, 1, 6))
                channels = c
        return nn.Sequential(*layers)


ARCHS = {
    "resnet18": lambda nc: TorchvisionResNet(tv_resnet.BasicBlock, (2, 2, 2, 2), nc),
    "resnet34": lambda nc: TorchvisionResNet(tv_resnet.BasicBlock, (3, 4, 6, 3), nc),
    "resnet50": lambda nc: TorchvisionResNet(tv_resnet.Bottleneck, (3, 4, 6, 3), nc),
    "mobilenet_v2": lambda nc: TorchvisionMobileNetV2(nc),
}
