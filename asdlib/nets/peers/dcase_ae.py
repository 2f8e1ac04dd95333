"""The DCASE 2020 Task 2 baseline: a dense autoencoder on 5 stacked log-Mel frames, one model per machine type.

Re-implemented from the facts of ``y-kawagu/dcase2020_task2_baseline`` (MIT; ``keras_model.py``,
``common.py``, ``01_test.py``, ``baseline.yaml``): input 5 frames x 128 Mel bins = 640, Dense
layers 128, 128, 128, 128, 8, 128, 128, 128, 128, each followed by BatchNormalization and ReLU,
then a linear Dense back to 640; trained with MSE, Adam, 100 epochs, batch 512 windows, the last
10 % as validation. The anomaly score of a clip is the mean over its frame windows of the
window's mean squared reconstruction error. 267,928 trainable parameters (Keras counts 269,992
with the BatchNorm moving statistics, which are buffers here).

Choices where the code is silent or cannot carry over: the stored early ``baseline.yaml``
versions say 64 Mel bins, but the 640-dimensional input and the 267,928 count are those of 128
bins, which is used here; Keras' defaults are kept where PyTorch differs (Glorot-uniform
weights, zero biases, BatchNorm momentum 0.99, i.e. PyTorch ``momentum=0.01``, epsilon 1e-3).
The baseline shuffles the windows of all clips of one machine type into batches of 512: the
engine does the same with ``train.batch_unit = "windows"`` (``window_loss`` on a batch of
windows); with clip batches every window of the batch's clips counts once. Explained in
notebook 07_peers.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from asdlib.nets.layers import float32_region
from asdlib.data.dcase import SAMPLE_RATE
from asdlib.nets.features import N_MELS
from asdlib.nets.peers.logmel import PeerLogMel, frame_windows

FRAMES = 5
HIDDEN = (128, 128, 128, 128, 8, 128, 128, 128, 128)


def keras_dense_init(module: nn.Module) -> None:
    """Keras' Dense defaults on every ``nn.Linear`` of ``module``: Glorot-uniform weights, zero biases. Notebook 07."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)


class WindowRegression(nn.Module):
    """Base of the per-machine-type regressors: ``forward(wave)`` gives (prediction, target) per window; MSE loss and score. Notebook 07."""

    def training_loss(self, wave: Tensor, target: Tensor | None = None) -> Tensor:
        """Mean squared error over every window of the batch (``target``, the class, is unused)."""
        y, x = self(wave)
        return F.mse_loss(y, x)

    def anomaly_score(self, wave: Tensor, class_index: Tensor | None = None) -> Tensor:
        """Per-clip score (batch,): the mean over the clip's windows of each window's mean squared error."""
        y, x = self(wave)
        return (y - x).pow(2).mean(dim=-1).mean(dim=-1)

    def window_pairs(self, windows: Tensor) -> tuple[Tensor, Tensor]:
        """(input, target) of a batch of windows (batch, frames, n_mels); the autoencoder's target is its input."""
        x = windows.flatten(1)
        return x, x

    def window_loss(self, windows: Tensor) -> Tensor:
        """Mean squared error on a batch of windows (batch, frames, n_mels): the baseline's training batch."""
        inputs, targets = self.window_pairs(windows)
        return F.mse_loss(self.net(inputs), targets)


class DCASEAutoencoder(WindowRegression):
    """DCASE 2020 baseline autoencoder: 640 -> 128 x4 -> 8 -> 128 x4 -> 640, BatchNorm + ReLU after each hidden Dense. Notebook 07.

    One model per machine type, so ``anomaly_score`` ignores the class index. ``logmel`` picks
    the front end (``"dcase2020"``, the baseline's librosa log-Mel, or ``"asdlib"``).
    ``forward(wave)`` gives ``(reconstruction, windows)``, each (batch, windows, 640).
    """

    def __init__(self, n_mels: int = N_MELS, frames: int = FRAMES, hidden: tuple[int, ...] = HIDDEN,
                 sample_rate: int = SAMPLE_RATE, logmel: str = "dcase2020"):
        super().__init__()
        self.frames = frames
        self.logmel = PeerLogMel(logmel, sample_rate, n_mels)
        layers, width = [], n_mels * frames
        for h in hidden:
            layers += [nn.Linear(width, h), nn.BatchNorm1d(h, eps=1e-3, momentum=0.01), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, n_mels * frames))
        self.net = nn.Sequential(*layers)
        keras_dense_init(self)

    def windows(self, wave: Tensor) -> Tensor:
        """The 5-frame log-Mel windows of each clip, (batch, windows, frames * n_mels)."""
        with float32_region(wave.device):
            return frame_windows(self.logmel(wave.float()), self.frames)

    def forward(self, wave: Tensor) -> tuple[Tensor, Tensor]:
        """(batch, samples) -> (reconstruction, windows), both (batch, windows, frames * n_mels)."""
        x = self.windows(wave)
        y = self.net(x.reshape(-1, x.shape[-1])).reshape(x.shape)
        return y, x

