"""The paper's figures (Figs. 1-4) and the diagnostic plots of the notebooks, drawn by code.

Every function returns a matplotlib ``Figure`` and writes nothing; save with
``asdlib.outputs.save_fig``. Arrays may be NumPy arrays or torch tensors. In a notebook, assign
the result (``fig = plot_features(X)``) so the figure is shown once.
If no matplotlib backend has been chosen (a plain script on a headless machine), the
non-interactive Agg backend is selected; notebooks keep their inline backend.
"""

from __future__ import annotations

import math
import os
import sys
from typing import Sequence

import matplotlib
import numpy as np
import pandas as pd


def _choose_backend() -> None:
    if os.environ.get("MPLBACKEND") or "matplotlib.pyplot" in sys.modules:
        return
    ipython = sys.modules.get("IPython")
    if ipython is not None and getattr(ipython, "get_ipython", lambda: None)() is not None:
        return
    get = getattr(matplotlib.rcParams, "_get_backend_or_none", None)
    if get is not None and get() is None:
        matplotlib.use("Agg")


_choose_backend()

import matplotlib.pyplot as plt  # noqa: E402  (after the backend choice)
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Circle, FancyBboxPatch  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import seaborn as sns  # noqa: E402
import torch  # noqa: E402
from scipy.stats import beta, gamma  # noqa: E402
from sklearn.metrics import roc_auc_score, roc_curve  # noqa: E402

from asdlib.nets.features import mel_bin_centres_hz
from asdlib.nets.loss import ArcFace

SAMPLE_RATE = 16_000
HOP = 512
#: Default channel names of the stacked features X = [X_Mel, X_Wave].
CHANNEL_NAMES = (r"log-Mel $X_{\mathrm{Mel}}$", r"Wavegram $X_{\mathrm{Wave}}$")
#: Frequencies (Hz) labelled on Mel-spaced axes; 71 Hz and 1.7 kHz are the paper's Fig. 4 band edges.
HZ_TICKS = (71, 250, 500, 1000, 1700, 4000, 8000)


# --------------------------------------------------------------------------- helpers

def _np(x) -> np.ndarray:
    """NumPy copy of an array-like or a torch tensor (detached, on the CPU)."""
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=float)


def _channels(x, what: str) -> np.ndarray:
    """(channels, bins, frames) from (bins, frames), (channels, bins, frames) or (1, channels, bins, frames)."""
    a = _np(x)
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3:
        raise ValueError(f"{what}: expected shape (bins, frames) or (channels, bins, frames), got {a.shape}")
    return a


def _hz_to_mel(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=float) / 700.0)


def htk_mel_centres_hz(n_mels: int = 128, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Centre frequency in Hz of each HTK Mel bin, as NumPy (``features.mel_bin_centres_hz``). Notebook 06."""
    return mel_bin_centres_hz(n_mels, sample_rate).numpy().astype(float)


def _mel_position(hz, mel_hz: np.ndarray) -> np.ndarray:
    """Fractional Mel-bin index of frequencies in Hz (linear in Mel, extrapolated past the ends)."""
    m, ref = _hz_to_mel(hz), _hz_to_mel(mel_hz)
    idx = np.arange(len(ref), dtype=float)
    pos = np.interp(m, ref, idx)
    lo_step, hi_step = ref[1] - ref[0], ref[-1] - ref[-2]
    pos = np.where(m < ref[0], (m - ref[0]) / lo_step, pos)
    pos = np.where(m > ref[-1], len(ref) - 1 + (m - ref[-1]) / hi_step, pos)
    return np.clip(pos, -0.5, len(ref) - 0.5)


def _hz_label(hz: float) -> str:
    return f"{hz / 1000:g}k" if hz >= 1000 else f"{hz:g}"


def _set_hz_ticks(axis, mel_hz: np.ndarray) -> None:
    """Label a Mel-bin axis (``ax.xaxis`` or ``ax.yaxis``) with frequencies in Hz."""
    ticks = [hz for hz in HZ_TICKS if hz <= mel_hz[-1] * 1.06]
    axis.set_ticks(_mel_position(ticks, mel_hz))
    axis.set_ticklabels([_hz_label(t) for t in ticks])


def _frame_extent(n_frames: int, n_bins: int, sample_rate: int, hop: int) -> list[float]:
    half = 0.5 * hop / sample_rate
    return [-half, (n_frames - 1) * hop / sample_rate + half, -0.5, n_bins - 0.5]


# --------------------------------------------------------------------------- Fig. 1

def _box(ax, x, y, w, h, text, color, dashed=False, fontsize=8.5, weight="normal"):
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.04,rounding_size=0.12",
                                facecolor=color, edgecolor="0.2", linewidth=1.1,
                                linestyle="--" if dashed else "-"))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, weight=weight, linespacing=1.35)


def _arrow(ax, start, end, style="-|>", connection="arc3", dashed=False):
    ax.annotate("", xy=end, xytext=start,
                arrowprops=dict(arrowstyle=style, color="0.15", lw=1.2, shrinkA=0, shrinkB=0,
                                connectionstyle=connection, linestyle="--" if dashed else "-",
                                mutation_scale=12))


def plot_pipeline() -> Figure:
    """Fig. 1: the proposed pipeline, waveform -> log-Mel | Wavegram -> attention -> MobileFaceNet -> ArcFace -> score. Notebook 02."""
    fig, ax = plt.subplots(figsize=(13.5, 5.4))
    ax.set_xlim(0, 13.5)
    ax.set_ylim(0, 5.4)
    ax.axis("off")
    c_in, c_feat, c_att, c_cls, c_out, c_train = "#eeeeee", "#d9ead3", "#fce5cd", "#cfe2f3", "#ead1dc", "#fff2cc"

    # Top row: input -> features -> stack -> attention -> weighting.
    _box(ax, 0.95, 3.9, 1.55, 1.0, "waveform $\\mathbf{x}$\n1 \u00d7 160 000\n16 kHz, 10 s", c_in)
    _box(ax, 2.95, 3.9, 1.85, 1.0, "mixup (training)\n$\\lambda\\sim$Beta(0.2, 0.2)\n"
         "$\\lambda\\mathbf{x}^i+(1-\\lambda)\\mathbf{x}^j$", c_train, dashed=True)
    _box(ax, 5.45, 4.65, 2.35, 0.95, "log-Mel $X_{\\mathrm{Mel}}$\nSTFT, Hann 64 ms, 50 % overlap\n"
         "128 Mel bins, dB", c_feat)
    _box(ax, 5.45, 3.15, 2.35, 0.95, "Wavegram $X_{\\mathrm{Wave}}$\nseparable 1-D conv, 128 filters\n"
         "kernel 1024, stride 512", c_feat)
    _box(ax, 7.85, 3.9, 1.5, 1.0, "stack\n$X=[X_{\\mathrm{Mel}},X_{\\mathrm{Wave}}]$\n2 \u00d7 128 \u00d7 313",
         c_feat)
    _box(ax, 10.25, 3.9, 2.45, 1.55, "attention $f_{\\mathrm{ATT}}$\nsep. conv 3\u00d73, 16 + BN + ELU\n"
         "sep. conv 3\u00d73, 64 + BN + ELU\nsep. conv 1\u00d71, 2\nsigmoid \u2192 map $H$", c_att)
    ax.add_patch(Circle((12.45, 3.9), 0.28, facecolor="white", edgecolor="0.2", lw=1.2))
    ax.text(12.45, 3.9, "$\\otimes$", ha="center", va="center", fontsize=15)
    ax.text(12.35, 2.6, "$\\tilde X = H\\otimes X$\n2 \u00d7 128 \u00d7 313", ha="right", va="center", fontsize=8.5)

    _arrow(ax, (1.73, 3.9), (2.02, 3.9))
    _arrow(ax, (3.88, 4.05), (4.27, 4.55))
    _arrow(ax, (3.88, 3.75), (4.27, 3.25))
    _arrow(ax, (6.63, 4.55), (7.1, 4.05))
    _arrow(ax, (6.63, 3.25), (7.1, 3.75))
    _arrow(ax, (8.6, 3.9), (9.02, 3.9))
    _arrow(ax, (11.48, 3.9), (12.17, 3.9))
    ax.text(11.82, 3.98, "$H$", ha="center", va="bottom", fontsize=9)
    # Skip connection: X goes around the attention module to the product.
    ax.plot([7.85, 7.85, 12.45], [4.4, 5.05, 5.05], color="0.15", lw=1.2)
    _arrow(ax, (12.45, 5.05), (12.45, 4.18))
    ax.text(10.25, 5.1, "$X$", ha="center", va="bottom", fontsize=9)

    # Bottom row, right to left: classifier -> embedding -> ArcFace -> loss / score.
    _box(ax, 10.9, 1.45, 2.3, 1.15, "MobileFaceNet\n2 input channels\nbottlenecks [2,128,2,2],\n"
         "[4,128,2,2], [4,128,2,2]", c_cls)
    _box(ax, 8.45, 1.45, 1.55, 0.9, "embedding\n$\\mathbf{h}\\in\\mathbb{R}^{128}$", c_cls)
    _box(ax, 6.1, 1.45, 2.15, 1.1, "ArcFace\n41 machine-ID classes\n$s=40$, $m=0.7$", c_cls)
    _box(ax, 2.7, 2.05, 3.35, 0.85, "training: Noisy-ArcMix loss\n"
         "$\\lambda\\,\\mathcal{L}_{AF}(y^i)+(1-\\lambda)\\,\\mathcal{L}_{AF}(y^j)$", c_train, dashed=True)
    _box(ax, 2.7, 0.75, 3.35, 0.85, "test: anomaly score $\\mathcal{A}_\\theta$\n"
         "ArcFace cross-entropy at the true ID", c_out, weight="bold")
    ax.plot([12.45, 12.45], [3.62, 1.45], color="0.15", lw=1.2)
    _arrow(ax, (12.45, 1.45), (12.07, 1.45))
    _arrow(ax, (9.75, 1.45), (9.24, 1.45))
    _arrow(ax, (7.67, 1.45), (7.19, 1.45))
    _arrow(ax, (5.02, 1.6), (4.39, 2.0), dashed=True)
    _arrow(ax, (5.02, 1.3), (4.39, 0.85))

    ax.text(0.15, 0.12, "dashed: training only", fontsize=8, style="italic", color="0.3")
    ax.set_title("Fig. 1 \u2014 proposed pipeline for unsupervised anomalous sound detection", fontsize=11)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- Figs. 2-3

def plot_features(features, sample_rate: int = SAMPLE_RATE, hop: int = HOP, title: str | None = None,
                  channel_names: Sequence[str] = CHANNEL_NAMES) -> Figure:
    """Fig. 2: the acoustic features X (log-Mel in dB, Wavegram) as images over time in seconds and Mel bins. Notebook 02."""
    x = _channels(features, "features")
    n_ch, n_bins, n_frames = x.shape
    fig, axes = plt.subplots(1, n_ch, figsize=(5.6 * n_ch, 3.6), squeeze=False, layout="constrained")
    units = ("level [dB]", "activation [a.u.]")
    for c, ax in enumerate(axes[0]):
        im = ax.imshow(x[c], origin="lower", aspect="auto", cmap="magma" if c == 0 else "viridis",
                       extent=_frame_extent(n_frames, n_bins, sample_rate, hop), interpolation="nearest")
        ax.set_title(channel_names[c] if c < len(channel_names) else f"channel {c}")
        ax.set_xlabel("time [s]")
        ax.set_ylabel("Mel bin" if c == 0 else "Wavegram bin")
        fig.colorbar(im, ax=ax, label=units[min(c, 1)], pad=0.01)
    if title:
        fig.suptitle(title)
    return fig


def plot_attention_maps(attention, sample_rate: int = SAMPLE_RATE, hop: int = HOP, title: str | None = None,
                        channel_names: Sequence[str] = CHANNEL_NAMES, cmap: str = "viridis") -> Figure:
    """Fig. 3: the attention map H per channel (log-Mel, Wavegram) on a fixed [0, 1] scale. Notebook 06.

    Each panel's title gives the map's minimum and the share of values equal to 0.5: in the
    authors' network no value can fall below 0.5 (BatchNorm -> ReLU before the sigmoid).
    """
    h = _channels(attention, "attention")
    n_ch, n_bins, n_frames = h.shape
    fig, axes = plt.subplots(1, n_ch, figsize=(5.2 * n_ch + 0.8, 3.6), squeeze=False, layout="constrained")
    im = None
    for c, ax in enumerate(axes[0]):
        im = ax.imshow(h[c], origin="lower", aspect="auto", cmap=cmap, vmin=0.0, vmax=1.0,
                       extent=_frame_extent(n_frames, n_bins, sample_rate, hop), interpolation="nearest")
        at_half = float(np.mean(np.abs(h[c] - 0.5) < 1e-6))
        name = channel_names[c] if c < len(channel_names) else f"channel {c}"
        ax.set_title(f"$H$ on {name}\nmin {h[c].min():.3f}, {at_half:.0%} of values = 0.5", fontsize=10)
        ax.set_xlabel("time [s]")
        ax.set_ylabel("Mel bin" if c == 0 else "Wavegram bin")
    cb = fig.colorbar(im, ax=list(axes[0]), label="attention weight", pad=0.01)
    cb.set_ticks([0.0, 0.25, 0.5, 0.75, 1.0])
    cb.ax.axhline(0.5, color="white", lw=1.5)
    if title:
        fig.suptitle(title)
    return fig


# --------------------------------------------------------------------------- Fig. 4

_BAND_COLOURS = ("#d62728", "#9467bd", "#7f7f7f", "#2ca02c", "#ff7f0e")


def plot_attention_stats(mean, std, mel_hz=None, bands: Sequence[tuple[float, float, str]] | None = None,
                         title: str | None = None, sample_rate: int = SAMPLE_RATE, hop: int = HOP) -> Figure:
    """Fig. 4: mean and std of the log-Mel attention map over the test set, per Mel bin or as maps, axis in Hz. Notebook 06.

    ``mean``/``std`` of shape (n_mels,) give two line panels against frequency; of shape
    (n_mels, frames) two image panels (frequency up, time across). ``mel_hz`` holds each Mel bin's
    centre frequency (default: HTK centres); the frequency axis is Mel-spaced with ticks in Hz.
    ``bands`` are (low Hz, high Hz, label) shaded or outlined, e.g. ``paper_numbers.fig4_bands()``.
    """
    m, s = _np(mean), _np(std)
    if m.shape != s.shape or m.ndim not in (1, 2):
        raise ValueError(f"mean and std must share a shape (n_mels,) or (n_mels, frames); got {m.shape}, {s.shape}")
    n_mels = m.shape[0]
    mel_hz = htk_mel_centres_hz(n_mels, sample_rate) if mel_hz is None else _np(mel_hz)
    if len(mel_hz) != n_mels:
        raise ValueError(f"mel_hz has {len(mel_hz)} entries for {n_mels} Mel bins")
    bands = list(bands or [])

    if m.ndim == 1:
        fig, (ax_m, ax_s) = plt.subplots(2, 1, figsize=(8.5, 5.6), sharex=True, layout="constrained")
        pos = np.arange(n_mels)
        ax_m.fill_between(pos, np.clip(m - s, 0, 1), np.clip(m + s, 0, 1), color="C0", alpha=0.25,
                          label="mean \u00b1 std")
        ax_m.plot(pos, m, color="C0", lw=1.6, label="mean")
        ax_m.axhline(0.5, color="k", ls=":", lw=1, label="0.5 = sigmoid(0)")
        ax_m.set_ylim(0, 1.02)
        ax_m.set_ylabel("attention weight")
        ax_s.plot(pos, s, color="C1", lw=1.6, label="std")
        ax_s.set_ylim(bottom=0)
        ax_s.set_ylabel("std of attention weight")
        ax_s.set_xlabel("frequency [Hz] (Mel-spaced axis)")
        for i, (lo, hi, label) in enumerate(bands):
            a, b = _mel_position([lo, hi], mel_hz)
            colour = _BAND_COLOURS[i % len(_BAND_COLOURS)]
            for ax in (ax_m, ax_s):
                ax.axvspan(a, b, color=colour, alpha=0.12, label=label if ax is ax_m else None)
        ax_s.set_xlim(-0.5, n_mels - 0.5)
        _set_hz_ticks(ax_s.xaxis, mel_hz)
        ax_m.legend(fontsize=8, loc="best", ncol=2)
        ax_m.set_title("mean over test clips and frames")
        ax_s.set_title("standard deviation")
    else:
        n_frames = m.shape[1]
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.0), layout="constrained")
        extent = _frame_extent(n_frames, n_mels, sample_rate, hop)
        for ax, data, name, kw in ((axes[0], m, "mean", dict(vmin=0.0, vmax=1.0, cmap="viridis")),
                                   (axes[1], s, "standard deviation", dict(vmin=0.0, cmap="magma"))):
            im = ax.imshow(data, origin="lower", aspect="auto", extent=extent, interpolation="nearest", **kw)
            fig.colorbar(im, ax=ax, label=f"{name} of attention weight", pad=0.01)
            ax.set_title(f"{name} over test clips")
            ax.set_xlabel("time [s]")
            ax.set_ylabel("frequency [Hz] (Mel-spaced)")
            _set_hz_ticks(ax.yaxis, mel_hz)
            for i, (lo, hi, label) in enumerate(bands):
                a, b = _mel_position([lo, hi], mel_hz)
                colour = _BAND_COLOURS[i % len(_BAND_COLOURS)]
                for edge in (a, b):
                    ax.axhline(edge, color="white", ls="--", lw=1.2)
                ax.text(extent[0] + 0.01 * (extent[1] - extent[0]), (a + b) / 2, label, color="white",
                        fontsize=7.5, va="center", ha="left",
                        bbox=dict(facecolor=colour, alpha=0.75, edgecolor="none", pad=1.5))
    fig.suptitle(title or "log-Mel attention map on the test set")
    return fig


# --------------------------------------------------------------------------- evaluation

#: Order of machine types in the paper's tables (other group keys follow, sorted).
TYPE_ORDER = ("fan", "pump", "slider", "valve", "ToyCar", "ToyConveyor")


def _groups(df: pd.DataFrame, by: str | None):
    if by is None:
        return [("all", df)]
    groups = dict(list(df.groupby(by, sort=True)))
    order = [k for k in TYPE_ORDER if k in groups] + [k for k in groups if k not in TYPE_ORDER]
    return [(k, groups[k]) for k in order]


def plot_roc_curves(scores_df: pd.DataFrame, by: str | None = "machine_type", score_col: str = "score",
                    label_col: str = "anomaly", max_fpr: float = 0.1, title: str | None = None) -> Figure:
    """ROC curve per machine type (pooled over its clips), with AUC, pAUC and the FPR = 0.1 limit marked. Notebook 04.

    ``scores_df`` has one row per test clip: ``by`` (e.g. ``machine_type``), ``anomaly`` (0/1) and
    ``score`` (higher = more anomalous). Groups with only one label are skipped.
    """
    fig, ax = plt.subplots(figsize=(6.2, 5.6), layout="constrained")
    ax.axvspan(0, max_fpr, color="0.9", zorder=0)
    ax.axvline(max_fpr, color="0.4", ls="--", lw=1, label=f"FPR = {max_fpr:g} (pAUC limit)")
    ax.plot([0, 1], [0, 1], color="0.6", ls=":", lw=1, label="chance")
    for i, (key, g) in enumerate(_groups(scores_df, by)):
        y, sc = g[label_col].astype(int).to_numpy(), g[score_col].to_numpy(dtype=float)
        if len(np.unique(y)) < 2:
            continue
        fpr, tpr, _ = roc_curve(y, sc)
        auc = roc_auc_score(y, sc) * 100
        pauc = roc_auc_score(y, sc, max_fpr=max_fpr) * 100
        ax.plot(fpr, tpr, lw=1.6, color=f"C{i % 10}", label=f"{key}: AUC {auc:.1f} %, pAUC {pauc:.1f} %")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false positive rate (normal clips flagged)")
    ax.set_ylabel("true positive rate (anomalies caught)")
    ax.set_title(title or "ROC curves" + (f" per {by.replace('_', ' ')}" if by else " (all clips)"))
    ax.legend(fontsize=7.5, loc="lower right")
    return fig


def plot_score_histograms(scores_df: pd.DataFrame, by: str | None = "machine_type", score_col: str = "score",
                          label_col: str = "anomaly", bins: int = 30, ncols: int = 3,
                          title: str | None = None) -> Figure:
    """Histograms of anomaly scores, normal vs anomalous clips, one panel per machine type. Notebook 04."""
    groups = _groups(scores_df, by)
    ncols = max(1, min(ncols, len(groups)))
    nrows = math.ceil(len(groups) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.0 * nrows), squeeze=False,
                             layout="constrained")
    flat = axes.ravel()
    for ax, (key, g) in zip(flat, groups):
        sc = g[score_col].to_numpy(dtype=float)
        y = g[label_col].astype(int).to_numpy()
        edges = np.histogram_bin_edges(sc[np.isfinite(sc)], bins=bins)
        for lab, name, colour in ((0, "normal", "C0"), (1, "anomaly", "C3")):
            vals = sc[y == lab]
            if len(vals):
                ax.hist(vals, bins=edges, density=True, alpha=0.55, color=colour,
                        label=f"{name} (n={len(vals)})")
        ax.set_title(str(key))
        ax.set_xlabel("anomaly score")
        ax.set_ylabel("density")
        ax.legend(fontsize=7.5)
    for ax in flat[len(groups):]:
        fig.delaxes(ax)
    fig.suptitle(title or "anomaly scores: normal vs anomalous test clips")
    return fig


def plot_training_curves(log_df: pd.DataFrame, title: str | None = None) -> Figure:
    """Training/validation loss, accuracy and learning rate per epoch from a training log (NaN gaps allowed). Notebook 03.

    Uses the columns it finds among ``epoch``, ``train_loss``, ``val_loss``, ``train_acc``,
    ``val_acc`` (fractions or %) and ``lr``. Two panels; a learning-rate axis is added to the
    accuracy panel when ``lr`` was logged.
    """
    if "epoch" not in log_df:
        log_df = log_df.assign(epoch=np.arange(1, len(log_df) + 1))

    def series(col):
        if col not in log_df:
            return None
        d = log_df[["epoch", col]].dropna()
        return d if len(d) else None

    fig, (ax_l, ax_a) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    for col, name, colour in (("train_loss", "training", "C0"), ("val_loss", "validation", "C1")):
        d = series(col)
        if d is not None:
            ax_l.plot(d["epoch"], d[col], marker="o" if len(d) < 30 else None, ms=3, color=colour, label=name)
    ax_l.set_xlabel("epoch")
    ax_l.set_ylabel("loss (ArcFace cross-entropy, nats)")
    ax_l.set_title("loss")
    if ax_l.lines:
        ax_l.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)

    for col, name, colour in (("train_acc", "training (label y_a of mixed batches)", "C0"),
                              ("val_acc", "validation", "C2")):
        d = series(col)
        if d is not None:
            acc = d[col].to_numpy(dtype=float)
            acc = acc * 100 if np.nanmax(acc) <= 1.0 else acc
            ax_a.plot(d["epoch"], acc, marker="o" if len(d) < 30 else None, ms=3, color=colour, label=name)
    if ax_a.lines:
        ax_a.set_ylim(0, 101)
    else:
        ax_a.text(0.5, 0.5, "no accuracy logged", transform=ax_a.transAxes, ha="center",
                  va="center", color="0.4")
    for ax in (ax_l, ax_a):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_a.set_xlabel("epoch")
    ax_a.set_ylabel("machine-ID accuracy [%]")
    ax_a.set_title("machine-ID classification accuracy")
    d = series("lr")
    if d is not None:
        ax_lr = ax_a.twinx()
        ax_lr.plot(d["epoch"], d["lr"], color="0.5", ls="--", lw=1.2, label="learning rate (right axis)")
        ax_lr.set_ylabel("learning rate")
        ax_lr.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
        handles = ax_a.get_legend_handles_labels()[0] + ax_lr.get_legend_handles_labels()[0]
        ax_a.legend(handles=handles, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3)
    elif ax_a.lines:
        ax_a.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    if title:
        fig.suptitle(title)
    return fig


def plot_waveform(wave, sample_rate: int = SAMPLE_RATE, title: str | None = None) -> Figure:
    """A waveform against time in seconds (amplitude relative to full scale). Notebook 01."""
    w = _np(wave).reshape(-1)
    t = np.arange(len(w)) / sample_rate
    fig, ax = plt.subplots(figsize=(9, 2.6), layout="constrained")
    ax.plot(t, w, lw=0.5, color="C0")
    ax.set_xlim(0, t[-1] if len(t) else 1)
    ax.set_xlabel("time [s]")
    ax.set_ylabel("amplitude [full scale]")
    ax.set_title(title or f"waveform ({len(w) / sample_rate:.2f} s at {sample_rate / 1000:g} kHz)")
    return fig


# --------------------------------------------------------------------------- notebooks 01-03

def plot_logmels(logmels: Sequence, titles: Sequence[str], sample_rate: int = SAMPLE_RATE, hop: int = HOP,
                 title: str | None = None) -> Figure:
    """Log-Mel spectrograms side by side on one shared dB colour scale, frequency axis in Hz. Notebook 01."""
    mats = [_channels(x, "log-Mel")[0] for x in logmels]
    if len(titles) != len(mats):
        raise ValueError(f"{len(mats)} spectrograms but {len(titles)} titles")
    vmin = min(float(np.percentile(m, 1)) for m in mats)
    vmax = max(float(m.max()) for m in mats)
    fig, axes = plt.subplots(1, len(mats), figsize=(4.8 * len(mats) + 0.8, 3.5), squeeze=False,
                             layout="constrained")
    im = None
    for ax, m, name in zip(axes[0], mats, titles):
        im = ax.imshow(m, origin="lower", aspect="auto", cmap="magma", vmin=vmin, vmax=vmax,
                       extent=_frame_extent(m.shape[1], m.shape[0], sample_rate, hop), interpolation="nearest")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("time [s]")
        ax.set_ylabel("frequency [Hz] (Mel-spaced)")
        _set_hz_ticks(ax.yaxis, htk_mel_centres_hz(m.shape[0], sample_rate))
    fig.colorbar(im, ax=list(axes[0]), label="level [dB]", pad=0.01)
    if title:
        fig.suptitle(title)
    return fig


def plot_mel_filterbank(filterbank, sample_rate: int = SAMPLE_RATE, title: str | None = None) -> Figure:
    """A Mel filterbank (n_freqs x n_mels): every triangle against Hz, and each filter's centre frequency. Notebook 02."""
    fb = _np(filterbank)
    if fb.ndim != 2:
        raise ValueError(f"filterbank: expected shape (n_freqs, n_mels), got {fb.shape}")
    n_freqs, n_mels = fb.shape
    hz = np.linspace(0, sample_rate / 2, n_freqs)
    fig, (ax_f, ax_c) = plt.subplots(1, 2, figsize=(12, 3.8), layout="constrained",
                                     gridspec_kw={"width_ratios": [2.2, 1]})
    colours = plt.cm.viridis(np.linspace(0, 1, n_mels))
    for k in range(n_mels):
        ax_f.plot(hz, fb[:, k], color=colours[k], lw=0.8)
    ax_f.set_xlim(0, sample_rate / 2)
    ax_f.set_xlabel("frequency [Hz]")
    ax_f.set_ylabel("filter weight")
    ax_f.set_title(f"{n_mels} triangular filters on {n_freqs} STFT bins")
    centres = hz[np.argmax(fb, axis=0)]
    ax_c.plot(np.arange(n_mels), centres, ".", ms=3, color="C1", label="peak of each filter")
    ax_c.plot(np.arange(n_mels), htk_mel_centres_hz(n_mels, sample_rate), lw=1, color="0.3",
              label="HTK Mel centre")
    ax_c.set_xlabel("Mel bin")
    ax_c.set_ylabel("centre frequency [Hz]")
    ax_c.set_title("centres: ~linear below 1 kHz, ~log above")
    ax_c.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def plot_wavegram_rank(matrices, driver, channel_outputs, n_channels: int = 8,
                       title: str | None = None) -> Figure:
    """Left: normalised singular values of (channels x frames) matrices; right: channels against one per-frame value. Notebook 02.

    ``matrices`` maps a legend name to a (channels, frames) array; ``driver`` is the one number per
    frame (the depthwise output d_t) and ``channel_outputs`` the (channels, frames) Wavegram, of
    which ``n_channels`` evenly spaced channels are drawn against ``driver``.
    """
    fig, (ax_s, ax_d) = plt.subplots(1, 2, figsize=(12, 4.0), layout="constrained")
    for i, (name, mat) in enumerate(matrices.items()):
        s = np.linalg.svd(_np(mat), compute_uv=False)
        s = s / s[0] if s[0] > 0 else s
        ax_s.semilogy(np.arange(1, len(s) + 1), np.maximum(s, 1e-12), marker="o" if len(s) < 20 else None,
                      ms=2.5, lw=1.4, color=f"C{i}", label=name)
    ax_s.axhline(1e-5, color="0.5", ls=":", lw=1)
    ax_s.text(1.5, 1.4e-5, "numerical zero (float32)", fontsize=7.5, color="0.4")
    ax_s.set_xlabel("singular value index")
    ax_s.set_ylabel("singular value / largest")
    ax_s.set_title("how many independent patterns across the channels?")
    ax_s.legend(fontsize=8)
    d, out = _np(driver).reshape(-1), _np(channel_outputs)
    if out.ndim != 2 or out.shape[1] != d.size:
        raise ValueError(f"channel_outputs must be (channels, {d.size}), got {out.shape}")
    picks = np.linspace(0, out.shape[0] - 1, min(n_channels, out.shape[0])).astype(int)
    for j, c in enumerate(picks):
        ax_d.plot(d, out[c], ".", ms=3, alpha=0.7, color=plt.cm.tab10(j % 10), label=f"channel {c}")
    ax_d.set_xlabel("depthwise output $d_t$ (one number per frame)")
    ax_d.set_ylabel("Wavegram channel value")
    ax_d.set_title("every channel is a function of $d_t$ alone")
    ax_d.legend(fontsize=7, ncol=2)
    if title:
        fig.suptitle(title)
    return fig


# --------------------------------------------------------------------------- teaching figures

def _seaborn_style(fn):
    """Draw ``fn``'s figure in seaborn's whitegrid style, without changing matplotlib's global style."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=0.85):
            return fn(*args, **kwargs)

    return wrapper


def _seaborn():
    return sns


@_seaborn_style
def plot_lambda_histogram(lams, alpha: float = 0.2, title: str | None = None) -> Figure:
    """Histogram of mixup's lambda ~ Beta(alpha, alpha) with its exact density, and where the margin goes. Notebook 03.

    ``lams`` are draws (one per batch). The left half (lambda < 0.5) is shaded: there the clip
    whose label gets the ArcFace margin (y_a, weight lambda) is the *minor* part of the mix.
    """
    sns = _seaborn()
    lams = _np(lams).reshape(-1)
    fig, ax = plt.subplots(figsize=(7.5, 4.0), layout="constrained")
    sns.histplot(x=lams, bins=np.linspace(0, 1, 41), stat="density", color="C0", alpha=0.6,
                 ax=ax, label=f"{len(lams):,} draws")
    grid = np.linspace(0.002, 0.998, 400)
    ax.plot(grid, beta.pdf(grid, alpha, alpha), color="k", lw=1.2, label=f"Beta({alpha:g}, {alpha:g}) density")
    ax.axvspan(0, 0.5, color="C3", alpha=0.08, zorder=0)
    ax.axvline(0.5, color="C3", lw=1, ls="--")
    ax.axvline(0.1, color="C3", lw=1, ls=":")
    ax.text(0.27, 0.93, f"lambda < 0.5: the margin goes to the minor part\n"
                        f"P = {beta.cdf(0.5, alpha, alpha):.0%} (exact), {np.mean(lams < 0.5):.1%} of the draws",
            transform=ax.transAxes, ha="center", va="top", fontsize=8, color="C3")
    ax.text(0.11, 0.6, f"lambda < 0.1:\nP = {beta.cdf(0.1, alpha, alpha):.1%}", transform=ax.transAxes,
            fontsize=8, color="C3")
    ax.set_ylim(0, min(ax.get_ylim()[1], 6.0))
    ax.set_xlim(0, 1)
    ax.set_xlabel("lambda (weight of the clip whose label y_a gets the margin)")
    ax.set_ylabel("density")
    ax.set_title(title or f"mixup coefficient lambda ~ Beta({alpha:g}, {alpha:g}), one per batch")
    ax.legend(fontsize=8, loc="upper right")
    return fig


@_seaborn_style
def plot_arcface_geometry(s: float = 40.0, m: float = 0.7, theta_deg: float = 50.0,
                          other_deg: float = 120.0, title: str | None = None) -> Figure:
    """ArcFace geometry: an embedding's angle to its class with and without the margin, and the logits against the angle. Notebook 03.

    Left: two class directions ``other_deg`` apart on the unit circle and an embedding at
    ``theta_deg`` from its class; the margin scores it as if it were at ``theta_deg + m``. Right:
    the true-class logit without (s cos theta) and with the margin (``asdlib.nets.loss.ArcFace``,
    including its fallback past pi - m), and the other class's logit s cos(other - theta).
    """

    head = ArcFace(embedding_dim=2, num_classes=1, s=s, m=m)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, 0.0]]))
    theta = np.linspace(0.0, np.pi, 361)
    emb = torch.tensor(np.stack([np.cos(theta), np.sin(theta)], axis=1), dtype=torch.float32)
    with torch.no_grad():
        with_margin = head(emb, torch.zeros(len(theta), dtype=torch.long))[:, 0].numpy()
    plain = s * np.cos(theta)
    deg = np.degrees(theta)

    fig, (ax_c, ax_l) = plt.subplots(1, 2, figsize=(11.5, 4.6), layout="constrained",
                                     gridspec_kw={"width_ratios": [1, 1.35]})
    ax_c.add_patch(Circle((0, 0), 1.0, fill=False, color="0.7", lw=1))
    t, mm, o = np.radians(theta_deg), m, np.radians(other_deg)
    for ang, name, col in ((0.0, "class y (true)", "C0"), (o, "another class", "C2")):
        ax_c.annotate("", xy=(np.cos(ang), np.sin(ang)), xytext=(0, 0),
                      arrowprops={"arrowstyle": "-|>", "color": col, "lw": 2})
        ax_c.text(1.08 * np.cos(ang), 1.08 * np.sin(ang), name, color=col, fontsize=8,
                  ha="left" if np.cos(ang) >= 0 else "right", va="center")
    ax_c.annotate("", xy=(np.cos(t), np.sin(t)), xytext=(0, 0),
                  arrowprops={"arrowstyle": "-|>", "color": "k", "lw": 1.6})
    ax_c.text(1.08 * np.cos(t), 1.08 * np.sin(t), "embedding h", fontsize=8, va="bottom")
    ax_c.plot([0, np.cos(t + mm)], [0, np.sin(t + mm)], color="C3", ls="--", lw=1.4)
    ax_c.text(0.75 * np.cos(t + mm), 0.75 * np.sin(t + mm), "  scored as if here", color="C3", fontsize=8)
    arc = np.linspace(0, t, 50)
    ax_c.plot(0.3 * np.cos(arc), 0.3 * np.sin(arc), color="C0", lw=1.2)
    ax_c.text(0.36 * np.cos(t / 2), 0.36 * np.sin(t / 2), f"theta = {theta_deg:g} deg", fontsize=8, color="C0")
    arc = np.linspace(t, t + mm, 30)
    ax_c.plot(0.5 * np.cos(arc), 0.5 * np.sin(arc), color="C3", lw=2)
    ax_c.text(0.56 * np.cos(t + mm / 2), 0.56 * np.sin(t + mm / 2), f"+ m = {np.degrees(mm):.1f} deg",
              fontsize=8, color="C3")
    ax_c.set_xlim(-1.35, 1.35)
    ax_c.set_ylim(-0.35, 1.3)
    ax_c.set_aspect("equal")
    ax_c.axis("off")
    ax_c.set_title("angles on the unit circle (2-D toy)")

    ax_l.plot(deg, plain, color="C0", label="true class, no margin: s cos(theta)")
    ax_l.plot(deg, with_margin, color="C3", label="true class, ArcFace: s cos(theta + m)")
    ax_l.plot(deg, s * np.cos(o - theta), color="C2", ls="--",
              label=f"other class at {other_deg:g} deg: s cos({other_deg:g} deg - theta)")
    wins = deg[with_margin > s * np.cos(o - theta)]
    if len(wins):
        ax_l.axvspan(0, wins.max(), color="C3", alpha=0.08)
        ax_l.text(wins.max() / 2, -0.9 * s, f"true class wins\nwith the margin:\ntheta < {wins.max():.0f} deg",
                  ha="center", fontsize=8, color="C3")
    fallback = np.degrees(np.pi - m)
    ax_l.axvline(fallback, color="0.5", ls=":", lw=1)
    ax_l.text(fallback, 0.85 * s, " fallback past\n 180 deg - m", fontsize=7.5, color="0.4")
    ax_l.axvline(theta_deg, color="k", lw=0.8)
    ax_l.set_xlim(0, 180)
    ax_l.set_xlabel("theta: angle between the embedding and its class direction [deg]")
    ax_l.set_ylabel("logit")
    ax_l.set_title(f"logits against the angle (s = {s:g}, m = {m:g} rad)")
    ax_l.legend(fontsize=7.5, loc="upper right")
    if title:
        fig.suptitle(title)
    return fig


#: How ``plot_auc_by_epoch`` marks the checkpoint each selection protocol picked.
SELECTION_STYLE = {"paper": ("C3", "*", "paper: best global test AUC (test data)"),
                   "validation": ("C2", "s", "validation: lowest validation loss"),
                   "last": ("0.2", "D", "last epoch")}


@_seaborn_style
def plot_auc_by_epoch(checkpoints: pd.DataFrame, selection: pd.DataFrame | dict,
                      metrics: Sequence[str] = ("global_auc", "official_auc", "pooled_auc"),
                      log: pd.DataFrame | None = None, title: str | None = None) -> Figure:
    """Test AUC of every saved checkpoint against the epoch, with the three selection protocols' picks marked. Notebook 04.

    ``checkpoints`` is ``evaluation/checkpoints.csv`` (``epoch``, the AUC columns, ``val_loss``);
    ``selection`` is ``evaluation/selection.csv`` (``protocol``, ``epoch``) or {protocol: epoch}.
    A lower panel shows the validation loss that the ``validation`` protocol minimises: at every
    epoch when the training ``log`` (``asdlib.engine.train.read_log``) is given, else at the checkpoints.
    """
    sns = _seaborn()
    picks = (dict(zip(selection["protocol"], selection["epoch"])) if isinstance(selection, pd.DataFrame)
             else dict(selection))
    missing = [c for c in ("epoch", *metrics) if c not in checkpoints]
    if missing:
        raise ValueError(f"checkpoints table lacks column(s) {missing}")
    names = {"global_auc": "global AUC (one ROC, all clips)", "official_auc": "official per-ID mean",
             "pooled_auc": "pooled per-type mean (authors)"}
    long = checkpoints.melt(id_vars="epoch", value_vars=list(metrics), var_name="metric", value_name="AUC [%]")
    long["metric"] = long["metric"].map(lambda c: names.get(c, c))
    has_val = "val_loss" in checkpoints and checkpoints["val_loss"].notna().any()
    fig, axes = plt.subplots(2 if has_val else 1, 1, figsize=(8.5, 6.4 if has_val else 4.2), sharex=True,
                             layout="constrained", squeeze=False,
                             gridspec_kw={"height_ratios": [2.2, 1]} if has_val else None)
    ax = axes[0, 0]
    sns.lineplot(data=long, x="epoch", y="AUC [%]", hue="metric", marker="o", ax=ax)
    first = metrics[0]
    by_epoch = checkpoints.set_index("epoch")
    for k, (protocol, epoch) in enumerate(picks.items()):
        colour, marker, label = SELECTION_STYLE.get(protocol, ("0.5", "o", protocol))
        if epoch not in by_epoch.index:
            continue
        ax.scatter([epoch], [by_epoch.at[epoch, first]], s=260 - 60 * k, marker=marker, facecolor="none",
                   edgecolor=colour, linewidth=2, zorder=5, label=f"{label}: epoch {epoch}")
    ax.set_title("test AUC of every saved checkpoint; the three protocols' picks on the "
                 + names.get(first, first))
    ax.legend(fontsize=7.5, loc="lower right")
    if has_val:
        axv = axes[1, 0]
        if log is not None and "val_loss" in log:
            axv.semilogy(log["epoch"], log["val_loss"], color="C2", lw=1, alpha=0.6, label="every epoch")
        axv.semilogy(checkpoints["epoch"], checkpoints["val_loss"], marker="o", ls="none" if log is not None
                     else "-", color="C2", label="saved checkpoints")
        if picks.get("validation") in by_epoch.index:
            e = picks["validation"]
            axv.scatter([e], [by_epoch.at[e, "val_loss"]], s=200, marker="s", facecolor="none",
                        edgecolor="C2", linewidth=2, zorder=5)
        axv.set_ylabel("validation loss")
        if log is not None:
            axv.legend(fontsize=7.5, loc="upper right")
        axv.set_title("validation loss (5 % hold-out of normal training clips)", fontsize=9)
    axes[-1, 0].set_xlabel("epoch")
    axes[-1, 0].xaxis.set_major_locator(MaxNLocator(integer=True))
    if title:
        fig.suptitle(title)
    return fig


@_seaborn_style
def plot_scores_per_id(scores_df: pd.DataFrame, score_col: str = "score", label_col: str = "anomaly",
                       title: str | None = None) -> Figure:
    """Anomaly-score distributions per machine ID, normal vs anomalous clips (box plots and points). Notebook 04."""
    sns = _seaborn()
    need = {"machine_type", "machine_id", score_col, label_col}
    if not need <= set(scores_df.columns):
        raise ValueError(f"scores table lacks column(s) {sorted(need - set(scores_df.columns))}")
    d = scores_df.assign(machine=scores_df["machine_type"] + " " + scores_df["machine_id"].astype(str),
                         clip=np.where(scores_df[label_col].astype(int) == 1, "anomaly", "normal"))
    types = [t for t in TYPE_ORDER if t in set(d["machine_type"])] + sorted(
        set(d["machine_type"]) - set(TYPE_ORDER))
    order = [m for t in types for m in sorted(d.loc[d["machine_type"] == t, "machine"].unique())]
    fig, ax = plt.subplots(figsize=(8.5, 0.8 + 0.42 * len(order)), layout="constrained")
    kw = {"data": d, "x": score_col, "y": "machine", "hue": "clip", "order": order,
          "hue_order": ["normal", "anomaly"], "palette": {"normal": "C0", "anomaly": "C3"}}
    import warnings

    with warnings.catch_warnings():  # seaborn 0.13 passes matplotlib 3.10 a soon-deprecated `vert`
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        sns.boxplot(**kw, fliersize=0, width=0.7, boxprops={"alpha": 0.35}, ax=ax)
    sns.stripplot(**kw, dodge=True, size=2.5, alpha=0.6, legend=False, ax=ax)
    ax.set_xlabel(score_col.replace("_", " "))
    ax.set_ylabel("machine (type and ID)")
    ax.set_title(title or "anomaly scores per machine ID")
    ax.legend(title=None, fontsize=8, loc="lower right")
    return fig


@_seaborn_style
def plot_ablation_bars(table: pd.DataFrame, title: str | None = None) -> Figure:
    """Ablation bar chart: AUC per run and protocol with interval error bars, the paper's quoted value marked. Notebook 05.

    ``table`` has one row per run and protocol: ``run`` (label), ``protocol`` (bar colour),
    ``auc``, ``lo`` and ``hi`` (interval, NaN for none), and optionally ``paper_auc`` (quoted,
    drawn once per run as a black diamond).
    """
    sns = _seaborn()
    need = {"run", "protocol", "auc", "lo", "hi"}
    if not need <= set(table.columns):
        raise ValueError(f"ablation table lacks column(s) {sorted(need - set(table.columns))}")
    runs = list(dict.fromkeys(table["run"]))
    protocols = list(dict.fromkeys(table["protocol"]))
    fig, ax = plt.subplots(figsize=(max(7.0, 1.25 * len(runs) + 2), 4.6), layout="constrained")
    sns.barplot(data=table, x="run", y="auc", hue="protocol", order=runs, hue_order=protocols,
                errorbar=None, alpha=0.85, ax=ax)
    for container, protocol in zip(ax.containers, protocols):
        rows = table[table["protocol"] == protocol].set_index("run")
        for bar, run in zip(container, runs):
            if run in rows.index and np.isfinite(rows.at[run, "lo"]):
                x = bar.get_x() + bar.get_width() / 2
                ax.errorbar([x], [rows.at[run, "auc"]], color="k", lw=1, capsize=3,
                            yerr=[[rows.at[run, "auc"] - rows.at[run, "lo"]],
                                  [rows.at[run, "hi"] - rows.at[run, "auc"]]])
    if "paper_auc" in table:
        quoted = table.drop_duplicates("run").set_index("run")["paper_auc"]
        xs = [i for i, r in enumerate(runs) if np.isfinite(quoted.get(r, np.nan))]
        ax.scatter(xs, [quoted[runs[i]] for i in xs], marker="D", color="k", s=36, zorder=5,
                   label="paper (quoted, global AUC)")
    lows = np.r_[table["lo"].to_numpy(dtype=float), table["auc"].to_numpy(dtype=float)]
    ax.set_ylim(max(0.0, np.nanmin(lows) - 10), 100)
    ax.axhline(50, color="0.5", ls=":", lw=1)
    ax.set_xlabel("")
    ax.set_ylabel("AUC [%]")
    ax.tick_params(axis="x", labelrotation=20, labelsize=8)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=3)
    ax.set_title(title or "ablation: AUC per run")
    return fig


def plot_threshold_fit(scores: pd.DataFrame, params: dict, key: str, thresholds: dict) -> Figure:
    """Training-normal scores of one machine ID, the fitted gamma density and thresholds at several percentiles. Notebook 08.

    ``scores``: columns machine_type, machine_id, score (``thresholds.training_scores``);
    ``params``: ``thresholds.fit_gamma``'s {key: (shape, loc, scale)}; ``thresholds``:
    {percentile: threshold} for ``key`` ("<type>/<id>").
    """
    sns = _seaborn()
    mine = scores[(scores["machine_type"] + "/" + scores["machine_id"].astype(str)) == key]["score"]
    if mine.empty:
        raise ValueError(f"plot_threshold_fit: no scores of {key!r}")
    fig, ax = plt.subplots(figsize=(7.0, 3.6), layout="constrained")
    sns.histplot(x=mine.to_numpy(), stat="density", bins=min(40, max(8, len(mine) // 3)),
                 color="C0", alpha=0.5, ax=ax, label=f"{len(mine)} normal training clips")
    a, loc, scale = params[key]
    hi = max(float(mine.max()), max(thresholds.values())) * 1.1
    grid = np.linspace(max(loc, float(mine.min()) * 0.9), hi, 400)
    ax.plot(grid, gamma.pdf(grid, a, loc=loc, scale=scale), color="k", lw=1.2,
            label=f"gamma fit (shape {a:.2g})")
    for i, (p, t) in enumerate(sorted(thresholds.items())):
        ax.axvline(t, color=f"C{i + 1}", ls="--", lw=1.2, label=f"threshold at {p:g}: {t:.3g}")
    ax.set_xlabel("anomaly score")
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    return fig


def plot_seed_spread(long: pd.DataFrame, protocols: dict[str, tuple[str, str]] | None = None) -> Figure:
    """Global AUC of every seed run of every method under several (metric, selection) protocols, one dot per run. Notebook 07.

    ``long``: ``comparison.measured_long``; ``protocols``: {label: (metric, selection)}, default
    the global ROC at the test-selected, the validation-selected and the last checkpoint.
    """
    sns = _seaborn()
    protocols = protocols or {"best test AUC (authors)": ("global", "paper"),
                              "lowest validation loss": ("global", "validation"),
                              "last epoch": ("global", "last")}
    parts = []
    for label, (metric, selection) in protocols.items():
        sel = long[(long["metric"] == metric) & (long["selection"] == selection)
                   & long["machine_type"].isin(("global", "average"))]
        parts.append(sel.assign(protocol=label))
    data = pd.concat(parts, ignore_index=True)
    if data.empty:
        raise ValueError("plot_seed_spread: no rows for these protocols")
    fig, ax = plt.subplots(figsize=(8.0, 0.6 + 0.55 * data["method"].nunique()), layout="constrained")
    sns.stripplot(data=data, y="method", x="auc", hue="protocol", dodge=True, jitter=False, size=7,
                  ax=ax, palette="deep")
    ax.axvline(50, color="0.6", lw=0.8, ls=":")
    ax.set_xlabel("global AUC (%), one dot per seed")
    ax.set_ylabel("")
    ax.legend(fontsize=8, title="checkpoint", title_fontsize=8, loc="best")
    return fig


def plot_cost_vs_auc(table: pd.DataFrame, auc_col: str = "AUC") -> Figure:
    """Three panels, one per cost (parameters, MACs per clip, CPU latency), against a measured AUC per method. Notebook 07.

    ``table``: one row per method with ``method``, ``parameters``, ``MMACs per clip``,
    ``CPU ms per clip`` (optional) and ``auc_col``; logarithmic cost axes.
    """
    costs = [c for c in ("parameters", "MMACs per clip", "CPU ms per clip") if c in table.columns]
    fig, axes = plt.subplots(1, len(costs), figsize=(3.6 * len(costs), 3.4), layout="constrained",
                             sharey=True, squeeze=False)
    for ax, cost in zip(axes[0], costs):
        for i, (_, r) in enumerate(table.iterrows()):
            ax.scatter(r[cost], r[auc_col], color=f"C{i}", s=40, label=r["method"])
        ax.set_xscale("log")
        ax.set_xlabel(cost)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"{auc_col} (%)")
    axes[0][-1].legend(fontsize=7, loc="best")
    return fig
