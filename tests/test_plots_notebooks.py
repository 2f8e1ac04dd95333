"""The plot helpers of notebooks 01-03: they draw what they are given and check their inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from asdlib import plots
from asdlib.features import LogMel


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
