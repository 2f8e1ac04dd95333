"""The authors' network as their code builds and runs it, in plain eager PyTorch: the speed baseline.

Speed claims need a baseline that our own optimisations cannot touch. This module re-implements,
independently of ``asdlib.nets.layers``, ``asdlib.nets.mobilefacenet`` and ``asdlib.nets.loss``, the structure of
the authors' ``Wavegram_AttentionModule``: ``torchaudio``'s MelSpectrogram (``transform_tf``), the
``separableconv-torch`` layers with their defaults (depthwise -> BN -> ReLU -> pointwise -> BN ->
ReLU), the ``heatmap`` Sequential, their MobileFaceNet (whose forward also computes ``fc_out``,
as theirs does) and the ArcFace margin product. Module names follow their state_dict, so our
weights load into it strictly (``authors_model_from``), and its outputs equal ``ASDNet``'s
(tested). The repetition of MobileFaceNet here is deliberate: sharing asdlib's classes would let
any speed-up of them speed up the baseline too and hide itself.

Explained in notebook 08_deployment.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
import torchaudio
from torch import Tensor, nn


class SepConv(nn.Module):
    """``separableconv-torch``'s SeparableConv1d/2d with its default BN and ReLU after each step."""

    def __init__(self, dims: int, inp: int, out: int, kernel_size, stride=1, padding=0, bias=True):
        super().__init__()
        conv, norm = (nn.Conv1d, nn.BatchNorm1d) if dims == 1 else (nn.Conv2d, nn.BatchNorm2d)
        self.dwconv = conv(inp, inp, kernel_size, stride=stride, padding=padding, groups=inp, bias=bias)
        self.dwconv_normalization = norm(inp)
        self.dwconv_activation = nn.ReLU()
        self.pwconv = conv(inp, out, 1, bias=bias)
        self.pwconv_normalization = norm(out)
        self.pwconv_activation = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        x = self.dwconv_activation(self.dwconv_normalization(self.dwconv(x)))
        return self.pwconv_activation(self.pwconv_normalization(self.pwconv(x)))


class _Conv(nn.Module):
    """Their ``ConvBlock``: conv (no bias) -> BN -> PReLU unless linear; ``dw`` = depthwise."""

    def __init__(self, inp, oup, k, s, p, dw=False, linear=False):
        super().__init__()
        self.linear = linear
        self.conv = nn.Conv2d(inp, oup, k, s, p, groups=inp if dw else 1, bias=False)
        self.bn = nn.BatchNorm2d(oup)
        if not linear:
            self.prelu = nn.PReLU(oup)

    def forward(self, x):
        x = self.bn(self.conv(x))
        return x if self.linear else self.prelu(x)


class _InvertedResidual(nn.Module):
    """Their ``Bottleneck``: 1x1 expand -> 3x3 depthwise -> 1x1 project, residual at stride 1."""

    def __init__(self, inp, oup, stride, t):
        super().__init__()
        self.connect = stride == 1 and inp == oup
        mid = inp * t
        self.conv = nn.Sequential(
            nn.Conv2d(inp, mid, 1, 1, 0, bias=False), nn.BatchNorm2d(mid), nn.PReLU(mid),
            nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False), nn.BatchNorm2d(mid), nn.PReLU(mid),
            nn.Conv2d(mid, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup))

    def forward(self, x):
        return x + self.conv(x) if self.connect else self.conv(x)


class _MobileFaceNet(nn.Module):
    """Their MobileFaceNet for 10-s clips: global kernel (8, 20); forward returns (fc_out, feature)."""

    def __init__(self, num_class: int = 41, h: int = 128):
        super().__init__()
        self.conv1 = _Conv(2, 64, 3, 2, 1)
        self.dw_conv1 = _Conv(64, 64, 3, 1, 1, dw=True)
        layers, inp = [], 64
        for t, c, n, s in ((2, 128, 2, 2), (4, 128, 2, 2), (4, 128, 2, 2)):
            for i in range(n):
                layers.append(_InvertedResidual(inp, c, s if i == 0 else 1, t))
                inp = c
        self.blocks = nn.Sequential(*layers)
        self.conv2 = _Conv(128, 512, 1, 1, 0)
        self.linear7 = _Conv(512, 512, (8, 20), 1, 0, dw=True, linear=True)
        self.linear1 = _Conv(512, h, 1, 1, 0, linear=True)
        self.fc_out = nn.Linear(h, num_class)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0, math.sqrt(2.0 / (m.kernel_size[0] * m.kernel_size[1] * m.out_channels)))

    def forward(self, x):
        x = self.linear1(self.linear7(self.conv2(self.blocks(self.dw_conv1(self.conv1(x))))))
        feature = x.view(x.size(0), -1)
        return self.fc_out(feature), feature


class _ArcMargin(nn.Module):
    """Their ArcFace margin product: s*cos(theta+m) at the target (one-hot or indices), s*cos elsewhere."""

    def __init__(self, h: int, classes: int, s: float, m: float):
        super().__init__()
        self.s, self.m = s, m
        self.weight = nn.Parameter(torch.empty(classes, h))
        nn.init.xavier_uniform_(self.weight)

    def forward(self, x, label):
        cosine = F.linear(F.normalize(x), F.normalize(self.weight))
        sine = torch.sqrt((1.0 - cosine.pow(2)).clamp(0, 1))
        phi = cosine * math.cos(self.m) - sine * math.sin(self.m)
        phi = torch.where(cosine > math.cos(math.pi - self.m), phi,
                          cosine - math.sin(math.pi - self.m) * self.m)
        one_hot = F.one_hot(label, cosine.shape[1]).float() if label.dim() == 1 else label.float()
        return self.s * (one_hot * phi + (1.0 - one_hot) * cosine)


class AuthorsNetwork(nn.Module):
    """The authors' ``Wavegram_AttentionModule`` in plain eager PyTorch; ``forward(wave, label)`` -> ArcFace logits. Notebook 08."""

    def __init__(self, h: int = 128, num_classes: int = 41, s: float = 40.0, m: float = 0.7):
        super().__init__()
        self.wavegram = SepConv(1, 1, 128, 1024, stride=512, padding=512)
        self.transform_tf = torchaudio.transforms.MelSpectrogram(
            sample_rate=16000, n_fft=1024, win_length=1024, hop_length=512, center=True,
            pad_mode="reflect", power=2.0, norm="slaney", n_mels=128, mel_scale="htk")
        self.heatmap = nn.Sequential(
            SepConv(2, 2, 16, 3, padding="same", bias=False), nn.BatchNorm2d(16), nn.ELU(),
            SepConv(2, 16, 64, 3, padding="same", bias=False), nn.BatchNorm2d(64), nn.ELU(),
            SepConv(2, 64, 2, 1, padding="same"), nn.Sigmoid())
        self.classifier = _MobileFaceNet(num_classes, h)
        self.arcface = _ArcMargin(h, num_classes, s, m)

    def forward(self, wave: Tensor, label: Tensor) -> Tensor:
        spec = 10 * torch.log10(self.transform_tf(wave) + 1e-8)
        x = torch.stack((spec, self.wavegram(wave.unsqueeze(1))), dim=1)
        x = x * self.heatmap(x)
        _, features = self.classifier(x)
        return self.arcface(features, label)

    def anomaly_score(self, wave: Tensor, label: Tensor) -> Tensor:
        """Their test-time score: cross-entropy of the ArcFace logits at the clip's class, (batch,)."""
        return F.cross_entropy(self(wave, label), label, reduction="none")


def authors_model_from(net) -> AuthorsNetwork:
    """The authors' network holding exactly the weights of one of our faithful 10-s models (strict load). Notebook 08."""
    cfg = net.config
    if (cfg.features, cfg.separable, cfg.attention, cfg.attention_activation, cfg.num_samples) != (
            "mel+wave", True, True, "faithful", 160_000):
        raise ValueError("authors_model_from: only the proposed (faithful, 10-s) model has the "
                         "authors' structure")
    ref = AuthorsNetwork(cfg.embedding_dim, cfg.num_classes, cfg.arcface_s, cfg.arcface_m)
    ref.load_state_dict({k.removeprefix("model."): v.clone()
                         for k, v in to_authors_state_dict(net).items()}, strict=True)
    return ref.eval()


# --------------------------------------------------------------------------- their key names

#: Authors' key prefix -> our ``ASDNet`` prefix (checked against ``build_model().state_dict()``).
KEY_PREFIXES = (
    ("model.wavegram.", "wavegram.layer."),
    ("model.transform_tf.", "logmel.mel."),
    ("model.heatmap.", "attention."),
    ("model.classifier.", "classifier."),
    ("model.arcface.", "arcface."),
)


def authors_key(key: str) -> str:
    """The authors' checkpoint key for one of our ``ASDNet`` state_dict keys. Notebook 04."""
    for theirs, ours in KEY_PREFIXES:
        if key.startswith(ours):
            return theirs + key[len(ours):]
    raise KeyError(f"{key!r} has no counterpart in the authors' checkpoint")


def our_key(key: str) -> str | None:
    """Our ``ASDNet`` state_dict key for one of the authors' keys (None if no prefix matches). Notebook 04."""
    for theirs, ours in KEY_PREFIXES:
        if key.startswith(theirs):
            return ours + key[len(theirs):]
    return None


def to_authors_state_dict(model) -> dict[str, torch.Tensor]:
    """Our faithful model's weights under the authors' key names (the inverse of the conversion). Notebook 04."""
    return {authors_key(k): v for k, v in model.state_dict().items()}
