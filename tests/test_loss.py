"""ArcFace logits by hand, Noisy-ArcMix, the anomaly score and waveform mixup."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from asdlib.nets.loss import ArcFace, anomaly_score, arcface_loss, mixup, noisy_arcmix_loss

S, M = 40.0, 0.7


def _head() -> ArcFace:
    """2-D head with class weights at 0, 90 and 180 degrees (lengths other than 1 on purpose)."""
    head = ArcFace(embedding_dim=2, num_classes=3, s=S, m=M)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[2.0, 0.0], [0.0, 3.0], [-0.5, 0.0]]))
    return head


def _embedding(deg: float, length: float = 5.0) -> torch.Tensor:
    a = math.radians(deg)
    return torch.tensor([[length * math.cos(a), length * math.sin(a)]])


def test_arcface_logits_by_hand_margin_branch():
    head = _head()
    emb = _embedding(30.0)  # angles to the classes: 30, 60, 150 degrees
    th = [math.radians(30), math.radians(60), math.radians(150)]
    logits = head(emb, torch.tensor([0]))[0]
    expected = [S * math.cos(th[0] + M), S * math.cos(th[1]), S * math.cos(th[2])]
    assert torch.allclose(logits, torch.tensor(expected), atol=1e-4)
    logits = head(emb, torch.tensor([1]))[0]
    expected = [S * math.cos(th[0]), S * math.cos(th[1] + M), S * math.cos(th[2])]
    assert torch.allclose(logits, torch.tensor(expected), atol=1e-4)


def test_arcface_logits_by_hand_beyond_pi_minus_m_branch():
    head = _head()
    emb = _embedding(30.0)
    cos150 = math.cos(math.radians(150))
    assert cos150 <= math.cos(math.pi - M)  # theta + m would pass pi: the linear fallback applies
    logits = head(emb, torch.tensor([2]))[0]
    expected_target = S * (cos150 - math.sin(math.pi - M) * M)
    assert logits[2].item() == pytest.approx(expected_target, abs=1e-4)
    assert logits[0].item() == pytest.approx(S * math.cos(math.radians(30)), abs=1e-4)


def test_soft_target_matrix_is_used_directly_as_mask():
    head = _head()
    emb = _embedding(30.0)
    th = [math.radians(30), math.radians(60), math.radians(150)]
    cos = [math.cos(t) for t in th]
    phi = [math.cos(th[0] + M), math.cos(th[1] + M), cos[2] - math.sin(math.pi - M) * M]
    mask = torch.tensor([[0.3, 0.7, 0.0]])
    logits = head(emb, mask)[0]
    expected = [S * (w * p + (1 - w) * c) for w, p, c in zip([0.3, 0.7, 0.0], phi, cos)]
    assert torch.allclose(logits, torch.tensor(expected), atol=1e-4)


def _ce_by_hand(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    lse = torch.logsumexp(logits.double(), dim=1)
    return (lse - logits.double()[torch.arange(len(target)), target]).mean()


def test_noisy_arcmix_lambda_one_is_plain_arcface_ce():
    torch.manual_seed(0)
    head = ArcFace(8, 5)
    emb, y_a, y_b = torch.randn(6, 8), torch.tensor([0, 1, 2, 3, 4, 0]), torch.tensor([1, 2, 3, 4, 0, 1])
    loss, _ = noisy_arcmix_loss(head, emb, y_a, y_b, 1.0)
    assert torch.allclose(loss, arcface_loss(head, emb, y_a))


def test_noisy_arcmix_lambda_point_three_by_hand():
    torch.manual_seed(0)
    head = ArcFace(8, 5)
    emb, y_a, y_b = torch.randn(6, 8), torch.tensor([0, 1, 2, 3, 4, 0]), torch.tensor([1, 2, 3, 4, 0, 1])
    loss, logits = noisy_arcmix_loss(head, emb, y_a, y_b, 0.3)
    assert torch.allclose(logits, head(emb, y_a))  # margin at the unmixed label only
    expected = 0.3 * _ce_by_hand(logits, y_a) + 0.7 * _ce_by_hand(logits, y_b)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_anomaly_score_is_minus_log_softmax_at_true_class():
    torch.manual_seed(0)
    head = ArcFace(8, 5)
    emb, y = torch.randn(4, 8), torch.tensor([3, 0, 4, 4])
    score = anomaly_score(head, emb, y)
    logits = head(emb, y)
    expected = -F.log_softmax(logits, dim=1)[torch.arange(4), y]
    assert score.shape == (4,)
    assert torch.allclose(score, expected, atol=1e-5)


def test_mixup_is_reproducible_and_mixes_with_the_permutation():
    x = torch.randn(5, 100)
    y = torch.arange(5)

    def run():
        return mixup(x, y, 0.2, rng=np.random.default_rng(7),
                     generator=torch.Generator().manual_seed(7))

    mixed, y_a, y_b, lam = run()
    mixed2, _, y_b2, lam2 = run()
    assert lam == lam2 and torch.equal(mixed, mixed2) and torch.equal(y_b, y_b2)
    perm = torch.randperm(5, generator=torch.Generator().manual_seed(7))
    assert lam == pytest.approx(float(np.random.default_rng(7).beta(0.2, 0.2)))
    assert 0.0 <= lam <= 1.0
    assert torch.equal(y_a, y) and torch.equal(y_b, y[perm])
    assert torch.allclose(mixed, lam * x + (1 - lam) * x[perm])


def test_mixup_alpha_zero_is_identity():
    x, y = torch.randn(3, 10), torch.arange(3)
    mixed, y_a, _, lam = mixup(x, y, 0.0, generator=torch.Generator().manual_seed(0))
    assert lam == 1.0 and torch.equal(mixed, x) and torch.equal(y_a, y)


def test_defaults_are_the_papers_head_and_mixup():
    """``ArcFace()`` and ``mixup`` without arguments are the authors' settings: h 128, 41 classes,
    s 40, m 0.7 (paper-facts section 1), lambda ~ Beta(0.2, 0.2) (section 2)."""
    head = ArcFace()
    assert tuple(head.weight.shape) == (41, 128) and (head.s, head.m) == (40.0, 0.7)
    wave, target = torch.randn(4, 10), torch.arange(4)
    _, _, _, lam = mixup(wave, target, rng=np.random.default_rng(3), generator=torch.Generator().manual_seed(0))
    assert lam == np.random.default_rng(3).beta(0.2, 0.2)


def test_draw_mix_puts_the_permutation_on_the_requested_device():
    from asdlib.nets.loss import draw_mix

    lam, perm = draw_mix(5, 0.2, np.random.default_rng(0), torch.Generator().manual_seed(0), device="meta")
    assert perm.device.type == "meta" and tuple(perm.shape) == (5,) and 0.0 <= lam <= 1.0
    _, perm = draw_mix(5, 0.2, np.random.default_rng(0), torch.Generator().manual_seed(0))
    assert perm.device.type == "cpu" and sorted(perm.tolist()) == [0, 1, 2, 3, 4]
