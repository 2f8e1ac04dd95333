"""Checkers for the student edition: each exercise's answer and each coding task, judged without showing the solution.

The student edition of the notebooks (``notebooks/student/``, built by
``scripts/build_notebooks.py``) replaces every solution cell by a stub::

    answer = ...
    check("02.1", answer)

``check`` says **not yet answered** while the stub is untouched, **right**, or **wrong** with a
hint that points at the method, never at the value. The expected value is computed here from the
library (``asdlib.teaching.exercises`` and the modules it calls), never stored. Coding tasks
(``check_code``) run the student's function and the library's on fresh random inputs.
Explained in docs/teaching.md, section "The student edition".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd
import scipy.stats
import torch
from torch import nn

from asdlib.deploy.inference import fold_batchnorm
from asdlib.deploy.thresholds import fit_gamma, gamma_thresholds
from asdlib.engine.complexity import count_macs
from asdlib.engine.evaluate import evaluate_run
from asdlib.engine.metrics import auc_pauc, hanley_mcneil_se, official_metrics
from asdlib.engine.train import train
from asdlib.nets.loss import ArcFace
from asdlib.nets.model import build_model
from asdlib.study.authors_scores import load_authors_scores
from asdlib.study.paper_numbers import paper_table3
from asdlib.paths import results_dir
from asdlib.study.runs import TABLE3_RUNS, ensure_runs, run_config, run_dir
from asdlib.teaching import exercises as ex

NOT_YET, RIGHT, WRONG = "not yet answered", "right", "wrong"


@dataclass(frozen=True)
class Exercise:
    """One exercise of the student edition: what ``answer`` is, how it is judged, and a hint."""

    asks: str                          # what the student's ``answer`` must hold
    expected: Callable[..., Any]       # computes the expected answer from the library
    hint: str                          # a pointer at the method, never the value
    kind: str = "number"               # "number" (with tolerance) or "text"
    tol: float = 1e-6                  # absolute tolerance for numbers
    inputs: tuple[str, ...] = ()       # notebook variables passed after ``answer``
    solution: str = ""                 # the instructor's one-line solution (tests substitute it)


def _no_total(t: pd.DataFrame) -> pd.DataFrame:
    return t.drop(index="all types")


def _shared_class() -> int:
    t = ex.ex01_label_collisions()
    shared = sorted(set(t.loc[t["machines_in_class"] > 1, "class_index"]))
    if len(shared) != 1:
        raise RuntimeError(f"expected one shared class in the authors' label map, found {shared}")
    return int(shared[0])


def _attention_mac_share() -> float:
    macs = count_macs(build_model())
    return float(macs["attention"] / macs["total"])


def _false_alarms_per_day(train_table, via_scorer) -> float:
    t = ex.ex08_false_alarms(train_table, via_scorer, percentiles=(0.99,))
    return float(t.iloc[0, -1])


EXERCISES: dict[str, Exercise] = {
    "01.1": Exercise("the machine type with the largest share of anomalous test clips (a string)",
                     lambda: _no_total(ex.ex01_split_totals())["anomaly share of test [%]"].idxmax(),
                     "divide each type's anomalous test clips by all its test clips, then compare the six types",
                     kind="text",
                     solution='answer = ex01_split_totals().drop(index="all types")["anomaly share of test [%]"].idxmax()'),
    "01.2": Exercise("the class index that two machines share under the authors' offsets (an int)",
                     _shared_class,
                     "each type's classes start at its offset; pump has IDs up to 06, so where does it end?",
                     solution='answer = int(ex01_label_collisions().query("machines_in_class > 1").class_index.iloc[0])'),
    "01.3": Exercise("the machine type whose bundled clips are longer than 10 s (a string)",
                     lambda: ex.ex01_sample_durations().query("seconds > 10").machine_type.unique()[0],
                     "load each clip with load_wav and divide its number of samples by the sample rate",
                     kind="text",
                     solution='answer = ex01_sample_durations().query("seconds > 10").machine_type.unique()[0]'),
    "02.1": Exercise("the number of frames of a 10-s clip with hop 256 (an int)",
                     lambda: int(ex.ex02_frames().query("clip_seconds == 10 and hop == 256").num_frames.iloc[0]),
                     "with centre padding the frame count is 1 + samples // hop",
                     solution='answer = int(ex02_frames().query("clip_seconds == 10 and hop == 256").num_frames.iloc[0])'),
    "02.2": Exercise("the parameters of the separable Wavegram with a 2048-sample window (an int)",
                     lambda: int(ex.ex02_wavegram_params().query("kernel == 2048").separable.iloc[0]),
                     "depthwise taps (+ bias), two BatchNorms (2 parameters per channel), pointwise 1 -> 128",
                     solution='answer = int(ex02_wavegram_params().query("kernel == 2048").separable.iloc[0])'),
    "02.3": Exercise("the numerical rank of the separable Wavegram map before its last ReLU (an int)",
                     lambda: int(ex.ex02_wavegram_rank().numerical_rank.iloc[0]),
                     "every channel is a_c * d_t + b_c of one signal d_t: how many independent rows can that give?",
                     solution="answer = int(ex02_wavegram_rank().numerical_rank.iloc[0])"),
    "03.1": Exercise("the largest angle (degrees) still classified as class 0 with m = 0.7 (a number)",
                     lambda: float(ex.ex03_arcface_loss_vs_angle()["true class wins up to [deg]"]["m = 0.7"]),
                     "the margin adds m radians to the true class's angle; the other class sits at 90 degrees",
                     tol=0.5,
                     solution='answer = float(ex03_arcface_loss_vs_angle()["true class wins up to [deg]"]["m = 0.7"])'),
    "03.2": Exercise("the share of batches whose lambda is below 0.5 for Beta(0.2, 0.2) (a number)",
                     lambda: float(ex.ex03_mixup_lambda(0.2)["shares"].iloc[0]),
                     "what does Beta(a, a) look like if you swap lambda and 1 - lambda?",
                     tol=0.02,
                     solution="answer = float(ex03_mixup_lambda(0.2)['shares'].iloc[0])"),
    "03.3": Exercise("the total parameters of the network with h = 256 (an int)",
                     lambda: int(ex.ex03_params_vs_embedding().loc[256, "total"]),
                     "h changes MobileFaceNet's last layers and the ArcFace head (h x 41)",
                     solution='answer = int(ex03_params_vs_embedding().loc[256, "total"])'),
    "03.4": Exercise("the time width of MobileFaceNet's global depthwise kernel for a 5-s clip (an int)",
                     lambda: int(ex.ex03_global_kernel().query("clip_seconds == 5")["global_kernel (freq, time)"]
                                 .iloc[0][1]),
                     "count the frames of a 5-s clip, then follow the four stride-2 stages",
                     solution='answer = int(ex03_global_kernel().query("clip_seconds == 5")["global_kernel (freq, time)"].iloc[0][1])'),
    "04.1": Exercise("the mean over machine types of the official AUC of this run's clips (a number)",
                     lambda clips: float(ex.ex04_official_by_groupby(clips)["auc"].mean()),
                     "group by type and ID, compute roc_auc_score per ID, average over IDs, then over types",
                     tol=1e-6, inputs=("clips",),
                     solution='answer = float(ex04_official_by_groupby(clips)["auc"].mean())'),
    "04.2": Exercise("the global AUC when machine 02's scores are shifted by 8 (a number)",
                     lambda: float(ex.ex04_global_vs_per_id().query("`offset of machine 02` == 8")["global AUC"]
                                   .iloc[0]),
                     "the per-ID AUCs do not move; count the pairs (anomaly, normal) across the two machines",
                     tol=1e-6,
                     solution='answer = float(ex04_global_vs_per_id().query("`offset of machine 02` == 8")["global AUC"].iloc[0])'),
    "04.3": Exercise("the standardised pAUC (max_fpr = 0.1) of a random score, in % (a number)",
                     lambda: float(ex.ex04_pauc_limits().loc["random score", "pAUC (max_fpr = 0.1)"]),
                     "McClish's standardisation maps chance to the same value as the AUC's chance",
                     tol=2.0,
                     solution='answer = float(ex04_pauc_limits().loc["random score", "pAUC (max_fpr = 0.1)"])'),
    "04.4": Exercise("the optimism (points) of picking the best of 15 checkpoints on the test set (a number)",
                     lambda: float(ex.ex04_selection_bias()["optimism (points)"].iloc[-1]),
                     "the maximum of 15 noisy values lies about 1.7 standard errors above their mean",
                     tol=1.0,
                     solution='answer = float(ex04_selection_bias()["optimism (points)"].iloc[-1])'),
    "05.1": Exercise("the parameters of the attention module (an int)",
                     lambda: int(ex.ex05_variant_params().loc["proposed", "attention"]),
                     "three separable layers (depthwise, BN, pointwise, BN) and one BatchNorm(16) and one BatchNorm(64)",
                     solution='answer = int(ex05_variant_params().loc["proposed", "attention"])'),
    "05.2": Exercise("the MACs of no_separable relative to proposed (a ratio, e.g. 1.2)",
                     lambda: float(ex.ex05_macs_vs_params().loc["no_separable", "MACs vs proposed"]),
                     "ordinary 3x3 convolutions at 128 x 313 cost in_channels x out_channels x 9 per pixel",
                     tol=0.01,
                     solution='answer = float(ex05_macs_vs_params().loc["no_separable", "MACs vs proposed"])'),
    "05.3": Exercise("the Hanley-McNeil standard error (points) at the paper's 93.43 on the authors' clip counts",
                     lambda: hanley_mcneil_se(float(dict(zip(TABLE3_RUNS, paper_table3()["auc"]))["proposed"]),
                                              int(load_authors_scores()["anomaly"].sum()),
                                              int((load_authors_scores()["anomaly"] == 0).sum())),
                     "the standard error depends on the AUC: compute it at 93.43, not at the arrays' 63.5",
                     tol=0.01,
                     solution="answer = ex05_auc_bootstrap(n_boot=20)[\"Hanley-McNeil standard error at the paper's AUC (same clip counts)\"]"),
    "06.1": Exercise("the share of attention values exactly 0.5 in the untrained faithful network (a number)",
                     lambda: float(ex.ex06_share_at_half().iloc[0]["share of H exactly 0.5"]),
                     "BatchNorm on batch statistics centres the last layer's input to the ReLU at zero",
                     tol=0.05,
                     solution='answer = float(ex06_share_at_half().iloc[0]["share of H exactly 0.5"])'),
    "06.2": Exercise("the value in dB of a -60 dB log-Mel bin weighted by H = 0.5 (a number)",
                     lambda: float(ex.ex06_weighted_logmel()["a -60 dB bin weighted by 0.5 becomes [dB]"]),
                     "H multiplies the dB value itself, not the power",
                     solution='answer = float(ex06_weighted_logmel()["a -60 dB bin weighted by 0.5 becomes [dB]"])'),
    "06.3": Exercise("the number of Mel bins whose centre lies in [0.071, 1.7] kHz (an int)",
                     lambda: int(ex.ex06_fig4_band_bins().query("low_hz == 71").mel_bins.iloc[0]),
                     "compute the 128 HTK band centres (mel_bin_centres_hz) and count",
                     solution='answer = int(ex06_fig4_band_bins().query("low_hz == 71").mel_bins.iloc[0])'),
    "07.1": Exercise("the gap in mean global AUC (validation pick, mean over seeds), proposed minus STgram-MFN, "
                     "in points (a number)",
                     lambda long: float(ex.ex07_seed_gap(long, "Proposed approach", "STgram-MFN")["gap (a - b)"]),
                     "keep metric 'global' and selection 'validation' in `long`, average each method's seeds, subtract",
                     tol=0.01, inputs=("long",),
                     solution='answer = float(ex07_seed_gap(long, "Proposed approach", "STgram-MFN")["gap (a - b)"])'),
    "07.2": Exercise("the smallest gain over the methods of the global AUC at the paper pick over the validation "
                     "pick (mean over seeds, in points; a number)",
                     lambda long: float(ex.ex07_selection_gain(long)
                                        ["global AUC: paper pick - validation pick"].min()),
                     "per method: mean over seeds of the global AUC at the paper pick minus at the validation "
                     "pick; then the smallest. What does the paper pick maximise?",
                     tol=0.01, inputs=("long",),
                     solution='answer = float(ex07_selection_gain(long)["global AUC: paper pick - validation pick"].min())'),
    "07.3": Exercise("the method (as named in `cost`) with the most multiply-accumulates per parameter (a string)",
                     lambda cost: ex.ex07_macs_per_parameter(cost).index[0],
                     "per row of `cost`: MMACs per clip x 1e6 / parameters, then the largest",
                     kind="text", inputs=("cost",),
                     solution="answer = ex07_macs_per_parameter(cost).index[0]"),
    "08.1": Exercise("the multiply-accumulates per 10-s clip of the proposed network, in millions (a number)",
                     lambda: float(count_macs(build_model())["total"] / 1e6),
                     "count_macs of build_model() (section 2), in millions",
                     tol=1.0,
                     solution='answer = float(ex08_latency_floor(clips=1)["MACs per clip (M)"])'),
    "08.2": Exercise("false alarms per day at p = 0.99 on this notebook's test normals, 1,440 clips a day",
                     lambda train_table, via_scorer: _false_alarms_per_day(train_table, via_scorer),
                     "share of normal test clips above their machine's 0.99 gamma threshold, times 1,440",
                     tol=0.5, inputs=("train_table", "via_scorer"),
                     solution="answer = float(ex08_false_alarms(train_table, via_scorer, percentiles=(0.99,)).iloc[0, -1])"),
    "08.3": Exercise("the attention module's share of the network's MACs (a fraction, e.g. 0.2)",
                     _attention_mac_share,
                     "count_macs per part (section 2): attention over total",
                     tol=0.005,
                     solution='answer = float(ex08_time_per_part(repeats=1).at["attention", "share of MACs"])'),
}


def _same(kind: str, answer: Any, expected: Any, tol: float) -> bool:
    if kind == "text":
        return isinstance(answer, str) and answer.strip().lower() == str(expected).strip().lower()
    try:
        a = float(answer)
    except (TypeError, ValueError):
        return False
    return math.isfinite(a) and abs(a - float(expected)) <= tol


def judge(exercise: str, answer: Any, *inputs) -> tuple[str, str]:
    """(status, message) for an answer: ``not yet answered``, ``right`` or ``wrong`` with a hint. Notebook 01 to 08, student edition; docs/teaching.md."""
    if exercise not in EXERCISES:
        raise KeyError(f"unknown exercise {exercise!r}; known: {', '.join(EXERCISES)}")
    item = EXERCISES[exercise]
    if answer is Ellipsis:
        return NOT_YET, f"{exercise}: not yet answered. `answer` should be {item.asks}."
    if len(inputs) != len(item.inputs):
        raise TypeError(f"check({exercise!r}, answer, ...) takes the notebook's {', '.join(item.inputs) or 'no'} "
                        f"variable(s), got {len(inputs)}")
    if _same(item.kind, answer, item.expected(*inputs), item.tol):
        return RIGHT, f"{exercise}: right."
    return WRONG, f"{exercise}: not quite. Hint: {item.hint}."


def check(exercise: str, answer: Any, *inputs) -> str:
    """Print and return whether ``answer`` to an exercise is right, wrong (with a hint) or not yet answered. Notebook 01 to 08, student edition; docs/teaching.md."""
    status, message = judge(exercise, answer, *inputs)
    print(message)
    return status


# --------------------------------------------------------------------------- coding tasks

@dataclass(frozen=True)
class CodingTask:
    """A function the student writes before the library does it, and how it is tested."""

    asks: str
    trial: Callable[[Callable, np.random.Generator], bool]   # True when the function matches the library
    hint: str
    trials: int = 5


def _trial_margin(fn, rng) -> bool:
    m = float(rng.uniform(0.1, 0.9))
    cos = torch.from_numpy(rng.uniform(-1, 1, 64))
    head = ArcFace(embedding_dim=4, num_classes=2, s=1.0, m=m)
    sin = torch.sqrt((1.0 - cos * cos).clamp(0, 1))
    expected = torch.where(cos > head.th, cos * head.cos_m - sin * head.sin_m, cos - head.mm)
    got = torch.as_tensor(fn(cos, m), dtype=expected.dtype)
    return got.shape == expected.shape and torch.allclose(got, expected, atol=1e-9)


def _trial_pauc(fn, rng) -> bool:
    n = int(rng.integers(40, 200))
    y = rng.integers(0, 2, n)
    y[:2] = (0, 1)
    s = np.round(rng.normal(size=n) + rng.uniform(0, 2) * y, 1)
    max_fpr = float(rng.choice([0.05, 0.1, 0.3]))
    return abs(float(fn(y, s, max_fpr)) - auc_pauc(y, s, max_fpr)[1]) < 1e-6


def _trial_official(fn, rng) -> bool:
    rows = []
    for t, ids in (("fan", ("00", "02", "04")), ("valve", ("01", "03"))):
        for i in ids:
            n = int(rng.integers(20, 60))
            y = np.r_[np.zeros(n // 2, int), np.ones(n - n // 2, int)]
            for label, sc in zip(y, rng.normal(size=n) + rng.uniform(0, 2) * y):
                rows.append((t, i, int(label), float(sc)))
    scores = pd.DataFrame(rows, columns=["machine_type", "machine_id", "anomaly", "score"])
    per_type = official_metrics(scores)["per_type"].set_index("machine_type")
    return abs(float(fn(scores)) - float(per_type.at["average", "auc"])) < 1e-6


def _trial_fold(fn, rng) -> bool:
    c_in, c_out = int(rng.integers(1, 5)), int(rng.integers(1, 6))
    conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=bool(rng.integers(0, 2)))
    bn = nn.BatchNorm2d(c_out)
    with torch.no_grad():
        bn.running_mean.copy_(torch.from_numpy(rng.normal(size=c_out)).float())
        bn.running_var.copy_(torch.from_numpy(10 ** rng.uniform(-6, 0, c_out)).float())  # near eps too
        bn.weight.copy_(torch.from_numpy(rng.normal(size=c_out)).float())
        bn.bias.copy_(torch.from_numpy(rng.normal(size=c_out)).float())
    conv.eval(), bn.eval()
    x = torch.randn(2, c_in, 7, 9, generator=torch.Generator().manual_seed(int(rng.integers(1 << 30))))
    with torch.no_grad():
        expected = fold_batchnorm(conv, bn)(x)
        folded = fn(conv, bn)
        if not isinstance(folded, nn.Module):
            return False
        got = folded(x)
    return got.shape == expected.shape and torch.allclose(got, expected, rtol=1e-4, atol=1e-4)


def _trial_gamma(fn, rng) -> bool:
    a, scale = float(rng.uniform(1, 6)), float(rng.uniform(0.2, 3))
    values = scipy.stats.gamma(a, scale=scale).rvs(500, random_state=rng)
    p = float(rng.choice([0.8, 0.9, 0.99]))
    table = pd.DataFrame({"machine_type": "fan", "machine_id": "00", "score": values})
    expected = gamma_thresholds(fit_gamma(table), p)["fan/00"]
    return abs(float(fn(values, p)) - expected) <= 1e-6 * max(1.0, abs(expected))


CODING_TASKS: dict[str, CodingTask] = {
    "03.C": CodingTask("margin_logit(cos, m): cos(theta + m) where cos > cos(pi - m), else cos - m sin(m) "
                       "(the authors' ArcFace), elementwise on a tensor", _trial_margin,
                       "cos(theta + m) = cos theta cos m - sin theta sin m with sin theta = sqrt(1 - cos^2); "
                       "then the fallback where theta + m would pass pi"),
    "04.C1": CodingTask("mcclish_pauc(y, s, max_fpr): the McClish-standardised partial AUC in %, "
                        "as sklearn's roc_auc_score(..., max_fpr=...)", _trial_pauc,
                        "integrate the ROC up to max_fpr (interpolate at max_fpr), then map "
                        "[min_area, max_area] = [p^2/2, p] onto [0.5, 1]"),
    "04.C2": CodingTask("official_mean_auc(scores): the DCASE 2020 official AUC in % (per ID, mean over IDs, "
                        "mean over types)", _trial_official,
                        "groupby(['machine_type', 'machine_id']), roc_auc_score per group, then two means"),
    "08.C1": CodingTask("fold(conv, bn): one Conv2d that computes bn(conv(x)) in evaluation mode",
                        _trial_fold,
                        "scale = gamma / sqrt(running_var + eps); weight * scale per output channel; "
                        "bias = (b - running_mean) * scale + beta (keep eps: trained variances can be tiny)"),
    "08.C2": CodingTask("gamma_threshold(values, p): the p-quantile of a gamma distribution fitted to the "
                        "normal scores (three parameters, scipy.stats.gamma.fit)", _trial_gamma,
                        "scipy.stats.gamma.fit(values) gives (a, loc, scale); gamma.ppf(p, a, loc, scale)"),
}


def judge_code(task: str, fn: Callable, seed: int | None = None) -> tuple[str, str]:
    """(status, message) for a student's function, tried on fresh random inputs against the library. Notebook 01 to 08, student edition; docs/teaching.md."""
    if task not in CODING_TASKS:
        raise KeyError(f"unknown coding task {task!r}; known: {', '.join(CODING_TASKS)}")
    item = CODING_TASKS[task]
    rng = np.random.default_rng(seed)
    try:
        results = [item.trial(fn, rng) for _ in range(item.trials)]
    except NotImplementedError:
        return NOT_YET, f"{task}: not yet written. Write {item.asks}."
    except Exception as exc:  # a student's function may fail in any way: say how, and go on
        return WRONG, f"{task}: your function raised {type(exc).__name__}: {exc}. Hint: {item.hint}."
    if all(results):
        return RIGHT, f"{task}: right on {item.trials} fresh random inputs."
    return WRONG, (f"{task}: differs from the library on {results.count(False)} of {item.trials} random "
                   f"inputs. Hint: {item.hint}.")


def check_code(task: str, fn: Callable, seed: int | None = None) -> str:
    """Print and return whether a coding task's function matches the library on fresh random inputs. Notebook 01 to 08, student edition; docs/teaching.md."""
    status, message = judge_code(task, fn, seed)
    print(message)
    return status


# --------------------------------------------------------------------------- change one thing and retrain

PREDICTIONS = ("higher", "lower", "about the same")


@dataclass(frozen=True)
class RetrainTask:
    """Change one setting of the proposed run, retrain at the profile's budget, compare with the proposed run."""

    asks: str                     # the question; the comparison is the global AUC at the last epoch, paired over clips
    run: str                      # an existing run of the profile, or "proposed" with ``overrides``
    overrides: tuple[tuple[str, Any], ...] = ()
    folder: str = ""              # where a run with overrides is trained (under results/<profile>/retrain/)


RETRAIN_TASKS: dict[str, RetrainTask] = {
    "03.R": RetrainTask("no angular margin (m = 0): will the global AUC at the last epoch be higher, "
                        "lower or about the same as with m = 0.7?", "proposed",
                        (("model.arcface_m", 0.0),), "proposed-margin0"),
    "05.R": RetrainTask("attention without the ReLU before the sigmoid (fixed_attention): will the global AUC "
                        "at the last epoch be higher, lower or about the same?", "fixed_attention"),
}


def _last_scores(run_folder) -> pd.DataFrame:
    return pd.read_csv(run_folder / "evaluation" / "last" / "clip_scores.csv")


def retrain_task(task: str, prediction: Any, profile: str, *, insist: bool = False,
                 progress: bool = False) -> dict[str, Any]:
    """Train the changed run (unless done), compare its global AUC at the last epoch with the proposed run's (paired over clips), and say whether the prediction held. Notebook 01 to 08, student edition; docs/teaching.md.

    Both runs are read at their last epoch (an honest choice that needs no other checkpoint), so
    the changed run saves only its last checkpoint and its evaluation scores that one.
    """
    if task not in RETRAIN_TASKS:
        raise KeyError(f"unknown retrain task {task!r}; known: {', '.join(RETRAIN_TASKS)}")
    item = RETRAIN_TASKS[task]
    if prediction is Ellipsis:
        message = (f"{task}: not yet predicted. Set `prediction` to one of {', '.join(PREDICTIONS)} "
                   f"({item.asks}); the cell then trains and compares.")
        print(message)
        return {"status": NOT_YET, "message": message}
    if str(prediction).strip().lower() not in PREDICTIONS:
        raise ValueError(f"{task}: prediction {prediction!r}; give one of {', '.join(PREDICTIONS)}")
    if profile != "smoke" and not insist:
        message = (f"{task}: not retrained: on the {profile} profile one run is 300 epochs (GPU hours). "
                   "Use the smoke profile, or pass insist=True.")
        print(message)
        return {"status": "skipped", "message": message}
    ensure_runs(profile, ["proposed"], progress=progress)
    if item.overrides:
        epochs = run_config(profile, item.run).train.epochs
        # only the last epoch is read: checkpoint, validation and last.pt there alone (the same weights)
        config = run_config(profile, item.run, {**dict(item.overrides), "train.checkpoint_every": epochs,
                                                "train.validate_every": epochs, "train.save_last_every": epochs})
        folder = results_dir(profile) / "retrain" / item.folder
        train(config, folder, resume=True, progress=progress)
        evaluate_run(folder, progress=progress)
    else:
        ensure_runs(profile, [item.run], progress=progress)
        folder = run_dir(profile, item.run)
    ours, base = _last_scores(folder), _last_scores(run_dir(profile, "proposed"))
    changed = float(official_metrics(ours)["per_type"].set_index("machine_type").at["average", "auc"])
    proposed = float(official_metrics(base)["per_type"].set_index("machine_type").at["average", "auc"])
    gap = ex.ex05_paired_gap(ours, base, n_boot=200)
    low, high = gap["95 % paired interval low"], gap["95 % paired interval high"]
    diff = gap["global AUC difference (a - b)"]
    outcome = "about the same" if low <= 0.0 <= high else "higher" if diff > 0 else "lower"
    held = outcome == str(prediction).strip().lower()
    message = (f"{task}: official AUC {changed:.2f} against {proposed:.2f} for proposed (last epochs); "
               f"global AUC difference {diff:+.2f}, 95 % paired interval [{low:+.2f}, {high:+.2f}]: "
               f"{outcome}. Your prediction "
               f"({prediction}) {'held' if held else 'did not hold'}; on the smoke profile's synthetic "
               "sounds this says nothing about the paper's data.")
    print(message)
    return {"status": RIGHT if held else WRONG, "message": message, "official_auc": changed,
            "official_auc_proposed": proposed, "outcome": outcome}
