"""Comparing methods fairly: the proposed model and the peers under one protocol, over seeds, beside the paper's quoted rows.

- ``measured_long``: every number of every seed run of every method (metric protocol x
  selection protocol x machine type), from the runs' evaluations.
- ``seed_summary``: mean, standard deviation and the individual runs over the seeds.
- ``table1_with_peers`` / ``table2_with_peers``: the paper's Tables 1 and 2 with *measured* rows
  (mean +/- std over seeds) beside the *quoted* ones, which keep their label.
- ``protocol_effects``: how one method's number moves with the metric and the checkpoint choice;
  ``own_readings`` / ``own_protocol_table``: each method read the way its own code reads it (its
  checkpoint rule and its metric, per seed run), beside its quoted number.
- ``complexity_table``: parameters, MACs and CPU latency of every method at 10 s.

Explained in notebook 07_peers.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from asdlib.engine.metrics import TABLE1_ORDER, pooled_metrics
from asdlib.study.runs import run_config, run_dir, seed_run_name
from asdlib.study.tables import table1_reproduced
from asdlib.study.paper_numbers import paper_table1, paper_table2
from asdlib.nets.methods import PEERS, PROPOSED_OWN, PeerInfo
from asdlib.engine.complexity import count_macs, cpu_latency, human_count
from asdlib.nets.model import paper_length_network, parameter_counts

#: Which (metric, selection) each named protocol of the comparison means.
PROTOCOLS = {
    "authors": ("pooled", "paper"),      # the proposed paper's way: pooled ROC, test-selected
    "official_test": ("official", "paper"),
    "honest": ("official", "validation"),  # per-ID metric, chosen on the validation loss
    "last": ("official", "last"),
}
PROTOCOL_TEXT = {
    "authors": "pooled per-type ROC (authors' masks), checkpoint with the best global test AUC",
    "official_test": "official per-ID metric, checkpoint with the best global test AUC",
    "honest": "official per-ID metric, checkpoint with the lowest validation loss",
    "last": "official per-ID metric, last epoch",
}


def measured_long(profile: str, methods: dict[str, str], seeds: int) -> pd.DataFrame:
    """Long table of every seed run of every method: method, run, seed, metric, selection, machine_type, auc, pauc. Notebook 07.

    ``methods`` maps a configuration name (``proposed``, ``stgram_mfn`` ...) to its row label;
    runs of repeat ``k`` are ``seed_run_name(name, k)``. Raises ``FileNotFoundError`` naming a
    run that is not evaluated.
    """
    frames = []
    for name, label in methods.items():
        for k in range(seeds):
            run = seed_run_name(name, k)
            t = table1_reproduced(profile, run)
            t.insert(0, "method", label)
            t.insert(2, "seed", run_config(profile, run).train.seed)
            frames.append(t)
    return pd.concat(frames, ignore_index=True)


def mean_pm_std(mean: float, std: float, n: int, digits: int = 2) -> str:
    """``"92.36 ± 0.41"`` (``"92.36"`` for one run; empty for a missing value). Notebook 07."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return ""
    if n < 2 or std is None or math.isnan(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def seed_summary(long: pd.DataFrame) -> pd.DataFrame:
    """Mean, sample standard deviation (ddof 1), number and list of the seed runs per method x metric x selection x type. Notebook 07."""
    keys = ["method", "metric", "selection", "machine_type"]
    rows = []
    for key, g in long.groupby(keys, sort=False):
        row = dict(zip(keys, key))
        for v in ("auc", "pauc"):
            vals = g[v].to_numpy(dtype=float)
            row[f"{v}_mean"] = float(np.nanmean(vals)) if np.isfinite(vals).any() else np.nan
            row[f"{v}_std"] = float(np.nanstd(vals, ddof=1)) if np.isfinite(vals).sum() > 1 else np.nan
            row[f"{v}_runs"] = " / ".join(f"{x:.2f}" for x in vals)
        row["seeds"] = len(g)
        rows.append(row)
    return pd.DataFrame(rows)


def _pick(summary: pd.DataFrame, protocol: str) -> pd.DataFrame:
    metric, selection = PROTOCOLS[protocol]
    return summary[(summary["metric"] == metric) & (summary["selection"] == selection)]


def table1_with_peers(summary: pd.DataFrame, protocol: str = "authors") -> pd.DataFrame:
    """Table 1 (AUC / pAUC per machine type): the paper's quoted rows, then each measured method (mean ± std over seeds). Notebook 07.

    Columns: method, row (``quoted (paper)`` or ``measured: <protocol>``), seeds, then
    ``<type> AUC`` / ``<type> pAUC`` for the six types and ``mean``. Measured cells are strings
    ``mean ± std``; the CSV next to them (``seed_summary``) keeps the numbers.
    """
    quoted = paper_table1()
    rows = []
    for method, g in quoted.groupby("method", sort=False):
        row = {"method": method, "row": "quoted (paper)", "seeds": ""}
        per = g.set_index("machine_type")
        for t in TABLE1_ORDER:
            row[f"{t} AUC"], row[f"{t} pAUC"] = f"{per.at[t, 'auc']:.2f}", f"{per.at[t, 'pauc']:.2f}"
        row["mean AUC"], row["mean pAUC"] = f"{per['auc'].mean():.2f}", f"{per['pauc'].mean():.2f}"
        rows.append(row)
    picked = _pick(summary, protocol)
    mean_name = "average"
    for method, g in picked.groupby("method", sort=False):
        per = g.set_index("machine_type")
        row = {"method": method, "row": f"measured: {protocol}", "seeds": int(per["seeds"].max())}
        for t in (*TABLE1_ORDER, "mean"):
            src = mean_name if t == "mean" else t
            for v, col in (("auc", "AUC"), ("pauc", "pAUC")):
                row[f"{t} {col}"] = (mean_pm_std(per.at[src, f"{v}_mean"], per.at[src, f"{v}_std"],
                                                 int(per.at[src, "seeds"])) if src in per.index else "")
        rows.append(row)
    return pd.DataFrame(rows)


def table1_with_peers_both(summary: pd.DataFrame) -> pd.DataFrame:
    """Table 1 with the quoted rows once, then the measured rows under the authors' protocol and under the honest one. Notebook 07."""
    return pd.concat([table1_with_peers(summary, "authors"),
                      table1_with_peers(summary, "honest").query("row != 'quoted (paper)'")],
                     ignore_index=True)


def table2_with_peers(summary: pd.DataFrame, complexity: pd.DataFrame | None = None,
                      protocols=("authors", "honest")) -> pd.DataFrame:
    """Table 2 (parameters, average AUC / pAUC): quoted rows beside measured ones (global AUC, mean ± std over seeds). Notebook 07.

    The measured average is the global AUC/pAUC (one ROC over every test clip), the number the
    paper's Table 2 gives for the proposed model, at each protocol's checkpoint (``authors``:
    best global test AUC; ``honest``: lowest validation loss); ``official mean`` is the DCASE
    per-ID mean at the same checkpoint. ``complexity`` (``complexity_table``) adds measured
    parameters by method label.
    """
    rows = []
    for _, q in paper_table2().iterrows():
        rows.append({"method": q["method"], "row": "quoted (paper)", "seeds": "",
                     "parameters": q["parameters"], "AUC": f"{q['auc']:.2f}", "pAUC": f"{q['pauc']:.2f}",
                     "official mean AUC": "", "official mean pAUC": ""})
    params = {} if complexity is None else complexity.set_index("method")["parameters"].to_dict()
    for protocol in protocols:
        selection = PROTOCOLS[protocol][1]
        g = summary[summary["selection"] == selection]
        for method, m in g.groupby("method", sort=False):
            glob = m[(m["metric"] == "global")].set_index("machine_type")
            off = m[(m["metric"] == "official") & (m["machine_type"] == "average")]
            if "global" not in glob.index:
                continue
            r = glob.loc["global"]
            row = {"method": method, "row": f"measured: {protocol}", "seeds": int(r["seeds"]),
                   "parameters": params.get(method, ""),
                   "AUC": mean_pm_std(r["auc_mean"], r["auc_std"], int(r["seeds"])),
                   "pAUC": mean_pm_std(r["pauc_mean"], r["pauc_std"], int(r["seeds"]))}
            if len(off):
                o = off.iloc[0]
                row["official mean AUC"] = mean_pm_std(o["auc_mean"], o["auc_std"], int(o["seeds"]))
                row["official mean pAUC"] = mean_pm_std(o["pauc_mean"], o["pauc_std"], int(o["seeds"]))
            rows.append(row)
    return pd.DataFrame(rows)


def protocol_effects(summary: pd.DataFrame) -> pd.DataFrame:
    """Per method, the mean AUC (over seeds) of the six-type average under each metric x selection, and the spread between them. Notebook 07.

    Rows: method; columns ``<metric> / <selection>`` for the global ROC, the pooled per-type
    mean and the official per-ID mean at the three checkpoint choices; ``spread`` is the largest
    minus the smallest of them: how much of a comparison the protocol alone can move.
    """
    avg = summary[summary["machine_type"].isin(("average", "global"))]
    wide = avg.pivot_table(index="method", columns=["metric", "selection"], values="auc_mean",
                           sort=False)
    wide.columns = [f"{m} / {s}" for m, s in wide.columns]
    order = [f"{m} / {s}" for m in ("global", "pooled", "official") for s in ("paper", "validation", "last")]
    wide = wide[[c for c in order if c in wide.columns]]
    wide["spread"] = wide.max(axis=1) - wide.min(axis=1)
    return wide.reset_index()


def _info(name: str) -> PeerInfo:
    return PEERS.get(name, PROPOSED_OWN)


def own_epoch(checkpoints: pd.DataFrame, rule: str, selection: pd.DataFrame | None = None) -> int:
    """The epoch a method's own rule keeps, from a run's ``checkpoints.csv`` (and ``selection.csv``). Notebook 07.

    ``best_official_sum_test``: highest ``official_auc + official_pauc``, a tie keeping the later
    epoch (STgram-MFN's ``>=``); ``best_global_test``, ``validation``, ``last``: the engine's
    ``paper``, ``validation`` and ``last`` picks.
    """
    table = checkpoints.sort_values("epoch").reset_index(drop=True)
    if rule == "best_official_sum_test":
        total = (table["official_auc"] + table["official_pauc"]).to_numpy()
        return int(table["epoch"].iloc[np.flatnonzero(total == np.nanmax(total))[-1]])
    protocol = {"best_global_test": "paper", "validation": "validation", "last": "last"}[rule]
    if selection is None:
        raise ValueError(f"rule {rule!r} needs the run's selection.csv")
    return int(selection.set_index("protocol").at[protocol, "epoch"])


def own_readings(profile: str, methods: dict[str, str], seeds: int) -> pd.DataFrame:
    """Every seed run of every method read its own code's way: rule, epoch kept, metric, AUC and pAUC. Notebook 07.

    Metrics: ``official`` and ``global`` (the proposed model's authors) from the run's
    per-checkpoint table; ``pooled_by_type`` (TASTgram-MFN's ``eval.py``: one ROC per machine type
    over all its IDs, averaged over types) recomputed from the clip scores at the kept checkpoint.
    """
    rows = []
    for name, label in methods.items():
        for k in range(seeds):
            run = seed_run_name(name, k)
            reading = own_reading(run_dir(profile, run) / "evaluation", _info(name))
            rows.append({"method": label, "run": run, "seed": run_config(profile, run).train.seed, **reading})
    return pd.DataFrame(rows)


def own_reading(evaluation: Path, info: PeerInfo) -> dict:
    """One evaluated run (its ``evaluation/`` folder) read by a method's own rule and metric: rule, epoch, metric, auc, pauc. Notebook 07."""
    evaluation = Path(evaluation)
    if not (evaluation / "checkpoints.csv").is_file():
        raise FileNotFoundError(f"{evaluation}: no checkpoints.csv (the run is not evaluated)")
    ckpts = pd.read_csv(evaluation / "checkpoints.csv")
    selection = pd.read_csv(evaluation / "selection.csv")
    epoch = own_epoch(ckpts, info.own_rule, selection)
    at = ckpts.set_index("epoch").loc[epoch]
    if info.own_metric == "official":
        auc, pauc = float(at["official_auc"]), float(at["official_pauc"])
    elif info.own_metric == "global":
        auc, pauc = float(at["global_auc"]), float(at["global_pauc"])
    else:  # pooled_by_type: from the kept checkpoint's clip scores (its selection folder)
        kept = [p for p, e in selection.set_index("protocol")["epoch"].items() if int(e) == epoch]
        if not kept:
            raise ValueError(f"{evaluation}: no clip scores saved for epoch {epoch}")
        scores = pd.read_csv(evaluation / kept[0] / "clip_scores.csv")
        per_type = pooled_metrics(scores, label_map="distinct").set_index("machine_type")
        auc, pauc = float(per_type.at["average", "auc"]), float(per_type.at["average", "pauc"])
    return {"rule": info.own_rule, "epoch": epoch, "metric": info.own_metric, "auc": auc, "pauc": pauc}


def own_protocol_table(readings: pd.DataFrame, methods: dict[str, str]) -> pd.DataFrame:
    """Each method read the way its own code reads it (its checkpoint rule, its metric), mean ± std over seeds, beside its quoted Table 2 average. Notebook 07."""
    quoted = paper_table2().set_index("method")
    rows = []
    for name, label in methods.items():
        info = _info(name)
        g = readings[readings["method"] == label]
        rows.append({"method": label, "its own checkpoint choice": info.own_selection,
                     "its own metric": info.own_metric, "epochs kept": " / ".join(str(int(e)) for e in g["epoch"]),
                     "measured AUC": mean_pm_std(float(g["auc"].mean()), float(g["auc"].std(ddof=1)), len(g))
                     if len(g) else "",
                     "measured pAUC": mean_pm_std(float(g["pauc"].mean()), float(g["pauc"].std(ddof=1)), len(g))
                     if len(g) else "",
                     "quoted AUC (paper, Table 2)": (f"{quoted.at[info.quoted_as, 'auc']:.2f}"
                                                     if info.quoted_as in quoted.index else "not in the paper")})
    return pd.DataFrame(rows)


#: Every known difference between a peer's public code and our paper-profile run of it:
#: (method, item, theirs, ours, expected effect). Read from their code (docs/reproduction-notes.md
#: and the facts behind it); "ours" is what configs/paper/<peer>.toml and the engine do.
PEER_DIFFERENCES = (
    ("STgram-MFN", "training clips", "all development + additional training clips",
     "the same, less the 5 % validation hold-out every run of ours keeps",
     "5 % fewer training clips; small"),
    ("STgram-MFN", "checkpoint candidates", "tested every 10 epochs (every 2 in the older code behind its README)",
     "a checkpoint every 10 epochs, read by its rule (own-protocol table)",
     "none for the 10-epoch code; fewer candidates than the README's code, so a little less optimism"),
    ("STgram-MFN", "the other tables", "its own rule only",
     "also read under the authors' and the honest protocols", "shows what its rule adds"),
    ("TASTgram-MFN (Noisy-ArcMix)", "precision", "fp16 autocast without a GradScaler", "fp32",
     "rounding differences; fp16 without scaling can lose small gradients"),
    ("TASTgram-MFN (Noisy-ArcMix)", "checkpoint candidates", "validation loss after every epoch",
     "the lowest validation loss among checkpoints saved every 20 epochs",
     "its pick may fall between our checkpoints"),
    ("TASTgram-MFN (Noisy-ArcMix)", "metric", "one ROC per machine type (IDs pooled), averaged over types",
     "that metric in the own-protocol table; the official per-ID mean elsewhere",
     "pooling IDs ranks clips of different machines against each other"),
    ("TASTgram-MFN (Noisy-ArcMix)", "validation hold-out", "5 % (95/5 split)", "5 %, drawn by our seed", "none"),
    ("DCASE 2020 baseline AE", "batches", "512 five-frame windows of one machine type, shuffled over all its clips",
     "the same (train.batch_unit = windows)", "none"),
    ("DCASE 2020 baseline AE", "training clips", "development training clips only (development mode)",
     "the same (data.training_sets = development)", "none"),
    ("DCASE 2020 baseline AE", "clip length", "the whole clip (ToyCar 11 s)",
     "the same in training and scoring (model.whole_clips); the validation loss reads the first 10 s",
     "none on the kept model (its rule ignores the validation loss)"),
    ("DCASE 2020 baseline AE", "validation", "the last 10 % of windows (Keras validation_split)",
     "5 % of clips, unused by its last-epoch rule", "none on the kept model; 5 % fewer clips"),
    ("IDNN", "everything not in its paper", "no public code",
     "the DCASE baseline's training clips, window batches, optimiser and last epoch; 64-32-16-32-64 units, 128 Mel bins",
     "unknown: the row measures our reading of the paper"),
)


def peer_differences() -> pd.DataFrame:
    """Every known difference between each peer's public code and our run of it: item, theirs, ours, expected effect. Notebook 07."""
    return pd.DataFrame(PEER_DIFFERENCES, columns=["method", "item", "theirs", "ours", "expected effect"])


def seed_spread(long: pd.DataFrame, protocol: str = "honest") -> pd.DataFrame:
    """Per method and seed, the global and official-mean AUC at one protocol's checkpoint, with the range over seeds. Notebook 07."""
    metric, selection = PROTOCOLS[protocol]
    average = (long["metric"] == metric) & (long["machine_type"] == "average")
    sel = long[(long["selection"] == selection) & ((long["metric"] == "global") | average)]
    sel = sel.assign(number=np.where(sel["metric"] == "global", "global AUC", f"{metric} mean AUC"))
    return sel.pivot_table(index=["method", "seed"], columns="number", values="auc", sort=False).reset_index()


def complexity_table(profile: str, methods: dict[str, str], *, latency: bool = True,
                     threads: int = 1, repeats: int = 5) -> pd.DataFrame:
    """Parameters, MACs per 10-s clip and CPU latency (batch 1, ``threads`` threads) of every method's 10-s network. Notebook 07.

    Per-machine-type peers count one model (``models``: how many the method trains). Latency is
    measured here, now: compare the ratios within this table, not with other machines.
    """
    rows = []
    for name, label in methods.items():
        cfg = run_config(profile, name).model
        net = paper_length_network(cfg).eval()
        counts = parameter_counts(net)
        macs = count_macs(net)["total"]
        row = {"method": label, "run": name, "parameters": counts["total"],
               "parameters (paper style)": human_count(counts["total"]),
               "models": counts.get("models", 1), "MMACs per clip": macs / 1e6}
        if latency:
            lat = cpu_latency(net, threads=threads, repeats=repeats, warmup=1)
            row["CPU ms per clip"] = lat["median_s"] * 1000
        rows.append(row)
    return pd.DataFrame(rows)


__all__ = ["PROTOCOLS", "PROTOCOL_TEXT", "complexity_table", "mean_pm_std", "measured_long",
           "own_epoch", "own_protocol_table", "own_reading", "own_readings", "peer_differences", "protocol_effects", "seed_spread", "seed_summary", "table1_with_peers", "table1_with_peers_both", "table2_with_peers"]
