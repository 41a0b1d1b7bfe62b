"""VGG with BatchNorm and no FC stack, as RepDistiller registers it (models/vgg.py, the *_bn
variants under the names vgg8/11/13/16/19): five conv blocks, 2x2 max-pooling between the
first four, global average pooling, one Linear(512).

Stages (HSAKD's 4 taps): block0, pool+block1, pool+block2, pool+block3+block4 (no pooling
between block3 and block4 at 32x32). RepDistiller adds that pooling only for 64x64 input;
kdaug leaves it out at every size (global pooling absorbs the larger map)."""
from torch import nn

from .staged import Staged

CFGS = {
    "vgg8": [[64], [128], [256], [512], [512]],
    "vgg11": [[64], [128], [256, 256], [512, 512], [512, 512]],
    "vgg13": [[64, 64], [128, 128], [256, 256], [512, 512], [512, 512]],
    "vgg16": [[64, 64], [128, 128], [256] * 3, [512] * 3, [512] * 3],
    "vgg19": [[64, 64], [128, 128], [256] * 4, [512] * 4, [512] * 4],
}


def make_block(widths, in_channels: int) -> nn.Sequential:
    """conv-BN-ReLU per width, without the last ReLU (the reference applies it outside,
    which here lives in the stage)."""
    layers = []
    for w in widths:
        layers += [nn.Conv2d(in_channels, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
        in_channels = w
    return nn.Sequential(*layers[:-1])


class VGG(Staged):
    classifier_attr = "classifier"
    linear_init = "normal"

    def __init__(self, cfg, num_classes: int):
        super().__init__()
        self.cfg = cfg
        ins = [3] + [widths[-1] for widths in cfg[:-1]]
        for i, (widths, c) in enumerate(zip(cfg, ins)):
            setattr(self, f"block{i}", make_block(widths, c))
        self.feature_dim = cfg[-1][-1]
        self.classifier = nn.Linear(self.feature_dim, num_classes)
        self.init_weights(self)

    def stages(self):
        relu, pool = lambda: nn.ReLU(inplace=True), lambda: nn.MaxPool2d(2, 2)
        return [nn.Sequential(self.block0, relu()),
                nn.Sequential(pool(), self.block1, relu()),
                nn.Sequential(pool(), self.block2, relu()),
                nn.Sequential(pool(), self.block3, relu(), self.block4, relu())]

    def tail_stage(self):
        c = self.cfg
        return nn.Sequential(make_block(c[3], c[4][-1]), nn.ReLU(inplace=True),
                             make_block(c[4], c[3][-1]), nn.ReLU(inplace=True))


ARCHS = {name: (lambda cfg: lambda nc: VGG(cfg, nc))(cfg) for name, cfg in CFGS.items()}
