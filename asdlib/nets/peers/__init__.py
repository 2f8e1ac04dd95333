"""The peers of Tables 1 and 2, re-implemented from their public code and papers (issue 8), each taking a (batch, samples) 16 kHz waveform.

- ``stgram.STgramMFN``: STgram-MFN (Liu et al., ICASSP 2022), log-Mel + TgramNet ->
  MobileFaceNet -> ArcFace, in both MobileFaceNet settings of its history (``"published"``
  1,350,335 parameters, ``"later"`` 1,161,279, with 41 classes at 10 s).
- ``tastgram.TASTgramMFN``: TASTgram-MFN trained with Noisy-ArcMix (Choi & Choi, ICASSP 2024),
  Tgram + log-Mel + temporal-attention gram -> MobileFaceNet -> ArcFace (1,161,855).
- ``idnn.IDNN``: the interpolation DNN (Suefusa et al., ICASSP 2020), one model per machine
  type (46,416).
- ``dcase_ae.DCASEAutoencoder``: the DCASE 2020 Task 2 baseline autoencoder, one model per
  machine type (267,928).
- ``logmel``: each peer's own log-Mel front end and the 5-frame windows;
  ``stgram_weights``: STgram-MFN's released weights (Zenodo record 7194640) through a key map.

Every model has ``training_loss(wave, target)`` (the loss its method trains with) and
``anomaly_score(wave, class_index_or_None)`` (the per-clip score its method defines).
Explained in notebook 07_peers.
"""

from asdlib.nets.peers.dcase_ae import DCASEAutoencoder
from asdlib.nets.peers.idnn import IDNN
from asdlib.nets.peers.logmel import LOGMEL_STYLES, PeerLogMel, frame_windows
from asdlib.nets.peers.stgram import MFN_SETTINGS, STgramMFN, TgramNet
from asdlib.nets.peers.tastgram import TASTgramMFN, TemporalAttentionGram

__all__ = [
    "DCASEAutoencoder", "IDNN", "LOGMEL_STYLES", "MFN_SETTINGS", "PeerLogMel", "STgramMFN",
    "TASTgramMFN", "TemporalAttentionGram", "TgramNet", "frame_windows",
]
