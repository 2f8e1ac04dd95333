"""The proposed network (Wavegram + log-Mel -> attention -> MobileFaceNet -> ArcFace) and its variants.

One ``ModelConfig`` covers every configuration of Tables 3 and 4. Explained in notebook 03_training
(architecture) and 05_ablation (variants).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
from torch import Tensor, nn

from asdlib.data.dcase import NUM_CLASSES, SAMPLE_RATE
from asdlib.nets.features import HOP, N_MELS, LogMel, Wavegram, num_frames
from asdlib.nets.layers import SeparableConv2d, float32_region
from asdlib.nets.loss import ArcFace
from asdlib.nets.mobilefacenet import MobileFaceNet
from asdlib.nets.peers.build import build_peer, peer_parameter_counts
from asdlib.validate import check_number, check_whole

FEATURE_SETS = ("mel", "wave", "mel+wave")
ATTENTION_ACTIVATIONS = ("faithful", "fixed")
#: The networks the engine trains: the proposed model and the four peers of ``asdlib.nets.peers``
#: (``asdlib.nets.methods`` builds them; notebook 07).
MODEL_KINDS = ("proposed", "stgram_mfn", "tastgram_mfn", "idnn", "dcase_ae")
#: Peer front ends: ``own`` (each peer's own log-Mel, ``asdlib.nets.peers.logmel``) or ``asdlib`` (ours).
PEER_LOGMELS = ("own", "asdlib")


@dataclass(frozen=True)
class ModelConfig:
    """Every architectural choice of the paper's Tables 3 and 4; defaults are the proposed model. Notebook 05.

    - ``features``: ``mel``, ``wave`` or ``mel+wave`` (channels stacked in that order)
    - ``embedding_dim``: h, the ArcFace dimension (64, 128, 256)
    - ``separable``: separable convolutions in the Wavegram and attention (else ordinary ones)
    - ``attention``: use the attention module f_ATT
    - ``attention_activation``: ``faithful`` (the authors' BN -> ReLU before the sigmoid, so
      every attention value is >= 0.5) or ``fixed`` (no ReLU: values in (0, 1))
    - ``clip_seconds``: input length; the global depthwise kernel follows it
    - ``kind``: ``proposed`` (this network) or a peer of notebook 07 (``MODEL_KINDS``); a peer
      uses ``num_classes``, ``arcface_s``/``arcface_m`` (where it has ArcFace), ``clip_seconds``,
      ``sample_rate``, ``mfn_setting`` (STgram-MFN's MobileFaceNet: ``published`` or ``later``)
      and ``peer_logmel`` (``own`` or ``asdlib``), and ignores the settings above
    - ``whole_clips``: the window models read every clip whole (ToyCar 11 s), as the DCASE baseline
    """

    features: str = "mel+wave"
    embedding_dim: int = 128
    separable: bool = True
    attention: bool = True
    attention_activation: str = "faithful"
    num_classes: int = NUM_CLASSES
    arcface_s: float = 40.0
    arcface_m: float = 0.7
    clip_seconds: float = 10.0
    sample_rate: int = SAMPLE_RATE
    kind: str = "proposed"
    mfn_setting: str = "published"
    peer_logmel: str = "own"
    #: The window models (IDNN, the DCASE autoencoder) only: train on and score every clip whole
    #: (ToyCar's 11 s, as the DCASE baseline) instead of its first ``clip_seconds``.
    whole_clips: bool = False

    def __post_init__(self):
        if self.kind not in MODEL_KINDS:
            raise ValueError(f"model setting kind={self.kind!r}: expected one of {MODEL_KINDS}")
        if self.mfn_setting not in ("published", "later"):
            raise ValueError(f"model setting mfn_setting={self.mfn_setting!r}: expected 'published' "
                             "or 'later' (STgram-MFN's two MobileFaceNet settings)")
        if self.peer_logmel not in PEER_LOGMELS:
            raise ValueError(f"model setting peer_logmel={self.peer_logmel!r}: expected one of {PEER_LOGMELS}")
        if self.features not in FEATURE_SETS:
            raise ValueError(f"model setting features={self.features!r}: expected one of {FEATURE_SETS}")
        if self.attention_activation not in ATTENTION_ACTIVATIONS:
            raise ValueError(f"model setting attention_activation={self.attention_activation!r}: "
                             f"expected one of {ATTENTION_ACTIVATIONS}")
        for key, minimum in (("embedding_dim", 1), ("num_classes", 1), ("sample_rate", 1)):
            check_whole(f"model setting {key}", getattr(self, key), minimum)
        check_number("model setting arcface_s", self.arcface_s, 0.0, low_open=True)
        check_number("model setting arcface_m", self.arcface_m, 0.0, math.pi, high_open=True)
        check_number("model setting clip_seconds", self.clip_seconds, 0.0, low_open=True)
        if self.whole_clips and self.kind not in ("idnn", "dcase_ae"):
            raise ValueError(f"model setting whole_clips=true is for the window models (idnn, dcase_ae), "
                             f"not kind {self.kind!r}")
        for key in ("separable", "attention", "whole_clips"):
            if not isinstance(getattr(self, key), bool):
                raise ValueError(f"model setting {key}={getattr(self, key)!r}: expected true or false")
        if self.clip_seconds * self.sample_rate < 4 * HOP:
            raise ValueError(f"model setting clip_seconds={self.clip_seconds}: too short")

    @property
    def num_samples(self) -> int:
        """Samples per input clip."""
        return int(round(self.clip_seconds * self.sample_rate))

    @property
    def in_channels(self) -> int:
        """Feature channels: 2 for ``mel+wave``, else 1."""
        return 2 if self.features == "mel+wave" else 1

    def to_dict(self) -> dict:
        """Plain dictionary (saved inside checkpoints)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        """Build from a dictionary; unknown keys are an error that names them."""
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model setting(s) {sorted(unknown)}; known: {sorted(known)}")
        return cls(**d)


def build_attention(channels: int, separable: bool = True, activation: str = "faithful") -> nn.Sequential:
    """Attention module f_ATT: two 3x3 blocks (16, 64 filters) then a 1x1 projection and a sigmoid. Notebook 06.

    Indices follow the authors' ``heatmap`` Sequential: 0 conv, 1 BN, 2 ELU, 3 conv, 4 BN, 5 ELU,
    6 conv, 7 Sigmoid. With separable layers, layer 6 ends in BN -> ReLU (``faithful``), so the
    sigmoid sees only values >= 0; ``fixed`` drops that ReLU.
    """
    if separable:
        conv = lambda i, o, k, bias, act=True: SeparableConv2d(  # noqa: E731
            i, o, k, padding="same", bias=bias, pw_activation=act)
    else:
        conv = lambda i, o, k, bias, act=True: nn.Conv2d(i, o, k, padding="same", bias=bias)  # noqa: E731
    return nn.Sequential(
        conv(channels, 16, 3, False), nn.BatchNorm2d(16), nn.ELU(),
        conv(16, 64, 3, False), nn.BatchNorm2d(64), nn.ELU(),
        conv(64, channels, 1, True, activation == "faithful"), nn.Sigmoid(),
    )


class ASDNet(nn.Module):
    """The proposed anomalous-sound detector: features, attention, MobileFaceNet and ArcFace head. Notebook 03.

    ``forward(wave)`` gives the embedding h; ``logits(wave, target)`` the margin-applied ArcFace
    logits; ``maps(wave)`` the features, the attention map and the weighted features.
    """

    def __init__(self, config: ModelConfig | None = None, **overrides):
        super().__init__()
        if config is None:
            config = ModelConfig(**overrides)
        elif overrides:
            config = ModelConfig.from_dict({**config.to_dict(), **overrides})
        self.config = config
        self.logmel = LogMel(sample_rate=config.sample_rate) if "mel" in config.features else None
        self.wavegram = Wavegram(separable=config.separable) if "wave" in config.features else None
        self.attention = (build_attention(config.in_channels, config.separable,
                                          config.attention_activation)
                          if config.attention else None)
        self.classifier = MobileFaceNet(config.in_channels, config.embedding_dim, config.num_classes,
                                        input_hw=(N_MELS, num_frames(config.num_samples)))
        self.arcface = ArcFace(config.embedding_dim, config.num_classes, config.arcface_s,
                               config.arcface_m)

    def features(self, wave: Tensor) -> Tensor:
        """Stacked features X, (batch, channels, 128, frames): log-Mel first, then Wavegram."""
        parts = []
        # Features are always computed in float32, also under mixed precision.
        with float32_region(wave.device):
            wave = wave.float()
            if self.logmel is not None:
                parts.append(self.logmel(wave))
            if self.wavegram is not None:
                parts.append(self.wavegram(wave))
            return torch.stack(parts, dim=1)

    def maps(self, wave: Tensor) -> dict[str, Tensor]:
        """Features X, attention map H (ones when attention is off) and weighted features H * X."""
        x = self.features(wave)
        h = self.attention(x) if self.attention is not None else torch.ones_like(x)
        return {"features": x, "attention": h, "weighted": h * x}

    def forward(self, wave: Tensor) -> Tensor:
        """(batch, samples) waveform -> (batch, h) embedding."""
        x = self.features(wave)
        if self.attention is not None:
            x = self.attention(x) * x
        return self.classifier(x)

    def logits(self, wave: Tensor, target: Tensor) -> Tensor:
        """Margin-applied ArcFace logits at ``target`` (class indices or a mask matrix)."""
        return self.arcface(self(wave), target)


def build_model(config: ModelConfig | dict | None = None, **overrides) -> nn.Module:
    """Build the network for a configuration (``ModelConfig``, a dict, or keyword overrides): an ``ASDNet``, or a peer for ``kind != "proposed"``. Notebook 03."""
    if isinstance(config, dict):
        config = ModelConfig.from_dict(config)
    kind = (overrides.get("kind") or (config.kind if config is not None else "proposed"))
    if kind != "proposed":
        config = ModelConfig.from_dict({**(config or ModelConfig()).to_dict(), **overrides})
        return build_peer(config)
    return ASDNet(config, **overrides)


def paper_length_network(model_config: ModelConfig) -> nn.Module:
    """The network of a model configuration built for 10-s clips, as the paper's tables count it (any clip length configured). Notebook 05."""
    return build_model(ModelConfig.from_dict({**model_config.to_dict(), "clip_seconds": 10.0}))


def parameter_counts(model: nn.Module) -> dict[str, int]:
    """Learnable parameters per part (wavegram, attention, classifier incl. fc_out, arcface) and total. Notebook 03.

    For a peer (notebook 07), ``asdlib.nets.methods.peer_parameter_counts``: its parts, and for the
    per-machine-type peers the count of one model (``total``) beside all of them (``all_models``).
    """
    if not isinstance(model, ASDNet):
        return peer_parameter_counts(model)

    def count(m):
        return sum(p.numel() for p in m.parameters()) if m is not None else 0

    parts = {
        "wavegram": count(model.wavegram),
        "attention": count(model.attention),
        "classifier": count(model.classifier),
        "arcface": count(model.arcface),
    }
    parts["total"] = count(model)
    return parts
