"""The attention module's values over many clips (the paper's Fig. 4): per-bin statistics, flat bands, the paper's bands.

``attention_statistics`` runs a network's attention module over clips and keeps the mean and
spread of one channel per Mel bin (and per bin x frame) and the share of values exactly 0.5 (the
faithful module's floor: sigmoid of a ReLU output); ``attention_bands`` finds the runs of bins that
are flat at 0.5; ``fig4_band_check`` puts the paper's Fig. 4 bands beside ours.
Explained in notebook 06_attention.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from asdlib.data.store import load_batch
from asdlib.study.paper_numbers import PAPER_FIG4_CLAIMS


def attention_statistics(net, clips: pd.DataFrame, *, store=None, channel: int = 0,
                         num_samples: int | None = None, batch_size: int = 16,
                         progress: bool = False) -> dict:
    """Mean/std of one attention channel over clips (per bin x frame, per bin), share of values exactly 0.5. Notebook 06."""
    if net.attention is None:
        raise ValueError("this network has no attention module (attention = false)")
    n, device = num_samples or net.config.num_samples, next(net.parameters()).device
    acc = {"sum": 0.0, "sq": 0.0, "half": 0.0}
    lo, count = float("inf"), 0
    net.eval()
    with torch.no_grad():
        for start in tqdm(range(0, len(clips), batch_size), disable=not progress, unit="batch"):
            idx = range(start, min(start + batch_size, len(clips)))
            batch = load_batch(clips, idx, n, store)
            h = net.maps(torch.from_numpy(batch).to(device))["attention"][:, channel].double().cpu()
            acc["sum"] = acc["sum"] + h.sum(0)
            acc["sq"] = acc["sq"] + (h * h).sum(0)
            acc["half"] = acc["half"] + ((h - 0.5).abs() < 1e-7).double().sum(0)
            lo, count = min(lo, float(h.min())), count + len(idx)
    mean_map = acc["sum"] / count
    std_map = (acc["sq"] / count - mean_map ** 2).clamp(min=0).sqrt()
    mean = mean_map.mean(1)
    std = ((acc["sq"] / count).mean(1) - mean ** 2).clamp(min=0).sqrt()
    return {"mean": mean.numpy(), "std": std.numpy(), "mean_map": mean_map.numpy(),
            "std_map": std_map.numpy(), "share_at_half": (acc["half"] / count).mean(1).numpy(),
            "min": lo, "n_clips": count}


def attention_bands(mean, std, mel_hz, tol: float = 1e-6) -> pd.DataFrame:
    """Contiguous runs of Mel bins whose attention is flat at 0.5 (zero std) or above it, with their Hz ranges. Notebook 06."""
    mean, std, hz = (np.asarray(a, dtype=float) for a in (mean, std, mel_hz))
    flat = (np.abs(mean - 0.5) < tol) & (std < tol)
    rows, start = [], 0
    for i in range(1, len(flat) + 1):
        if i == len(flat) or flat[i] != flat[start]:
            rows.append({"kind": "flat: 0.5, zero std" if flat[start] else "above 0.5 / varying",
                         "first_bin": start, "last_bin": i - 1, "n_bins": i - start,
                         "low_hz": hz[start], "high_hz": hz[i - 1],
                         "mean_attention": mean[start:i].mean(), "mean_std": std[start:i].mean()})
            start = i
    return pd.DataFrame(rows)


def fig4_band_check(mean, std, mel_hz, share_at_half=None, tol: float = 1e-6) -> pd.DataFrame:
    """The paper's Fig. 4 bands beside what our attention statistics show in each (bins by centre frequency). Notebook 06."""
    mean, std, hz = (np.asarray(a, dtype=float) for a in (mean, std, mel_hz))
    flat = (np.abs(mean - 0.5) < tol) & (std < tol)
    lo_f, hi_f, label_f = PAPER_FIG4_CLAIMS["flat_band_hz"]
    bands = [(lo, hi, label, "important (above 0.5)")
             for lo, hi, label in PAPER_FIG4_CLAIMS["important_bands_hz"]]
    bands.append((lo_f, hi_f, label_f, "0.5 with zero variance"))
    rows = []
    for lo, hi, label, claim in sorted(bands):
        sel = (hz >= lo) & (hz < hi)
        rows.append({"band": label, "paper_claim": claim, "n_bins": int(sel.sum()),
                     "share_flat_bins_ours": flat[sel].mean() if sel.any() else np.nan,
                     "mean_attention_ours": mean[sel].mean() if sel.any() else np.nan,
                     "mean_std_ours": std[sel].mean() if sel.any() else np.nan})
        if share_at_half is not None:
            rows[-1]["share_values_at_0.5_ours"] = (np.asarray(share_at_half)[sel].mean()
                                                    if sel.any() else np.nan)
    return pd.DataFrame(rows)
