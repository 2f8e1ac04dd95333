"""TASTgram-MFN with the Noisy-ArcMix loss (Choi & Choi, ICASSP 2024): Tgram, log-Mel and a temporal-attention gram into MobileFaceNet.

Re-implemented from the facts of ``soonhyeon/Noisy-ArcMix`` (MIT; ``model/net.py``,
``losses.py``, ``utils.py``, ``trainer.py``, ``dataloader.py``, ``config.yaml``): the STgram-MFN
TgramNet, the log-Mel and the parameter-free temporal attention gram (per frame
``sigmoid(max_f + mean_f)`` over the frequency axis, times the log-Mel) stacked as 3 channels in
that order (Tgram, log-Mel, attention gram) into MobileFaceNet with the DCASE 2022 bottleneck
setting; ArcFace s = 30, m = 0.7; AdamW lr 1e-4, batch 64, 300 epochs, a 95/5 split and the
checkpoint of lowest validation loss. 1,161,855 parameters with 41 classes at 10 s.

Noisy-ArcMix against the proposed model's loss (``asdlib.nets.loss.noisy_arcmix_loss``, the same
formula, ``lam * CE(y_a) + (1 - lam) * CE(y_b)`` with the margin at ``y_a`` only):
``lam ~ Beta(0.5, 0.5)`` instead of Beta(0.2, 0.2), and the peer mixes the waveform **and** the
log-Mel (in dB) of the two clips with the same ``lam`` and permutation; the log-Mel of the mixed
waveform is not recomputed. The peer trains under CUDA autocast (float16); here precision is
the trainer's choice. Explained in notebook 07_peers.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from asdlib.nets.layers import float32_region
from asdlib.data.dcase import NUM_CLASSES, SAMPLE_RATE
from asdlib.nets.features import N_MELS, num_frames
from asdlib.nets.loss import ArcFace, anomaly_score, mixup, noisy_arcmix_loss
from asdlib.nets.mobilefacenet import BOTTLENECK_SETTINGS, MobileFaceNet
from asdlib.nets.peers.logmel import PeerLogMel
from asdlib.nets.peers.stgram import TgramNet, _need_class, clip_samples

NOISY_ARCMIX_ALPHA = 0.5


class TemporalAttentionGram(nn.Module):
    """Parameter-free temporal attention: weight each frame by ``sigmoid(max over frequency + mean over frequency)``. Notebook 07."""

    def forward(self, logmel: Tensor) -> Tensor:
        """(batch, n_mels, frames) -> the log-Mel weighted per frame, same shape."""
        w = torch.sigmoid(logmel.amax(dim=1, keepdim=True) + logmel.mean(dim=1, keepdim=True))
        return w * logmel


class TASTgramMFN(nn.Module):
    """TASTgram-MFN: [Tgram, log-Mel, temporal-attention gram] -> MobileFaceNet -> ArcFace (s 30, m 0.7). Notebook 07.

    ``logmel`` picks the front end: ``"noisy_arcmix"`` (default, the peer's: n_fft 2048, Slaney
    scale) or ``"asdlib"``. ``forward(wave, mel=None)`` gives the embedding; pass ``mel`` to use
    a given (e.g. mixed) log-Mel instead of computing it from ``wave``. ``training_loss`` is
    Noisy-ArcMix with the peer's mixup (alpha 0.5, waveform and log-Mel mixed alike).
    """

    def __init__(self, num_classes: int = NUM_CLASSES, clip_seconds: float = 10.0,
                 sample_rate: int = SAMPLE_RATE, s: float = 30.0, m: float = 0.7,
                 alpha: float = NOISY_ARCMIX_ALPHA, logmel: str = "noisy_arcmix"):
        super().__init__()
        self.alpha = alpha
        self.num_samples = clip_samples(clip_seconds, sample_rate)
        frames = num_frames(self.num_samples)
        self.logmel = PeerLogMel(logmel, sample_rate)
        self.tgram = TgramNet(frames)
        self.temporal_attention = TemporalAttentionGram()
        self.classifier = MobileFaceNet(3, 128, num_classes, input_hw=(N_MELS, frames),
                                        bottleneck_setting=BOTTLENECK_SETTINGS)
        self.arcface = ArcFace(128, num_classes, s, m)

    def log_mel(self, wave: Tensor) -> Tensor:
        """The log-Mel of ``wave`` in float32, (batch, 128, frames)."""
        with float32_region(wave.device):
            return self.logmel(wave.float())

    def features(self, wave: Tensor, mel: Tensor | None = None) -> Tensor:
        """Stacked features (batch, 3, 128, frames): Tgram, log-Mel, attention gram (the peer's order)."""
        mel = self.log_mel(wave) if mel is None else mel
        with float32_region(wave.device):
            tgram = self.tgram(wave.float())
            return torch.stack([tgram, mel.float(), self.temporal_attention(mel.float())], dim=1)

    def forward(self, wave: Tensor, mel: Tensor | None = None) -> Tensor:
        """(batch, samples) -> (batch, 128) embedding."""
        return self.classifier(self.features(wave, mel))

    def logits(self, wave: Tensor, target: Tensor, mel: Tensor | None = None) -> Tensor:
        """Margin-applied ArcFace logits at ``target``, (batch, classes)."""
        return self.arcface(self(wave, mel), target)

    def mix(self, wave: Tensor, target: Tensor, rng: np.random.Generator | None = None,
            generator: torch.Generator | None = None):
        """The peer's mixup: one ``lam ~ Beta(alpha, alpha)`` and permutation for the waveform and its log-Mel alike.

        Returns ``(mixed_wave, mixed_mel, target_a, target_b, lam)``. Built on
        ``asdlib.nets.loss.mixup`` applied to the waveform and log-Mel packed side by side, so both
        get the same ``lam`` and partner.
        """
        mel = self.log_mel(wave)
        packed = torch.cat([wave.float(), mel.flatten(1)], dim=1)
        mixed, target_a, target_b, lam = mixup(packed, target, self.alpha, rng=rng, generator=generator)
        n = wave.shape[1]
        return mixed[:, :n], mixed[:, n:].reshape(mel.shape), target_a, target_b, lam

    def training_loss(self, wave: Tensor, target: Tensor, rng: np.random.Generator | None = None,
                      generator: torch.Generator | None = None, lam: float | None = None) -> Tensor:
        """Noisy-ArcMix on a mixed batch: ``lam * CE(y_a) + (1 - lam) * CE(y_b)``, margin at ``y_a``.

        ``lam`` fixes the mixing weight instead of drawing it (``lam = 1``: no mixing, the plain
        ArcFace cross-entropy).
        """
        if lam is None:
            mixed_wave, mixed_mel, y_a, y_b, lam = self.mix(wave, target, rng, generator)
        else:
            mel = self.log_mel(wave)
            perm = torch.randperm(wave.shape[0], generator=generator).to(wave.device)
            mixed_wave = lam * wave + (1.0 - lam) * wave[perm]
            mixed_mel = lam * mel + (1.0 - lam) * mel[perm]
            y_a, y_b = target, target[perm]
        loss, _ = noisy_arcmix_loss(self.arcface, self(mixed_wave, mixed_mel), y_a, y_b, lam)
        return loss

    def anomaly_score(self, wave: Tensor, class_index: Tensor | None) -> Tensor:
        """Per-clip score (batch,): cross-entropy of the margin-applied logits at the clip's class (the peer's test score)."""
        return anomaly_score(self.arcface, self(wave), _need_class(class_index, "TASTgram-MFN"))


def arcface_cross_entropy(model: TASTgramMFN, wave: Tensor, target: Tensor) -> Tensor:
    """Plain (unmixed) ArcFace cross-entropy of a TASTgram-MFN, the peer's validation loss. Notebook 07."""
    return F.cross_entropy(model.logits(wave, target), target)
