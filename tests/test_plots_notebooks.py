"""The plot helpers of the notebooks: they draw what they are given and check their inputs."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch

from asdlib.teaching import plots
from asdlib.nets.features import LogMel


def test_plot_logmels_shares_one_colour_scale():
    rng = np.random.default_rng(0)
    a, b = rng.normal(-40, 5, (128, 32)), rng.normal(-20, 5, (128, 32))
    fig = plots.plot_logmels([a, torch.tensor(b)], ["a", "b"], title="t")
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(images) == 2
    assert images[0].get_clim() == images[1].get_clim()
    with pytest.raises(ValueError, match="titles"):
        plots.plot_logmels([a, b], ["only one"])


def test_plot_mel_filterbank_uses_the_transform_filterbank():
    fb = LogMel().mel.mel_scale.fb  # (513, 128)
    fig = plots.plot_mel_filterbank(fb)
    assert len(fig.axes[0].lines) == 128
    with pytest.raises(ValueError, match="n_freqs"):
        plots.plot_mel_filterbank(np.zeros(10))


def test_plot_wavegram_rank_separates_rank_one_from_full_rank():
    rng = np.random.default_rng(0)
    d = np.abs(rng.normal(size=50))
    rank_one = np.outer(rng.normal(size=16), d)
    full = rng.normal(size=(16, 50))
    fig = plots.plot_wavegram_rank({"rank one": rank_one, "full": full}, d, np.maximum(rank_one, 0),
                                   n_channels=4)
    ax_s, ax_d = fig.axes
    first, second = (line.get_ydata() for line in ax_s.lines[:2])
    assert first[1] < 1e-6 and second[-1] > 1e-3   # normalised singular values
    assert len(ax_d.lines) == 4
    with pytest.raises(ValueError, match="channel_outputs"):
        plots.plot_wavegram_rank({"x": full}, d[:10], full)


def test_plot_lambda_histogram_draws_the_exact_density():
    lams = np.random.default_rng(0).beta(0.2, 0.2, 5_000)
    before = dict(matplotlib.rcParams)
    fig = plots.plot_lambda_histogram(lams, alpha=0.2)
    assert dict(matplotlib.rcParams) == before          # seaborn's style does not leak out
    ax = fig.axes[0]
    assert len(ax.patches) >= 40                        # the histogram bars (+ the shaded half)
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "P = 50%" in texts and "33.7%" in texts      # exact Beta(0.2, 0.2) shares below 0.5 and 0.1


def test_plot_arcface_geometry_uses_the_library_head():
    fig = plots.plot_arcface_geometry(s=40.0, m=0.7, theta_deg=50.0, other_deg=120.0)
    ax_l = fig.axes[1]
    plain, margin, other = (line.get_ydata() for line in ax_l.lines[:3])
    deg = ax_l.lines[0].get_xdata()
    i = int(np.argmin(np.abs(deg - 50.0)))
    assert plain[i] == pytest.approx(40 * np.cos(np.radians(50)), abs=1e-3)
    assert margin[i] == pytest.approx(40 * np.cos(np.radians(50) + 0.7), abs=1e-3)
    assert (margin <= plain + 1e-4).all()               # the margin only ever lowers the true logit
    assert "theta < 40 deg" in " ".join(t.get_text() for t in ax_l.texts)


def _checkpoints():
    return pd.DataFrame({"epoch": [3, 6, 9, 12], "global_auc": [55.0, 70.0, 82.0, 80.0],
                         "official_auc": [60.0, 72.0, 83.0, 81.0], "pooled_auc": [56.0, 71.0, 81.0, 80.5],
                         "val_loss": [30.0, 1.0, 0.2, 0.01]})


def test_plot_auc_by_epoch_marks_the_three_picks():
    sel = pd.DataFrame({"protocol": ["paper", "validation", "last"], "epoch": [9, 12, 12]})
    fig = plots.plot_auc_by_epoch(_checkpoints(), sel)
    ax = fig.axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert any("epoch 9" in lab and lab.startswith("paper") for lab in labels)
    assert any("epoch 12" in lab and lab.startswith("validation") for lab in labels)
    assert len(fig.axes) == 2                           # the validation-loss panel
    log = pd.DataFrame({"epoch": range(1, 13), "val_loss": np.geomspace(30, 0.01, 12)})
    fig = plots.plot_auc_by_epoch(_checkpoints(), sel, log=log)
    assert len(fig.axes[1].lines) == 2 and len(fig.axes[1].lines[0].get_xdata()) == 12
    with pytest.raises(ValueError, match="global_auc"):
        plots.plot_auc_by_epoch(_checkpoints().drop(columns="global_auc"), {"paper": 9})


def test_plot_scores_per_id_one_row_per_machine():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"machine_type": ["pump"] * 8 + ["fan"] * 8, "machine_id": (["00"] * 4 + ["06"] * 4) * 2,
                       "anomaly": [0, 0, 1, 1] * 4, "score": rng.normal(size=16)})
    fig = plots.plot_scores_per_id(df)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["fan 00", "fan 06", "pump 00", "pump 06"]
    with pytest.raises(ValueError, match="machine_id"):
        plots.plot_scores_per_id(df.drop(columns="machine_id"))


def test_plot_ablation_bars_error_bars_and_quoted_marks():
    t = pd.DataFrame([{"run": r, "protocol": p, "auc": 70.0 + i, "lo": 65.0 + i, "hi": 75.0 + i,
                       "paper_auc": 90.0 - i} for i, r in enumerate(["a", "b"]) for p in ("faithful", "honest")])
    t.loc[3, ["lo", "hi"]] = np.nan                      # no interval: no error bar
    fig = plots.plot_ablation_bars(t)
    ax = fig.axes[0]
    assert sum(len(c) for c in ax.containers if hasattr(c, "patches")) >= 4
    assert len([c for c in ax.containers if type(c).__name__ == "ErrorbarContainer"]) == 3
    assert list(ax.collections[-1].get_offsets()[:, 1]) == [90.0, 89.0]
    with pytest.raises(ValueError, match="lo"):
        plots.plot_ablation_bars(t.drop(columns="lo"))


def test_bootstrap_auc_brackets_the_auc():
    from sklearn.metrics import roc_auc_score

    from asdlib.engine.metrics import bootstrap_auc

    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(60), np.ones(40)].astype(int)
    s = rng.normal(size=100) + y
    lo, hi = bootstrap_auc(y, s, n_boot=300)
    assert lo < 100 * roc_auc_score(y, s) < hi and hi - lo < 30
    groups = np.arange(100) % 2
    lo_g, hi_g = bootstrap_auc(y, s, groups=groups, n_boot=300)
    mean = 100 * np.mean([roc_auc_score(y[groups == k], s[groups == k]) for k in (0, 1)])
    assert lo_g < mean < hi_g
    assert bootstrap_auc(y, s, seed=3) == bootstrap_auc(y, s, seed=3)
    with pytest.raises(ValueError, match="both"):
        bootstrap_auc(np.zeros(5), np.arange(5.0))


def test_bootstrap_auc_is_exact_at_the_extremes():
    """Perfect separation resamples to AUC 100 every time; scores all tied give 50 every time."""
    from asdlib.engine.metrics import bootstrap_auc

    y = np.r_[np.zeros(7), np.ones(5)].astype(int)
    assert bootstrap_auc(y, y + 0.5 * np.arange(12) / 12, n_boot=50) == (100.0, 100.0)
    assert bootstrap_auc(y, 1.0 - y, n_boot=50) == (0.0, 0.0)
    assert bootstrap_auc(y, np.full(12, 3.0), n_boot=50) == (50.0, 50.0)
    groups = np.arange(12) % 3
    assert bootstrap_auc(y, y.astype(float), groups=groups, n_boot=50) == (100.0, 100.0)


@pytest.mark.parametrize("with_groups", [False, True])
def test_bootstrap_auc_equals_roc_auc_of_the_same_resamples(with_groups):
    """The interval equals percentiles of sklearn's AUC over the same draws (pos then neg per group)."""
    from sklearn.metrics import roc_auc_score

    from asdlib.engine.metrics import bootstrap_auc

    rng = np.random.default_rng(4)
    y = np.r_[np.zeros(30), np.ones(18)].astype(int)
    rng.shuffle(y)
    s = np.round(rng.normal(size=48) + 0.8 * y, 1)  # rounded: ties within and across classes
    groups = (np.arange(48) % 3) if with_groups else np.zeros(48, dtype=int)
    n_boot, seed = 40, 11
    draw = np.random.default_rng(seed)
    per_group = []
    for k in np.unique(groups):
        pos, neg = s[(groups == k) & (y == 1)], s[(groups == k) & (y == 0)]
        ip = draw.integers(0, len(pos), (n_boot, len(pos)))
        ineg = draw.integers(0, len(neg), (n_boot, len(neg)))
        labels = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
        per_group.append([roc_auc_score(labels, np.r_[pos[a], neg[b]]) for a, b in zip(ip, ineg)])
    expected = np.percentile(100 * np.mean(per_group, axis=0), [2.5, 97.5])
    got = bootstrap_auc(y, s, groups=groups if with_groups else None, n_boot=n_boot, seed=seed)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


def test_plot_threshold_fit_draws_the_fitted_gamma_and_thresholds():
    from scipy.stats import gamma

    from asdlib.deploy.thresholds import fit_gamma, gamma_thresholds

    rng = np.random.default_rng(0)
    table = pd.DataFrame({"machine_type": "fan", "machine_id": ["00"] * 200 + ["02"] * 200,
                          "score": np.concatenate([gamma.rvs(3, scale=2, size=200, random_state=rng),
                                                   gamma.rvs(5, size=200, random_state=rng)])})
    params = fit_gamma(table)
    marks = {p: gamma_thresholds(params, p)["fan/00"] for p in (0.8, 0.99)}
    fig = plots.plot_threshold_fit(table, params, "fan/00", marks)
    ax = fig.axes[0]
    vlines = [ln.get_xdata()[0] for ln in ax.lines if len(set(ln.get_xdata())) == 1]
    assert sorted(vlines) == pytest.approx(sorted(marks.values()))
    density = [ln for ln in ax.lines if len(ln.get_xdata()) == 400][0]
    a, loc, scale = params["fan/00"]
    x, y = density.get_xdata(), density.get_ydata()
    assert np.allclose(y, gamma.pdf(x, a, loc=loc, scale=scale))
    with pytest.raises(ValueError, match="no scores of 'pump/00'"):
        plots.plot_threshold_fit(table, params, "pump/00", marks)
