"""The exercise solutions of asdlib.teaching.exercises, each checked against an answer computed another way."""

from __future__ import annotations

import csv
import inspect
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import beta, norm

from asdlib.teaching import exercises as ex
from asdlib.data.audio import load_clip
from asdlib.study.authors_scores import load_authors_scores
from asdlib.data.dcase import PAPER_OFFSETS, class_index, paper_mask_type
from asdlib.nets.features import LogMel
from asdlib.engine.metrics import auc_pauc, official_metrics
from asdlib.nets.model import build_model
from asdlib.paths import SAMPLE_DIR
from asdlib.study.runs import (FIGURE_CLIP)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_every_solution_is_listed_and_tested():
    public = {name for name, fn in vars(ex).items()
              if inspect.isfunction(fn) and fn.__module__ == ex.__name__ and not name.startswith("_")}
    listed = {fn.__name__ for fns in ex.EXERCISES.values() for fn in fns}
    assert public == listed
    assert all(2 <= len(fns) <= 4 for fns in ex.EXERCISES.values())
    assert sorted(ex.EXERCISES) == ["01", "02", "03", "04", "05", "06", "07", "08"]
    for nb, fns in ex.EXERCISES.items():
        for fn in fns:
            assert fn.__name__.startswith(f"ex{nb}_") and f"Notebook {nb}" in fn.__doc__
    source = Path(__file__).read_text()
    untested = [n for n in listed if f"ex.{n}(" not in source]
    assert not untested, f"solutions without a test: {untested}"


# --------------------------------------------------------------------------- notebook 01

def test_ex01_split_totals_match_the_dcase_totals():
    t = ex.ex01_split_totals()
    total = t.loc["all types"]
    assert total["train clips (dev + additional)"] == 20_119 + 16_164 == 36_283
    assert total["test normal"] + total["test anomaly"] == 10_868
    assert len(t) == 7
    share = 100 * t["test anomaly"] / (t["test normal"] + t["test anomaly"])
    np.testing.assert_allclose(t["anomaly share of test [%]"], share)


def test_ex01_label_collisions_paper_map_and_shifted_slider():
    t = ex.ex01_label_collisions()
    assert list(t["class_index"]) == [class_index(m, i) for m, i in zip(t.machine_type, t.machine_id)]
    # the derived type ranges are the authors' pooled masks
    assert list(t["falls_in_range_of"]) == [paper_mask_type(c) for c in t["class_index"]]
    problems = {(r.machine_type, r.machine_id): r.problem for r in t.itertuples() if r.problem}
    assert problems == {("pump", "06"): "shares its class", ("slider", "00"): "shares its class",
                        ("ToyCar", "07"): "outside its type's range"}
    shifted = ex.ex01_label_collisions({**PAPER_OFFSETS, "slider": 14})
    assert shifted["class_index"].nunique() == 41                       # no shared class any more
    moved = shifted.set_index(["machine_type", "machine_id"])
    assert moved.loc[("slider", "06"), "class_index"] == 20
    assert moved.loc[("slider", "06"), "falls_in_range_of"] == "ToyCar"


def test_ex01_sample_durations_match_the_manifest():
    t = ex.ex01_sample_durations()
    with open(SAMPLE_DIR / "MANIFEST.tsv", newline="") as f:
        manifest = {Path(r["path"]).name + r["machine_type"]: float(r["duration_s"])
                    for r in csv.DictReader(f, delimiter="\t")}
    assert len(t) == len(manifest) == 31
    for r in t.itertuples():
        assert r.seconds == pytest.approx(manifest[r.file_name + r.machine_type])
        assert r.seconds == (11.0 if r.machine_type == "ToyCar" else 10.0)
    assert (t["samples_kept"] == 160_000).all() and t["kept_is_the_start"].all()


# --------------------------------------------------------------------------- notebook 02

def test_ex02_frames_hop_256_gives_626():
    t = ex.ex02_frames().set_index(["clip_seconds", "hop"])
    assert t.loc[(10.0, 256), "num_frames"] == 626
    assert t.loc[(10.0, 512), "num_frames"] == 313
    assert t.loc[(1.0, 512), "num_frames"] == 32
    for (sec, hop), r in t.iterrows():
        assert r["num_frames"] == r["frames_measured"] == 1 + int(sec * 16_000) // hop


def test_ex02_wavegram_params_follow_the_layer_formula():
    t = ex.ex02_wavegram_params().set_index("kernel")
    assert t.loc[1024, "separable"] == 1539 and t.loc[1024, "ordinary Conv1d"] == 131_200
    for k, r in t.iterrows():
        # depthwise k taps + bias, BN 2, pointwise 128 + 128, BN 256
        assert r["separable"] == (k + 1) + 2 + (128 + 128) + 256
        assert r["ordinary Conv1d"] == 128 * k + 128


def test_ex02_wavegram_rank_is_at_most_two_before_the_relu():
    trained = ex.ex02_wavegram_rank().set_index("matrix")["numerical_rank"]
    assert trained["separable, before the last ReLU"] == 2
    assert trained["ordinary Conv1d"] == 128
    at_init = ex.ex02_wavegram_rank(trained_like=False).set_index("matrix")["numerical_rank"]
    assert at_init["separable, before the last ReLU"] == 1      # BN shift 0: the offsets vanish


# --------------------------------------------------------------------------- notebook 03

def test_ex03_arcface_loss_at_m0_is_softmax_cross_entropy_of_s_cos():
    res = ex.ex03_arcface_loss_vs_angle()
    loss = res["loss"]
    theta = np.deg2rad(loss.index.to_numpy())
    # cosines to the class directions at 0, 120 and 240 degrees
    logits = 40.0 * np.cos(theta[:, None] - np.deg2rad([0.0, 120.0, 240.0])[None, :])
    plain = logsumexp(logits, axis=1) - logits[:, 0]
    np.testing.assert_allclose(loss["m = 0"], plain, atol=2e-4)
    assert loss.loc[60.0, "m = 0"] == pytest.approx(math.log(2), abs=1e-4)   # a tie with class 1
    # the margin only makes the loss larger
    assert (loss["m = 0.7"] >= loss["m = 0.35"] - 1e-5).all()
    assert (loss["m = 0.35"] >= loss["m = 0"] - 1e-5).all()
    # class 0 wins while theta + m < 120 deg - theta
    for m, won in zip((0.0, 0.35, 0.7), res["true class wins up to [deg]"]):
        assert won == pytest.approx((120.0 - math.degrees(m)) / 2, abs=0.1)


@pytest.mark.parametrize("alpha", [0.2, 1.0])
def test_ex03_mixup_lambda_follows_beta(alpha):
    res = ex.ex03_mixup_lambda(alpha=alpha, draws=20_000)
    shares, lams = res["shares"], res["lambdas"]
    assert len(lams) == 20_000
    dist = beta(alpha, alpha)
    assert shares.iloc[0] == pytest.approx(dist.cdf(0.5), abs=0.015)           # lambda < 0.5
    assert shares.iloc[1] == pytest.approx(dist.cdf(0.1), abs=0.015)           # lambda < 0.1
    assert shares.iloc[2] == pytest.approx(dist.cdf(0.7) - dist.cdf(0.3), abs=0.015)
    assert shares.iloc[3] == pytest.approx(dist.sf(0.9), abs=0.015)
    if alpha == 0.2:
        assert 0.30 < shares.iloc[1] < 0.36       # "lambda < 0.1 in about a third"


def test_ex03_params_change_by_596_per_embedding_dimension():
    t = ex.ex03_params_vs_embedding()
    assert t.loc[128, "total"] == 884_376
    for h, r in t.iterrows():
        # linear1 512*h + its BN 2h, fc_out 41h (+41 bias, unchanged), ArcFace 41h
        assert r["change vs h = 128"] == (h - 128) * (512 + 2 + 41 + 41)
        assert r["arcface"] == 41 * h


def test_ex03_global_kernel_follows_the_clip_length():
    t = ex.ex03_global_kernel().set_index("clip_seconds")
    assert t.loc[10.0, "global_kernel (freq, time)"] == (8, 20)
    for sec, r in t.iterrows():
        frames = 1 + int(sec * 16_000) // 512
        kt = math.ceil(frames / 16)                                # four stride-2 steps
        assert r["frames"] == frames and r["global_kernel (freq, time)"] == (8, kt)
        assert r["linear7 parameters"] == 512 * 8 * kt + 2 * 512
        assert r["total parameters"] - 884_376 == 512 * 8 * (kt - 20)


# --------------------------------------------------------------------------- notebook 04

def test_ex04_groupby_reproduces_the_official_mean():
    mine = ex.ex04_official_by_groupby()
    scores = ex._authors_separable()
    official = official_metrics(scores)["per_type"].set_index("machine_type")
    for mt in official.index:
        assert mine.loc[mt, "auc"] == pytest.approx(official.loc[mt, "auc"], abs=1e-9)
        assert mine.loc[mt, "pauc"] == pytest.approx(official.loc[mt, "pauc"], abs=1e-9)
    # also on a random subsample (other clips per ID, other values)
    toy = scores.sample(n=3000, random_state=1)
    official = official_metrics(toy)["per_type"].set_index("machine_type")
    mine = ex.ex04_official_by_groupby(toy)
    np.testing.assert_allclose(mine.loc[official.index, "auc"], official["auc"], atol=1e-9)


def _pairwise_auc(normal, anomaly):
    wins = [(a > n) + 0.5 * (a == n) for a in anomaly for n in normal]
    return 100.0 * float(np.mean(wins))


def test_ex04_global_auc_drops_while_each_id_stays_perfect():
    t = ex.ex04_global_vs_per_id()
    assert (t[["AUC fan 00", "AUC fan 02", "official mean"]] == 100.0).all().all()
    normal, anomaly = np.arange(4.0), np.arange(4.0, 8.0)
    for _, r in t.iterrows():
        off = r["offset of machine 02"]
        expected = _pairwise_auc(np.r_[normal, normal + off], np.r_[anomaly, anomaly + off])
        assert r["global AUC"] == pytest.approx(expected)
    assert t["global AUC"].iloc[-1] < 100.0


def test_ex04_pauc_limits():
    t = ex.ex04_pauc_limits()
    np.testing.assert_allclose(t["pAUC (max_fpr = 1)"], t["AUC"])        # p = 1: the whole AUC
    assert t.loc["random score", "AUC"] == pytest.approx(50, abs=2)
    assert t.loc["random score", "pAUC (max_fpr = 0.1)"] == pytest.approx(50, abs=2)   # McClish: 0.5 at chance
    assert t.loc["perfect score"].tolist() == [100.0, 100.0, 100.0]
    assert t.loc["authors' score arrays", "AUC"] == pytest.approx(63.48, abs=0.005)
    assert t.loc["authors' score arrays", "pAUC (max_fpr = 0.1)"] == pytest.approx(54.13, abs=0.005)


def test_ex04_selection_bias_grows_with_the_number_of_checkpoints():
    t = ex.ex04_selection_bias().set_index("checkpoints compared")
    assert t["true AUC"].iloc[0] == pytest.approx(100 * norm.cdf(1 / math.sqrt(2)))
    assert abs(t.loc[1, "optimism (points)"]) < 2            # one checkpoint: no selection, no bias
    assert t.loc[15, "optimism (points)"] > 3
    assert t["optimism (points)"].is_monotonic_increasing
    # each checkpoint's AUC is the library's: the best of 3 draws, recomputed with auc_pauc
    rng, y = np.random.default_rng(5), np.repeat([0, 1], 40)
    best = max(auc_pauc(y, rng.normal(size=80) + 0.5 * y)[0] for _ in range(3))
    one = ex.ex04_selection_bias(n_checkpoints=(3,), separation=0.5, n_clips=40, repeats=1, seed=5)
    assert one["mean of the best test AUC"].iloc[0] == pytest.approx(best, abs=1e-9)


# --------------------------------------------------------------------------- notebook 05

def _separable2d(i, o, k, bias):
    """Parameters of one six-step separable 2-D layer: dw conv, BN, pw conv, BN."""
    return i * k * k + (i if bias else 0) + 2 * i + i * o + (o if bias else 0) + 2 * o


def test_ex05_variant_params():
    t = ex.ex05_variant_params()
    attention = (_separable2d(2, 16, 3, False) + 2 * 16 + _separable2d(16, 64, 3, False) + 2 * 64
                 + _separable2d(64, 2, 1, True))
    assert attention == 1964
    assert t.loc["proposed", "total"] == 884_376
    assert t.loc["no_attention", "total"] == 882_412
    assert t.loc["no_attention", "change vs proposed"] == -attention
    assert t.loc["fixed_attention", "change vs proposed"] == 0      # a ReLU has no parameters
    assert t.loc["distinct_labels", "change vs proposed"] == 0      # still 41 classes
    assert t.loc["h256", "change vs proposed"] == 128 * 596
    assert 1_000_000 < t.loc["no_separable", "total"] < 1_030_000     # the paper's "1 M"


def test_ex05_macs_rise_more_than_parameters():
    t = ex.ex05_macs_vs_params()
    pixels = 128 * 313
    ordinary_attention = pixels * (2 * 16 * 9 + 16 * 64 * 9 + 64 * 2) + 2 * pixels   # + H * X
    assert t.loc["no_separable", "attention MACs"] == ordinary_attention
    assert t.loc["no_separable", "wavegram MACs"] == 313 * 128 * 1024
    assert t.loc["no_attention", "attention MACs"] == 0
    assert t.loc["no_separable", "MACs vs proposed"] > t.loc["no_separable", "parameters vs proposed"] + 0.2


def test_ex05_bootstrap_se_matches_hanley_mcneil():
    res = ex.ex05_auc_bootstrap(n_boot=100)
    scores = load_authors_scores()
    n_a, n_n = int(scores.anomaly.sum()), int((scores.anomaly == 0).sum())
    a = res["global AUC"] / 100
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    se = 100 * math.sqrt((a * (1 - a) + (n_a - 1) * (q1 - a * a) + (n_n - 1) * (q2 - a * a)) / (n_a * n_n))
    assert res["global AUC"] == pytest.approx(63.48, abs=0.005)
    assert res["standard error (points)"] == pytest.approx(se, rel=0.3)
    assert res["95 % interval low"] < res["global AUC"] < res["95 % interval high"]
    assert res["paper: [X_Mel, X_Wav] minus [X_Mel] (quoted values)"] == pytest.approx(93.43 - 92.26)
    # the formula at this AUC (derived above), and at the paper's 93.43 on the same clip counts
    assert res["Hanley-McNeil standard error at this AUC"] == pytest.approx(se, rel=1e-9)
    a = 0.9343
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    se93 = 100 * math.sqrt((a * (1 - a) + (n_a - 1) * (q1 - a * a) + (n_n - 1) * (q2 - a * a)) / (n_a * n_n))
    assert 0.24 < se93 < 0.26
    assert res["Hanley-McNeil standard error at the paper's AUC (same clip counts)"] == pytest.approx(se93, rel=1e-9)
    assert res["that gap in standard errors at the paper's AUC"] == pytest.approx(1.17 / se93, rel=1e-6)


def test_ex05_paired_gap_matches_the_two_aucs_and_refuses_other_clips():
    """The paired difference equals the difference of the two global AUCs; clip sets must match."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    n = 120
    base = pd.DataFrame({"machine_type": np.repeat(["fan", "pump"], n // 2),
                         "machine_id": np.tile(["00", "02"], n // 2),
                         "file_name": [f"clip_{i:03d}.wav" for i in range(n)],
                         "anomaly": (np.arange(n) % 3 == 0).astype(int)})
    a = base.assign(score=rng.normal(size=n) + base.anomaly)
    b = base.assign(score=a.score + 0.5 * rng.normal(size=n)).sample(frac=1.0, random_state=1)  # other order
    res = ex.ex05_paired_gap(a, b, n_boot=100)
    expected = 100 * (roc_auc_score(a.anomaly, a.score) - roc_auc_score(b.anomaly, b.score))
    assert res["global AUC difference (a - b)"] == pytest.approx(expected, abs=1e-9)
    assert res["95 % paired interval low"] < res["global AUC difference (a - b)"] < res["95 % paired interval high"]
    with pytest.raises(ValueError, match="different clips"):
        ex.ex05_paired_gap(a, b.iloc[:-1], n_boot=10)


# --------------------------------------------------------------------------- notebook 06

def test_ex06_share_at_half_faithful_vs_fixed():
    given = build_model().eval()
    t = ex.ex06_share_at_half(net=given)
    faithful, fixed = t.loc["faithful, at initialisation"], t.loc["fixed, at initialisation"]
    # BatchNorm on batch statistics centres the last layer's output: about half of it is negative,
    # and the faithful ReLU turns each of those into a sigmoid input of 0, an attention of 0.5
    assert faithful["min H"] == 0.5 and faithful["share of H below 0.5"] == 0.0
    assert 0.3 < faithful["share of H exactly 0.5"] < 0.7
    assert faithful["share of H exactly 0.5"] == faithful["share of sigmoid inputs exactly 0"]
    assert fixed["min H"] < 0.5 and fixed["share of H exactly 0.5"] < 0.01
    assert 0.3 < fixed["share of H below 0.5"] < 0.7
    assert t.loc["trained model given", "BatchNorm mode"] == "eval"
    assert t.loc["trained model given", "min H"] >= 0.5


def test_ex06_weighted_logmel_raises_every_negative_db_value():
    res = ex.ex06_weighted_logmel()
    logmel = LogMel()(torch.from_numpy(load_clip(FIGURE_CLIP, 160_000))[None])
    assert float(logmel.max()) < 0                                  # a quiet clip: all below 0 dB
    assert res["H * X by hand equals maps['weighted']"] is True
    assert res["share of log-Mel values below 0 dB"] == 1.0
    assert res["share of those that H * X raises (towards 0 dB)"] == 1.0
    assert res["mean change H * X - X [dB]"] > 0
    assert res["a -60 dB bin weighted by 0.5 becomes [dB]"] == -30.0


def test_ex06_fig4_band_bins_match_the_htk_formula():
    t = ex.ex06_fig4_band_bins()
    mel_max = 2595.0 * np.log10(1.0 + 8000.0 / 700.0)
    centres = 700.0 * (10 ** (np.linspace(0.0, mel_max, 130)[1:-1] / 2595.0) - 1.0)
    for band, r in t.iterrows():
        assert r["mel_bins"] == int(((centres >= r["low_hz"]) & (centres < r["high_hz"])).sum())
    assert t["mel_bins"].sum() == 128
    flat = t.loc[[b for b in t.index if b.startswith("[0.071")][0]]
    assert flat["share of the bins [%]"] > 2 * flat["share of 0-8 kHz [%]"]     # Mel favours the lows


# --------------------------------------------------------------------------- notebook 07

def _long_table(values):
    """A long table as measured_long writes it, from {(method, seed, metric, selection): auc}."""
    rows = [{"method": m, "run": m, "seed": k, "metric": metric, "selection": sel,
             "machine_type": "global" if metric == "global" else "average", "auc": auc, "pauc": 50.0}
            for (m, k, metric, sel), auc in values.items()]
    rows.append({"method": "A", "run": "A", "seed": 0, "metric": "official", "selection": "validation",
                 "machine_type": "fan", "auc": 1.0, "pauc": 1.0})  # a per-type row: never averaged in
    return pd.DataFrame(rows)


def test_ex07_seed_gap_is_the_difference_of_means_against_the_pooled_std():
    long = _long_table({("A", 0, "global", "validation"): 80.0, ("A", 1, "global", "validation"): 82.0,
                        ("B", 0, "global", "validation"): 75.0, ("B", 1, "global", "validation"): 79.0,
                        ("A", 0, "global", "paper"): 99.0, ("B", 0, "official", "validation"): 1.0})
    g = ex.ex07_seed_gap(long, "A", "B")
    assert g["gap (a - b)"] == pytest.approx(81.0 - 77.0)
    sa, sb = np.std([80, 82], ddof=1), np.std([75, 79], ddof=1)
    assert g["pooled seed std"] == pytest.approx(np.sqrt((sa ** 2 + sb ** 2) / 2))
    assert g["gap / pooled seed std"] == pytest.approx(4.0 / np.sqrt((sa ** 2 + sb ** 2) / 2))
    assert g["seeds"] == 2
    with pytest.raises(ValueError, match="'C'"):
        ex.ex07_seed_gap(long, "A", "C")


def test_ex07_selection_gain_per_method_and_metric():
    long = _long_table({("A", 0, "global", "paper"): 80.0, ("A", 1, "global", "paper"): 84.0,
                        ("A", 0, "global", "validation"): 79.0, ("A", 1, "global", "validation"): 81.0,
                        ("A", 0, "official", "paper"): 70.0, ("A", 1, "official", "paper"): 70.0,
                        ("A", 0, "official", "validation"): 72.0, ("A", 1, "official", "validation"): 72.0})
    t = ex.ex07_selection_gain(long)
    assert t.at["A", "global AUC: paper pick - validation pick"] == pytest.approx(82.0 - 80.0)
    assert t.at["A", "official AUC: paper pick - validation pick"] == pytest.approx(-2.0)


def test_ex07_macs_per_parameter_orders_the_methods():
    cost = pd.DataFrame({"method": ["big", "small"], "parameters": [1000, 10], "MMACs per clip": [1.0, 0.1]})
    t = ex.ex07_macs_per_parameter(cost)
    assert list(t.index) == ["small", "big"]
    assert t.at["small", "MACs per parameter"] == pytest.approx(10_000.0)


# --------------------------------------------------------------------------- notebook 08

def test_ex08_latency_floor_is_the_macs_over_the_matmul_rate():
    from asdlib.engine.complexity import count_macs
    from asdlib.nets.model import ModelConfig, build_model

    torch.manual_seed(0)
    net = build_model(ModelConfig(clip_seconds=1.0)).eval()   # 1-s clips: the same arithmetic, quicker
    res = ex.ex08_latency_floor(net, clips=3)
    assert res["MACs per clip (M)"] == count_macs(net)["total"] / 1e6
    assert res["floor (ms)"] == pytest.approx(1e3 * res["MACs per clip (M)"] * 1e6
                                              / (res["matmul rate (G MAC/s)"] * 1e9), rel=1e-12)
    assert res["measured / floor"] == pytest.approx(res["inference form, measured (ms)"] / res["floor (ms)"])
    # a floor is a floor: nothing scores a clip faster than its MACs at the matmul rate
    assert res["measured / floor"] > 1.0


def test_matmul_rate_counts_n_cubed_macs_per_product():
    import time as _time

    from asdlib.engine.complexity import matmul_rate

    rate = matmul_rate(threads=1, n=512, repeats=3)
    a, b = torch.randn(512, 512), torch.randn(512, 512)
    torch.set_num_threads(1)
    best = min((lambda s: (torch.mm(a, b), _time.perf_counter() - s)[1])(_time.perf_counter())
               for _ in range(5))
    assert 0.25 < rate / (512 ** 3 / best) < 4.0        # the same product timed here, noisy machine
    with pytest.raises(ValueError, match="out of range"):
        matmul_rate(threads=0)


def test_ex08_false_alarms_keep_their_promise_on_scores_from_the_fitted_law():
    """Training and test normals drawn from one gamma law per machine: the flagged share of the
    test normals is close to 1 - p; anomalies drawn higher are caught more often; per day = rate x clips."""
    from scipy.stats import gamma

    rng = np.random.default_rng(0)
    rows_train, rows_test = [], []
    for mid, (a, scale) in {"00": (3.0, 1.0), "02": (5.0, 0.5)}.items():
        law = gamma(a, scale=scale)
        for s in law.rvs(4000, random_state=rng):
            rows_train.append(("fan", mid, s))
        for s in law.rvs(4000, random_state=rng):
            rows_test.append(("fan", mid, s, 0))
        for s in law.rvs(1000, random_state=rng) + 3 * scale * a ** 0.5:
            rows_test.append(("fan", mid, s, 1))
    train = pd.DataFrame(rows_train, columns=["machine_type", "machine_id", "score"])
    test = pd.DataFrame(rows_test, columns=["machine_type", "machine_id", "score", "anomaly"])
    t = ex.ex08_false_alarms(train, test, percentiles=(0.5, 0.9, 0.99), clips_per_day=1000)
    for p, r in t.iterrows():
        assert r["promised false-alarm rate (1 - p)"] == pytest.approx(1 - p)
        assert r["training normals flagged"] == pytest.approx(1 - p, abs=0.02)
        assert r["test normals flagged"] == pytest.approx(1 - p, abs=0.02)
        assert r["test anomalies caught"] > r["test normals flagged"]
        assert r["false alarms per day (1000 normal clips)"] == pytest.approx(1000 * r["test normals flagged"])
    assert list(t.index) == [0.5, 0.9, 0.99]


def test_ex08_time_per_part_shares_and_macs():
    from asdlib.engine.complexity import count_macs
    from asdlib.nets.model import ModelConfig, build_model

    torch.manual_seed(0)
    net = build_model(ModelConfig(clip_seconds=1.0)).eval()
    t = ex.ex08_time_per_part(net, repeats=2)
    macs = count_macs(net)
    assert list(t.index) == ["logmel", "wavegram", "attention", "classifier", "arcface"]
    for part in t.index:
        assert t.at[part, "MACs (M)"] == macs[part] / 1e6
    assert t["share of time"].sum() == pytest.approx(1.0) and t["share of MACs"].sum() == pytest.approx(1.0)
    assert (t["time (ms)"] > 0).all()
    mel_only = build_model(ModelConfig(clip_seconds=1.0, features="mel")).eval()
    assert ex.ex08_time_per_part(mel_only, repeats=1).at["wavegram", "time (ms)"] == 0.0
