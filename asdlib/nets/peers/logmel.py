"""The log-Mel front end of each peer, as its own code computes it, and the 5-frame windows of the DCASE autoencoder and IDNN.

Every peer computes its log-Mel slightly differently (filterbank normalisation, Mel scale, FFT
size, padding, the floor under the logarithm). ``PeerLogMel`` is ``asdlib.nets.features.LogMel`` with
one peer's settings swapped in; ``style="asdlib"`` is the proposed model's log-Mel unchanged, for
runs that want one front end for every method. Explained in notebook 07_peers.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import torch
import torchaudio
from torch import Tensor

from asdlib.data.dcase import SAMPLE_RATE
from asdlib.nets.features import HOP, N_MELS, LogMel


@dataclass(frozen=True)
class LogMelStyle:
    """One peer's log-Mel settings (torchaudio ``MelSpectrogram`` arguments and the dB rule). Notebook 07."""

    n_fft: int
    norm: str | None
    mel_scale: str
    pad_mode: str
    floor: float
    clamp: bool  # True: 10 log10(max(x, floor)); False: 10 log10(x + floor)
    source: str


#: The log-Mel of each peer's code (all 16 kHz, hop 512, 128 Mel bins, power 2, centred frames).
LOGMEL_STYLES: dict[str, LogMelStyle] = {
    # asdlib.nets.features.LogMel: the proposed model's (the authors') front end.
    "asdlib": LogMelStyle(1024, "slaney", "htk", "reflect", 1e-8, False,
                          "asdlib.nets.features.LogMel (the authors' transform_tf)"),
    # STgram-MFN utils.Wave2Mel: torchaudio defaults (no filter normalisation, HTK scale) and
    # AmplitudeToDB(stype="power"), i.e. 10 log10(max(x, 1e-10)) with top_db None.
    "stgram": LogMelStyle(1024, None, "htk", "reflect", 1e-10, True,
                          "liuyoude/STgram-MFN utils.Wave2Mel"),
    # Noisy-ArcMix dataloader.file_to_log_mel_spectrogram: n_fft 2048 (window 2048), Slaney
    # scale and normalisation, constant padding, 20/power log10(x + float eps).
    "noisy_arcmix": LogMelStyle(2048, "slaney", "slaney", "constant", sys.float_info.epsilon,
                                False, "soonhyeon/Noisy-ArcMix dataloader.py"),
    # DCASE 2020 baseline common.file_to_vector_array: librosa 0.6 melspectrogram (Slaney scale
    # and area normalisation, centred, reflect padding), 20/power log10(x + float eps).
    "dcase2020": LogMelStyle(1024, "slaney", "slaney", "reflect", sys.float_info.epsilon, False,
                             "y-kawagu/dcase2020_task2_baseline common.py (librosa 0.6)"),
}


class PeerLogMel(LogMel):
    """``asdlib.nets.features.LogMel`` with one peer's filterbank, FFT size, padding and dB floor. Notebook 07.

    ``style`` is a key of ``LOGMEL_STYLES``. The torchaudio transform stays at ``self.mel``, so
    its window and filterbank buffers sit in the state_dict as in ``LogMel``.
    """

    def __init__(self, style: str = "asdlib", sample_rate: int = SAMPLE_RATE, n_mels: int = N_MELS):
        if style not in LOGMEL_STYLES:
            raise ValueError(f"log-Mel style {style!r}: expected one of {sorted(LOGMEL_STYLES)}")
        st = LOGMEL_STYLES[style]
        super().__init__(sample_rate=sample_rate, n_fft=st.n_fft, hop_length=HOP, n_mels=n_mels)
        self.style, self.floor, self.clamp = style, st.floor, st.clamp
        if style != "asdlib":
            self.mel = torchaudio.transforms.MelSpectrogram(
                sample_rate=sample_rate, n_fft=st.n_fft, win_length=st.n_fft, hop_length=HOP,
                center=True, pad_mode=st.pad_mode, power=2.0, norm=st.norm, n_mels=n_mels,
                mel_scale=st.mel_scale,
            )

    def forward(self, wave: Tensor) -> Tensor:
        """(batch, samples) -> (batch, n_mels, frames) in dB, by the style's rule."""
        x = self.mel(wave)
        x = x.clamp_min(self.floor) if self.clamp else x + self.floor
        return 10.0 * torch.log10(x)


def frame_windows(logmel: Tensor, frames: int = 5) -> Tensor:
    """Stack ``frames`` consecutive log-Mel frames: (batch, n_mels, T) -> (batch, T - frames + 1, frames * n_mels). Notebook 07.

    Frame-major like the DCASE baseline's vectors: elements ``[t * n_mels, (t + 1) * n_mels)`` of
    window ``w`` are frame ``w + t``.
    """
    if logmel.shape[-1] < frames:
        raise ValueError(f"{logmel.shape[-1]} log-Mel frames: need at least {frames} for one window")
    w = logmel.unfold(-1, frames, 1)  # (batch, n_mels, windows, frames)
    return w.permute(0, 2, 3, 1).reshape(logmel.shape[0], w.shape[2], frames * logmel.shape[1])
