"""Building a peer from a model configuration, and the one-model-per-machine-type wrapper of IDNN and the DCASE autoencoder.

``build_peer`` turns a ``ModelConfig`` with ``kind`` = ``stgram_mfn``, ``tastgram_mfn``, ``idnn``
or ``dcase_ae`` into its network (``asdlib.nets.model.build_model`` calls it for every kind but
``proposed``). IDNN and the autoencoder are one model per machine type: ``PerMachineType`` holds
the six and sends every clip to the model of its type, so a whole method is one run, one
checkpoint, one scoring, as for the others. Explained in notebook 07_peers.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from asdlib.data.dcase import ALL_MACHINES, MACHINE_TYPES, NUM_CLASSES
from asdlib.nets.peers.dcase_ae import DCASEAutoencoder
from asdlib.nets.peers.idnn import IDNN
from asdlib.nets.peers.stgram import STgramMFN
from asdlib.nets.peers.tastgram import TASTgramMFN

#: Peers that are one model per machine type (scored by reconstruction error, no classes).
PER_TYPE_KINDS = ("idnn", "dcase_ae")


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


def build_peer(config) -> nn.Module:
    """The peer network of a model configuration (an ``asdlib.nets.model.ModelConfig`` whose ``kind`` != ``proposed``), with ``.config`` set. Notebook 07."""
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


def peer_parameter_counts(net: nn.Module) -> dict[str, int]:
    """Learnable parameters of a peer per top-level part and ``total``; per-type peers count one model, with ``all_models`` and ``models``. Notebook 07."""
    def count(m):
        return sum(p.numel() for p in m.parameters())

    if isinstance(net, PerMachineType):
        one = next(iter(net.models.values()))
        return {**{name: count(m) for name, m in one.named_children() if count(m)},
                "total": count(one), "all_models": count(net), "models": len(net.models)}
    return {**{name: count(m) for name, m in net.named_children() if count(m)}, "total": count(net)}


__all__ = ["PER_TYPE_KINDS", "PerMachineType", "build_peer", "peer_parameter_counts", "type_of_class"]
