"""Solutions to the exercises at the end of notebooks 01-08, one function per exercise.

Each notebook ends with a section "Exercises": the task is stated in Markdown, and the cell
below it calls the solution here to show the answer. Every solution computes its answer with
the library's own functions (``features.num_frames``, ``model.build_model``, ``loss.ArcFace``,
``metrics``, the bundled real clips, the authors' score arrays...), never from stored numbers,
and none trains a network: each takes seconds on a CPU. ``tests/test_exercises.py`` checks
every answer against an independent one.

Names are ``exNN_<topic>`` with NN the notebook. ``EXERCISES`` lists them per notebook.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import torch

from asdlib.data.audio import load_clip, load_wav
from asdlib.study.authors_scores import COLLIDING_CLASS, load_authors_scores
from asdlib.engine.complexity import count_macs, matmul_rate, per_clip_latency
from asdlib.data.dataset import scan_dataset
from asdlib.data.dcase import ALL_MACHINES, PAPER_OFFSETS, SAMPLE_RATE, expected_file_counts
from asdlib.nets.features import LogMel, Wavegram, mel_bin_centres_hz, num_frames
from asdlib.deploy.inference import class_scores, inference_form
from asdlib.deploy.thresholds import fit_gamma, gamma_thresholds, machine_key
from asdlib.nets.loss import ArcFace, anomaly_score, mixup
from asdlib.engine.metrics import (MAX_FPR, auc_pauc, bootstrap_auc, global_metrics, hanley_mcneil_se,
                                  official_metrics, paired_bootstrap_auc_difference, rank_auc)
from asdlib.nets.model import build_model, parameter_counts
from asdlib.study.paper_numbers import fig4_bands, paper_table3
from asdlib.paths import SAMPLE_DIR
from asdlib.nets.model import (paper_length_network)
from asdlib.study.runs import (FIGURE_CLIP, HONEST_RUNS, TABLE3_RUNS, TABLE4_RUNS, params_at_paper_length, run_config)

#: Samples of the paper's input: the first 10 s at 16 kHz.
PAPER_SAMPLES = int(10 * SAMPLE_RATE)


def _figure_wave(num_samples: int = PAPER_SAMPLES) -> torch.Tensor:
    """The real anomalous fan clip of Figs. 2-3, cut to ``num_samples``, as a (1, samples) tensor."""
    return torch.from_numpy(load_clip(FIGURE_CLIP, num_samples))[None]


# --------------------------------------------------------------------------- notebook 01

def ex01_split_totals() -> pd.DataFrame:
    """Notebook 01, exercise 1: training and test clips per machine type and the share of anomalies, from the DCASE table."""
    counts = expected_file_counts()
    train = counts[counts["split"] == "train"].groupby("machine_type")["files"].sum()
    test = (counts[counts["split"] == "test"]
            .pivot_table(index="machine_type", columns="label", values="files", aggfunc="sum"))
    table = pd.DataFrame({"train clips (dev + additional)": train,
                          "test normal": test["normal"], "test anomaly": test["anomaly"]})
    table.loc["all types"] = table.sum()
    table["anomaly share of test [%]"] = 100 * table["test anomaly"] / (table["test normal"]
                                                                         + table["test anomaly"])
    return table


def ex01_label_collisions(offsets: dict[str, int] | None = None) -> pd.DataFrame:
    """Notebook 01, exercise 2: class = offset[type] + id for every machine, which classes hold two machines, and whose range each falls in."""
    offsets = dict(PAPER_OFFSETS if offsets is None else offsets)
    order = sorted(offsets, key=offsets.get)
    # Each type's range runs from its offset to the next type's offset - 1 (the last to 40):
    # with the paper's offsets these are exactly the authors' pooled masks, PAPER_TYPE_MASKS.
    ranges = {t: (offsets[t], offsets[order[i + 1]] - 1 if i + 1 < len(order) else 40)
              for i, t in enumerate(order)}
    rows = [{"machine_type": t, "machine_id": i, "class_index": offsets[t] + int(i)}
            for t, i in ALL_MACHINES]
    table = pd.DataFrame(rows)
    table["machines_in_class"] = table.groupby("class_index")["class_index"].transform("size")
    table["falls_in_range_of"] = [next((t for t, (lo, hi) in ranges.items() if lo <= c <= hi), "none")
                                  for c in table["class_index"]]
    table["problem"] = np.select(
        [table["machines_in_class"] > 1, table["falls_in_range_of"] != table["machine_type"]],
        ["shares its class", "outside its type's range"], "")
    return table


def ex01_sample_durations() -> pd.DataFrame:
    """Notebook 01, exercise 3: length of every bundled real clip, and what ``load_clip`` keeps of it (the first 10 s)."""
    sample = scan_dataset(SAMPLE_DIR)
    rows = []
    for row in sample.itertuples():
        full = load_wav(row.path)
        kept = load_clip(row.path, PAPER_SAMPLES)
        rows.append({"machine_type": row.machine_type, "file_name": row.file_name,
                     "seconds": len(full) / SAMPLE_RATE, "samples_kept": len(kept),
                     "kept_is_the_start": bool(np.array_equal(kept, full[:PAPER_SAMPLES]))})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- notebook 02

def ex02_frames(hops=(512, 256), seconds=(10.0, 1.0)) -> pd.DataFrame:
    """Notebook 02, exercise 1: frames of the centred STFT for each hop and clip length, by formula and measured with LogMel."""
    rows = []
    for sec in seconds:
        n = int(round(sec * SAMPLE_RATE))
        wave = _figure_wave(n)
        for hop in hops:
            measured = LogMel(hop_length=hop)(wave).shape[-1]
            rows.append({"clip_seconds": sec, "samples": n, "hop": hop,
                         "hop_ms": 1000 * hop / SAMPLE_RATE, "overlap_%": 100 * (1 - hop / 1024),
                         "num_frames": num_frames(n, hop), "frames_measured": measured})
    return pd.DataFrame(rows)


def ex02_wavegram_params(kernels=(1024, 2048, 512)) -> pd.DataFrame:
    """Notebook 02, exercise 2: parameters of the separable and the ordinary Wavegram when the window (kernel) changes."""
    def count(m):
        return sum(p.numel() for p in m.parameters())

    rows = [{"kernel": k, "window_ms": 1000 * k / SAMPLE_RATE,
             "separable": count(Wavegram(kernel=k, stride=k // 2, separable=True)),
             "ordinary Conv1d": count(Wavegram(kernel=k, stride=k // 2, separable=False))}
            for k in kernels]
    table = pd.DataFrame(rows)
    table["ratio"] = table["ordinary Conv1d"] / table["separable"]
    return table


def ex02_wavegram_rank(seed: int = 0, trained_like: bool = True) -> pd.DataFrame:
    """Notebook 02, exercise 3: numerical rank of the separable Wavegram when BatchNorm gets random scales and shifts, as after training."""
    torch.manual_seed(seed)
    separable, ordinary = Wavegram(separable=True), Wavegram(separable=False)
    layer = separable.layer
    if trained_like:  # training moves BatchNorm's scale and shift away from 1 and 0
        with torch.no_grad():
            for bn in (layer.dwconv_normalization, layer.pwconv_normalization):
                bn.weight.copy_(torch.empty_like(bn.weight).uniform_(-2.0, 2.0))
                bn.bias.copy_(torch.randn_like(bn.bias))
    wave = _figure_wave()
    with torch.no_grad():
        d = layer.dwconv_activation(layer.dwconv_normalization(layer.dwconv(wave[:, None])))
        pre_relu = layer.pwconv_normalization(layer.pwconv(d))[0]
        output = layer.pwconv_activation(pre_relu)
        conv = ordinary(wave)[0]
    mats = {"separable, before the last ReLU": pre_relu, "separable, output": output,
            "ordinary Conv1d": conv}
    return pd.DataFrame([{"matrix": name, "shape": tuple(m.shape),
                          "numerical_rank": int(torch.linalg.matrix_rank(m))}
                         for name, m in mats.items()])


# --------------------------------------------------------------------------- notebook 03

def _toy_head(m: float, s: float = 40.0) -> ArcFace:
    """The three-class toy head of notebook 03: class directions at 0, 120 and 240 degrees."""
    head = ArcFace(embedding_dim=2, num_classes=3, s=s, m=m)
    angles = torch.deg2rad(torch.tensor([0.0, 120.0, 240.0]))
    with torch.no_grad():
        head.weight.copy_(torch.stack([angles.cos(), angles.sin()], dim=1))
    return head


def ex03_arcface_loss_vs_angle(margins=(0.0, 0.35, 0.7), angles_deg=range(0, 121, 10),
                               s: float = 40.0) -> dict:
    """Notebook 03, exercise 1: ArcFace loss of a class-0 embedding against its angle to class 0, for several margins m."""
    def embeddings(deg):
        rad = torch.tensor(np.deg2rad(np.asarray(deg, dtype=float)), dtype=torch.float32)
        return torch.stack([rad.cos(), rad.sin()], dim=1)        # unit vectors at these angles

    angles = np.asarray(angles_deg, dtype=float)
    fine = np.arange(0.0, 120.0001, 0.05)                          # to find where class 0 stops winning
    losses, wins = {}, {}
    for m in margins:
        head = _toy_head(m, s)
        with torch.no_grad():
            # the per-clip ArcFace cross-entropy: the same function that scores test clips
            loss = anomaly_score(head, embeddings(angles), torch.zeros(len(angles), dtype=torch.long))
            logits = head(embeddings(fine), torch.zeros(len(fine), dtype=torch.long))
        losses[f"m = {m:g}"] = loss.clamp(min=0.0).numpy() + 0.0   # no "-0.0" from rounding
        correct = (logits.argmax(dim=1) == 0).numpy()
        wins[f"m = {m:g}"] = float(fine[correct].max()) if correct.any() else float("nan")
    return {"loss": pd.DataFrame(losses, index=pd.Index(angles, name="angle to class 0 [deg]")),
            "true class wins up to [deg]": pd.Series(wins, name="largest angle still classified as class 0")}


def ex03_mixup_lambda(alpha: float = 0.2, draws: int = 20_000, seed: int = 0) -> dict:
    """Notebook 03, exercise 2: the distribution of mixup's lambda as ``asdlib.nets.loss.mixup`` draws it, and how often the margin goes to the minor part."""
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    wave, target = torch.zeros(2, 1), torch.tensor([0, 1])
    lams = np.array([mixup(wave, target, alpha=alpha, rng=rng, generator=generator)[3]
                     for _ in range(draws)])
    shares = pd.Series({
        "lambda < 0.5 (margin on the minor part)": (lams < 0.5).mean(),
        "lambda < 0.1 (y_a is under 10 % of the input)": (lams < 0.1).mean(),
        "0.3 <= lambda <= 0.7 (a real blend)": ((lams >= 0.3) & (lams <= 0.7)).mean(),
        "lambda > 0.9 (nearly unmixed, y_a dominant)": (lams > 0.9).mean(),
        "mean lambda": lams.mean(),
    }, name=f"Beta({alpha:g}, {alpha:g}), {draws:,} batches")
    return {"shares": shares, "lambdas": lams}


def ex03_params_vs_embedding(hs=(64, 128, 256)) -> pd.DataFrame:
    """Notebook 03, exercise 3: parameters per part of the 10-s network when the embedding size h changes."""
    rows = {h: parameter_counts(build_model(embedding_dim=h)) for h in hs}
    table = pd.DataFrame(rows).T.rename_axis("h")
    table["change vs h = 128"] = table["total"] - parameter_counts(build_model())["total"]
    return table


def ex03_global_kernel(seconds=(1.0, 5.0, 10.0, 11.0)) -> pd.DataFrame:
    """Notebook 03, exercise 4: frames, MobileFaceNet's global depthwise kernel and the parameter count when the clip length changes."""
    rows = []
    for sec in seconds:
        model = build_model(clip_seconds=sec)
        rows.append({"clip_seconds": sec, "frames": num_frames(model.config.num_samples),
                     "global_kernel (freq, time)": model.classifier.global_kernel,
                     "linear7 parameters": sum(p.numel() for p in model.classifier.linear7.parameters()),
                     "total parameters": parameter_counts(model)["total"]})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- notebook 04

def _authors_separable() -> pd.DataFrame:
    """The authors' score arrays without class 13, whose clips cannot be split into pump 06 and slider 00."""
    scores = load_authors_scores()
    return scores[scores["class_index"] != COLLIDING_CLASS]


def ex04_official_by_groupby(scores: pd.DataFrame | None = None) -> pd.DataFrame:
    """Notebook 04, exercise 1: the official per-ID AUC/pAUC with a pandas groupby, averaged per type and over types."""
    scores = _authors_separable() if scores is None else scores

    def one_id(g):
        if g["anomaly"].nunique() < 2:
            return pd.Series({"auc": np.nan, "pauc": np.nan})
        auc, pauc = auc_pauc(g["anomaly"], g["score"])
        return pd.Series({"auc": auc, "pauc": pauc})

    per_id = scores.groupby(["machine_type", "machine_id"])[["anomaly", "score"]].apply(one_id)
    per_type = per_id.groupby(level="machine_type").mean()
    per_type.loc["average"] = per_type.mean()
    return per_type


def ex04_global_vs_per_id(offsets=(0.0, 2.0, 4.0, 8.0)) -> pd.DataFrame:
    """Notebook 04, exercise 2: two machines detected perfectly one by one; shift one machine's scores and watch the global AUC."""
    normal, anomaly = np.arange(4.0), np.arange(4.0, 8.0)     # machine A: every anomaly above every normal
    rows = []
    for off in offsets:
        scores = pd.DataFrame({"machine_type": "fan", "machine_id": np.repeat(["00", "02"], 8),
                               "anomaly": np.tile(np.repeat([0, 1], 4), 2),
                               "score": np.r_[normal, anomaly, normal + off, anomaly + off]})
        per_id = official_metrics(scores)["per_id"]
        rows.append({"offset of machine 02": off,
                     "AUC fan 00": per_id["auc"].iloc[0], "AUC fan 02": per_id["auc"].iloc[1],
                     "official mean": per_id["auc"].mean(),
                     "global AUC": float(global_metrics(scores)["auc"].iloc[0])})
    return pd.DataFrame(rows)


def ex04_pauc_limits(n: int = 20_000, seed: int = 0) -> pd.DataFrame:
    """Notebook 04, exercise 3: AUC and McClish pAUC of a random, a perfect and a real (authors') score, at max_fpr 0.1 and 1."""
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n // 2)
    authors = load_authors_scores()
    cases = {"random score": (y, rng.random(len(y))),
             "perfect score": (y, y + rng.random(len(y)) * 0.5),
             "authors' score arrays": (authors["anomaly"], authors["score"])}
    rows = []
    for name, (yy, ss) in cases.items():
        auc, pauc = auc_pauc(yy, ss, MAX_FPR)
        rows.append({"score": name, "AUC": auc, f"pAUC (max_fpr = {MAX_FPR:g})": pauc,
                     "pAUC (max_fpr = 1)": auc_pauc(yy, ss, 1.0)[1]})
    return pd.DataFrame(rows).set_index("score")


def ex04_selection_bias(n_checkpoints=(1, 3, 15), separation: float = 1.0, n_clips: int = 100,
                        repeats: int = 60, seed: int = 0) -> pd.DataFrame:
    """Notebook 04, exercise 4: how much the best of K equally good checkpoints' test AUCs overstates the true AUC."""
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n_clips)
    true_auc = 100 * 0.5 * math.erfc(-separation / 2)           # Phi(d / sqrt 2) for N(0,1) vs N(d,1)
    rows = []
    n_pos = int(y.sum())
    for k in n_checkpoints:
        best = []
        for _ in range(repeats):
            scores = rng.normal(size=(k, 2 * n_clips)) + separation * y      # k checkpoints' test scores
            # each checkpoint's AUC from the ranks (Mann-Whitney; what auc_pauc's AUC computes)
            aucs = 100 * rank_auc(np.concatenate([scores[:, y == 1], scores[:, y == 0]], axis=1), n_pos)
            best.append(float(aucs.max()))
        rows.append({"checkpoints compared": k, "true AUC": true_auc,
                     "mean of the best test AUC": float(np.mean(best)),
                     "optimism (points)": float(np.mean(best)) - true_auc})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- notebook 05

def ex05_variant_params() -> pd.DataFrame:
    """Notebook 05, exercise 1: parameters of every ablation variant's 10-s network, and the change from the proposed one."""
    names = list(dict.fromkeys([*TABLE3_RUNS, *TABLE4_RUNS, *HONEST_RUNS]))
    rows = {name: params_at_paper_length(run_config("paper", name)) for name in names}
    table = pd.DataFrame(rows).T.rename_axis("run")
    table["change vs proposed"] = table["total"] - table.loc["proposed", "total"]
    return table


def ex05_macs_vs_params(names=("proposed", "no_attention", "no_separable")) -> pd.DataFrame:
    """Notebook 05, exercise 2: parameters and multiply-accumulates per 10-s clip of variants, relative to the proposed network."""
    rows = []
    for name in names:
        model = paper_length_network(run_config("paper", name).model)
        macs = count_macs(model)
        rows.append({"run": name, "parameters": parameter_counts(model)["total"],
                     "attention MACs": macs["attention"], "wavegram MACs": macs["wavegram"],
                     "MACs": macs["total"]})
    table = pd.DataFrame(rows).set_index("run")
    table["parameters vs proposed"] = table["parameters"] / table.loc["proposed", "parameters"]
    table["MACs vs proposed"] = table["MACs"] / table.loc["proposed", "MACs"]
    return table


def ex05_auc_bootstrap(scores: pd.DataFrame | None = None, n_boot: int = 200, seed: int = 0) -> pd.Series:
    """Notebook 05, exercise 3: the test-set noise of a global AUC, by bootstrapping the clips (default: the authors' 10,868 scores)."""
    scores = load_authors_scores() if scores is None else scores
    auc = float(global_metrics(scores)["auc"].iloc[0])
    low, high = bootstrap_auc(scores["anomaly"], scores["score"], n_boot=n_boot, level=0.95, seed=seed)
    n_pos = int(scores["anomaly"].astype(int).sum())
    n_neg = len(scores) - n_pos
    quoted = dict(zip(TABLE3_RUNS, paper_table3()["auc"]))
    gap = quoted["proposed"] - quoted["mel_only"]
    se_at_paper = hanley_mcneil_se(quoted["proposed"], n_pos, n_neg)
    return pd.Series({"clips": len(scores), "global AUC": auc,
                      "95 % interval low": low, "95 % interval high": high,
                      # a normal distribution's 95 % interval is 2 x 1.96 standard errors wide
                      "standard error (points)": (high - low) / (2 * 1.959964),
                      "Hanley-McNeil standard error at this AUC": hanley_mcneil_se(auc, n_pos, n_neg),
                      "Hanley-McNeil standard error at the paper's AUC (same clip counts)": se_at_paper,
                      "paper: [X_Mel, X_Wav] minus [X_Mel] (quoted values)": gap,
                      "that gap in standard errors at the paper's AUC": gap / se_at_paper})


def ex05_paired_gap(scores_a: pd.DataFrame, scores_b: pd.DataFrame, n_boot: int = 200,
                    seed: int = 0) -> pd.Series:
    """Notebook 05, exercise 3: the global-AUC difference of two runs on the same test clips, with a paired bootstrap interval."""
    key = ["machine_type", "machine_id", "file_name"]
    merged = scores_a[key + ["anomaly", "score"]].merge(scores_b[key + ["score"]], on=key,
                                                        suffixes=("_a", "_b"), validate="one_to_one")
    if len(merged) != len(scores_a) or len(merged) != len(scores_b):
        raise ValueError(f"ex05_paired_gap: the two score tables hold different clips "
                         f"({len(scores_a)} and {len(scores_b)}, {len(merged)} in common)")
    res = paired_bootstrap_auc_difference(merged["anomaly"], merged["score_a"], merged["score_b"],
                                          n_boot=n_boot, seed=seed)
    return pd.Series({"clips": res["n_clips"], "global AUC difference (a - b)": res["difference"],
                      "95 % paired interval low": res["low"], "95 % paired interval high": res["high"],
                      "paired standard error (points)": res["standard_error"]})


# --------------------------------------------------------------------------- notebook 06

def ex06_share_at_half(net=None, seed: int = 0) -> pd.DataFrame:
    """Notebook 06, exercise 1: share of attention values exactly 0.5 at initialisation, faithful vs fixed (and for a trained ``net``)."""
    models = {}
    for activation in ("faithful", "fixed"):
        torch.manual_seed(seed)
        models[f"{activation}, at initialisation"] = build_model(attention_activation=activation)
    if net is not None:
        models["trained model given"] = net
    rows = []
    for name, model in models.items():
        device = next(model.parameters()).device
        wave = _figure_wave().to(device)
        with torch.no_grad():
            x = model.features(wave)
            pre = model.attention[:-1](x)              # what the sigmoid receives
            h = model.attention[-1](pre)
        rows.append({"model": name,
                     "BatchNorm mode": "train (batch statistics)" if model.training else "eval",
                     "min H": float(h.min()), "share of H exactly 0.5": float((h == 0.5).float().mean()),
                     "share of H below 0.5": float((h < 0.5).float().mean()),
                     "share of sigmoid inputs exactly 0": float((pre == 0).float().mean())})
    return pd.DataFrame(rows).set_index("model")


def ex06_weighted_logmel(net=None, seed: int = 0) -> pd.Series:
    """Notebook 06, exercise 2: H * X by hand on the log-Mel channel, in dB, and what a weight of 0.5 does to a negative dB value."""
    if net is None:
        torch.manual_seed(seed)
        net = build_model()
    device = next(net.parameters()).device
    with torch.no_grad():
        maps = net.maps(_figure_wave().to(device))
    x, h = maps["features"][0, 0], maps["attention"][0, 0]
    by_hand = h * x
    negative = x < 0
    return pd.Series({
        "H * X by hand equals maps['weighted']": bool(torch.equal(by_hand, maps["weighted"][0, 0])),
        "log-Mel range [dB]": f"{float(x.min()):.1f} to {float(x.max()):.1f}",
        "share of log-Mel values below 0 dB": float(negative.float().mean()),
        "share of those that H * X raises (towards 0 dB)": float((by_hand[negative] > x[negative]).float().mean()),
        "mean change H * X - X [dB]": float((by_hand - x).mean()),
        "a -60 dB bin weighted by 0.5 becomes [dB]": 0.5 * -60.0,
    })


def ex06_fig4_band_bins(n_mels: int = 128) -> pd.DataFrame:
    """Notebook 06, exercise 3: how many Mel bins each of the paper's Fig. 4 bands holds, against its share of the 0-8 kHz axis."""
    hz = mel_bin_centres_hz(n_mels).numpy()
    rows = []
    for lo, hi, label in fig4_bands():
        sel = (hz >= lo) & (hz < hi)
        rows.append({"band": label, "low_hz": lo, "high_hz": hi, "mel_bins": int(sel.sum()),
                     "share of the bins [%]": 100 * sel.mean(),
                     "share of 0-8 kHz [%]": 100 * (hi - lo) / (SAMPLE_RATE / 2),
                     "first bin": int(np.argmax(sel)) if sel.any() else -1})
    return pd.DataFrame(rows).set_index("band")


#: Every solution, per notebook (the order of the exercises in the notebook).
# --------------------------------------------------------------------------- notebook 07

def _average_rows(long: pd.DataFrame, metric: str, selection: str) -> pd.DataFrame:
    """One number per method and seed: the global AUC, or the mean over types of a per-type metric."""
    mt = "global" if metric == "global" else "average"
    rows = long[(long["metric"] == metric) & (long["selection"] == selection) & (long["machine_type"] == mt)]
    if rows.empty:
        raise ValueError(f"no rows for metric {metric!r} at selection {selection!r} in the table")
    return rows


def ex07_seed_gap(long: pd.DataFrame, a: str, b: str, metric: str = "global",
                  selection: str = "validation") -> pd.Series:
    """Notebook 07, exercise 1: the gap between two methods' mean AUC over seeds, against their seed spread."""
    rows = _average_rows(long, metric, selection)
    values = {m: rows.loc[rows["method"] == m, "auc"].to_numpy(dtype=float) for m in (a, b)}
    for m, v in values.items():
        if len(v) == 0:
            raise ValueError(f"method {m!r} is not in the table; known: {sorted(rows['method'].unique())}")
    n = min(len(v) for v in values.values())
    std = {m: float(np.std(v, ddof=1)) if len(v) > 1 else float("nan") for m, v in values.items()}
    pooled = math.sqrt((std[a] ** 2 + std[b] ** 2) / 2)
    gap = float(values[a].mean() - values[b].mean())
    return pd.Series({f"mean AUC, {a}": float(values[a].mean()), f"mean AUC, {b}": float(values[b].mean()),
                      "gap (a - b)": gap, f"seed std, {a}": std[a], f"seed std, {b}": std[b],
                      "pooled seed std": pooled, "gap / pooled seed std": gap / pooled if pooled > 0 else float("nan"),
                      "seeds": n})


def ex07_selection_gain(long: pd.DataFrame) -> pd.DataFrame:
    """Notebook 07, exercise 2: per method, what choosing the checkpoint on the test set adds over the validation choice (mean over seeds)."""
    out = {}
    for metric in ("global", "official"):
        paper = _average_rows(long, metric, "paper").groupby("method", sort=False)["auc"].mean()
        val = _average_rows(long, metric, "validation").groupby("method", sort=False)["auc"].mean()
        out[f"{metric} AUC: paper pick - validation pick"] = paper - val
    return pd.DataFrame(out)


def ex07_macs_per_parameter(cost: pd.DataFrame) -> pd.DataFrame:
    """Notebook 07, exercise 3: multiply-accumulates per clip for each parameter, per method (one model per clip)."""
    table = cost.set_index("method")[["parameters", "MMACs per clip"]].copy()
    table["MACs per parameter"] = table["MMACs per clip"] * 1e6 / table["parameters"]
    return table.sort_values("MACs per parameter", ascending=False)


# --------------------------------------------------------------------------- notebook 08

def ex08_latency_floor(net=None, threads: int = 1, clips: int = 5, seed: int = 0) -> pd.Series:
    """Notebook 08, exercise 1: the floor MACs / (one-thread matmul rate) against the inference form's measured latency."""
    if net is None:
        torch.manual_seed(seed)
        net = build_model().eval()
    macs = count_macs(net)["total"]
    rate = matmul_rate(threads)
    inf = inference_form(net)
    waves = torch.randn(clips, net.config.num_samples, generator=torch.Generator().manual_seed(seed))
    measured = float(per_clip_latency({"inference form": lambda w: inf(w)}, waves, threads=threads)
                     .loc["inference form", "median_ms"])
    floor_ms = 1000.0 * macs / rate
    return pd.Series({"MACs per clip (M)": macs / 1e6, "matmul rate (G MAC/s)": rate / 1e9,
                      "floor (ms)": floor_ms, "inference form, measured (ms)": measured,
                      "measured / floor": measured / floor_ms, "threads": threads})


def ex08_false_alarms(train_scores: pd.DataFrame, test_scores: pd.DataFrame,
                      percentiles=(0.5, 0.9, 0.99), clips_per_day: int = 1440) -> pd.DataFrame:
    """Notebook 08, exercise 2: false-alarm rate promised by a gamma percentile (1 - p) against the rates on training and test normals."""
    params = fit_gamma(train_scores)
    train = train_scores.assign(key=[machine_key(t, i) for t, i in
                                     zip(train_scores["machine_type"], train_scores["machine_id"])])
    test = test_scores.assign(key=[machine_key(t, i) for t, i in
                                   zip(test_scores["machine_type"], test_scores["machine_id"])])
    test = test[test["key"].isin(params)]
    rows = []
    for p in percentiles:
        th = gamma_thresholds(params, p)
        over_train = train["score"] > train["key"].map(th)
        over_test = test["score"] > test["key"].map(th)
        normal = test["anomaly"].astype(int) == 0
        rows.append({"percentile": p, "promised false-alarm rate (1 - p)": 1.0 - p,
                     "training normals flagged": float(over_train.mean()),
                     "test normals flagged": float(over_test[normal].mean()),
                     "test anomalies caught": float(over_test[~normal].mean()),
                     f"false alarms per day ({clips_per_day} normal clips)":
                         float(over_test[normal].mean()) * clips_per_day})
    return pd.DataFrame(rows).set_index("percentile")


def ex08_time_per_part(net=None, threads: int = 1, repeats: int = 5, seed: int = 0) -> pd.DataFrame:
    """Notebook 08, exercise 3: each part's share of the inference form's time beside its share of the MACs."""
    if net is None:
        torch.manual_seed(seed)
        net = build_model().eval()
    inf = inference_form(net)
    macs = count_macs(net)
    wave = torch.randn(1, net.config.num_samples, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        x = inf.features(wave)
        weighted = inf.attention(x) * x if inf.attention is not None else x
        emb = inf.classifier(weighted)
    steps = {"logmel": (lambda: inf.logmel(wave)) if inf.logmel is not None else None,
             "wavegram": (lambda: inf.wavegram(wave.unsqueeze(1))) if inf.wavegram is not None else None,
             "attention": (lambda: inf.attention(x) * x) if inf.attention is not None else None,
             "classifier": lambda: inf.classifier(weighted),
             "arcface": lambda: class_scores(emb, inf.class_weight, inf.s, inf.m)}
    previous = torch.get_num_threads()
    times = {}
    try:
        torch.set_num_threads(threads)
        with torch.no_grad():
            for part, fn in steps.items():
                if fn is None:
                    times[part] = 0.0
                    continue
                fn()  # warm-up
                best = math.inf
                for _ in range(repeats):
                    start = time.perf_counter()
                    fn()
                    best = min(best, time.perf_counter() - start)
                times[part] = 1000.0 * best
    finally:
        torch.set_num_threads(previous)
    table = pd.DataFrame({"time (ms)": times, "MACs (M)": {p: macs[p] / 1e6 for p in steps}})
    table["share of time"] = table["time (ms)"] / table["time (ms)"].sum()
    table["share of MACs"] = table["MACs (M)"] / table["MACs (M)"].sum()
    return table


EXERCISES = {
    "01": (ex01_split_totals, ex01_label_collisions, ex01_sample_durations),
    "02": (ex02_frames, ex02_wavegram_params, ex02_wavegram_rank),
    "03": (ex03_arcface_loss_vs_angle, ex03_mixup_lambda, ex03_params_vs_embedding, ex03_global_kernel),
    "04": (ex04_official_by_groupby, ex04_global_vs_per_id, ex04_pauc_limits, ex04_selection_bias),
    "05": (ex05_variant_params, ex05_macs_vs_params, ex05_auc_bootstrap, ex05_paired_gap),
    "06": (ex06_share_at_half, ex06_weighted_logmel, ex06_fig4_band_bins),
    "07": (ex07_seed_gap, ex07_selection_gain, ex07_macs_per_parameter),
    "08": (ex08_latency_floor, ex08_false_alarms, ex08_time_per_part),
}
