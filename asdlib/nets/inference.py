"""The inference form of a trained network: BatchNorm folded, an exportable log-Mel, per-class scores out.

``inference_form(net)`` turns any trained ``ASDNet`` (the proposed model, every ablation variant,
the authors' released checkpoint once loaded) into an ``InferenceNet`` that gives the same
anomaly scores with less work:

- every BatchNorm that follows a convolution is folded into that convolution's weights and bias
  (``fold_batchnorm``); a BatchNorm after an activation (the attention module's ``BN -> ELU``
  steps) stays as a per-channel affine (``ChannelAffine``), because a ReLU sits between it and
  the convolution;
- the log-Mel is computed without complex numbers (``ExportableLogMel``): frames cut by reshapes,
  a real FFT of 1024 points written as two 32-point DFT matrix products with twiddle factors
  between them (about 8x fewer multiplications than one 1024 x 1026 DFT matrix), and the Mel
  filterbank as a matrix product. It exports to ONNX; ``torch.stft`` does not, because the
  exporter cannot carry its complex tensors (ONNX itself has DFT/STFT since opset 17);
- MobileFaceNet's ``fc_out`` (built by the authors, never used by the loss) is dropped, and a
  PReLU whose slopes lie in [0, 1] becomes ``max(x, a x)`` (the same values; faster in ONNX Runtime);
- the ArcFace head is reduced to what scoring needs: the normalised class weights and, for every
  class k, the cross-entropy the clip would get if its true class were k (``class_scores``).

Everything is built on the device of the network it comes from (a CUDA network gives a CUDA
inference form). The engine scores checkpoints with the same form (``exportable=False`` keeps the
training form's own ``torch.stft`` log-Mel, so the features are bit for bit the training form's).
It lives on the networks' floor so that both the engine (checkpoint scoring, notebook 04) and
``asdlib.deploy`` (export, notebook 08) use it. Explained in notebook 08_deployment.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from asdlib.nets.layers import _Separable
from asdlib.nets.mobilefacenet import Bottleneck, ConvBlock
from asdlib.nets.model import ASDNet

#: Anomaly scores of the inference form may differ from the training form's by at most this.
SCORE_TOLERANCE = 1e-3
#: Anomaly scores of the engine's scoring form (``exportable=False``) may differ from the training
#: form's by at most this (tested for the proposed model and every variant).
ENGINE_SCORE_TOLERANCE = 1e-4


def fold_batchnorm(conv: nn.Conv1d | nn.Conv2d, bn: nn.BatchNorm1d | nn.BatchNorm2d) -> nn.Module:
    """A copy of ``conv`` whose weights and bias include the eval-mode ``bn`` after it. Notebook 08.

    ``bn(conv(x)) = g * (W x + b - mu) / sqrt(var + eps) + beta``, so the folded layer has
    ``W' = W * g / sqrt(var + eps)`` (per output channel) and ``b' = (b - mu) * g / sqrt(var + eps) + beta``.
    """
    if conv.out_channels != bn.num_features:
        raise ValueError(f"fold_batchnorm: {conv.out_channels} conv channels but "
                         f"{bn.num_features} BatchNorm features")
    folded = copy.deepcopy(conv)
    with torch.no_grad():
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        folded.weight.copy_(conv.weight * scale.reshape(-1, *([1] * (conv.weight.dim() - 1))))
        folded.bias = nn.Parameter((bias - bn.running_mean) * scale + bn.bias)
    return folded


class ChannelAffine(nn.Module):
    """An eval-mode BatchNorm2d as ``x * scale + shift`` per channel, on the BatchNorm's device. Notebook 08.

    Used where a BatchNorm follows an activation and cannot be folded into a convolution; one
    multiply-add instead of a 1x1 depthwise convolution (the same values, cheaper on a CPU in
    PyTorch). Exported to ONNX it is that depthwise convolution: ONNX Runtime runs it in its
    blocked (NCHWc) layout, where a broadcast ``Add`` would need the map converted out and back
    (``benchmarks/deployment.py``, REPORT.md section 7).
    """

    def __init__(self, bn: nn.BatchNorm2d):
        super().__init__()
        with torch.no_grad():
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            shift = bn.bias - bn.running_mean * scale
        self.register_buffer("scale", scale.detach().reshape(1, -1, 1, 1).clone())
        self.register_buffer("shift", shift.detach().reshape(1, -1, 1, 1).clone())

    def forward(self, x: Tensor) -> Tensor:
        if torch.onnx.is_in_onnx_export():
            return F.conv2d(x, self.scale.reshape(-1, 1, 1, 1), self.shift.flatten(), groups=self.scale.shape[1])
        return torch.addcmul(self.shift, x, self.scale)


class PReLUAsMax(nn.Module):
    """PReLU with every slope in [0, 1] written as ``max(x, a * x)``: the same values, two fast ops. Notebook 08.

    ONNX Runtime's PRelu kernel broadcasts the per-channel slope slowly (about 2 ms per call on
    a 64 x 157 x 128 map on one core). Exported to ONNX it is ``a * x + (1 - a) * relu(x)``
    (equal for every slope): ``Mul``, ``Relu`` and ``Add`` all run in ONNX Runtime's blocked
    (NCHWc) layout, while ``Max`` does not, so each ``Max`` cost a conversion of the map out of
    that layout and back (1.2x on the whole model with ``ChannelAffine``'s convolution; REPORT.md
    section 7).
    """

    def __init__(self, prelu: nn.PReLU):
        super().__init__()
        slope = prelu.weight.detach().clone()
        self.register_buffer("slope", slope.reshape(1, -1, 1, 1) if slope.numel() > 1 else slope)

    @staticmethod
    def applies(prelu: nn.PReLU) -> bool:
        """True when every slope lies in [0, 1], where ``max(x, a x)`` equals PReLU."""
        w = prelu.weight.detach()
        if w.is_meta:  # no values to check: keep the PReLU itself
            return False
        return bool(((w >= 0) & (w <= 1)).all())

    def forward(self, x: Tensor) -> Tensor:
        if torch.onnx.is_in_onnx_export():
            return x * self.slope + torch.relu(x) * (1.0 - self.slope)
        return torch.maximum(x, x * self.slope)


def _fold_module(module: nn.Module) -> nn.Module:
    """Inference copy of one building block of the network (recursive)."""
    if isinstance(module, nn.PReLU):
        return PReLUAsMax(module) if PReLUAsMax.applies(module) else copy.deepcopy(module)
    if isinstance(module, _Separable):
        return nn.Sequential(
            fold_batchnorm(module.dwconv, module.dwconv_normalization),
            copy.deepcopy(module.dwconv_activation),
            fold_batchnorm(module.pwconv, module.pwconv_normalization),
            copy.deepcopy(module.pwconv_activation))
    if isinstance(module, ConvBlock):
        conv = fold_batchnorm(module.conv, module.bn)
        return conv if module.linear else nn.Sequential(conv, _fold_module(module.prelu))
    if isinstance(module, Bottleneck):
        folded = copy.copy(module)
        folded._modules = dict(module._modules)
        folded.conv = _fold_sequential(module.conv)
        return folded
    if isinstance(module, nn.Sequential):
        return _fold_sequential(module)
    return copy.deepcopy(module)


def _fold_sequential(seq: nn.Sequential) -> nn.Sequential:
    """Fold every Conv -> BatchNorm pair of a Sequential; a BatchNorm after anything else becomes an affine."""
    layers, items, i = [], list(seq), 0
    while i < len(items):
        m = items[i]
        nxt = items[i + 1] if i + 1 < len(items) else None
        if isinstance(m, (nn.Conv1d, nn.Conv2d)) and isinstance(nxt, (nn.BatchNorm1d, nn.BatchNorm2d)):
            layers.append(fold_batchnorm(m, nxt))
            i += 2
            continue
        if isinstance(m, nn.BatchNorm2d):
            layers.append(ChannelAffine(m))
        else:
            layers.append(_fold_module(m))
        i += 1
    return nn.Sequential(*layers)


class FoldedMobileFaceNet(nn.Module):
    """MobileFaceNet with BatchNorm folded and without ``fc_out``: (batch, c, 128, frames) -> (batch, h). Notebook 08."""

    def __init__(self, mfn: nn.Module):
        super().__init__()
        self.conv1 = _fold_module(mfn.conv1)
        self.dw_conv1 = _fold_module(mfn.dw_conv1)
        self.blocks = nn.Sequential(*[_fold_module(b) for b in mfn.blocks])
        self.conv2 = _fold_module(mfn.conv2)
        self.linear7 = _fold_module(mfn.linear7)
        self.linear1 = _fold_module(mfn.linear1)

    def forward(self, x: Tensor) -> Tensor:
        """Embedding h of the (weighted) features."""
        x = self.conv2(self.blocks(self.dw_conv1(self.conv1(x))))
        return self.linear1(self.linear7(x)).flatten(1)


def _dft_matrices(n: int, kept: int, device=None) -> tuple[Tensor, Tensor]:
    """Real forms of an ``n``-point DFT: (2n, n) for real input, (2n, 2*kept) for complex input."""
    k = torch.arange(n, dtype=torch.float64, device=device)
    ang = 2.0 * math.pi * torch.outer(k, k) / n
    c, s = torch.cos(ang), torch.sin(ang)
    real_in = torch.cat([c, -s], dim=0)                        # rows: [Re; Im] of W^{k n}
    ck, sk = c[:, :kept], s[:, :kept]
    complex_in = torch.cat([torch.cat([ck, -sk], 1), torch.cat([sk, ck], 1)], 0)
    return real_in, complex_in


class ExportableLogMel(nn.Module):
    """The log-Mel of ``features.LogMel`` without complex numbers, so that it exports to ONNX. Notebook 08.

    The centred STFT's reflect padding, then frames of 1024 samples every 512 (two hop blocks side
    by side), the periodic Hann window, a real FFT as two 32-point DFT matrix products (n = 32 n1
    + n2, k = k1 + 32 k2; twiddle factors in between, only k2 <= 16 kept: bins 0..512), the power,
    torchaudio's own Mel filterbank (rows reordered to the FFT's output order) and ``10 log10(x + 1e-8)``.
    """

    def __init__(self, logmel: nn.Module):
        super().__init__()
        spec, mel = logmel.mel.spectrogram, logmel.mel.mel_scale
        n_fft, hop = spec.n_fft, spec.hop_length
        if n_fft != 2 * hop or n_fft != 1024 or spec.win_length != n_fft or not spec.center:
            raise ValueError("ExportableLogMel supports the paper's STFT only (n_fft 1024, hop 512, "
                             f"centred); got n_fft {n_fft}, hop {hop}")
        self.n_fft, self.hop, self.radix = n_fft, hop, 32
        r, kept = self.radix, self.radix // 2 + 1
        device = mel.fb.device                                 # built where the network lives
        stage_a, stage_b = _dft_matrices(r, kept, device)
        n2 = torch.arange(r, dtype=torch.float64, device=device)
        ang = 2.0 * math.pi * torch.outer(n2, n2) / n_fft      # [n2, k1]
        fb = mel.fb.double()                                   # (513, n_mels)
        order = torch.zeros(r * kept, fb.shape[1], dtype=torch.float64, device=device)
        for k1 in range(r):
            for k2 in range(kept):
                if k1 + r * k2 < fb.shape[0]:
                    order[k1 * kept + k2] = fb[k1 + r * k2]
        self.register_buffer("window", spec.window.float().reshape(r, r).clone())
        self.register_buffer("stage_a", stage_a.T.float().contiguous())          # (n1, 2 k1)
        self.register_buffer("twiddle_cos", torch.cos(ang).float())                # (n2, k1)
        self.register_buffer("twiddle_sin", torch.sin(ang).float())
        self.register_buffer("stage_b", stage_b.float())                           # (2 n2, 2 k2)
        self.register_buffer("mel_fb_t", order.T.float().contiguous())            # (n_mels, k1*k2)

    def power(self, wave: Tensor) -> Tensor:
        """(batch, samples) -> power spectrum (batch, frames, 32 * 17), bins in (k1, k2) order."""
        r, hop = self.radix, self.hop
        x = F.pad(wave.unsqueeze(1), (hop, hop), mode="reflect").squeeze(1)
        n_frames = 1 + (x.shape[-1] - self.n_fft) // hop
        blocks = x[:, : (n_frames + 1) * hop].reshape(x.shape[0], n_frames + 1, hop // r, r)
        # frame f = hop blocks f and f + 1, as a 32 x 32 matrix [n1, n2] with n = 32 n1 + n2
        frames = torch.cat([blocks[:, :-1], blocks[:, 1:]], dim=2) * self.window
        # stage A: 32-point DFT over n1 for every n2 -> [n2, (Re k1 | Im k1)]
        y = torch.matmul(frames.transpose(-1, -2), self.stage_a)
        yr, yi = y[..., :r], y[..., r:]
        # twiddles W_1024^{n2 k1}
        zr = yr * self.twiddle_cos + yi * self.twiddle_sin
        zi = yi * self.twiddle_cos - yr * self.twiddle_sin
        # stage B: 32-point DFT over n2 for every k1, k2 in 0..16 -> [k1, (Re k2 | Im k2)]
        z = torch.cat([zr, zi], dim=-2).transpose(-1, -2)     # (batch, frames, k1, 2 n2)
        xk = torch.matmul(z, self.stage_b)
        kept = xk.shape[-1] // 2
        p = xk[..., :kept].square() + xk[..., kept:].square()
        return p.flatten(2)

    def forward(self, wave: Tensor) -> Tensor:
        """(batch, samples) -> (batch, n_mels, frames) in dB, as ``LogMel``."""
        mel = torch.matmul(self.mel_fb_t, self.power(wave).transpose(-1, -2))
        return 10.0 * torch.log10(mel + 1e-8)


def class_scores(embedding: Tensor, weight_normalised: Tensor, s: float, m: float) -> tuple[Tensor, Tensor]:
    """Anomaly score for every candidate class, (batch, classes), and the cosines. Notebook 08.

    Column k is the ArcFace cross-entropy the clip gets when its true class is k (margin at k):
    ``-s phi_k + logsumexp(s cos_j for j != k, s phi_k)``, exactly ``loss.anomaly_score`` at k.
    """
    cos = F.linear(F.normalize(embedding), weight_normalised)
    sin = torch.sqrt((1.0 - cos * cos).clamp(0.0, 1.0))
    phi = cos * math.cos(m) - sin * math.sin(m)
    phi = torch.where(cos > math.cos(math.pi - m), phi, cos - math.sin(math.pi - m) * m)
    c = cos.shape[1]
    eye = torch.eye(c, dtype=cos.dtype, device=cos.device)
    logits = s * (cos.unsqueeze(1) * (1.0 - eye) + phi.unsqueeze(2) * eye)  # [b, k, j]
    return torch.logsumexp(logits, dim=2) - s * phi, cos


class InferenceNet(nn.Module):
    """A trained ``ASDNet`` reduced for scoring: waveform (batch, samples) -> (scores, cosines), both (batch, classes). Notebook 08.

    Built by ``inference_form``; ``embedding(wave)`` gives h as ``ASDNet.forward`` does.
    ``exportable=False`` keeps the training form's log-Mel (``torch.stft``; no ONNX export).
    """

    def __init__(self, net: nn.Module, exportable: bool = True):
        super().__init__()
        net = net.eval()
        self.config = net.config
        self.label_map = getattr(net, "label_map", "paper")
        self.exportable = exportable
        self.logmel = None
        if net.logmel is not None:
            self.logmel = ExportableLogMel(net.logmel) if exportable else copy.deepcopy(net.logmel)
        self.wavegram = None
        if net.wavegram is not None:
            layer = net.wavegram.layer
            self.wavegram = _fold_module(layer) if isinstance(layer, _Separable) else copy.deepcopy(layer)
        self.attention = _fold_sequential(net.attention) if net.attention is not None else None
        self.classifier = FoldedMobileFaceNet(net.classifier)
        self.register_buffer("class_weight", F.normalize(net.arcface.weight.detach()).clone())
        self.s, self.m = float(net.arcface.s), float(net.arcface.m)
        self.eval()

    def features(self, wave: Tensor, logmel: Tensor | None = None) -> Tensor:
        """Stacked features X (batch, channels, 128, frames), as ``ASDNet.features``.

        ``logmel``: the log-Mel of ``wave`` computed before (it has no weights, so the engine
        computes it once per batch for every checkpoint of a run).
        """
        parts = []
        if self.logmel is not None:
            parts.append(self.logmel(wave) if logmel is None else logmel)
        if self.wavegram is not None:
            parts.append(self.wavegram(wave.unsqueeze(1)))
        return torch.stack(parts, dim=1)

    def embedding(self, wave: Tensor, logmel: Tensor | None = None) -> Tensor:
        """(batch, samples) -> (batch, h) embedding (``logmel`` as in ``features``)."""
        x = self.features(wave, logmel)
        if self.attention is not None:
            x = self.attention(x) * x
        return self.classifier(x)

    def forward(self, wave: Tensor, logmel: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Per-class anomaly scores and cosines, each (batch, classes)."""
        return class_scores(self.embedding(wave, logmel), self.class_weight, self.s, self.m)


def inference_form(net: nn.Module, exportable: bool = True) -> InferenceNet:
    """The inference form of a trained network (BatchNorm folded, exportable log-Mel, no ``fc_out``), on the network's device. Notebook 08.

    For the proposed model and its variants (an ``ASDNet``); the peers of notebook 07 are scored
    in PyTorch only and are refused with a ``ValueError``. ``exportable=False``: the engine's
    scoring form, which keeps the training form's log-Mel (scores within ``ENGINE_SCORE_TOLERANCE``).
    """
    if not isinstance(net, ASDNet):
        kind = getattr(getattr(net, "config", None), "kind", type(net).__name__)
        raise ValueError(f"only the proposed model and its variants have an inference form for "
                         f"export; this network is a peer ({kind}), scored in PyTorch (notebook 07)")
    with torch.no_grad():
        return InferenceNet(net, exportable)
