"""Separable convolutions exactly as the authors' dependency ``separableconv-torch`` builds them.

That package's defaults make every separable layer six steps, not two::

    depthwise conv -> BatchNorm -> ReLU -> pointwise 1x1 conv -> BatchNorm -> ReLU

and both convolutions keep the layer's ``bias`` argument. Attribute names (``dwconv``,
``dwconv_normalization``, ``pwconv``, ``pwconv_normalization``) match the authors' checkpoint.
``pw_activation=False`` drops the final ReLU: the "fixed" attention variant.
Explained in notebook 02_features (Wavegram) and 06_attention (the 0.5 floor).
"""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor, nn


def float32_region(device: torch.device):
    """A block computed in float32 even under autocast on ``device`` (a no-op where autocast does not exist, e.g. the ``meta`` device). Notebook 02."""
    if device.type in ("cpu", "cuda", "xpu", "mps", "hpu"):
        return torch.autocast(device_type=device.type, enabled=False)
    return contextlib.nullcontext()


class _Separable(nn.Module):
    conv: type[nn.Module]
    norm: type[nn.Module]

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int | str = 0, bias: bool = True, pw_activation: bool = True):
        super().__init__()
        self.dwconv = self.conv(in_channels, in_channels, kernel_size, stride=stride,
                                padding=padding, groups=in_channels, bias=bias)
        self.dwconv_normalization = self.norm(in_channels)
        self.dwconv_activation = nn.ReLU()
        self.pwconv = self.conv(in_channels, out_channels, 1, bias=bias)
        self.pwconv_normalization = self.norm(out_channels)
        self.pwconv_activation = nn.ReLU() if pw_activation else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        x = self.dwconv_activation(self.dwconv_normalization(self.dwconv(x)))
        return self.pwconv_activation(self.pwconv_normalization(self.pwconv(x)))


class SeparableConv1d(_Separable):
    """Depthwise-then-pointwise 1-D convolution, each followed by BatchNorm and ReLU. Notebook 02."""

    conv, norm = nn.Conv1d, nn.BatchNorm1d


class SeparableConv2d(_Separable):
    """Depthwise-then-pointwise 2-D convolution, each followed by BatchNorm and ReLU. Notebook 06."""

    conv, norm = nn.Conv2d, nn.BatchNorm2d
