"""The ``paper`` selection protocol picks the checkpoint with the best GLOBAL test AUC (one ROC over
all test clips), as the authors' code does, not the best mean of per-type AUCs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from asdlib.engine.evaluate import PAPER_SELECTION_METRIC, metric_tables, select_checkpoints, summary_row
from asdlib.engine.metrics import global_metrics, pooled_metrics
from sklearn.metrics import roc_auc_score


def _clips(type_offsets: dict[str, float], separation: float, seed: int) -> pd.DataFrame:
    """Test clips of two machines: per machine, anomalies score ``separation`` above normals (plus
    noise); ``type_offsets`` shifts a whole machine's scores, which only the global ROC sees."""
    rng = np.random.default_rng(seed)
    rows = []
    for mt, mid in (("fan", "00"), ("valve", "00")):
        for anomaly in (0, 1):
            s = type_offsets[mt] + separation * anomaly + rng.normal(0, 1, 60)
            rows += [{"machine_type": mt, "machine_id": mid, "anomaly": anomaly, "score": v} for v in s]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def per_checkpoint():
    # epoch 1: well separated within each machine, but valve's normals score above fan's anomalies
    #          -> high per-type AUCs, low global AUC;
    # epoch 2: less separated within machines, but both on one scale -> higher global AUC.
    scorings = {1: _clips({"fan": 0.0, "valve": 8.0}, 3.0, 1),
                2: _clips({"fan": 0.0, "valve": 0.0}, 2.0, 2)}
    rows = []
    for epoch, scores in scorings.items():
        rows.append({"epoch": epoch, "val_loss": 1.0 / epoch,
                     **summary_row(metric_tables(scores, label_map="paper"))})
    return pd.DataFrame(rows)


def test_constructed_case_separates_the_two_rules(per_checkpoint):
    t = per_checkpoint.set_index("epoch")
    # the mean of the per-type AUCs prefers epoch 1, the global AUC epoch 2
    assert t["pooled_auc"].idxmax() == 1 and t["official_auc"].idxmax() == 1
    assert t["global_auc"].idxmax() == 2
    assert t.loc[1, "pooled_auc"] - t.loc[2, "pooled_auc"] > 2
    assert t.loc[2, "global_auc"] - t.loc[1, "global_auc"] > 5


def test_paper_protocol_picks_the_global_auc(per_checkpoint):
    assert PAPER_SELECTION_METRIC == "global_auc"
    chosen = select_checkpoints(per_checkpoint)
    assert chosen == {"paper": 2, "validation": 2, "last": 2}
    flipped = per_checkpoint.assign(val_loss=[0.1, 0.9])
    assert select_checkpoints(flipped) == {"paper": 2, "validation": 1, "last": 2}


def test_global_auc_is_one_roc_over_all_clips():
    scores = _clips({"fan": 0.0, "valve": 8.0}, 3.0, 1)
    from sklearn.metrics import roc_auc_score

    g = global_metrics(scores).iloc[0]
    assert g["auc"] == pytest.approx(100 * roc_auc_score(scores.anomaly, scores.score))
    assert g["pauc"] == pytest.approx(100 * roc_auc_score(scores.anomaly, scores.score, max_fpr=0.1))
    assert g["n_clips"] == len(scores) and g["n_anomaly"] == 120
    assert pooled_metrics(scores).set_index("machine_type").loc["all_clips", "auc"] == pytest.approx(g["auc"])


def test_ties_go_to_the_earliest_epoch_and_bad_tables_are_refused():
    t = pd.DataFrame({"epoch": [3, 1, 2], "global_auc": [80.0, 80.0, 70.0], "val_loss": [1, 2, 3]})
    assert select_checkpoints(t)["paper"] == 1
    with pytest.raises(ValueError, match="global_auc"):
        select_checkpoints(t.drop(columns="global_auc"))
    with pytest.raises(ValueError, match="undefined"):
        select_checkpoints(t.assign(global_auc=np.nan))
    assert select_checkpoints(t.drop(columns="val_loss"))["validation"] == 3


def test_one_class_test_set_has_no_global_auc():
    from asdlib.engine.metrics import OneClassWarning

    scores = _clips({"fan": 0.0, "valve": 0.0}, 2.0, 3)
    with pytest.warns(OneClassWarning, match="all clips"):
        g = global_metrics(scores[scores.anomaly == 0]).iloc[0]
    assert np.isnan(g["auc"]) and "normal" in g["note"]


def test_unlabelled_clips_are_refused_by_the_metrics_with_a_hint():
    scores = _clips({"fan": 0.0, "valve": 0.0}, 2.0, 3).assign(file_name="id_01_00000000.wav")
    scores["anomaly"] = scores["anomaly"].astype("Int64")
    scores.loc[0, "anomaly"] = pd.NA
    with pytest.raises(ValueError, match="1 clip.s. have no anomaly label .e.g. id_01_00000000.wav.*--ground-truth"):
        global_metrics(scores)
    with pytest.raises(ValueError, match="no anomaly label"):
        metric_tables(scores)


def test_pooled_table_belongs_to_the_paper_map_unless_asked_for():
    scores = _clips({"fan": 0.0, "valve": 0.0}, 2.0, 3)
    assert {"per_id", "per_type", "global", "pooled"} == set(metric_tables(scores, "paper"))
    assert "pooled" not in metric_tables(scores, "distinct")
    assert "pooled" not in metric_tables(scores, "paper", pooled=False)
    assert "pooled_auc" not in summary_row(metric_tables(scores, "distinct"))
    asked = summary_row(metric_tables(scores, "distinct", pooled=True))
    # pooled by true machine type: here the mean of the two per-type ROCs
    want = np.mean([100 * roc_auc_score(g.anomaly, g.score) for _, g in scores.groupby("machine_type")])
    assert asked["pooled_auc"] == pytest.approx(want)
