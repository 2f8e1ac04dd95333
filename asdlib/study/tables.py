"""Every paper-vs-ours table, built once: the notebooks call these builders and save what they return; REPORT.md reads the saved CSVs.

- ``table1_reproduced`` / ``runs_summary``: a run's numbers under every metric protocol x
  checkpoint selection (long format / one row per run), read from its evaluation folder.
- Table 1 and 2 of the proposed model (notebook 04): ``table1_with_ours`` (the paper's layout,
  quoted rows then ours per protocol), ``table2_with_ours`` (parameters and averages),
  ``table1_comparison`` and ``table2_comparison`` (the paper's row beside ours with the difference).
- Tables 3 and 4 and the honest variants (notebook 05): ``table3_with_ours``, ``table4_with_ours``,
  ``honest_variants_table``.
- ``authors_checkpoint_comparison``: the authors' released weights scored here; ``runs_table``:
  what every run of a profile is for and how far it got.

Quoted values come from ``asdlib.study.paper_numbers`` and are labelled so; nothing here prints
a paper number as ours. Explained in notebooks 04_evaluation and 05_ablation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from asdlib.data.dcase import MACHINE_TYPES
from asdlib.engine.config import RunConfig, profile_configs
from asdlib.engine.metrics import TABLE1_ORDER, metrics_wide
from asdlib.engine.train import read_log
from asdlib.outputs import format_duration
from asdlib.study.paper_numbers import (paper_table1, paper_table1_wide, paper_table2, paper_table3,
                                        paper_table4)
from asdlib.study.runs import (HONEST_RUNS, METRIC_PROTOCOLS, PEER_RUNS, TABLE3_RUNS, TABLE4_RUNS,
                               params_at_paper_length, run_config, run_dir, run_evaluated,
                               seed_count, seed_run_name, split_seed_name)

#: Row labels of ``table1_comparison``.
MEAN_ROW = "mean of the 6 types"
GLOBAL_ROW = "global: one ROC over all clips (Table 2)"
#: How Tables 1 and 2 name a metric protocol and a checkpoint selection.
METRIC_LABEL = {"official": "official (per-ID mean)", "pooled": "pooled (authors' masks)"}
SELECTION_LABEL = {"paper": "best global test AUC (selected on test data)",
                   "validation": "lowest validation loss", "last": "last epoch"}
#: What the columns of Tables 3 and 4 mean (their captions).
TABLES_3_4_LEGEND = ("'faithful': global AUC (one ROC over all test clips) at the checkpoint with the best "
                     "global test AUC, per-type mean beside it; 'honest': official per-ID metric, checkpoint "
                     "with the lowest validation loss")


# --------------------------------------------------------------------------- a run's numbers

def _per_type(folder: Path, selection: str, metric: str) -> pd.DataFrame:
    name = {"pooled": "metrics_pooled.csv", "global": "metrics_global.csv"}.get(metric,
                                                                              "metrics_per_type.csv")
    path = folder / "evaluation" / selection / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing: evaluate the run first (notebook 04)")
    return pd.read_csv(path)


def table1_reproduced(profile: str, name: str = "proposed") -> pd.DataFrame:
    """This profile's Table 1 rows (AUC/pAUC per type) for every metric protocol x selection. Notebook 04.

    Long format: metric, selection, machine_type, auc, pauc (percent). The ``pooled`` metric is
    only defined for runs with the ``paper`` label map. Metric ``global`` has one row per
    selection (machine_type ``global``): one ROC over every test clip, the authors' "Global AUC"
    and the number their Table 2 reports.
    """
    folder = run_dir(profile, name)
    rows = []
    for metric in (*METRIC_PROTOCOLS, "global"):
        for selection in ("paper", "validation", "last"):
            try:
                df = _per_type(folder, selection, metric)
            except FileNotFoundError:
                if metric == "pooled":
                    continue
                raise
            df = df[df["machine_type"].isin(MACHINE_TYPES + ("average", "all_clips", "global"))]
            for _, r in df.iterrows():
                rows.append({"run": name, "metric": metric, "selection": selection,
                             "machine_type": r["machine_type"], "auc": r["auc"], "pauc": r["pauc"]})
    return pd.DataFrame(rows)


def runs_summary(profile: str, names) -> pd.DataFrame:
    """One row per run: parameters (10-s network) and average AUC/pAUC per metric x selection. Notebook 05.

    Columns ``<metric>_<selection>_<auc|pauc>``; metric ``global`` is one ROC over all test clips
    (the paper's Tables 2-4 number), ``pooled`` the mean of the pooled per-type values,
    ``official`` the DCASE per-ID mean.
    """
    rows = []
    for name in names:
        config = run_config(profile, name)
        row = {"run": name, "parameters": params_at_paper_length(config)["total"],
               "label_map": config.data.label_map}
        t = table1_reproduced(profile, name)
        avg = t[t["machine_type"].isin(("average", "global"))]
        for _, r in avg.iterrows():
            row[f"{r['metric']}_{r['selection']}_auc"] = r["auc"]
            row[f"{r['metric']}_{r['selection']}_pauc"] = r["pauc"]
        rows.append(row)
    return pd.DataFrame(rows)

# --------------------------------------------------------------------------- Tables 1 and 2 (notebook 04)

def table1_layout(long: pd.DataFrame, method: str, source: str) -> pd.DataFrame:
    """Wide Table 1 rows (one per metric x selection) from a long table of per-type metrics (``table1_reproduced``). Notebook 04."""
    rows = []
    long = long[long.metric != "global"]          # one number, not per type: Table 2
    for (metric, sel), g in long.groupby(["metric", "selection"], sort=False):
        w = metrics_wide(g[g.machine_type.isin(TABLE1_ORDER)], method=method).reset_index()
        rows.append(w.assign(metric=METRIC_LABEL[metric], selection=SELECTION_LABEL[sel], source=source))
    wide = pd.concat(rows, ignore_index=True)
    return wide.rename(columns={f"{t}_{v}": f"{t} {'AUC' if v == 'auc' else 'pAUC'} [%]"
                                for t in TABLE1_ORDER for v in ("auc", "pauc")})


def table1_quoted() -> pd.DataFrame:
    """The paper's Table 1 rows as printed, each with its metric, selection and citation (all quoted). Notebook 04."""
    cites = paper_table1().drop_duplicates("method").set_index("method")["citation"]
    quoted = paper_table1_wide()
    proposed = quoted.method.str.startswith("Proposed")
    quoted["metric"] = np.where(proposed, METRIC_LABEL["pooled"], "official (per-ID mean), as published")
    quoted["selection"] = np.where(proposed, SELECTION_LABEL["paper"] + ", authors' code", "as published")
    quoted["source"] = "quoted from Neri & Carli 2024, Table 1; " + quoted.method.map(cites)
    return quoted


def table1_with_ours(profile: str, name: str = "proposed") -> pd.DataFrame:
    """Table 1 as the paper lays it out: the quoted rows, then this profile's run under every metric x selection. Notebook 04."""
    ours = table1_layout(table1_reproduced(profile, name), f"Proposed, reproduced ({profile} profile)",
                         f"this project, {profile} profile (computed)")
    return pd.concat([table1_quoted(), ours], ignore_index=True)


def table2_quoted() -> pd.DataFrame:
    """The paper's Table 2 rows (parameters, averages) with metric, selection and citation (all quoted). Notebook 04."""
    t2 = paper_table2()
    return t2[["method", "parameters", "auc", "pauc"]].assign(
        metric=np.where(t2.method.str.startswith("Proposed"),
                        "global (one ROC over all test clips), authors' code",
                        "official (per-ID mean), as published"),
        selection=table1_quoted().selection,
        source="quoted from Neri & Carli 2024, Table 2; " + t2.citation)


def table2_rows(long: pd.DataFrame, method: str, source: str, parameters: int) -> pd.DataFrame:
    """Table 2 rows (one per checkpoint selection): global AUC/pAUC, then the per-type means beside it. Notebook 04."""
    rows = []
    for sel, g in long.groupby("selection", sort=False):
        t = g.set_index(["metric", "machine_type"])

        def get(metric, mt, v):
            return t[v].get((metric, mt), np.nan)

        rows.append({"method": method, "parameters": f"{parameters:,}",
                     "auc": get("global", "global", "auc"), "pauc": get("global", "global", "pauc"),
                     "auc_pooled_type_mean": get("pooled", "average", "auc"),
                     "pauc_pooled_type_mean": get("pooled", "average", "pauc"),
                     "auc_official_mean": get("official", "average", "auc"),
                     "pauc_official_mean": get("official", "average", "pauc"),
                     "metric": "global (one ROC over all test clips)",
                     "selection": SELECTION_LABEL[sel], "source": source})
    return pd.DataFrame(rows)


def table2_with_ours(profile: str, name: str = "proposed") -> pd.DataFrame:
    """Table 2: the quoted rows, then this profile's run (measured parameters of the 10-s network, global AUC first). Notebook 04."""
    ours = table2_rows(table1_reproduced(profile, name), f"Proposed, reproduced ({profile} profile)",
                       f"this project, {profile} profile (computed; parameters measured on the 10-s network)",
                       params_at_paper_length(run_config(profile, name))["total"])
    return pd.concat([table2_quoted(), ours], ignore_index=True)


# --------------------------------------------------------------------------- Tables 3 and 4 (notebook 05)

def paper_vs_ours(paper_df: pd.DataFrame, names, keep, summary: pd.DataFrame) -> pd.DataFrame:
    """Quoted paper columns ``keep`` + AUC/pAUC, then ours (faithful and honest), one row per run of ``summary`` (``runs_summary`` indexed by run). Notebook 05."""
    t = paper_df[keep].copy()
    t.insert(0, "run", names)
    s = summary.loc[names]
    for v, name in (("auc", "AUC"), ("pauc", "pAUC")):
        t[f"{name} [%] paper (quoted)"] = paper_df[v].to_numpy()
        t[f"{name} [%] ours, faithful"] = s[f"global_paper_{v}"].to_numpy()
        t[f"{name} [%] ours, faithful per-type mean"] = s[f"pooled_paper_{v}"].to_numpy()
        t[f"{name} [%] ours, honest"] = s[f"official_validation_{v}"].to_numpy()
    return t


def _summary(profile: str, names, summary: pd.DataFrame | None) -> pd.DataFrame:
    return summary if summary is not None else runs_summary(profile, names).set_index("run")


def table3_with_ours(profile: str, summary: pd.DataFrame | None = None) -> pd.DataFrame:
    """Table 3 (features, ArcFace dimension h): the paper's rows beside ours, faithful and honest. Notebook 05."""
    names = list(TABLE3_RUNS)
    return paper_vs_ours(paper_table3(), names, ["study", "features", "h"], _summary(profile, names, summary))


def table4_with_ours(profile: str, summary: pd.DataFrame | None = None) -> pd.DataFrame:
    """Table 4 (separable convolutions, attention): the paper's rows and parameters beside ours. Notebook 05."""
    names = list(TABLE4_RUNS)
    t = paper_vs_ours(paper_table4(), names, ["method", "parameters"], _summary(profile, names, summary))
    t = t.rename(columns={"parameters": "parameters paper (quoted)"})
    t.insert(3, "parameters ours (10-s network)",
             [params_at_paper_length(run_config(profile, n))["total"] for n in names])
    return t


def honest_variants_table(profile: str, summary: pd.DataFrame | None = None) -> pd.DataFrame:
    """The honest variants beside ``proposed``: official per-ID metric at the validation and last checkpoints, the authors' pooled metric where defined. Notebook 05."""
    names = ["proposed", *HONEST_RUNS]
    s = _summary(profile, names, summary)
    honest = s.loc[names, ["label_map", "official_validation_auc", "official_validation_pauc",
                           "official_last_auc", "official_last_pauc",
                           "pooled_paper_auc", "pooled_paper_pauc"]].copy()
    honest.insert(0, "variant", ["as the authors", *HONEST_RUNS.values()])
    honest.insert(2, "parameters (10-s network)",
                  [params_at_paper_length(run_config(profile, n))["total"] for n in names])
    return honest.reset_index()


# --------------------------------------------------------------------------- paper beside ours, with differences

def compare_table(paper_df: pd.DataFrame, ours_df: pd.DataFrame, on: str | Sequence[str],
                  value_cols: Iterable[str] = ("auc", "pauc")) -> pd.DataFrame:
    """Paper's and our values side by side per key, with ``<value>_diff`` = ours - paper. Notebook 04.

    Columns: the keys ``on``, then for each value ``<value>_paper``, ``<value>_ours``,
    ``<value>_diff``. Keys present in only one table are kept (the other side is NaN); rows follow
    the paper table's order, then keys that only we have.
    """
    keys = [on] if isinstance(on, str) else list(on)
    values = list(value_cols)
    for name, df in (("paper_df", paper_df), ("ours_df", ours_df)):
        missing = [c for c in keys + values if c not in df.columns]
        if missing:
            raise KeyError(f"{name} lacks column(s) {missing}")
        if df.duplicated(keys).any():
            raise ValueError(f"{name} has more than one row per key {keys}")
    p = paper_df[keys + values].rename(columns={v: f"{v}_paper" for v in values})
    o = ours_df[keys + values].rename(columns={v: f"{v}_ours" for v in values})
    out = p.merge(o, on=keys, how="outer", sort=False)
    # Keep the paper's row order (an outer merge may reorder), then our extra keys.
    order = pd.concat([p[keys], o[keys]]).drop_duplicates().reset_index(drop=True)
    out = order.merge(out, on=keys, how="left")
    cols = list(keys)
    for v in values:
        out[f"{v}_diff"] = out[f"{v}_ours"] - out[f"{v}_paper"]
        cols += [f"{v}_paper", f"{v}_ours", f"{v}_diff"]
    return out[cols]


def table1_comparison(profile: str) -> pd.DataFrame:
    """Table 1 of the proposed model: the paper's row beside ours (pooled, test-selected), the difference and the honest value, plus the global AUC row. Notebook 04."""
    paper = paper_table1()
    paper = paper[paper["method"].str.startswith("Proposed")][["machine_type", "auc", "pauc"]]
    paper = pd.concat([paper, pd.DataFrame([{"machine_type": MEAN_ROW, "auc": paper["auc"].mean(),
                                             "pauc": paper["pauc"].mean()}])], ignore_index=True)
    ours = table1_reproduced(profile, "proposed").replace({"machine_type": {"average": MEAN_ROW}})
    keep = ours["machine_type"].isin((*MACHINE_TYPES, MEAN_ROW))
    faithful = ours[keep & (ours.metric == "pooled") & (ours.selection == "paper")]
    honest = ours[keep & (ours.metric == "official") & (ours.selection == "validation")]
    out = compare_table(paper, faithful, on="machine_type")
    h = honest.set_index("machine_type")
    out["auc_honest"] = out["machine_type"].map(h["auc"])
    out["pauc_honest"] = out["machine_type"].map(h["pauc"])
    # The paper's overall number (Table 2) is the global AUC: one ROC over every test clip.
    t2 = paper_table2().set_index("method").loc["Proposed approach (paper)"]
    glob = ours[ours.metric == "global"].set_index("selection")
    if "paper" in glob.index:
        row = {"machine_type": GLOBAL_ROW}
        for v in ("auc", "pauc"):
            ours_v = float(glob.at["paper", v])
            row.update({f"{v}_paper": t2[v], f"{v}_ours": ours_v, f"{v}_diff": ours_v - t2[v],
                        f"{v}_honest": glob[v].get("validation", float("nan"))})
        out = pd.concat([out, pd.DataFrame([row])], ignore_index=True)
    return out[["machine_type", "auc_paper", "auc_ours", "auc_diff", "auc_honest",
                "pauc_paper", "pauc_ours", "pauc_diff", "pauc_honest"]]


def summary_comparison(profile: str, paper_df: pd.DataFrame, names, labels,
                       label_col: str, missing: list) -> pd.DataFrame:
    """Paper rows (quoted) beside ours: faithful (global AUC, test-selected), diff, per-type mean, honest; runs not evaluated go to ``missing``. Notebook 05."""
    rows = []
    for (_, prow), name, label in zip(paper_df.iterrows(), names, labels):
        if not run_evaluated(profile, name):
            missing.append(f"run `{name}` ({label}) is not evaluated yet (notebook 05)")
            continue
        s = runs_summary(profile, [name]).iloc[0]
        row = {label_col: label, "run": name}
        if "parameters" in prow:
            row.update({"params_paper": prow["parameters"], "params_ours": int(s["parameters"])})
        for v in ("auc", "pauc"):  # the paper's averages are global AUCs (one ROC, all clips)
            ours = s.get(f"global_paper_{v}", float("nan"))
            row.update({f"{v}_paper": prow[v], f"{v}_ours": ours, f"{v}_diff": ours - prow[v],
                        f"{v}_ours_type_mean": s.get(f"pooled_paper_{v}", float("nan")),
                        f"{v}_honest": s.get(f"official_validation_{v}", float("nan"))})
        rows.append(row)
    return pd.DataFrame(rows)


def table2_comparison(profile: str, missing: list | None = None) -> pd.DataFrame:
    """Table 2 of the proposed model: parameters and global AUC/pAUC beside the paper's, the difference, the per-type mean and the honest value. Notebook 04."""
    t2 = paper_table2()
    t2 = t2[t2["method"].str.startswith("Proposed")].reset_index(drop=True)
    return summary_comparison(profile, t2, ["proposed"], ["Proposed approach"], "method",
                              [] if missing is None else missing)


def authors_checkpoint_comparison(out: Path) -> pd.DataFrame | None:
    """The authors' released checkpoint scored by this code (``<out>/authors_checkpoint/``) beside the paper's Table 1 row and Table 2 average; None when not scored. Notebook 04."""
    folder = out / "authors_checkpoint"
    if not (folder / "metrics_per_type.csv").is_file():
        return None
    official = pd.read_csv(folder / "metrics_per_type.csv")[["machine_type", "auc", "pauc"]]
    table = official.rename(columns={"auc": "auc_official", "pauc": "pauc_official"})
    if (folder / "metrics_pooled.csv").is_file():
        pooled = pd.read_csv(folder / "metrics_pooled.csv")[["machine_type", "auc", "pauc"]]
        table = table.merge(pooled.rename(columns={"auc": "auc_pooled", "pauc": "pauc_pooled"}),
                            on="machine_type", how="outer", sort=False)
    paper = paper_table1()
    paper = paper[paper["method"].str.startswith("Proposed")].set_index("machine_type")
    order = {t: i for i, t in enumerate([*paper.index, "average", "all_clips"])}
    table = table.sort_values("machine_type", key=lambda c: c.map(order).fillna(len(order)))
    table = table.reset_index(drop=True)
    # the pooled `average` row is Table 1's row mean; `all_clips` is the global AUC of Table 2
    t2 = paper_table2().set_index("method").loc["Proposed approach (paper)"]
    for v in ("auc", "pauc"):
        quoted = {**paper[v].to_dict(), "average": paper[v].mean(), "all_clips": t2[v]}
        table[f"{v}_paper"] = table["machine_type"].map(quoted)
    return table


# --------------------------------------------------------------------------- the runs of a profile

def _run_precision(profile: str, name: str, config: RunConfig) -> str:
    """The precision a run was trained in (its saved config.json), else the configured one."""
    saved = run_dir(profile, name) / "config.json"
    if saved.is_file():
        train = json.loads(saved.read_text()).get("train", {})
        precision = train.get("precision", "unknown (trained before train.precision existed)")
    else:
        precision = f"{config.train.precision} (configured)"
    return precision + (" (opt-in; the authors trained in fp32)" if precision.startswith("bf16") else "")


def runs_table(profile: str) -> pd.DataFrame:
    """One row per configured run: what it is for, epochs done, precision, logged training time, chosen epochs. Notebook 04."""
    used = {"proposed": "Tables 1-4", **{n: "Table 3" for n in TABLE3_RUNS if n != "proposed"},
            **{n: "Table 4" for n in TABLE4_RUNS if n != "proposed"},
            **{n: "honest variant" for n in HONEST_RUNS},
            **{n: "peer (notebook 07)" for n in PEER_RUNS}}
    configured = profile_configs(profile)
    repeats = [seed_run_name(n, k) for n in ("proposed", *PEER_RUNS) if n in configured
               for k in range(1, seed_count(profile))]
    used.update({r: f"seed {split_seed_name(r)[1]} of `{split_seed_name(r)[0]}` (notebook 07)"
                 for r in repeats})
    rows = []
    for name in ([n for n in used if n in configured] + [n for n in configured if n not in used]
                 + repeats):
        config = run_config(profile, name)
        try:
            log = read_log(run_dir(profile, name))
        except FileNotFoundError:
            log = pd.DataFrame({"seconds": []})
        row = {"run": name, "used in": used.get(name, ""),
               "epochs": f"{len(log)} / {config.train.epochs}",
               "precision": _run_precision(profile, name, config),
               "training time (logged)": format_duration(log["seconds"].sum()) if len(log) else "not trained"}
        chosen = {}
        if run_evaluated(profile, name):
            sel = pd.read_csv(run_dir(profile, name) / "evaluation" / "selection.csv")
            chosen = dict(zip(sel["protocol"], sel["epoch"].astype(int).astype(str)))
        for protocol in ("paper", "validation", "last"):
            row[f"epoch chosen: {protocol}"] = chosen.get(protocol, "")
        rows.append(row)
    return pd.DataFrame(rows)
