"""MobileFaceNet, the classifier of the proposed network (as used by STgram-MFN and the authors).

Attribute names match the authors' checkpoint (``conv1``, ``dw_conv1``, ``blocks``, ``conv2``,
``linear7``, ``linear1``, ``fc_out``). Explained in notebook 03_training.
"""

from __future__ import annotations

import math

from torch import Tensor, nn

#: Bottleneck settings: (expansion t, channels c, repeats n, first stride s).
BOTTLENECK_SETTINGS = ((2, 128, 2, 2), (4, 128, 2, 2), (4, 128, 2, 2))


class ConvBlock(nn.Module):
    """Conv2d (no bias) -> BatchNorm -> PReLU, or without PReLU when ``linear``. Notebook 03."""

    def __init__(self, inp: int, oup: int, k, s=1, p=0, groups: int = 1, linear: bool = False):
        super().__init__()
        self.linear = linear
        self.conv = nn.Conv2d(inp, oup, k, s, p, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(oup)
        if not linear:
            self.prelu = nn.PReLU(oup)

    def forward(self, x: Tensor) -> Tensor:
        x = self.bn(self.conv(x))
        return x if self.linear else self.prelu(x)


class Bottleneck(nn.Module):
    """Inverted residual: pw 1x1 -> dw 3x3 (stride s) -> pw-linear 1x1, residual when shapes match. Notebook 03."""

    def __init__(self, inp: int, oup: int, stride: int, expansion: int):
        super().__init__()
        self.connect = stride == 1 and inp == oup
        hidden = inp * expansion
        self.conv = nn.Sequential(
            nn.Conv2d(inp, hidden, 1, 1, 0, bias=False),
            nn.BatchNorm2d(hidden),
            nn.PReLU(hidden),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.PReLU(hidden),
            nn.Conv2d(hidden, oup, 1, 1, 0, bias=False),
            nn.BatchNorm2d(oup),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv(x) if self.connect else self.conv(x)


def _stride_steps(bottleneck_setting) -> int:
    """Stride-2 steps of the network: conv1 plus each bottleneck group whose first stride is 2."""
    return 1 + sum(1 for _t, _c, _n, s in bottleneck_setting if s == 2)


def _after_strides(n: int, steps: int = 4) -> int:
    for _ in range(steps):
        n = (n + 1) // 2  # 3x3 conv, padding 1, stride 2
    return n


class MobileFaceNet(nn.Module):
    """MobileFaceNet: conv stem, 6 bottlenecks, 1x1 to 512, global depthwise conv, linear to ``h``. Notebook 03.

    ``input_hw`` is the (frequency, time) size of the input; the global depthwise kernel
    ``linear7`` covers what is left after the four stride-2 steps ((8, 20) for 128 x 313).
    ``fc_out`` is built and counted, as in the authors' code, but the loss never uses it.
    ``bottleneck_setting`` is the (t, c, n, s) list; the default is the authors' (and the later
    STgram-MFN's) three-group setting, ``asdlib.nets.peers.stgram`` also builds the original five-group
    one. The global kernel counts the stride-2 steps of whichever setting is given.
    """

    def __init__(self, in_channels: int = 2, embedding_dim: int = 128, num_classes: int = 41,
                 input_hw: tuple[int, int] = (128, 313),
                 bottleneck_setting: tuple[tuple[int, int, int, int], ...] = BOTTLENECK_SETTINGS):
        super().__init__()
        steps = _stride_steps(bottleneck_setting)
        self.global_kernel = (_after_strides(input_hw[0], steps), _after_strides(input_hw[1], steps))
        self.conv1 = ConvBlock(in_channels, 64, 3, 2, 1)
        self.dw_conv1 = ConvBlock(64, 64, 3, 1, 1, groups=64)
        layers, inp = [], 64
        for t, c, n, s in bottleneck_setting:
            for i in range(n):
                layers.append(Bottleneck(inp, c, s if i == 0 else 1, t))
                inp = c
        self.blocks = nn.Sequential(*layers)
        self.conv2 = ConvBlock(inp, 512, 1, 1, 0)
        self.linear7 = ConvBlock(512, 512, self.global_kernel, 1, 0, groups=512, linear=True)
        self.linear1 = ConvBlock(512, embedding_dim, 1, 1, 0, linear=True)
        self.fc_out = nn.Linear(embedding_dim, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / n))
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        """(batch, channels, freq, time) -> embedding (batch, h)."""
        x = self.dw_conv1(self.conv1(x))
        x = self.conv2(self.blocks(x))
        x = self.linear1(self.linear7(x))
        return x.flatten(1)
