"""The peers in the engine: building them from a run configuration, their training step, validation and what each method's own code does.

The trainer (``asdlib.train``), the scoring (``asdlib.evaluate``) and the reproduction treat
every network the same way; what differs between methods lives here:

- ``build_peer``: a ``ModelConfig`` with ``kind`` = ``stgram_mfn``, ``tastgram_mfn``, ``idnn``
  or ``dcase_ae`` -> the network of ``asdlib.peers``. IDNN and the DCASE autoencoder are one
  model per machine type: ``PerMachineType`` holds the six and sends every clip to the model of
  its type, so a whole method is one run, one checkpoint, one scoring, as for the others.
- ``step_output``: one training step's output under the trainer's mixup draw (logits, or the
  loss itself for the reconstruction models).
- ``validation_loss``: the loss the validation-selection protocol minimises, per method.
- ``PEERS``: each peer's name in the paper's tables, what its own code selects and scores with.

Choices made here and kept the same for every method: the same data store, the same 5 %
validation hold-out, the same three selection protocols and both metric protocols; mixup draws
(``lam`` and partner) come from the trainer's seeded generators. Explained in notebook 07_peers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .dcase import ALL_MACHINES, MACHINE_TYPES, NUM_CLASSES
from .model import ModelConfig

#: Peers that are one model per machine type (scored by reconstruction error, no classes).
PER_TYPE_KINDS = ("idnn", "dcase_ae")


@dataclass(frozen=True)
class PeerInfo:
    """What one peer is and what its own code does (for tables and notebook 07)."""

    label: str          # our row label
    quoted_as: str      # its method name in the paper's Tables 1 and 2 (asdlib.paper_numbers)
    own_selection: str  # which checkpoint its own code keeps
    own_protocol: str   # our selection protocol closest to it
    own_metric: str     # the metric its own code reports
    source: str


PEERS: dict[str, PeerInfo] = {
    "stgram_mfn": PeerInfo(
        "STgram-MFN", "STgram-MFN",
        "best official (per-ID mean) AUC + pAUC on the test set, checked every epoch",
        "paper", "official per-ID mean", "liuyoude/STgram-MFN trainer.py (Liu et al., ICASSP 2022)"),
    "tastgram_mfn": PeerInfo(
        "TASTgram-MFN (Noisy-ArcMix)", "Noisy-ArcMix",
        "lowest validation loss on a 5 % hold-out", "validation", "official per-ID mean",
        "soonhyeon/Noisy-ArcMix (Choi & Choi, ICASSP 2024)"),
    "idnn": PeerInfo(
        "IDNN", "IDNN", "not published (no public code); last epoch assumed", "last",
        "official per-ID mean", "Suefusa et al., ICASSP 2020"),
    "dcase_ae": PeerInfo(
        "DCASE 2020 baseline AE", "",
        "last epoch (100 epochs, no selection)", "last", "official per-ID mean",
        "y-kawagu/dcase2020_task2_baseline (Koizumi et al., DCASE 2020)"),
}


def type_of_class(label_map: str = "distinct") -> list[str]:
    """The machine type of every class index under a label map (``distinct`` only: the paper map merges two types in class 13). Notebook 07."""
    if label_map != "distinct":
        raise ValueError(f"the per-machine-type peers need data.label_map = 'distinct' (one type per "
                         f"class), not {label_map!r}: under the paper map class 13 is both pump id_06 "
                         "and slider id_00")
    return [mt for mt, _ in ALL_MACHINES]


class PerMachineType(nn.Module):
    """One reconstruction model per machine type (IDNN, the DCASE autoencoder), routed by each clip's class. Notebook 07.

    ``models[t]`` is the model of type ``t``; a clip of class ``c`` (distinct label map) goes to
    the model of ``type_of_class()[c]``. Training sums each type's loss weighted by its share of
    the batch; a model whose type is absent from a batch gets no gradient, and Adam/AdamW skip
    parameters without gradient, so each model trains as it would alone on its own clips.
    """

    def __init__(self, make, machine_types=MACHINE_TYPES):
        super().__init__()
        self.models = nn.ModuleDict({t: make() for t in machine_types})
        types = type_of_class("distinct")
        self.register_buffer("class_type", torch.tensor(
            [list(self.models).index(t) if t in self.models else -1 for t in types]),
            persistent=False)

    def _groups(self, class_index: Tensor):
        if class_index is None:
            raise ValueError("per-machine-type models need each clip's class (class_index) to pick "
                             "the model of its machine type")
        which = self.class_type.to(class_index.device)[class_index.long()]
        if (which < 0).any():
            raise ValueError("a clip's class belongs to a machine type without a model here")
        names = list(self.models)
        for k in which.unique().tolist():
            yield names[k], (which == k).nonzero(as_tuple=True)[0]

    def forward(self, wave: Tensor) -> Tensor:
        """Not defined for a mixture of types: use ``training_loss`` or ``anomaly_score`` with the class."""
        raise TypeError("PerMachineType needs each clip's class: call training_loss(wave, class_index) "
                        "or anomaly_score(wave, class_index)")

    def training_loss(self, wave: Tensor, class_index: Tensor) -> Tensor:
        """Mean over the batch's clips of each clip's model loss (each type's MSE weighted by its clips)."""
        total = wave.new_zeros(())
        for name, idx in self._groups(class_index):
            total = total + self.models[name].training_loss(wave[idx]) * (len(idx) / len(wave))
        return total

    def anomaly_score(self, wave: Tensor, class_index: Tensor) -> Tensor:
        """Per-clip score (batch,): each clip's reconstruction error under the model of its type."""
        out = wave.new_empty(len(wave), dtype=torch.float32)
        for name, idx in self._groups(class_index):
            out[idx] = self.models[name].anomaly_score(wave[idx]).float()
        return out


def build_peer(config: ModelConfig) -> nn.Module:
    """The peer network of a model configuration (``kind`` != ``proposed``), with ``.config`` set. Notebook 07."""
    from .peers import IDNN, DCASEAutoencoder, STgramMFN, TASTgramMFN

    own = config.peer_logmel == "own"
    common = dict(clip_seconds=config.clip_seconds, sample_rate=config.sample_rate)
    if config.kind == "stgram_mfn":
        net = STgramMFN(config.mfn_setting, num_classes=config.num_classes, s=config.arcface_s,
                        m=config.arcface_m, logmel="stgram" if own else "asdlib", **common)
    elif config.kind == "tastgram_mfn":
        net = TASTgramMFN(num_classes=config.num_classes, s=config.arcface_s, m=config.arcface_m,
                          logmel="noisy_arcmix" if own else "asdlib", **common)
    elif config.kind in PER_TYPE_KINDS:
        if config.num_classes != NUM_CLASSES:
            raise ValueError(f"model setting num_classes={config.num_classes}: the per-machine-type "
                             f"peers route by the {NUM_CLASSES} distinct classes")
        cls = IDNN if config.kind == "idnn" else DCASEAutoencoder
        style = "dcase2020" if own else "asdlib"
        net = PerMachineType(lambda: cls(sample_rate=config.sample_rate, logmel=style))
    else:
        raise ValueError(f"model kind {config.kind!r} is not a peer")
    net.config = config
    return net


def check_label_map(config: ModelConfig, label_map: str) -> None:
    """Refuse a label map a method cannot train with (the per-type peers need ``distinct``). Notebook 07."""
    if config.kind in PER_TYPE_KINDS:
        type_of_class(label_map)


def has_classes(net: nn.Module) -> bool:
    """Whether a network classifies machine IDs (an ArcFace head): the proposed model, STgram-MFN, TASTgram-MFN. Notebook 07."""
    return hasattr(net, "arcface")


def step_output(net: nn.Module, wave: Tensor, target: Tensor, perm: Tensor, lam: float) -> Tensor:
    """One training step's output: margin logits on the mixed batch (batch, classes), or the loss itself (a 0-d tensor). Notebook 07.

    ``lam`` and ``perm`` are the trainer's mixup draw (``lam = 1``: no mixing). The proposed
    model and STgram-MFN mix the waveforms; TASTgram-MFN (Noisy-ArcMix) mixes the waveform and
    its log-Mel with the same ``lam`` and partner; the reconstruction models ignore the draw.
    """
    if isinstance(net, PerMachineType):
        return net.training_loss(wave, target)
    from .peers import TASTgramMFN

    if lam == 1.0:  # no mixing (alpha 0): the blend would be the batch itself
        return net.logits(wave, target)
    mixed = lam * wave + (1.0 - lam) * wave[perm]
    if isinstance(net, TASTgramMFN):
        mel = net.log_mel(wave)
        return net.logits(mixed, target, lam * mel + (1.0 - lam) * mel[perm])
    return net.logits(mixed, target)


@torch.no_grad()
def validation_batch(net: nn.Module, wave: Tensor, target: Tensor) -> tuple[float, int | None]:
    """(summed validation loss, correct machine-ID predictions or None) of one batch. Notebook 07.

    Classifiers: the unmixed ArcFace cross-entropy and arg-max cosine accuracy; reconstruction
    models: their training loss (mean squared error) and no accuracy.
    """
    if not has_classes(net):
        return float(net.training_loss(wave, target)) * len(target), None
    emb = net(wave).float()
    loss = F.cross_entropy(net.arcface(emb, target), target, reduction="sum").item()
    return loss, int((net.arcface.cosine(emb).argmax(1) == target).sum())


def peer_parameter_counts(net: nn.Module) -> dict[str, int]:
    """Learnable parameters of a peer per top-level part and ``total``; per-type peers count one model, with ``all_models`` and ``models``. Notebook 07."""
    def count(m):
        return sum(p.numel() for p in m.parameters())

    if isinstance(net, PerMachineType):
        one = next(iter(net.models.values()))
        return {**{name: count(m) for name, m in one.named_children() if count(m)},
                "total": count(one), "all_models": count(net), "models": len(net.models)}
    return {**{name: count(m) for name, m in net.named_children() if count(m)}, "total": count(net)}


__all__ = ["PEERS", "PER_TYPE_KINDS", "PeerInfo", "PerMachineType", "build_peer", "check_label_map",
           "has_classes", "peer_parameter_counts", "step_output", "type_of_class",
           "validation_batch"]
