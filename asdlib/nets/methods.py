"""What differs between methods in the engine: their training step, validation and what each method's own code does.

The trainer (``asdlib.engine.train``), the scoring (``asdlib.engine.evaluate``) and the study
layer treat every network the same way; what differs between methods lives here (building a
peer from its configuration, and ``PerMachineType``, live in ``asdlib.nets.peers.build``):

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

from asdlib.nets.model import ModelConfig
from asdlib.nets.peers.build import PER_TYPE_KINDS, PerMachineType, type_of_class
from asdlib.nets.peers.tastgram import TASTgramMFN


#: The checkpoint rules a method's own code may use (``study.comparison.own_readings`` applies them):
#: ``best_official_sum_test``: the best official (per-ID mean) AUC + pAUC on the test set, a tie
#: going to the later epoch; ``validation``: the lowest validation loss; ``last``: the last epoch;
#: ``best_global_test``: the best global test AUC (the proposed model's authors).
OWN_RULES = ("best_official_sum_test", "validation", "last", "best_global_test")
#: The metrics a method's own code may report: ``official`` (AUC per machine ID, mean per type,
#: mean over types), ``pooled_by_type`` (one ROC per machine type over all its IDs, mean over
#: types), ``global`` (one ROC over every test clip).
OWN_METRICS = ("official", "pooled_by_type", "global")


@dataclass(frozen=True)
class PeerInfo:
    """What one peer is and what its own code does (for tables and notebook 07)."""

    label: str          # our row label
    quoted_as: str      # its method name in the paper's Tables 1 and 2 (asdlib.study.paper_numbers)
    own_selection: str  # which checkpoint its own code keeps, in words
    own_rule: str       # the same as one of OWN_RULES
    own_metric: str     # the metric its own code reports, one of OWN_METRICS
    source: str

    def __post_init__(self):
        if self.own_rule not in OWN_RULES or self.own_metric not in OWN_METRICS:
            raise ValueError(f"{self.label}: own_rule {self.own_rule!r} / own_metric {self.own_metric!r} "
                             f"not in {OWN_RULES} / {OWN_METRICS}")


PEERS: dict[str, PeerInfo] = {
    "stgram_mfn": PeerInfo(
        "STgram-MFN", "STgram-MFN",
        "best official (per-ID mean) AUC + pAUC on the test set, tested every 10 epochs (every 2 "
        "in the older code behind its README); a tie keeps the later epoch",
        "best_official_sum_test", "official", "liuyoude/STgram-MFN trainer.py (Liu et al., ICASSP 2022)"),
    "tastgram_mfn": PeerInfo(
        "TASTgram-MFN (Noisy-ArcMix)", "Noisy-ArcMix",
        "lowest validation loss on a 5 % hold-out, every epoch", "validation", "pooled_by_type",
        "soonhyeon/Noisy-ArcMix (Choi & Choi, ICASSP 2024)"),
    "idnn": PeerInfo(
        "IDNN", "IDNN", "not published (no public code); last epoch assumed", "last",
        "official", "Suefusa et al., ICASSP 2020"),
    "dcase_ae": PeerInfo(
        "DCASE 2020 baseline AE", "",
        "last epoch (100 epochs, no selection)", "last", "official",
        "y-kawagu/dcase2020_task2_baseline (Koizumi et al., DCASE 2020)"),
}
#: The proposed model read its authors' way: the global test AUC at the best global test AUC.
PROPOSED_OWN = PeerInfo("Proposed approach", "Proposed approach (paper)",
                        "best global test AUC (the authors' code)", "best_global_test", "global",
                        "michaelneri/unsupervised-audio-anomaly-detection")


def check_label_map(config: ModelConfig, label_map: str) -> None:
    """Refuse a label map a method cannot train with (the per-type peers need ``distinct``). Notebook 07."""
    if config.kind in PER_TYPE_KINDS:
        type_of_class(label_map)


def has_classes(net: nn.Module) -> bool:
    """Whether a network classifies machine IDs (an ArcFace head): the proposed model, STgram-MFN, TASTgram-MFN. Notebook 07."""
    return hasattr(net, "arcface")


def step_output(net: nn.Module, wave: Tensor, target: Tensor, perm: Tensor, lam: float,
                rows: Tensor | None = None) -> Tensor:
    """One training step's output: margin logits on the mixed batch (batch, classes), or the loss itself (a 0-d tensor). Notebook 07.

    ``lam`` and ``perm`` are the trainer's mixup draw (``lam = 1``: no mixing). The proposed
    model and STgram-MFN mix the waveforms; TASTgram-MFN (Noisy-ArcMix) mixes the waveform and
    its log-Mel with the same ``lam`` and partner; the reconstruction models ignore the draw.
    ``rows``: only these clips of the batch (a micro-batch of gradient accumulation), each mixed
    with the same partner as in the whole batch; the output then has ``len(rows)`` rows.
    """
    if rows is not None:
        own, partner, target = wave[rows], wave[perm[rows]], target[rows]
        if isinstance(net, PerMachineType):
            return net.training_loss(own, target)
        if lam == 1.0:
            return net.logits(own, target)
        mixed = lam * own + (1.0 - lam) * partner
        if isinstance(net, TASTgramMFN):
            return net.logits(mixed, target, lam * net.log_mel(own) + (1.0 - lam) * net.log_mel(partner))
        return net.logits(mixed, target)
    if isinstance(net, PerMachineType):
        return net.training_loss(wave, target)

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


__all__ = ["OWN_METRICS", "OWN_RULES", "PEERS", "PROPOSED_OWN", "PeerInfo", "check_label_map", "has_classes", "step_output", "validation_batch"]
