"""Decision thresholds (asdlib.deploy.thresholds): the gamma fit of the DCASE 2021+ baselines, the
empirical quantile, reproducibility, the decision rule, and the training-clip scores they come from."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from asdlib.paths import SAMPLE_DIR
from asdlib.deploy.thresholds import (ThresholdError, decide, fit_gamma, fit_thresholds, threshold_info,
                               thresholds_at, training_scores)


def _scores(seed: int = 0, n: int = 200) -> pd.DataFrame:
    """Gamma-like normal scores of three machines, with different shapes and offsets."""
    rng = np.random.default_rng(seed)
    rows = []
    for key, (a, loc, scale) in TRUE_GAMMAS.items():
        mt, mid = key.split("/")
        rows += [{"machine_type": mt, "machine_id": mid, "score": s}
                 for s in loc + scale * rng.gamma(a, size=n)]
    return pd.DataFrame(rows)


#: The gammas ``_scores`` draws from: (shape a, loc, scale) per machine.
TRUE_GAMMAS = {"fan/00": (3.0, 10.0, 2.0), "fan/02": (8.0, 5.0, 0.5), "valve/04": (1.5, 20.0, 4.0)}


def test_gamma_thresholds_recover_the_true_quantile_per_machine():
    """Derived without the implementation's fit: on 4,000 scores drawn from a known gamma per
    machine, the fitted threshold lands on that gamma's own quantile, ``loc + scale *
    gammaincinv(a, p)`` (the inverse regularised incomplete gamma function)."""
    from scipy.special import gammaincinv

    table = _scores(seed=5, n=4000)
    for p in (0.9, 0.5):
        got = fit_thresholds(table, percentile=p)
        assert sorted(got) == sorted(TRUE_GAMMAS)
        for key, (a, loc, scale) in TRUE_GAMMAS.items():
            assert got[key] == pytest.approx(loc + scale * gammaincinv(a, p), rel=0.02), (key, p)
    params = fit_gamma(table)
    for key, (a, loc, scale) in TRUE_GAMMAS.items():
        assert params[key][0] == pytest.approx(a, rel=0.3) and params[key][2] == pytest.approx(scale, rel=0.3)


def test_gamma_thresholds_flag_about_ten_percent_of_the_normal_scores():
    table = _scores()
    got = fit_thresholds(table, percentile=0.9)
    for key, threshold in got.items():
        mt, mid = key.split("/")
        values = table[(table.machine_type == mt) & (table.machine_id == mid)]["score"].to_numpy()
        # a sensible 90th percentile: about 10 % of the normal scores lie above it
        assert 0.03 <= float(np.mean(values > threshold)) <= 0.2, key


def test_thresholds_are_reproducible_and_do_not_depend_on_row_order():
    table = _scores()
    first = fit_thresholds(table, 0.9)
    assert fit_thresholds(table.copy(), 0.9) == first
    shuffled = table.sample(frac=1.0, random_state=3).reset_index(drop=True)
    assert fit_thresholds(shuffled, 0.9) == first  # bit for bit
    assert fit_thresholds(_scores(seed=1), 0.9) != first  # other scores: other thresholds


def test_quantile_method_and_percentile_order():
    table = _scores()
    got = fit_thresholds(table, 0.75, method="quantile")
    values = table[(table.machine_type == "fan") & (table.machine_id == "00")]["score"]
    assert got["fan/00"] == pytest.approx(np.quantile(values, 0.75))
    low, high = fit_thresholds(table, 0.5), fit_thresholds(table, 0.99)
    assert all(low[k] < high[k] for k in low)
    # the gamma fit and the empirical quantile agree roughly on gamma-distributed scores
    gamma, quantile = fit_thresholds(table, 0.9), fit_thresholds(table, 0.9, method="quantile")
    assert all(abs(gamma[k] - quantile[k]) < 0.1 * abs(quantile[k]) for k in gamma)


def test_threshold_info_moves_thresholds_to_another_percentile():
    table = _scores()
    info = threshold_info(table, 0.9, "gamma", fitted_on="somewhere")
    assert info["clips"] == len(table) and info["fitted_on"] == "somewhere"
    assert thresholds_at(info, 0.9) == fit_thresholds(table, 0.9)
    assert thresholds_at(info, 0.6) == fit_thresholds(table, 0.6)
    with pytest.raises(ThresholdError, match="no gamma parameters"):
        thresholds_at(threshold_info(table, 0.9, "quantile"), 0.8)


@pytest.mark.parametrize("percentile", [0.0, 1.0, -0.1, 1.5, 90, float("nan"), "high"])
def test_percentile_outside_zero_one_is_refused(percentile):
    with pytest.raises(ThresholdError, match="percentile"):
        fit_thresholds(_scores(), percentile)


def test_bad_score_tables_are_refused_naming_the_machine():
    table = _scores()
    few = pd.concat([table, pd.DataFrame({"machine_type": ["pump"] * 2, "machine_id": ["06"] * 2,
                                          "score": [1.0, 2.0]})])
    with pytest.raises(ThresholdError, match=r"pump/06: only 2 normal score"):
        fit_thresholds(few)
    with pytest.raises(ThresholdError, match="pump/06: only 2"):
        fit_thresholds(few, method="quantile")
    nan = table.copy()
    nan.loc[5, "score"] = math.nan
    with pytest.raises(ThresholdError, match="fan/00: 1 of its scores are not finite"):
        fit_thresholds(nan)
    same = pd.DataFrame({"machine_type": ["fan"] * 5, "machine_id": ["00"] * 5, "score": [3.0] * 5})
    with pytest.raises(ThresholdError, match="all 5 scores equal"):
        fit_thresholds(same)
    with pytest.raises(ThresholdError, match="lacks column"):
        fit_thresholds(table.rename(columns={"score": "anomaly_score"}))
    with pytest.raises(ThresholdError, match="empty"):
        fit_thresholds(table.iloc[:0])
    with pytest.raises(ThresholdError, match="method"):
        fit_thresholds(table, method="normal")


def test_the_decision_flips_at_the_threshold():
    t = 12.5
    assert decide(t, t) == "normal"  # as the DCASE baselines: anomalous only above the threshold
    assert decide(np.nextafter(t, np.inf), t) == "anomalous"
    assert decide(np.nextafter(t, -np.inf), t) == "normal"
    assert decide(1e9, None) == "unknown"


class _Scorer:
    """The inference form of an untrained 1-s network, behind the scorer interface."""

    def __init__(self):
        from asdlib.deploy.export import TorchScorer
        from asdlib.nets.model import build_model

        torch.manual_seed(0)
        self.inner = TorchScorer(build_model(clip_seconds=1.0), threads=1)
        self.label_map, self.num_samples = self.inner.label_map, self.inner.num_samples
        self.calls = 0

    def scores(self, wave):
        self.calls += 1
        return self.inner.scores(wave)


def test_training_scores_scores_the_normal_training_clips_with_their_class():
    from asdlib.data.audio import load_clip
    from asdlib.data.dcase import class_index

    scorer = _Scorer()
    table = training_scores(scorer, SAMPLE_DIR, batch_size=4)
    # data/sample holds 8 slider/train clips (ID 00) and 1 ToyConveyor/train clip (ID 01)
    assert list(table.columns) == ["machine_type", "machine_id", "file_name", "path", "score"]
    assert table.groupby(["machine_type", "machine_id"]).size().to_dict() == {
        ("ToyConveyor", "01"): 1, ("slider", "00"): 8}
    assert scorer.calls == 3  # batches of 4: 9 clips -> 3 calls
    row = table.iloc[-1]
    want = scorer.scores(load_clip(row["path"], scorer.num_samples)[None, :])[0]
    assert row["score"] == pytest.approx(want[0, class_index(row["machine_type"], row["machine_id"])],
                                         abs=1e-5)
    with pytest.raises(ThresholdError, match="ToyConveyor/01: only 1 normal score"):
        fit_thresholds(table)
    only_slider = training_scores(scorer, SAMPLE_DIR, machine_types=["slider"], max_clips_per_id=3)
    assert len(only_slider) == 3 and set(only_slider["machine_type"]) == {"slider"}
    assert list(only_slider["file_name"]) == ["normal_id_00_00000000.wav", "normal_id_00_00000004.wav",
                                              "normal_id_00_00000007.wav"]  # spread over the 8
    assert set(fit_thresholds(only_slider)) == {"slider/00"}


def test_scores_with_repeated_values_still_fit_unless_all_equal():
    """Only a machine whose scores are ALL equal is refused; repeated lowest or highest values are not."""
    for values in ([2.0, 2.0, 2.0, 5.0], [1.0, 5.0, 5.0, 5.0]):
        table = pd.DataFrame({"machine_type": "fan", "machine_id": "00", "score": values})
        assert fit_thresholds(table, 0.5, method="quantile") == {"fan/00": float(np.quantile(values, 0.5))}
    same = pd.DataFrame({"machine_type": "fan", "machine_id": "00", "score": [3.5] * 4})
    with pytest.raises(ThresholdError, match="all 4 scores equal 3.5"):
        fit_thresholds(same, 0.5, method="quantile")


def test_gamma_fit_accepts_a_shape_below_one_and_refuses_a_degenerate_fit(monkeypatch):
    rng = np.random.default_rng(2)
    table = pd.DataFrame({"machine_type": "fan", "machine_id": "00", "score": 3.0 + rng.gamma(0.7, size=3000)})
    a, _, _ = fit_gamma(table)["fan/00"]
    assert 0.5 < a < 0.9  # an exponential-like machine is fitted, not refused
    import asdlib.deploy.thresholds as thresholds

    for bad in ((float("nan"), 0.0, 1.0), (0.0, 0.0, 1.0), (-1.0, 0.0, 1.0), (2.0, 0.0, 0.0)):
        monkeypatch.setattr(thresholds.scipy.stats.gamma, "fit", lambda values, bad=bad: bad)
        with pytest.raises(ThresholdError, match="the gamma fit failed"):
            fit_gamma(table)


def test_default_percentile_is_the_baselines_0_9():
    from asdlib.deploy.thresholds import gamma_thresholds

    params = fit_gamma(_scores())
    assert gamma_thresholds(params) == gamma_thresholds(params, 0.9) == fit_thresholds(_scores())
