"""AUC/pAUC, the official per-ID protocol and the authors' pooled per-type protocol."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from asdlib.data.dcase import class_index
from asdlib.engine.metrics import (OneClassWarning, auc_pauc, metrics_wide, official_metrics,
                            pooled_metrics)


def _clips(machine_type: str, machine_id: str, normal, anomaly) -> pd.DataFrame:
    scores = list(normal) + list(anomaly)
    return pd.DataFrame({
        "machine_type": machine_type, "machine_id": machine_id,
        "anomaly": [0] * len(normal) + [1] * len(anomaly), "score": scores,
        "class_index": class_index(machine_type, machine_id, "paper"),
    })


def test_auc_by_counting_pairs():
    y = [0, 0, 0, 1, 1]
    s = [0.1, 0.4, 0.3, 0.8, 0.3]
    # positive 0.8 beats all 3 normals; positive 0.3 beats 0.1, ties 0.3 (half), loses to 0.4
    auc, _ = auc_pauc(y, s)
    assert auc == pytest.approx(100 * 4.5 / 6)


def test_auc_pauc_refuses_bad_input_saying_what_and_how_many():
    with pytest.raises(ValueError, match=r"^fan id_00: 2 score\(s\) are NaN or infinite$"):
        auc_pauc([0, 1, 0, 1, 0], [0.1, np.nan, np.inf, 0.3, 0.2], group="fan id_00")
    with pytest.raises(ValueError, match=r"all 3 clip\(s\) are normal$"):
        auc_pauc([0, 0, 0], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match=r"all 2 clip\(s\) are anomaly$"):
        auc_pauc([1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="must be 0 .normal. or 1"):
        auc_pauc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="3 labels but 2 scores"):
        auc_pauc([0, 1, 1], [0.1, 0.2])


def test_pauc_is_sklearn_mcclish_standardised():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(200), np.ones(60)].astype(int)
    s = np.r_[rng.normal(0, 1, 200), rng.normal(1.2, 1, 60)]
    auc, pauc = auc_pauc(y, s)
    assert auc == pytest.approx(100 * roc_auc_score(y, s))
    assert pauc == pytest.approx(100 * roc_auc_score(y, s, max_fpr=0.1))
    # by hand: raw area under the ROC up to FPR 0.1, then McClish's standardisation
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    stop = int(np.searchsorted(fpr, 0.1, side="right"))
    tpr_at_p = np.interp(0.1, fpr[stop - 1:stop + 1], tpr[stop - 1:stop + 1])
    raw = np.trapezoid(np.r_[tpr[:stop], tpr_at_p], np.r_[fpr[:stop], 0.1])
    lo, hi = 0.1 ** 2 / 2, 0.1
    assert pauc == pytest.approx(100 * 0.5 * (1 + (raw - lo) / (hi - lo)), abs=1e-6)
    assert abs(pauc - 100 * raw / 0.1) > 1  # not the plain normalised partial area


def test_single_class_group_is_reported_as_undefined_with_its_name():
    scores = pd.concat([_clips("fan", "00", [0.1, 0.2], []), _clips("fan", "02", [0.1], [0.5]),
                        _clips("pump", "00", [], [0.7])])
    with pytest.warns(OneClassWarning) as record:
        official = official_metrics(scores)
    warned = [str(w.message) for w in record]
    assert any("fan id_00" in w and "only normal clips (2)" in w for w in warned)
    assert any("pump id_00" in w and "only anomalous clips (1)" in w for w in warned)
    # the warning points at the line that asked for the metrics, not inside asdlib
    assert {w.filename for w in record} == {__file__}
    per_id = official["per_id"].set_index(["machine_type", "machine_id"])
    assert np.isnan(per_id.loc[("fan", "00"), "auc"]) and np.isnan(per_id.loc[("fan", "00"), "pauc"])
    assert per_id.loc[("fan", "00"), "note"] == "undefined: only normal clips (2)"
    assert (per_id.loc[("fan", "00"), "n_normal"], per_id.loc[("fan", "00"), "n_anomaly"]) == (2, 0)
    assert per_id.loc[("fan", "02"), "auc"] == 100.0 and per_id.loc[("fan", "02"), "note"] == ""
    per_type = official["per_type"].set_index("machine_type")
    assert per_type.loc["fan", "auc"] == 100.0  # the mean over the one defined ID
    assert per_type.loc["fan", "note"] == "mean over the 1 of 2 IDs holding both classes"
    assert np.isnan(per_type.loc["pump", "auc"]) and "no ID" in per_type.loc["pump", "note"]
    assert per_type.loc["average", "auc"] == 100.0 and "1 of 2 types" in per_type.loc["average", "note"]
    with pytest.warns(OneClassWarning, match="pooled pump"):
        pooled = pooled_metrics(scores).set_index("machine_type")
    assert np.isnan(pooled.loc["pump", "auc"]) and "only anomalous" in pooled.loc["pump", "note"]
    with pytest.raises(ValueError, match="only|both"):  # the bare function still refuses
        auc_pauc([1, 1], [0.3, 0.4], group="toy")


def _offset_ids() -> pd.DataFrame:
    """Two fan IDs, each perfectly separable, with very different score offsets."""
    return pd.concat([
        _clips("fan", "00", [0.0, 0.5, 1.0], [1.5, 2.0]),
        _clips("fan", "02", [10.0, 10.5, 11.0], [11.5, 12.0]),
    ], ignore_index=True)


def test_per_id_average_and_pooled_differ():
    scores = _offset_ids()
    official = official_metrics(scores)
    per_id = official["per_id"]
    assert list(per_id.columns) == ["machine_type", "machine_id", "auc", "pauc", "n_normal", "n_anomaly",
                                    "note"]
    assert per_id["auc"].tolist() == [100.0, 100.0]
    assert per_id["n_normal"].tolist() == [3, 3] and per_id["n_anomaly"].tolist() == [2, 2]
    per_type = official["per_type"]
    assert list(per_type.columns) == ["machine_type", "auc", "pauc", "n_ids", "note"]
    assert per_type["machine_type"].tolist() == ["fan", "average"]
    assert per_type.loc[0, "auc"] == 100.0 and per_type.loc[0, "n_ids"] == 2
    pooled = pooled_metrics(scores)
    fan = pooled.set_index("machine_type").loc["fan"]
    # 24 pooled (anomaly, normal) pairs: id_00's two anomalies beat only their own 3 normals
    # (6 pairs), id_02's two anomalies beat all 6 normals (12 pairs) -> 18 / 24
    assert fan["auc"] == pytest.approx(100 * 18 / 24)
    assert fan["n_clips"] == 10 and fan["ids"] == "fan 00, fan 02"


def test_official_per_type_is_mean_over_ids_in_machine_type_order():
    rng = np.random.default_rng(1)
    parts = []
    for mt, mid in [("valve", "00"), ("fan", "02"), ("fan", "00"), ("pump", "04")]:
        parts.append(_clips(mt, mid, rng.normal(0, 1, 20), rng.normal(0.8, 1, 8)))
    res = official_metrics(pd.concat(parts, ignore_index=True))
    per_id, per_type = res["per_id"], res["per_type"]
    assert list(zip(per_id["machine_type"], per_id["machine_id"])) == [
        ("fan", "00"), ("fan", "02"), ("pump", "04"), ("valve", "00")]
    assert per_type["machine_type"].tolist() == ["fan", "pump", "valve", "average"]
    fan_mean = per_id.loc[per_id["machine_type"] == "fan", "auc"].mean()
    assert per_type.loc[0, "auc"] == pytest.approx(fan_mean)
    assert per_type.iloc[-1]["auc"] == pytest.approx(per_type.iloc[:-1]["auc"].mean())
    assert per_type.iloc[-1]["pauc"] == pytest.approx(per_type.iloc[:-1]["pauc"].mean())


def _pump_slider() -> pd.DataFrame:
    rng = np.random.default_rng(2)
    parts = [_clips(mt, mid, rng.normal(0, 1, 10), rng.normal(1, 1, 5))
             for mt, mid in [("pump", "00"), ("pump", "06"), ("slider", "00"), ("slider", "02")]]
    return pd.concat(parts, ignore_index=True)


def test_pooled_paper_masks_move_pump_06_into_slider():
    scores = _pump_slider()
    pooled = pooled_metrics(scores).set_index("machine_type")
    assert list(pooled.index) == ["pump", "slider", "average", "all_clips"]
    assert pooled.loc["pump", "ids"] == "pump 00"
    assert pooled.loc["slider", "ids"] == "slider 00, pump 06, slider 02"
    assert pooled.loc["pump", "n_clips"] == 15 and pooled.loc["slider", "n_clips"] == 45
    in_slider = scores[(scores["machine_type"] == "slider") | (scores["machine_id"] == "06")]
    assert pooled.loc["slider", "auc"] == pytest.approx(
        100 * roc_auc_score(in_slider["anomaly"], in_slider["score"]))
    assert pooled.loc["all_clips", "auc"] == pytest.approx(
        100 * roc_auc_score(scores["anomaly"], scores["score"]))
    assert pooled.loc["average", "auc"] == pytest.approx(pooled.loc[["pump", "slider"], "auc"].mean())
    honest = pooled_metrics(scores, label_map="distinct").set_index("machine_type")
    assert honest.loc["pump", "ids"] == "pump 00, pump 06"
    assert honest.loc["slider", "ids"] == "slider 00, slider 02"


def test_pooled_refuses_class_index_of_another_map():
    scores = _pump_slider()
    scores["class_index"] = [class_index(mt, mid, "distinct")
                             for mt, mid in zip(scores["machine_type"], scores["machine_id"])]
    with pytest.raises(ValueError, match="paper label map"):
        pooled_metrics(scores)
    # without the column the paper index is derived from type and ID
    assert pooled_metrics(_pump_slider().drop(columns="class_index")).equals(pooled_metrics(_pump_slider()))


def test_missing_column_is_named():
    with pytest.raises(ValueError, match="score"):
        official_metrics(pd.DataFrame({"machine_type": ["fan"], "machine_id": ["00"], "anomaly": [0]}))


def test_metrics_wide_layout():
    per_type = official_metrics(_pump_slider())["per_type"]
    wide = metrics_wide({"ours": per_type, "again": per_type})
    assert list(wide.index) == ["ours", "again"]
    assert list(wide.columns) == ["pump_auc", "pump_pauc", "slider_auc", "slider_pauc",
                                  "average_auc", "average_pauc"]
    assert wide.loc["ours", "pump_auc"] == per_type.loc[0, "auc"]


def test_hanley_mcneil_se_by_hand_and_against_resampling():
    """The formula at a hand-computed point, its growth as the AUC falls, and a simulation's spread."""
    from asdlib.engine.metrics import hanley_mcneil_se

    # AUC 0.9, 50 + 50 clips: Q1 = 0.9/1.1, Q2 = 2*0.81/1.9, var = (0.09 + 49 (Q1 - 0.81)
    # + 49 (Q2 - 0.81)) / 2500 = 2.579862 / 2500, so SE = 0.0321239 (3.21239 points)
    assert hanley_mcneil_se(90.0, 50, 50) == pytest.approx(3.21239, abs=1e-4)
    assert hanley_mcneil_se(100.0, 50, 50) == 0.0
    # on the authors' 5469 + 5399 test clips: ~0.53 at 63.5, ~0.25 at 93.4
    assert hanley_mcneil_se(63.48, 5469, 5399) == pytest.approx(0.529, abs=0.002)
    assert hanley_mcneil_se(93.44, 5469, 5399) == pytest.approx(0.247, abs=0.002)
    # exponential scores (the model Hanley and McNeil derive from): the spread of the AUC over
    # fresh test sets of 80 + 120 clips matches the formula within 10 %
    rng = np.random.default_rng(0)
    rate, aucs = 4.0, []  # AUC of Exp(1) anomalies over Exp(rate) normals: rate / (1 + rate) = 0.8
    for _ in range(400):
        pos, neg = rng.exponential(1.0, 80), rng.exponential(1.0 / rate, 120)
        aucs.append(100 * roc_auc_score(np.r_[np.ones(80), np.zeros(120)], np.r_[pos, neg]))
    assert np.std(aucs, ddof=1) == pytest.approx(hanley_mcneil_se(80.0, 80, 120), rel=0.1)
    with pytest.raises(ValueError, match="outside 0-100"):
        hanley_mcneil_se(0.93 * 1000, 5, 5)
    with pytest.raises(ValueError, match="both classes"):
        hanley_mcneil_se(90.0, 0, 5)


def test_paired_bootstrap_difference_is_exact_and_narrower_than_unpaired():
    """Same model twice: difference 0 and interval (0, 0); correlated models: the point is sklearn's
    difference, and the paired interval is narrower than independent resampling would give."""
    from asdlib.engine.metrics import bootstrap_auc, paired_bootstrap_auc_difference

    rng = np.random.default_rng(1)
    y = np.r_[np.zeros(150), np.ones(100)].astype(int)
    common = rng.normal(size=250) + 1.2 * y              # what both models see
    a = common + 0.3 * rng.normal(size=250)
    b = common + 0.3 * rng.normal(size=250) - 0.2 * y    # slightly worse
    same = paired_bootstrap_auc_difference(y, a, a, n_boot=50)
    assert (same["difference"], same["low"], same["high"], same["standard_error"]) == (0.0, 0.0, 0.0, 0.0)
    res = paired_bootstrap_auc_difference(y, a, b, n_boot=300, seed=2)
    assert res["difference"] == pytest.approx(100 * (roc_auc_score(y, a) - roc_auc_score(y, b)), abs=1e-9)
    assert res["low"] < res["difference"] < res["high"] and res["n_clips"] == 250
    width_a = np.subtract(*bootstrap_auc(y, a, n_boot=300, seed=3)[::-1])
    width_b = np.subtract(*bootstrap_auc(y, b, n_boot=300, seed=4)[::-1])
    assert res["high"] - res["low"] < 0.7 * np.hypot(width_a, width_b)
    with pytest.raises(ValueError, match="differ in length"):
        paired_bootstrap_auc_difference(y, a, b[:-1])


def test_pooled_masks_include_their_upper_edges_and_types_keep_table_order():
    """fan id_06 (class 6) and valve id_06 (class 40) are the top classes of their masks; ToyCar
    (an upper-case name) still comes after fan and pump, in MACHINE_TYPES order, not sorted."""
    scores = pd.concat([_clips("fan", "06", [0.1, 0.2], [0.3, 0.4]), _clips("valve", "06", [0.1, 0.3], [0.2, 0.4]),
                        _clips("ToyCar", "01", [0.1, 0.4], [0.2, 0.3]), _clips("pump", "00", [0.2, 0.4], [0.1, 0.3])],
                       ignore_index=True)
    pooled = pooled_metrics(scores).set_index("machine_type")
    assert pooled.loc["fan", "ids"] == "fan 06" and pooled.loc["valve", "ids"] == "valve 06"
    assert (pooled.loc["fan", "auc"], pooled.loc["valve", "auc"]) == (100.0, 75.0)
    per_type = official_metrics(scores)["per_type"]
    assert per_type["machine_type"].tolist() == ["fan", "pump", "ToyCar", "valve", "average"]


def test_bootstrap_auc_skips_only_the_groups_holding_one_class():
    from asdlib.engine.metrics import bootstrap_auc

    groups = ["a", "a", "b", "b", "b", "b", "c", "c", "c"]
    y = [1, 1, 0, 0, 1, 1, 0, 1, 1]
    s = [0.5, 0.6, 0.1, 0.2, 0.9, 0.8, 0.9, 0.1, 0.2]
    # a: anomalies only (left out); b: always 100; c (one normal clip): always 0 -> the mean is 50
    assert bootstrap_auc(y, s, groups=groups, n_boot=20) == (50.0, 50.0)
