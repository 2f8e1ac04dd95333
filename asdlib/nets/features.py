"""Acoustic features: the log-Mel spectrogram and the separable Wavegram, as the authors compute them.

Explained in notebook 02_features.
"""

from __future__ import annotations

import torch
import torchaudio
from torch import Tensor, nn

from asdlib.data.dcase import SAMPLE_RATE
from asdlib.nets.layers import SeparableConv1d

N_FFT = 1024
HOP = 512
N_MELS = 128


def num_frames(num_samples: int, hop: int = HOP) -> int:
    """Frames of the centred STFT / Wavegram for a clip of ``num_samples`` (313 for 10 s). Notebook 02."""
    return 1 + num_samples // hop


class LogMel(nn.Module):
    """Log-Mel spectrogram: 64 ms Hann window, 50 % overlap, 128 HTK Mel bins, ``10*log10(x + 1e-8)``. Notebook 02.

    ``self.mel`` is the torchaudio transform the authors call ``transform_tf``.
    """

    def __init__(self, sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT, hop_length: int = HOP,
                 n_mels: int = N_MELS):
        super().__init__()
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate, n_fft=n_fft, win_length=n_fft, hop_length=hop_length,
            center=True, pad_mode="reflect", power=2.0, norm="slaney", n_mels=n_mels,
            mel_scale="htk",
        )

    def forward(self, wave: Tensor) -> Tensor:
        """(batch, samples) -> (batch, n_mels, frames) in dB."""
        return 10.0 * torch.log10(self.mel(wave) + 1e-8)


def mel_bin_centres_hz(n_mels: int = N_MELS, sample_rate: int = SAMPLE_RATE) -> Tensor:
    """Centre frequency in Hz of each HTK Mel bin of the log-Mel (for Fig. 4's frequency axis). Notebook 06."""
    f_max = sample_rate / 2
    mel_max = 2595.0 * torch.log10(torch.tensor(1.0 + f_max / 700.0))
    mels = torch.linspace(0.0, float(mel_max), n_mels + 2)
    hz = 700.0 * (10 ** (mels / 2595.0) - 1.0)
    return hz[1:-1]


class Wavegram(nn.Module):
    """Learned time-frequency front end: one strided 1-D layer, 1 -> 128 channels, kernel 1024, stride 512. Notebook 02.

    The single strided ``Conv1d`` (a learnable STFT) is the first layer of STgram-MFN's Tgram
    (Liu et al., 2022); the name Wavegram comes from PANNs (Kong et al., 2020), whose Wavegram
    is a deeper 1-D CNN. ``separable=True`` is the authors' layer (depthwise 1024-tap filter, BN,
    ReLU, pointwise 1x1 to 128 channels, BN, ReLU). With one input channel the depthwise step
    yields one signal per frame (a signed filter output, then BN and ReLU), so every output
    channel is a function of that one signal, ReLU(a_c * d_t + b_c): before the last ReLU the
    (128 x frames) map has rank at most 2. ``separable=False`` is the ablation's ordinary
    ``Conv1d`` (131,200 parameters).
    """

    def __init__(self, n_bins: int = N_MELS, kernel: int = N_FFT, stride: int = HOP,
                 separable: bool = True):
        super().__init__()
        self.separable = separable
        if separable:
            self.layer = SeparableConv1d(1, n_bins, kernel, stride=stride, padding=kernel // 2,
                                         bias=True)
        else:
            self.layer = nn.Conv1d(1, n_bins, kernel, stride=stride, padding=kernel // 2, bias=True)

    def forward(self, wave: Tensor) -> Tensor:
        """(batch, samples) -> (batch, n_bins, frames)."""
        return self.layer(wave.unsqueeze(1))
