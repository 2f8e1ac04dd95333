"""STgram-MFN (Liu et al., ICASSP 2022): log-Mel and a learned Tgram, stacked, into MobileFaceNet with an ArcFace head.

Re-implemented from the facts of ``liuyoude/STgram-MFN`` (``net.py``, ``utils.py``,
``trainer.py``; no licence, so nothing is copied): TgramNet is a strided ``Conv1d`` (1 -> 128,
kernel 1024, stride 512, padding 512, no bias) and three [LayerNorm over the time frames,
LeakyReLU 0.2, ``Conv1d`` 128 -> 128 kernel 3 padding 1 no bias]; log-Mel then Tgram are stacked
as 2 channels into MobileFaceNet; ArcFace s = 30, m = 0.7; Adam lr 1e-4, batch 128, 300 epochs.
Two MobileFaceNet settings exist in its history: ``"published"`` (the original five-group
bottlenecks of its README results and its Zenodo weights, 1,350,335 parameters with 41 classes)
and ``"later"`` (its last commit, the DCASE 2022 setting the proposed model also uses,
1,161,279 parameters). Explained in notebook 07_peers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from asdlib.nets.layers import float32_region
from asdlib.data.dcase import NUM_CLASSES, SAMPLE_RATE
from asdlib.nets.features import HOP, N_FFT, N_MELS, num_frames
from asdlib.nets.loss import ArcFace, anomaly_score
from asdlib.nets.mobilefacenet import BOTTLENECK_SETTINGS, MobileFaceNet
from asdlib.nets.peers.logmel import PeerLogMel

#: MobileFaceNet bottleneck settings (t, c, n, s) of STgram-MFN's history.
MFN_SETTINGS: dict[str, tuple[tuple[int, int, int, int], ...]] = {
    "published": ((2, 64, 5, 2), (4, 128, 1, 2), (2, 128, 6, 1), (4, 128, 1, 2), (2, 128, 2, 1)),
    "later": BOTTLENECK_SETTINGS,
}


def clip_samples(clip_seconds: float, sample_rate: int = SAMPLE_RATE) -> int:
    """Samples of a clip of ``clip_seconds`` (160,000 for 10 s at 16 kHz). Notebook 07."""
    n = int(round(clip_seconds * sample_rate))
    if n < 4 * HOP:
        raise ValueError(f"clip_seconds={clip_seconds}: too short (need at least {4 * HOP} samples)")
    return n


class TgramNet(nn.Module):
    """STgram-MFN's Tgram: strided ``Conv1d`` (a learned STFT) and three [LayerNorm(frames), LeakyReLU 0.2, Conv1d k3]. Notebook 07.

    The LayerNorm normalises over the time axis (``frames``: 313 for 10 s, 32 for 1 s), as in
    the peer's code, so the network is tied to one clip length.
    """

    def __init__(self, frames: int = 313, n_bins: int = N_MELS, kernel: int = N_FFT, hop: int = HOP,
                 layers: int = 3):
        super().__init__()
        self.frames = frames
        self.extractor = nn.Conv1d(1, n_bins, kernel, hop, kernel // 2, bias=False)
        self.encoder = nn.Sequential(*[
            nn.Sequential(nn.LayerNorm(frames), nn.LeakyReLU(0.2),
                          nn.Conv1d(n_bins, n_bins, 3, 1, 1, bias=False))
            for _ in range(layers)
        ])

    def forward(self, wave: Tensor) -> Tensor:
        """(batch, samples) -> (batch, n_bins, frames)."""
        return self.encoder(self.extractor(wave.unsqueeze(1)))


class STgramMFN(nn.Module):
    """STgram-MFN: [log-Mel, Tgram] -> MobileFaceNet -> ArcFace (s 30, m 0.7), anomaly score = ArcFace cross-entropy. Notebook 07.

    ``setting`` picks the MobileFaceNet bottlenecks (``MFN_SETTINGS``). ``logmel`` picks the
    front end: ``"stgram"`` (default) is the peer's own (no filter normalisation,
    ``10 log10(max(x, 1e-10))``), which its released weights expect; ``"asdlib"`` is the
    proposed model's. ``forward(wave)`` gives the 128-d embedding (as ``ASDNet``);
    ``logits(wave, target)`` the margin-applied ArcFace logits; ``training_loss`` the peer's
    loss (plain ArcFace cross-entropy, no mixup).
    """

    def __init__(self, setting: str = "published", num_classes: int = NUM_CLASSES,
                 clip_seconds: float = 10.0, sample_rate: int = SAMPLE_RATE, s: float = 30.0,
                 m: float = 0.7, logmel: str = "stgram"):
        super().__init__()
        if setting not in MFN_SETTINGS:
            raise ValueError(f"STgram-MFN setting {setting!r}: expected one of {sorted(MFN_SETTINGS)}")
        self.setting = setting
        self.num_samples = clip_samples(clip_seconds, sample_rate)
        frames = num_frames(self.num_samples)
        self.logmel = PeerLogMel(logmel, sample_rate)
        self.tgram = TgramNet(frames)
        self.classifier = MobileFaceNet(2, 128, num_classes, input_hw=(N_MELS, frames),
                                        bottleneck_setting=MFN_SETTINGS[setting])
        self.arcface = ArcFace(128, num_classes, s, m)

    def features(self, wave: Tensor) -> Tensor:
        """Stacked features (batch, 2, 128, frames): log-Mel first, then the Tgram (the peer's order)."""
        with float32_region(wave.device):
            wave = wave.float()
            return torch.stack([self.logmel(wave), self.tgram(wave)], dim=1)

    def forward(self, wave: Tensor) -> Tensor:
        """(batch, samples) -> (batch, 128) embedding."""
        return self.classifier(self.features(wave))

    def logits(self, wave: Tensor, target: Tensor) -> Tensor:
        """Margin-applied ArcFace logits at ``target``, (batch, classes)."""
        return self.arcface(self(wave), target)

    def training_loss(self, wave: Tensor, target: Tensor) -> Tensor:
        """The peer's training loss: mean ArcFace cross-entropy (margin at ``target``), no mixup."""
        return F.cross_entropy(self.logits(wave, target), target)

    def anomaly_score(self, wave: Tensor, class_index: Tensor | None) -> Tensor:
        """Per-clip score (batch,): cross-entropy of the margin-applied logits at the clip's class (the peer's test score)."""
        return anomaly_score(self.arcface, self(wave), _need_class(class_index, "STgram-MFN"))


def _need_class(class_index: Tensor | None, name: str) -> Tensor:
    if class_index is None:
        raise ValueError(f"{name} scores a clip at its machine-ID class: pass class_index "
                         "(one class per clip), not None")
    return class_index
