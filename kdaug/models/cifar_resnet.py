"""CIFAR ResNets of RepDistiller (models/resnet.py): resnet8..110 with widths 16/16/32/64 and
resnet8x4 / resnet32x4 with widths 32/64/128/256; BasicBlock, depth = 6n + 2.
Stages: stem+layer1, layer2, layer3 (HSAKD taps its 3 branches after each)."""
from torch import nn

from .staged import Staged


class BasicBlock(nn.Module):
    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False),
                                            nn.BatchNorm2d(planes))

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return (out + (x if self.downsample is None else self.downsample(x))).relu()


def make_layer(inplanes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    return nn.Sequential(BasicBlock(inplanes, planes, stride),
                         *[BasicBlock(planes, planes) for _ in range(blocks - 1)])


class CifarResNet(Staged):
    def __init__(self, depth: int, widths, num_classes: int):
        super().__init__()
        assert (depth - 2) % 6 == 0, "BasicBlock ResNet depth is 6n+2"
        self.blocks_per_stage = n = (depth - 2) // 6
        w = widths
        self.conv1 = nn.Conv2d(3, w[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(w[0])
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = make_layer(w[0], w[1], n, 1)
        self.layer2 = make_layer(w[1], w[2], n, 2)
        self.layer3 = make_layer(w[2], w[3], n, 2)
        self.feature_dim = w[3]
        self.fc = nn.Linear(w[3], num_classes)
        self.init_weights(self)

    def stages(self):
        return [nn.Sequential(self.conv1, self.bn1, self.relu, self.layer1), self.layer2, self.layer3]

    def tail_stage(self):
        return make_layer(self.feature_dim, self.feature_dim, self.blocks_per_stage, 1)


_THIN, _WIDE = (16, 16, 32, 64), (32, 64, 128, 256)
ARCHS = {
    **{f"resnet{d}": (lambda d: lambda nc: CifarResNet(d, _THIN, nc))(d) for d in (8, 14, 20, 32, 44, 56, 110)},
    "resnet8x4": lambda nc: CifarResNet(8, _WIDE, nc),
    "resnet32x4": lambda nc: CifarResNet(32, _WIDE, nc),
}
