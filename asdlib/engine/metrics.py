"""AUC and pAUC: the official DCASE 2020 protocol (per machine ID), the authors' pooled protocol
(per machine type by class-index masks) and the global AUC (one ROC over every clip: the authors'
checkpoint-selection metric and the paper's Table 2 number).

All values are in percent (0-100), as the paper prints them. pAUC is scikit-learn's
``roc_auc_score(y, s, max_fpr=0.1)``, which is McClish-standardised (0.5 at chance), the form the
authors and their peers use. Explained in notebook 04_evaluation.
"""

from __future__ import annotations

from collections.abc import Iterable

import warnings

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from scipy.stats import rankdata

from asdlib.data.dcase import MACHINE_TYPES, PAPER_TYPE_MASKS, class_index

#: Column order of the paper's Table 1 (differs from the label-offset order of MACHINE_TYPES).
TABLE1_ORDER = ("fan", "pump", "slider", "valve", "ToyCar", "ToyConveyor")
#: pAUC's false-positive-rate limit p, as in the paper and DCASE 2020 Task 2.
MAX_FPR = 0.1

_BASE_COLUMNS = ("machine_type", "machine_id", "anomaly", "score")


def auc_pauc(y: Iterable, s: Iterable, max_fpr: float = MAX_FPR,
             group: str = "scores") -> tuple[float, float]:
    """AUC and McClish-standardised pAUC (FPR <= ``max_fpr``) in percent; anomalies are positives. Notebook 04.

    ``group`` names the clips in the error raised when only one class is present.
    """
    y = np.asarray(y).astype(int).ravel()
    s = np.asarray(s, dtype=float).ravel()
    if y.shape != s.shape:
        raise ValueError(f"{group}: {y.size} labels but {s.size} scores")
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"{group}: anomaly labels must be 0 (normal) or 1 (anomaly)")
    if not np.isfinite(s).all():
        raise ValueError(f"{group}: {int((~np.isfinite(s)).sum())} score(s) are NaN or infinite")
    n_anomaly = int(y.sum())
    if n_anomaly == 0 or n_anomaly == y.size:
        present = "anomaly" if n_anomaly else "normal"
        raise ValueError(f"{group}: AUC needs both normal and anomalous clips, but all "
                         f"{y.size} clip(s) are {present}")
    auc = roc_auc_score(y, s)
    pauc = roc_auc_score(y, s, max_fpr=max_fpr)
    return 100.0 * float(auc), 100.0 * float(pauc)


class OneClassWarning(UserWarning):
    """A group of clips (machine ID, type or pool) holding one class only: its AUC is undefined. Notebook 04."""


def _one_class_note(y, group: str) -> str:
    """'' when both classes are present, else a note saying which class the group holds."""
    y = np.asarray(y).astype(int).ravel()
    n_anomaly = int(y.sum())
    if 0 < n_anomaly < y.size:
        return ""
    present = "anomalous" if n_anomaly else "normal"
    return f"undefined: only {present} clips ({y.size})"


def _auc_or_note(y, s, max_fpr: float, group: str) -> tuple[float, float, str]:
    """AUC and pAUC, or NaN, NaN and a note (plus an ``OneClassWarning``) for a one-class group."""
    y = np.asarray(y).astype(int).ravel()
    note = _one_class_note(y, group) if y.size else "undefined: no clips"
    if note:
        warnings.warn(f"{group}: AUC and pAUC {note}; reported as NaN", OneClassWarning, stacklevel=3)
        return float("nan"), float("nan"), note
    auc, pauc = auc_pauc(y, s, max_fpr, group=group)
    return auc, pauc, ""


def _check_scores(scores: pd.DataFrame, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    if not isinstance(scores, pd.DataFrame):
        raise TypeError(f"scores must be a pandas DataFrame, got {type(scores).__name__}")
    missing = [c for c in _BASE_COLUMNS + extra if c not in scores.columns]
    if missing:
        raise ValueError(f"score table lacks column(s) {missing}; it has {list(scores.columns)}")
    if scores.empty:
        raise ValueError("score table is empty")
    unlabelled = pd.to_numeric(scores["anomaly"], errors="coerce").isna()
    if unlabelled.any():
        first = scores.loc[unlabelled].iloc[0]
        name = first["file_name"] if "file_name" in scores.columns else f"{first['machine_type']} id_{first['machine_id']}"
        raise ValueError(f"{int(unlabelled.sum())} clip(s) have no anomaly label (e.g. {name}, an "
                         "evaluation-set clip): AUC needs labels; label them with the ground truth "
                         "(python -m asdlib score --ground-truth eval_data_list.csv) or leave them out")
    out = scores.copy()
    out["machine_id"] = out["machine_id"].astype(str).str.zfill(2)
    return out


def _type_order(types: Iterable[str]) -> list[str]:
    """Known machine types in MACHINE_TYPES order, then any others sorted."""
    present = set(types)
    return [t for t in MACHINE_TYPES if t in present] + sorted(present - set(MACHINE_TYPES))


def official_metrics(scores: pd.DataFrame, max_fpr: float = MAX_FPR) -> dict[str, pd.DataFrame]:
    """DCASE 2020 protocol: AUC/pAUC per machine ID, arithmetic mean over IDs per type, mean over types. Notebook 04.

    Returns ``{"per_id": ..., "per_type": ...}``. ``per_id`` has columns machine_type,
    machine_id, auc, pauc, n_normal, n_anomaly, note; ``per_type`` has machine_type, auc, pauc,
    n_ids, note, in MACHINE_TYPES order, with a last row ``average`` (mean over the types). The
    peers' rows of Table 1 come from this protocol. An ID holding one class only has NaN
    AUC/pAUC, a ``note`` saying so and an ``OneClassWarning``; means are then over the IDs (types)
    where the metric is defined, and their note says how many.
    """
    scores = _check_scores(scores)
    rows = []
    for mt in _type_order(scores["machine_type"]):
        of_type = scores[scores["machine_type"] == mt]
        for mid in sorted(of_type["machine_id"].unique()):
            g = of_type[of_type["machine_id"] == mid]
            auc, pauc, note = _auc_or_note(g["anomaly"], g["score"], max_fpr, f"{mt} id_{mid}")
            n_anomaly = int(g["anomaly"].astype(int).sum())
            rows.append({"machine_type": mt, "machine_id": mid, "auc": auc, "pauc": pauc,
                         "n_normal": len(g) - n_anomaly, "n_anomaly": n_anomaly, "note": note})
    per_id = pd.DataFrame(rows)
    per_type = (per_id.groupby("machine_type", sort=False)
                .agg(auc=("auc", "mean"), pauc=("pauc", "mean"), n_ids=("machine_id", "size"),
                     n_defined=("auc", "count"))
                .reset_index())
    per_type["note"] = [_mean_note(d, n, "IDs") for d, n in zip(per_type["n_defined"], per_type["n_ids"])]
    n_types, n_defined = len(per_type), int(per_type["auc"].notna().sum())
    average = {"machine_type": "average", "auc": per_type["auc"].mean(),
               "pauc": per_type["pauc"].mean(), "n_ids": int(per_type["n_ids"].sum()),
               "note": _mean_note(n_defined, n_types, "types")}
    per_type = pd.concat([per_type.drop(columns="n_defined"), pd.DataFrame([average])],
                         ignore_index=True)
    return {"per_id": per_id, "per_type": per_type}


def _mean_note(defined: int, total: int, what: str) -> str:
    if defined == total:
        return ""
    if defined == 0:
        return f"undefined: no {what[:-1]} holds both classes"
    return f"mean over the {defined} of {total} {what} holding both classes"


def _paper_class_index(scores: pd.DataFrame) -> pd.Series:
    """The paper-map class index of every clip, checked against a ``class_index`` column if present."""
    expected = pd.Series(
        [class_index(mt, mid, "paper") for mt, mid in zip(scores["machine_type"], scores["machine_id"])],
        index=scores.index,
    )
    if "class_index" in scores.columns:
        given = scores["class_index"].astype(int)
        bad = scores[given != expected]
        if len(bad):
            first = bad.iloc[0]
            raise ValueError(
                f"class_index column does not follow the paper label map for {len(bad)} clip(s), "
                f"e.g. {first['machine_type']} id_{first['machine_id']} has "
                f"{int(first['class_index'])}, paper map gives "
                f"{class_index(first['machine_type'], first['machine_id'], 'paper')}; "
                "the pooled masks are defined on the paper map (use label_map='distinct' to pool "
                "by true machine type)")
    return expected


def pooled_metrics(scores: pd.DataFrame, label_map: str = "paper",
                   max_fpr: float = MAX_FPR) -> pd.DataFrame:
    """The authors' protocol: one ROC per machine type over all its test clips, chosen by class-index masks. Notebook 04.

    With ``label_map="paper"`` (the authors' code) a clip belongs to the type whose mask
    (``asdlib.data.dcase.PAPER_TYPE_MASKS``: fan < 7, pump 7-12, slider 13-19, ToyCar 20-26,
    ToyConveyor 27-33, valve >= 34) holds its paper-map class index; because pump id_06 and
    slider id_00 share class 13, pump id_06 is pooled into "slider" and left out of "pump".
    ``label_map="distinct"`` pools by the true machine type instead (no collision).

    Columns: machine_type, auc, pauc, n_clips, ids (the "type id" pairs pooled, e.g.
    ``"slider 00, pump 06, slider 02, ..."``). Two final rows: ``average`` (mean over the types)
    and ``all_clips`` (one ROC over every test clip, the same number as ``global_metrics``: the
    authors' "Global AUC", their checkpoint-selection metric and Table 2's 93.44). The ``average``
    row is the mean of the per-type values, which for the paper's Table 1 row is 94.65: a
    different quantity, not the paper's average.
    """
    scores = _check_scores(scores)
    if label_map == "paper":
        idx = _paper_class_index(scores)
        pool = idx.map(lambda c: next(mt for mt, (lo, hi) in PAPER_TYPE_MASKS.items() if lo <= c <= hi))
    elif label_map == "distinct":
        idx = pd.Series([class_index(mt, mid, "distinct") for mt, mid in
                         zip(scores["machine_type"], scores["machine_id"])], index=scores.index)
        pool = scores["machine_type"]
    else:
        raise ValueError(f"pooled_metrics label_map={label_map!r}: expected 'paper' or 'distinct'")
    scores = scores.assign(_class=idx, _pool=pool)
    rows = []
    for mt in _type_order(scores["_pool"]):
        g = scores[scores["_pool"] == mt]
        auc, pauc, note = _auc_or_note(g["anomaly"], g["score"], max_fpr, f"pooled {mt}")
        members = (g[["machine_type", "machine_id", "_class"]].drop_duplicates()
                   .assign(_foreign=lambda d: d["machine_type"] != mt,
                           _order=lambda d: d["machine_type"].map(
                               {t: i for i, t in enumerate(MACHINE_TYPES)}).fillna(len(MACHINE_TYPES)))
                   .sort_values(["_class", "_foreign", "_order", "machine_id"]))
        ids = ", ".join(f"{t} {i}" for t, i in zip(members["machine_type"], members["machine_id"]))
        rows.append({"machine_type": mt, "auc": auc, "pauc": pauc, "n_clips": len(g), "ids": ids,
                     "note": note})
    out = pd.DataFrame(rows)
    auc, pauc, note = _auc_or_note(scores["anomaly"], scores["score"], max_fpr, "all clips")
    tail = pd.DataFrame([
        {"machine_type": "average", "auc": out["auc"].mean(), "pauc": out["pauc"].mean(),
         "n_clips": len(scores), "ids": f"mean of the {len(out)} pooled types",
         "note": _mean_note(int(out["auc"].notna().sum()), len(out), "types")},
        {"machine_type": "all_clips", "auc": auc, "pauc": pauc, "n_clips": len(scores),
         "ids": "one ROC over every test clip", "note": note},
    ])
    return pd.concat([out, tail], ignore_index=True)


def metrics_wide(per_type: pd.DataFrame | dict[str, pd.DataFrame],
                 method: str = "method") -> pd.DataFrame:
    """One row per method, columns ``fan_auc, fan_pauc, ...`` in Table 1's order, then overall rows. Notebook 04.

    ``per_type`` is one per-type table (``official_metrics(...)["per_type"]`` or
    ``pooled_metrics(...)``), named ``method``, or a dict ``{method name: table}``.
    """
    tables = per_type if isinstance(per_type, dict) else {method: per_type}
    rows = {}
    for name, df in tables.items():
        for col in ("machine_type", "auc", "pauc"):
            if col not in df.columns:
                raise ValueError(f"metrics_wide: table {name!r} lacks column {col!r}")
        by_type = df.set_index("machine_type")
        order = [t for t in TABLE1_ORDER if t in by_type.index] + \
                [t for t in by_type.index if t not in TABLE1_ORDER]
        row = {}
        for t in order:
            row[f"{t}_auc"] = float(by_type.at[t, "auc"])
            row[f"{t}_pauc"] = float(by_type.at[t, "pauc"])
        rows[name] = row
    wide = pd.DataFrame.from_dict(rows, orient="index")
    wide.index.name = "method"
    return wide


def global_metrics(scores: pd.DataFrame, max_fpr: float = MAX_FPR) -> pd.DataFrame:
    """The authors' selection metric: ONE ROC over every test clip pooled together (global AUC/pAUC). Notebook 04.

    This is ``roc_auc_score(all_labels, all_errors)`` of the authors' ``training_val_test.py``,
    printed there as "Global AUC": the quantity they select the checkpoint on, and the 93.44 /
    85.71 of the paper's Table 2 (and 93.43 of Tables 3-4). It is not the mean of the per-type
    values of Table 1 (94.65 / 87.86 for the paper's row): pooling every machine into one ROC
    compares the scores of different machines with each other. It does not depend on the label
    map. Returns one row: machine_type ``"global"``, auc, pauc, n_clips, n_anomaly, note; auc and
    pauc are NaN (with the ``note`` and an ``OneClassWarning``) when the clips hold one class only.
    """
    scores = _check_scores(scores)
    auc, pauc, note = _auc_or_note(scores["anomaly"], scores["score"], max_fpr, "all clips")
    return pd.DataFrame([{"machine_type": "global", "auc": auc, "pauc": pauc, "n_clips": len(scores),
                          "n_anomaly": int(scores["anomaly"].astype(int).sum()), "note": note}])


def rank_auc(boot: np.ndarray, n1: int) -> np.ndarray:
    """AUC (a fraction) of each row of ``boot`` (positives in the first ``n1`` columns), ties as average ranks, as ``roc_auc_score``. Notebook 05."""
    n0 = boot.shape[1] - n1
    ranks = rankdata(boot, axis=1)
    return (ranks[:, :n1].sum(1) - n1 * (n1 + 1) / 2) / (n1 * n0)


def bootstrap_auc(y: Iterable, s: Iterable, groups: Iterable | None = None, n_boot: int = 200,
                  level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Bootstrap interval (in %) of the AUC over test clips: one ROC, or the mean of per-group AUCs. Notebook 05.

    Clips are resampled with replacement within each (group, label) cell, so every resample keeps
    the numbers of normal and anomalous clips. Without ``groups`` the statistic is one ROC over all
    clips (the global AUC); with ``groups`` (e.g. "type id" strings) it is the mean of the
    per-group AUCs (the official protocol's average). The interval shows how much the number would
    move with another draw of test clips from the same machines; it says nothing about how much
    another training run (another seed) would move it.
    """
    y = np.asarray(list(y) if not isinstance(y, (np.ndarray, pd.Series)) else y).astype(int)
    s = np.asarray(list(s) if not isinstance(s, (np.ndarray, pd.Series)) else s, dtype=float)
    g = (np.zeros(len(y), dtype=int) if groups is None
         else pd.factorize(np.asarray(list(groups) if not isinstance(groups, (np.ndarray, pd.Series))
                                      else groups))[0])
    if not len(y) == len(s) == len(g):
        raise ValueError(f"y, s and groups differ in length ({len(y)}, {len(s)}, {len(g)})")
    rng = np.random.default_rng(seed)
    per_group = []
    for k in np.unique(g):
        pos, neg = s[(g == k) & (y == 1)], s[(g == k) & (y == 0)]
        if len(pos) == 0 or len(neg) == 0:
            continue  # one class only: no AUC for this group (as the metric tables)
        boot = np.concatenate([pos[rng.integers(0, len(pos), (n_boot, len(pos)))],
                               neg[rng.integers(0, len(neg), (n_boot, len(neg)))]], axis=1)
        per_group.append(rank_auc(boot, len(pos)))  # average ranks for ties, as roc_auc_score
    if not per_group:
        raise ValueError("no group holds both normal and anomalous clips: the AUC is undefined")
    stat = 100 * np.mean(per_group, axis=0)
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(stat, [tail, 100 - tail])
    return float(lo), float(hi)


def hanley_mcneil_se(auc: float, n_pos: int, n_neg: int) -> float:
    """Standard error (in points) of an AUC given in % and its class counts (Hanley & McNeil, 1982). Notebook 05.

    The standard error depends on the AUC itself: on the same 10,868 clips it is about 0.53
    points at an AUC of 63.5 and about 0.25 points at 93.4, so the noise of one number must be
    computed at that number, not carried over from another model's.
    """
    if n_pos < 1 or n_neg < 1:
        raise ValueError(f"hanley_mcneil_se needs both classes (n_pos={n_pos}, n_neg={n_neg})")
    if not 0.0 <= auc <= 100.0:
        raise ValueError(f"hanley_mcneil_se: AUC {auc} is outside 0-100 (give it in %)")
    a = auc / 100.0
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = (a * (1 - a) + (n_pos - 1) * (q1 - a * a) + (n_neg - 1) * (q2 - a * a)) / (n_pos * n_neg)
    return 100.0 * float(np.sqrt(max(var, 0.0)))


def paired_bootstrap_auc_difference(y: Iterable, s_a: Iterable, s_b: Iterable, n_boot: int = 200,
                                    level: float = 0.95, seed: int = 0) -> dict[str, float]:
    """AUC(a) - AUC(b) of two models on the same clips, with a paired bootstrap interval (in points). Notebook 05.

    Each resample draws clips once (within normals and within anomalies) and scores both models
    on the same draw, so what the two models share (the same hard clips) cancels in the
    difference. Returns ``difference`` (on all clips), ``low``/``high`` (the interval),
    ``standard_error`` (std of the resampled differences) and ``n_clips``.
    """
    y = np.asarray(list(y) if not isinstance(y, (np.ndarray, pd.Series)) else y).astype(int)
    a = np.asarray(list(s_a) if not isinstance(s_a, (np.ndarray, pd.Series)) else s_a, dtype=float)
    b = np.asarray(list(s_b) if not isinstance(s_b, (np.ndarray, pd.Series)) else s_b, dtype=float)
    if not len(y) == len(a) == len(b):
        raise ValueError(f"y, s_a and s_b differ in length ({len(y)}, {len(a)}, {len(b)})")
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError("paired_bootstrap_auc_difference needs both normal and anomalous clips")
    rng = np.random.default_rng(seed)
    idx = np.concatenate([pos[rng.integers(0, len(pos), (n_boot, len(pos)))],
                          neg[rng.integers(0, len(neg), (n_boot, len(neg)))]], axis=1)
    diff = 100 * (rank_auc(a[idx], len(pos)) - rank_auc(b[idx], len(pos)))
    whole = np.r_[pos, neg][None]
    point = 100 * float(rank_auc(a[whole], len(pos))[0] - rank_auc(b[whole], len(pos))[0])
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(diff, [tail, 100 - tail])
    return {"difference": point, "low": float(lo), "high": float(hi),
            "standard_error": float(diff.std(ddof=1)), "n_clips": int(len(y))}
