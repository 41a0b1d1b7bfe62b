"""MobileNetV2 of RepDistiller (models/mobilenetv2.py, registered as "MobileNetV2" =
mobile_half): expansion T=6, width 0.5, last conv 1280 channels, stride-2 stem.
(HSAKD's copy uses a stride-1 stem: same parameters, 4x the compute; pass stem_stride=1.)

The seven inverted-residual groups are split into HSAKD's 4 stages, tapped after groups
1, 2, 4 and 6: stem+g0+g1, g2, g3+g4, g5+g6. The 1x1 conv to 1280 sits in head_pool."""
from torch import nn

from .staged import Staged

# expansion t (None: use T), channels c, repeats n, first stride s
SETTING = [(1, 16, 1, 1), (None, 24, 2, 1), (None, 32, 3, 2), (None, 64, 4, 2),
           (None, 96, 3, 1), (None, 160, 3, 2), (None, 320, 1, 1)]
STAGE_GROUPS = [(0, 1), (2,), (3, 4), (5, 6)]  # the groups each stage holds (stage 0 adds the stem)


def conv_bn_relu(inp: int, oup: int, kernel: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inp, oup, kernel, stride, kernel // 2, bias=False),
                         nn.BatchNorm2d(oup), nn.ReLU(inplace=True))


class InvertedResidual(nn.Module):
    def __init__(self, inp: int, oup: int, stride: int, t: int):
        super().__init__()
        hidden = inp * t
        self.use_res_connect = stride == 1 and inp == oup
        self.conv = nn.Sequential(
            *conv_bn_relu(inp, hidden, 1, 1),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, oup, 1, bias=False), nn.BatchNorm2d(oup))

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(Staged):
    classifier_attr = "classifier"
    linear_init = "normal"
    state_dict_aliases = {"classifier.0.": "classifier."}  # RepDistiller wraps the Linear in a Sequential

    def __init__(self, num_classes: int, T: int = 6, width: float = 0.5, stem_stride: int = 2):
        super().__init__()
        self.T, self.width = T, width
        channels = int(32 * width)
        self.conv1 = conv_bn_relu(3, channels, 3, stem_stride)
        self.blocks = nn.ModuleList()
        for t, c, n, s in SETTING:
            group, channels = self._group(channels, t, c, n, s)
            self.blocks.append(group)
        self.last_stage_channels = channels
        self.feature_dim = int(1280 * width) if width > 1.0 else 1280
        self.conv2 = conv_bn_relu(channels, self.feature_dim, 1, 1)
        self.classifier = nn.Linear(self.feature_dim, num_classes)
        self.init_weights(self)

    def _group(self, inp: int, t, c: int, n: int, s: int):
        oup = int(c * self.width)
        layers = [InvertedResidual(inp if i == 0 else oup, oup, s if i == 0 else 1, t or self.T) for i in range(n)]
        return nn.Sequential(*layers), oup

    def stages(self):
        stages = [nn.Sequential(*(self.blocks[g] for g in groups)) for groups in STAGE_GROUPS]
        stages[0].insert(0, self.conv1)
        return stages

    def pre_pool(self):
        return [self.conv2]

    def tail_stage(self):
        layers, channels = [], self.last_stage_channels
        for g in STAGE_GROUPS[-1]:
            t, c, n, _ = SETTING[g]
            group, channels = self._group(channels, t, c, n, 1)
            layers.append(group)
        return nn.Sequential(*layers)


ARCHS = {"MobileNetV2": lambda nc: MobileNetV2(nc)}
