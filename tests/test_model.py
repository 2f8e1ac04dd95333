"""The faithful network: exact parameter counts, every Table 3/4 variant, shapes, attention floor, log-Mel."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchaudio

from asdlib.nets.features import LogMel, mel_bin_centres_hz, num_frames
from asdlib.nets.model import ModelConfig, build_model, parameter_counts

SR = 16_000


@pytest.fixture(scope="module")
def proposed():
    torch.manual_seed(0)
    return build_model()


def test_parameter_counts_match_the_authors_model(proposed):
    counts = parameter_counts(proposed)
    assert counts == {"wavegram": 1_539, "attention": 1_964, "classifier": 875_625,
                      "arcface": 5_248, "total": 884_376}
    assert sum(p.numel() for p in proposed.classifier.fc_out.parameters()) == 5_289


def test_parameter_counts_of_ablation_variants():
    assert parameter_counts(build_model(attention=False))["total"] == 882_412
    # "w/o separable convs", derived by hand (paper-facts section 1: ordinary convolutions with
    # the separable layers' bias choices): Wavegram Conv1d(1 -> 128, k 1024, bias)
    # = 128 * 1024 + 128; attention Conv2d(2 -> 16, 3x3, no bias) + BN(16) + Conv2d(16 -> 64, 3x3,
    # no bias) + BN(64) + Conv2d(64 -> 2, 1x1, bias); MobileFaceNet and ArcFace unchanged.
    wavegram = 128 * 1024 + 128
    attention = 2 * 16 * 9 + 2 * 16 + 16 * 64 * 9 + 2 * 64 + 64 * 2 + 2
    rest = 875_625 + 5_248
    no_sep = parameter_counts(build_model(separable=False))
    assert (no_sep["wavegram"], no_sep["attention"]) == (wavegram, attention) == (131_200, 9_794)
    assert no_sep["total"] == wavegram + attention + rest == 1_021_867  # Table 4's "1 M"
    neither = parameter_counts(build_model(separable=False, attention=False))
    assert neither["attention"] == 0 and neither["total"] == wavegram + rest == 1_012_073


VARIANTS = {
    "table3_mel": dict(features="mel"),
    "table3_wave": dict(features="wave"),
    "table3_h256": dict(embedding_dim=256),
    "table3_h64": dict(embedding_dim=64),
    "table4_no_separable": dict(separable=False),
    "table4_no_attention": dict(attention=False),
    "table4_neither": dict(separable=False, attention=False),
    "fixed_attention": dict(attention_activation="fixed"),
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_every_variant_builds_and_runs(name):
    overrides = VARIANTS[name]
    model = build_model(clip_seconds=1.0, **overrides).eval()
    wave = torch.randn(2, SR)
    with torch.no_grad():
        x = model.features(wave)
        emb = model(wave)
        logits = model.logits(wave, torch.tensor([0, 5]))
    channels = 2 if model.config.features == "mel+wave" else 1
    assert x.shape == (2, channels, 128, num_frames(SR))
    assert emb.shape == (2, model.config.embedding_dim)
    assert logits.shape == (2, 41)
    assert torch.isfinite(emb).all() and torch.isfinite(logits).all()


def test_ten_second_clip_shapes(proposed):
    proposed.eval()
    with torch.no_grad():
        maps = proposed.maps(torch.randn(2, 10 * SR))
        emb = proposed(torch.randn(2, 10 * SR))
    assert maps["features"].shape == (2, 2, 128, 313)
    assert maps["attention"].shape == maps["weighted"].shape == (2, 2, 128, 313)
    assert emb.shape == (2, 128)
    assert proposed.classifier.global_kernel == (8, 20)
    assert tuple(proposed.classifier.linear7.conv.kernel_size) == (8, 20)


def test_global_kernel_follows_clip_length():
    assert build_model(clip_seconds=1.0).classifier.global_kernel == (8, 2)
    assert build_model(clip_seconds=11.0).classifier.global_kernel == (8, 22)


def test_faithful_attention_never_below_half():
    torch.manual_seed(1)
    model = build_model(clip_seconds=1.0).train()
    with torch.no_grad():
        h = model.maps(torch.randn(4, SR))["attention"]
    assert float(h.min()) >= 0.5
    share_half = float((h == 0.5).float().mean())
    assert share_half > 0.3, share_half  # the ReLU before the sigmoid zeroes about half


def test_fixed_attention_goes_below_half():
    torch.manual_seed(1)
    model = build_model(clip_seconds=1.0, attention_activation="fixed").train()
    with torch.no_grad():
        h = model.maps(torch.randn(4, SR))["attention"]
    assert float(h.min()) < 0.5 and float(h.max()) > 0.5
    assert float(h.max()) < 1.0 and float(h.min()) > 0.0


@pytest.mark.parametrize("bad, setting", [
    (dict(features="spectrogram"), "features"),
    (dict(attention_activation="relu"), "attention_activation"),
    (dict(embedding_dim=0), "embedding_dim"),
    (dict(clip_seconds=0.05), "clip_seconds"),
])
def test_model_config_rejects_bad_settings(bad, setting):
    with pytest.raises(ValueError, match=setting):
        ModelConfig(**bad)


def test_model_config_from_dict_names_unknown_settings():
    with pytest.raises(ValueError, match="hidden_size"):
        ModelConfig.from_dict({"hidden_size": 3})


def _reference_log_mel(x: np.ndarray) -> np.ndarray:
    """Independent log-Mel: numpy reflect-padded STFT, periodic Hann, |X|^2, Slaney-normalised HTK filters."""
    n_fft, hop = 1024, 512
    x = np.pad(x, n_fft // 2, mode="reflect")
    n = 1 + (len(x) - n_fft) // hop
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    frames = np.stack([x[i * hop:i * hop + n_fft] * window for i in range(n)])
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    fb = torchaudio.functional.melscale_fbanks(n_fft // 2 + 1, 0.0, SR / 2, 128, SR, norm="slaney",
                                               mel_scale="htk").double().numpy()
    return 10.0 * np.log10((power @ fb).T + 1e-8)


CENTRES = mel_bin_centres_hz().numpy()


@pytest.mark.parametrize("freq", [440.0, 1000.0, 3000.0, 6000.0, float(CENTRES[70]) + 5.0])
def test_log_mel_matches_independent_computation_and_peaks_at_nearest_bin(freq):
    t = np.arange(2 * SR) / SR
    x = 0.5 * np.sin(2 * np.pi * freq * t)
    ours = LogMel()(torch.tensor(x, dtype=torch.float32)[None])[0].double().numpy()
    ref = _reference_log_mel(x)
    assert ours.shape == ref.shape == (128, num_frames(2 * SR))
    assert np.abs(ours - ref).max() < 0.05  # dB
    assert int(ours.mean(axis=1).argmax()) == int(np.abs(CENTRES - freq).argmin())
