"""RepDistiller's ResNet50 for CIFAR (models/resnetv2.py): 3x3 stride-1 stem, no max-pool,
Bottleneck blocks [3, 4, 6, 3] with widths 64..512 (x4). Stages: stem+layer1, layer2..4."""
from torch import nn

from .staged import Staged


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != out:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x):
        out = self.bn1(self.conv1(x)).relu()
        out = self.bn2(self.conv2(out)).relu()
        return (self.bn3(self.conv3(out)) + self.shortcut(x)).relu()


def make_layer(in_planes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    return nn.Sequential(Bottleneck(in_planes, planes, stride),
                         *[Bottleneck(planes * Bottleneck.expansion, planes) for _ in range(blocks - 1)])


class CifarResNet50(Staged):
    classifier_attr = "linear"

    def __init__(self, num_classes: int, blocks=(3, 4, 6, 3)):
        super().__init__()
        self.blocks = tuple(blocks)
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        in_planes = 64
        for i, (planes, n) in enumerate(zip((64, 128, 256, 512), self.blocks)):
            setattr(self, f"layer{i + 1}", make_layer(in_planes, planes, n, 1 if i == 0 else 2))
            in_planes = planes * Bottleneck.expansion
        self.feature_dim = in_planes
        self.linear = nn.Linear(in_planes, num_classes)
        self.init_weights(self)

    def stages(self):
        return [nn.Sequential(self.conv1, self.bn1, nn.ReLU(inplace=True), self.layer1),
                self.layer2, self.layer3, self.layer4]

    def tail_stage(self):
        return make_layer(self.feature_dim, 512, self.blocks[3], 1)


ARCHS = {"ResNet50": lambda nc: CifarResNet50(nc)}
