"""IDNN (Suefusa et al., ICASSP 2020): an interpolation DNN that predicts the centre log-Mel frame of a 5-frame window from the other four.

One model per machine type; the anomaly score of a clip is its mean interpolation error (mean
squared error of the predicted centre frame, averaged over the clip's windows). The paper
reports about 46 k parameters (the proposed paper's Table 2 quotes "46 k").

What is chosen here, and why: no public code of IDNN was found, so the layer sizes are
inferred. Fully connected layers 4 x 128 -> 64 -> 32 -> 16 -> 32 -> 64 -> 128 with ReLU after
each hidden layer and a linear output give exactly 46,416 parameters, the "46 k" of the paper,
with the log-Mel of the DCASE 2020 baseline (128 bins, the same Hitachi feature code); 64 Mel
bins would give 25,872. No BatchNorm (not mentioned in the paper); Keras' Dense initialisation
(Glorot-uniform, zero biases) and the baseline's log-Mel front end (``"dcase2020"``), the same
choices as for ``DCASEAutoencoder``. Explained in notebook 07_peers.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from asdlib.nets.layers import float32_region
from asdlib.data.dcase import SAMPLE_RATE
from asdlib.nets.features import N_MELS
from asdlib.nets.peers.dcase_ae import WindowRegression, keras_dense_init
from asdlib.nets.peers.logmel import PeerLogMel, frame_windows

FRAMES = 5
HIDDEN = (64, 32, 16, 32, 64)


class IDNN(WindowRegression):
    """Interpolation DNN: the 4 outer frames of a 5-frame log-Mel window -> the centre frame. Notebook 07.

    ``forward(wave)`` gives ``(prediction, centre)``, each (batch, windows, n_mels); the class
    index of ``anomaly_score`` is ignored (one model per machine type).
    """

    def __init__(self, n_mels: int = N_MELS, frames: int = FRAMES, hidden: tuple[int, ...] = HIDDEN,
                 sample_rate: int = SAMPLE_RATE, logmel: str = "dcase2020"):
        super().__init__()
        if frames % 2 != 1 or frames < 3:
            raise ValueError(f"IDNN frames={frames}: needs an odd number >= 3 (a centre frame)")
        self.frames, self.n_mels = frames, n_mels
        self.logmel = PeerLogMel(logmel, sample_rate, n_mels)
        layers, width = [], n_mels * (frames - 1)
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, n_mels))
        self.net = nn.Sequential(*layers)
        keras_dense_init(self)

    def split(self, wave: Tensor) -> tuple[Tensor, Tensor]:
        """(context, centre): the outer frames (batch, windows, (frames - 1) * n_mels) and the centre frame (batch, windows, n_mels)."""
        with float32_region(wave.device):
            w = frame_windows(self.logmel(wave.float()), self.frames)
        w = w.reshape(*w.shape[:2], self.frames, self.n_mels)
        c = self.frames // 2
        context = torch.cat([w[:, :, :c], w[:, :, c + 1:]], dim=2).flatten(2)
        return context, w[:, :, c]

    def window_pairs(self, windows: Tensor) -> tuple[Tensor, Tensor]:
        """(context, centre) of a batch of windows (batch, frames, n_mels): the outer frames and the centre frame."""
        c = self.frames // 2
        return torch.cat([windows[:, :c], windows[:, c + 1:]], dim=1).flatten(1), windows[:, c]

    def forward(self, wave: Tensor) -> tuple[Tensor, Tensor]:
        """(batch, samples) -> (predicted centre frames, true centre frames), each (batch, windows, n_mels)."""
        context, centre = self.split(wave)
        return self.net(context), centre

