"""ShuffleNet V1 (groups 3) and V2 (1x) of RepDistiller (models/ShuffleNetv1.py,
ShuffleNetv2.py): 1x1 stem without downsampling, three stages that each halve the
resolution. Stages: stem+layer1, layer2, layer3 (HSAKD's 3 taps). PyTorch default init,
as in the reference."""
import torch
from torch import nn

from .staged import Staged


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class _TorchInit(Staged):
    conv_init = "torch"


# ---- V1 ---------------------------------------------------------------------------------
class V1Block(nn.Module):
    """Grouped bottleneck; a stride-2 block concatenates an avg-pooled shortcut."""

    def __init__(self, in_planes: int, out_planes: int, stride: int, groups: int):
        super().__init__()
        mid = out_planes // 4
        self.g = 1 if in_planes == 24 else groups  # reference: the first block after the stem is ungrouped
        self.stride = stride
        self.conv1 = nn.Conv2d(in_planes, mid, 1, groups=self.g, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, out_planes, 1, groups=groups, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.shortcut = nn.AvgPool2d(3, stride=2, padding=1) if stride == 2 else nn.Identity()

    def forward(self, x):
        out = channel_shuffle(self.bn1(self.conv1(x)).relu(), self.g)
        out = self.bn3(self.conv3(self.bn2(self.conv2(out)).relu()))
        res = self.shortcut(x)
        return (torch.cat([out, res], 1) if self.stride == 2 else out + res).relu()


def v1_layer(in_planes: int, out_planes: int, blocks: int, groups: int, downsample: bool = True):
    layers = []
    for i in range(blocks):
        first = i == 0 and downsample
        layers.append(V1Block(in_planes, out_planes - (in_planes if first else 0), 2 if first else 1, groups))
        in_planes = out_planes
    return nn.Sequential(*layers)


class ShuffleNetV1(_TorchInit):
    classifier_attr = "linear"

    def __init__(self, num_classes: int, out_planes=(240, 480, 960), blocks=(4, 8, 4), groups: int = 3):
        super().__init__()
        self.groups, self.blocks = groups, tuple(blocks)
        self.conv1 = nn.Conv2d(3, 24, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(24)
        in_planes = 24
        for i, (planes, n) in enumerate(zip(out_planes, blocks)):
            setattr(self, f"layer{i + 1}", v1_layer(in_planes, planes, n, groups))
            in_planes = planes
        self.feature_dim = in_planes
        self.linear = nn.Linear(in_planes, num_classes)

    def stages(self):
        return [nn.Sequential(self.conv1, self.bn1, nn.ReLU(inplace=True), self.layer1), self.layer2, self.layer3]

    def tail_stage(self):
        return v1_layer(self.feature_dim, self.feature_dim, self.blocks[-1], self.groups, downsample=False)


# ---- V2 ---------------------------------------------------------------------------------
class V2Block(nn.Module):
    """Channel split: half passes through, half goes 1x1 - depthwise 3x3 - 1x1."""

    def __init__(self, channels: int):
        super().__init__()
        c = channels // 2
        self.conv1 = nn.Conv2d(c, c, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, 1, 1, groups=c, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.conv3 = nn.Conv2d(c, c, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c)

    def forward(self, x):
        x1, x2 = x.chunk(2, dim=1)
        out = self.bn2(self.conv2(self.bn1(self.conv1(x2)).relu()))
        out = self.bn3(self.conv3(out)).relu()
        return channel_shuffle(torch.cat([x1, out], 1), 2)


class V2Down(nn.Module):
    """Both halves see the whole input; stride 2 in the stages (1 in HSAKD's tail stage)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 2):
        super().__init__()
        mid = out_channels // 2
        self.conv1 = nn.Conv2d(in_channels, in_channels, 3, stride, 1, groups=in_channels, bias=False)
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv2 = nn.Conv2d(in_channels, mid, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(in_channels, mid, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(mid)
        self.conv4 = nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False)
        self.bn4 = nn.BatchNorm2d(mid)
        self.conv5 = nn.Conv2d(mid, mid, 1, bias=False)
        self.bn5 = nn.BatchNorm2d(mid)

    def forward(self, x):
        left = self.bn2(self.conv2(self.bn1(self.conv1(x)))).relu()
        right = self.bn4(self.conv4(self.bn3(self.conv3(x)).relu()))
        right = self.bn5(self.conv5(right)).relu()
        return channel_shuffle(torch.cat([left, right], 1), 2)


def v2_layer(in_channels: int, out_channels: int, blocks: int, stride: int = 2):
    return nn.Sequential(V2Down(in_channels, out_channels, stride), *[V2Block(out_channels) for _ in range(blocks)])


class ShuffleNetV2(_TorchInit):
    classifier_attr = "linear"

    def __init__(self, num_classes: int, out_channels=(116, 232, 464, 1024), blocks=(3, 7, 3)):
        super().__init__()
        self.blocks = tuple(blocks)
        self.conv1 = nn.Conv2d(3, 24, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(24)
        in_channels = 24
        for i, (c, n) in enumerate(zip(out_channels[:3], blocks)):
            setattr(self, f"layer{i + 1}", v2_layer(in_channels, c, n))
            in_channels = c
        self.last_stage_channels = in_channels
        self.conv2 = nn.Conv2d(in_channels, out_channels[3], 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels[3])
        self.feature_dim = out_channels[3]
        self.linear = nn.Linear(out_channels[3], num_classes)

    def stages(self):
        return [nn.Sequential(self.conv1, self.bn1, nn.ReLU(inplace=True), self.layer1), self.layer2, self.layer3]

    def pre_pool(self):
        return [self.conv2, self.bn2, nn.ReLU(inplace=True)]

    def tail_stage(self):
        c = self.last_stage_channels
        return v2_layer(c, c, self.blocks[-1], stride=1)


ARCHS = {"ShuffleV1": lambda nc: ShuffleNetV1(nc), "ShuffleV2": lambda nc: ShuffleNetV2(nc)}
