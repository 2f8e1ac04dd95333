"""ArcFace head, waveform mixup, the Noisy-ArcMix training loss and the anomaly score.

Explained in notebook 03_training (loss, mixup) and 04_evaluation (anomaly score).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ArcFace(nn.Module):
    """Additive angular margin head: ``s * cos(theta + m)`` at the target class, ``s * cos(theta)`` elsewhere. Notebook 03.

    Weight (classes, h), Xavier-uniform. Where ``cos(theta) <= cos(pi - m)`` the margin logit is
    ``cos - sin(pi - m) * m`` (the usual non-"easy" margin). ``target`` is class indices
    (batch,) or a (batch, classes) one-hot/soft matrix used directly as the margin mask.
    """

    def __init__(self, embedding_dim: int = 128, num_classes: int = 41, s: float = 40.0,
                 m: float = 0.7):
        super().__init__()
        self.s, self.m = s, m
        self.weight = nn.Parameter(torch.empty(num_classes, embedding_dim))
        nn.init.xavier_uniform_(self.weight)
        self.cos_m, self.sin_m = math.cos(m), math.sin(m)
        self.th = math.cos(math.pi - m)
        self.mm = math.sin(math.pi - m) * m

    def cosine(self, embedding: Tensor) -> Tensor:
        """Cosine between each embedding and each class weight, (batch, classes). Notebook 03."""
        return F.linear(F.normalize(embedding), F.normalize(self.weight))

    def forward(self, embedding: Tensor, target: Tensor) -> Tensor:
        """Scaled logits with the margin applied at ``target``, (batch, classes)."""
        cos = self.cosine(embedding)
        sin = torch.sqrt((1.0 - cos.pow(2)).clamp(0.0, 1.0))
        phi = cos * self.cos_m - sin * self.sin_m
        phi = torch.where(cos > self.th, phi, cos - self.mm)
        if target.dim() == 1:
            mask = F.one_hot(target.long(), cos.shape[1]).to(cos.dtype)
        else:
            mask = target.to(cos.dtype)
        return self.s * (mask * phi + (1.0 - mask) * cos)


def mixup(wave: Tensor, target: Tensor, alpha: float = 0.2,
          rng: np.random.Generator | None = None, generator: torch.Generator | None = None):
    """Mix a batch of waveforms with a permutation of itself: one ``lam ~ Beta(alpha, alpha)`` per batch. Notebook 03.

    Returns ``(mixed, target_a, target_b, lam)`` with ``mixed = lam * wave + (1 - lam) * wave[perm]``:
    ``target_a`` is the label of the clip weighted by ``lam``, ``target_b`` the partner's. As in
    the authors' code, ``lam`` is used as drawn (not folded to ``max(lam, 1 - lam)``), so
    ``target_a`` is the minor part of the mix whenever ``lam < 0.5`` (half of the batches for
    Beta(0.2, 0.2); ``lam < 0.1`` in 33.7 %).
    """
    lam, perm = draw_mix(wave.shape[0], alpha, rng, generator, wave.device)
    mixed = lam * wave + (1.0 - lam) * wave[perm]
    return mixed, target, target[perm], lam


def draw_mix(n: int, alpha: float, rng: np.random.Generator | None = None,
             generator: torch.Generator | None = None, device=None) -> tuple[float, Tensor]:
    """The random part of ``mixup``: ``lam ~ Beta(alpha, alpha)`` (1.0 when ``alpha`` is 0), then a permutation of ``n``. Notebook 03."""
    rng = rng if rng is not None else np.random.default_rng()
    lam = float(rng.beta(alpha, alpha)) if alpha > 0 else 1.0
    perm = torch.randperm(n, generator=generator)
    return lam, perm.to(device) if device is not None else perm


def noisy_arcmix_loss(head: ArcFace, embedding: Tensor, target_a: Tensor, target_b: Tensor,
                      lam: float) -> tuple[Tensor, Tensor]:
    """Noisy-ArcMix: margin at ``y_a`` (the label weighted by ``lam``) only, ``lam*CE(y_a) + (1-lam)*CE(y_b)``. Notebook 03.

    Returns ``(loss, logits)``. With ``lam = 1`` it is the plain ArcFace cross-entropy.
    """
    logits = head(embedding, target_a)
    loss = lam * F.cross_entropy(logits, target_a) + (1.0 - lam) * F.cross_entropy(logits, target_b)
    return loss, logits


def arcface_loss(head: ArcFace, embedding: Tensor, target: Tensor) -> Tensor:
    """Mean ArcFace cross-entropy (margin at ``target``), the unmixed loss of Eq. (1). Notebook 03."""
    return F.cross_entropy(head(embedding, target), target)


def anomaly_score(head: ArcFace, embedding: Tensor, target: Tensor) -> Tensor:
    """Per-clip anomaly score: ArcFace cross-entropy at the clip's true machine-ID class, (batch,). Notebook 04."""
    return F.cross_entropy(head(embedding, target), target, reduction="none")
