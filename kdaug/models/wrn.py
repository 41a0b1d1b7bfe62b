"""Wide ResNets of RepDistiller (models/wrn.py): pre-activation blocks, depth = 6n + 4,
widths 16, 16k, 32k, 64k. Stages: stem+block1, block2, block3; final BN-ReLU before pooling."""
from torch import nn

from .staged import Staged


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, out_planes: int, stride: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, out_planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_planes)
        self.conv2 = nn.Conv2d(out_planes, out_planes, 3, 1, 1, bias=False)
        self.equal_in_out = in_planes == out_planes
        self.convShortcut = None if self.equal_in_out else nn.Conv2d(in_planes, out_planes, 1, stride, bias=False)

    def forward(self, x):
        pre = self.bn1(x).relu()
        out = self.conv2(self.bn2(self.conv1(pre)).relu())
        # Reference quirk kept: a projecting block's shortcut sees the activated input.
        return out + (x if self.equal_in_out else self.convShortcut(pre))


class NetworkBlock(nn.Module):
    """Kept as a named wrapper so parameter names match RepDistiller checkpoints (block1.layer.0...)."""

    def __init__(self, blocks: int, in_planes: int, out_planes: int, stride: int):
        super().__init__()
        self.layer = nn.Sequential(*[BasicBlock(in_planes if i == 0 else out_planes, out_planes,
                                                stride if i == 0 else 1) for i in range(blocks)])

    def forward(self, x):
        return self.layer(x)


class WideResNet(Staged):
    linear_init = "zero_bias"

    def __init__(self, depth: int, widen: int, num_classes: int):
        super().__init__()
        assert (depth - 4) % 6 == 0, "WRN depth is 6n+4"
        self.blocks_per_stage = n = (depth - 4) // 6
        c = (16, 16 * widen, 32 * widen, 64 * widen)
        self.conv1 = nn.Conv2d(3, c[0], 3, 1, 1, bias=False)
        self.block1 = NetworkBlock(n, c[0], c[1], 1)
        self.block2 = NetworkBlock(n, c[1], c[2], 2)
        self.block3 = NetworkBlock(n, c[2], c[3], 2)
        self.bn1 = nn.BatchNorm2d(c[3])
        self.feature_dim = c[3]
        self.fc = nn.Linear(c[3], num_classes)
        self.init_weights(self)

    def stages(self):
        return [nn.Sequential(self.conv1, self.block1), self.block2, self.block3]

    def pre_pool(self):
        return [self.bn1, nn.ReLU(inplace=True)]

    def tail_stage(self):
        return NetworkBlock(self.blocks_per_stage, self.feature_dim, self.feature_dim, 1)


ARCHS = {f"wrn_{d}_{k}": (lambda d, k: lambda nc: WideResNet(d, k, nc))(d, k)
         for d in (16, 40) for k in (1, 2)}
