# %% [markdown]
# # 04 · Evaluation: anomaly scores, AUC/pAUC, model selection and Tables 1-2
#
# Companion to Neri & Carli (2024), IEEE Sensors Letters, Sections II-D and III-A, Tables 1 and 2.
#
# **What you will learn**
#
# - how a trained machine-ID classifier turns into an anomaly detector: the anomaly score is the
#   ArcFace cross-entropy at the clip's *true* machine ID, computed here by hand for two clips;
# - AUC and pAUC, and why the pAUC everyone reports (scikit-learn's `max_fpr=0.1`) is
#   *McClish-standardised* (0.5 at chance), not the raw partial area;
# - the two metric protocols: the official DCASE 2020 one (per machine ID, then averaged) and the
#   authors' pooled one (one ROC per machine type, clips chosen by class-index masks), and how the
#   authors' label map counts pump id_06 as a *slider*;
# - the three ways of choosing the checkpoint to report: best *global* test AUC, one ROC over
#   all test clips (the authors' choice: selected *on test data*), lowest validation loss, last
#   epoch, and a plot of the test AUC against the epoch with the three choices marked;
# - how to rebuild Table 1 and Table 2 with the paper's quoted numbers beside ours, and why
#   Table 2's average (a global AUC) is not the mean of Table 1's row;
# - the authors' own released test-set scores, scored with our metric code: real DCASE data in
#   seconds, and what they reveal;
# - the model's complexity: 884,376 parameters, multiply-accumulates per 10-s clip, CPU latency;
# - ROC curves, score histograms and score distributions per machine ID, and (optionally)
#   scoring the authors' released weights.
#
# **Prerequisites**: notebook 03_training (it trains the run `proposed`; if it has not been run,
# this notebook trains it first) and, for the data, notebook 01_data.
#
# **Run time**: smoke profile {{run-time:04_evaluation}} on 2 CPU cores when notebook 03 has
# trained the run (measured on {{run-time:measured on}}), longer when it must train it first or
# when other work shares the cores.
# Paper profile: scoring every saved checkpoint (15, one every 20 epochs) on the 10,868 test
# clips takes some minutes on one GPU, plus the 300-epoch training if notebook 03 has not done it.
#
# **asdlib modules used**: `study.runs`, `study.tables` (every table built once),
# `engine.evaluate`, `engine.metrics`, `engine.checkpoints`, `engine.authors_checkpoint`,
# `engine.complexity`, `nets.loss`, `nets.model`, `data.dcase`, `study.paper_numbers`,
# `study.authors_scores`, `teaching.plots`, `outputs`, `paths`.
#
# ## Contents
# 1. Parameters and imports
# 2. The proposed run: trained, then scored at every checkpoint
# 3. The anomaly score, by hand
# 4. The label map and its collision
# 5. AUC and the standardised pAUC
# 6. Two metric protocols: official per ID, authors' pooled per type
# 7. Three ways to choose the checkpoint
# 8. Table 1: AUC and pAUC per machine type
# 9. Table 2: parameters and averages: the global AUC
# 10. Complexity: parameters, multiply-accumulates, latency
# 11. ROC curves and score histograms
# 12. The authors' released score arrays
# 13. The authors' released checkpoint
# 14. Summary and what comes next

# %% [markdown]
# ## 1. Parameters and imports
#
# `profile` picks the data and the runs (`smoke` or `paper`); papermill and `run_all.sh` set it.
# `insist = True` lets the paper profile train without a GPU (if the run is missing).
# `authors_checkpoint = True` downloads the authors' released weights and scores them (section 13).

# %% tags=["parameters"]
profile = "smoke"           # "smoke": synthetic data, CPU; "paper": full DCASE 2020 Task 2, GPU
insist = False              # train the paper profile even without a GPU (run_all.sh --insist)
authors_checkpoint = False  # fetch and score the authors' checkpoint (run_all.sh -p authors_checkpoint True)

# %%
import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown, display
from sklearn.metrics import roc_curve

from asdlib.data.audio import (load_clip)
from asdlib.data.dcase import (PAPER_TYPE_MASKS, class_index, label_map_table, paper_mask_type)
from asdlib.data.synthetic import (generate_synthetic_dataset)
from asdlib.engine.authors_checkpoint import (fetch_authors_checkpoint, load_authors_checkpoint)
from asdlib.engine.checkpoints import (load_model)
from asdlib.engine.complexity import (count_macs, cpu_latency)
from asdlib.engine.cpu import (configure_threads)
from asdlib.engine.evaluate import (PROTOCOL_NOTES, evaluation_clips, score_checkpoint, score_clips)
from asdlib.engine.metrics import (MAX_FPR, auc_pauc)
from asdlib.engine.train import (read_log)
from asdlib.nets.model import (ModelConfig, build_model)
from asdlib.outputs import (profile_banner, save_fig, save_table)
from asdlib.paths import (SAMPLE_DIR, data_dir, results_dir)
from asdlib.study.authors_scores import (AUTHORS_SCORES_SOURCE, authors_scores_tables,
                                         load_authors_scores)
from asdlib.study.paper_numbers import (table1_row_means)
from asdlib.study.runs import (ensure_evaluated, ensure_runs, params_at_paper_length, run_config,
                               run_dir, selected_checkpoint)
from asdlib.study.tables import (authors_checkpoint_comparison, table1_comparison, table1_layout,
                                 table1_quoted, table1_reproduced, table1_with_ours,
                                 table2_comparison, table2_rows, table2_with_ours)
from asdlib.teaching.plots import (plot_auc_by_epoch, plot_roc_curves, plot_score_histograms,
                                   plot_scores_per_id)

configure_threads()             # threads for the cores this process may use (notebook 08)
out = results_dir(profile)
banner = profile_banner(profile)
print(banner)

# %% [markdown]
# ## 2. The proposed run: trained, then scored at every checkpoint
#
# The run `proposed` of this profile lives in `results/<profile>/runs/proposed/`. `ensure_runs`
# trains it if it is not complete (notebook 03 normally has) and evaluates it: every saved
# checkpoint scores every test clip, and the scores are written per checkpoint selection. Work
# already done is skipped, so this cell is quick when notebook 03 has run. In the smoke profile
# the synthetic data of notebook 01 are generated here if they are missing (a few seconds).

# %%
config = run_config(profile, "proposed")
if not config.data.root_path().is_dir():
    if profile != "smoke":
        raise FileNotFoundError(f"no data at {config.data.root_path()}: run notebook 01_data first")
    generate_synthetic_dataset(config.data.root_path())
timing = ensure_runs(profile, ["proposed"], insist=insist)
timing

# %% [markdown]
# `train_seconds_logged` is the training time the run's log recorded (summed over epochs),
# `seconds_now` what this cell spent (close to zero when everything was done before).
#
# The evaluation wrote one row per saved checkpoint and a *selection summary*: which checkpoint
# each of the three selection protocols picks (section 7 explains them) and its average AUC/pAUC
# under the two metric protocols (section 6). All numbers are percentages.

# %%
selection = ensure_evaluated(profile, "proposed")   # reads the saved summary
eval_dir = run_dir(profile, "proposed") / "evaluation"
selection

# %% [markdown]
# ## 3. The anomaly score, by hand
#
# > **Background.** The network was trained to recognise *which machine* made a sound, using only
# > normal sounds. At test time the machine ID of every clip is known (from its file name). If the
# > network recognises the machine with confidence, the sound is probably normal; if it is unsure
# > or wrong, the sound has probably changed. The paper's anomaly score
# > $\mathcal{A}_\theta = \mathcal{L}_{AF}$ is the ArcFace cross-entropy at the clip's true class:
# > the margin-applied logits $s\cos(\theta_y + m)$ at the true class $y$ and $s\cos\theta_i$
# > elsewhere, through a softmax, then $-\log$ of the true class's probability.
#
# We load the checkpoint the `paper` protocol chose and score by hand the *median* normal and
# the *median* anomalous clip of the machine ID it detects best, then compare with the scores the
# evaluation saved (`clip_scores.csv`: one row per test clip).

# %%
net = load_model(selected_checkpoint(profile, "proposed", "paper"))
clips = pd.read_csv(eval_dir / "paper" / "clip_scores.csv", dtype={"machine_id": str})
best = pd.read_csv(eval_dir / "paper" / "metrics_per_id.csv", dtype={"machine_id": str}).nlargest(1, "auc")
machine = clips.merge(best[["machine_type", "machine_id"]]).sort_values("score")
pair = pd.concat([g.iloc[[len(g) // 2]] for _, g in machine.groupby("anomaly")])   # median clips
wave = torch.from_numpy(np.stack([load_clip(p, net.config.num_samples) for p in pair.path]))
target = torch.tensor(pair.class_index.to_numpy())

# %% [markdown]
# The embedding, the cosine to every class direction, the margin logits and the cross-entropy:

# %%
with torch.no_grad():
    emb = net(wave)                              # (2, h) embeddings
    cos = net.arcface.cosine(emb)                # (2, 41) cosines to the class directions
    logits = net.arcface(emb, target)            # s*cos(theta + m) at the true class, s*cos elsewhere
    by_hand = -torch.log_softmax(logits, dim=1)[torch.arange(2), target]
rows = pair[["file_name", "machine_type", "machine_id", "class_index", "score"]].assign(
    cos_true=cos[torch.arange(2), target].numpy(),
    angle_deg=np.degrees(np.arccos(cos[torch.arange(2), target].clamp(-1, 1).numpy())),
    predicted=cos.argmax(1).numpy(), score_by_hand=by_hand.numpy())
rows.rename(columns={"score": "score_saved"})

# %% [markdown]
# The hand-computed score equals the saved one. A normal clip sits at a small angle to its
# machine's direction (large cosine, score near 0); a clip whose sound has changed usually sits
# further away (or nearer another machine's direction), so its cross-entropy is higher. The
# score needs the clip's machine ID: it asks "does this sound like *machine 06 of the fans*?",
# not "does it sound like any fan?".
#
# ## 4. The label map and its collision
#
# The authors number the 41 machines as `offset[type] + int(id)` with offsets fan 0, pump 7,
# slider 13, ToyCar 20, ToyConveyor 27, valve 34. Pump IDs run up to 06, so pump id_06 gets
# 7 + 6 = 13, which is also slider id_00's class:

# %%
maps = label_map_table("paper").merge(label_map_table("distinct"), on=["machine_type", "machine_id"],
                                      suffixes=("_paper", "_distinct"))
print(f"distinct classes under the paper map: {maps.class_index_paper.nunique()} (of 41 machines)")
maps[maps.class_index_paper.duplicated(keep=False)]

# %% [markdown]
# So the network is trained to put pump id_06 and slider id_00 in the *same* class (40 classes
# in practice). Notebook 05 trains the honest variant `distinct_labels` with a correct map.
#
# The collision also reaches the metric. The authors' code computes each machine type's AUC on
# the clips whose class index falls in that type's range (the pooled masks below). Pump id_06 has
# index 13, inside the slider range:

# %%
masks = pd.DataFrame(PAPER_TYPE_MASKS, index=["first class", "last class"]).T
print(f"pump id_06 -> class {class_index('pump', '06')} -> counted as "
      f"'{paper_mask_type(class_index('pump', '06'))}' by the pooled masks")
masks

# %% [markdown]
# The evaluation's pooled table lists which machines each "type" pooled; in this profile's test
# set too, pump id_06 sits in the slider row and is missing from the pump row:

# %%
pooled_paper = pd.read_csv(eval_dir / "paper" / "metrics_pooled.csv")
pooled_paper[["machine_type", "n_clips", "ids"]]

# %% [markdown]
# ## 5. AUC and the standardised pAUC
#
# > **Background.** The AUC is the area under the ROC curve (true-positive rate, anomalies
# > caught, against false-positive rate, normal clips flagged): the probability that a random
# > anomalous clip scores higher than a random normal one. 50 % is chance, 100 % perfect. In
# > practice only a low false-alarm rate is acceptable, so DCASE also reports the **pAUC**, the
# > area for FPR in [0, p] with p = 0.1. scikit-learn's `roc_auc_score(y, s, max_fpr=0.1)`,
# > which the authors and their peers use, returns the *McClish-standardised* partial area
# > $\frac{1}{2}\left(1 + \frac{A - p^2/2}{p - p^2/2}\right)$, which is 0.5 at chance and 1 for a
# > perfect detector, not the raw area $A$ divided by $p$.
#
# Both forms for one machine type of our test set, next to `asdlib.engine.metrics.auc_pauc`:

# %%
g = clips[clips.machine_type == "fan"]
fpr, tpr, _ = roc_curve(g.anomaly, g.score)
stop = np.searchsorted(fpr, MAX_FPR, side="right")
x, y = np.r_[fpr[:stop], MAX_FPR], np.r_[tpr[:stop], np.interp(MAX_FPR, fpr, tpr)]
raw = float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))          # trapezoids up to FPR = 0.1
mcclish = 0.5 * (1 + (raw - MAX_FPR**2 / 2) / (MAX_FPR - MAX_FPR**2 / 2))
auc, pauc = auc_pauc(g.anomaly, g.score)
pd.Series({"raw partial area A": raw, "A / p (raw, normalised)": 100 * raw / MAX_FPR,
           "McClish-standardised (by hand)": 100 * mcclish, "pAUC (asdlib / sklearn)": pauc,
           "AUC": auc}).round(3).to_frame("fan, pooled clips")

# %% [markdown]
# The hand-computed McClish value matches `auc_pauc`; the raw normalised area is lower (its chance
# level is 5 %, not 50 %). Every pAUC in this project, like the paper's, is the standardised one.
#
# ## 6. Two metric protocols: official per ID, authors' pooled per type
#
# - **Official DCASE 2020**: AUC and pAUC for each machine ID separately, then the arithmetic
#   mean over the IDs of a type. The peers' rows in Table 1 come from this protocol.
# - **Authors' pooled**: one ROC over all test clips of a "type" chosen by the class-index masks
#   of section 4 (so pump id_06 counts as slider). Pooling also mixes the score scales of
#   different machines: a machine whose normal clips score higher than another's anomalies
#   drags the pooled AUC down, while the per-ID protocol never compares across machines.
#
# The two per-type tables of the `paper` checkpoint, side by side:

# %%
official = pd.read_csv(eval_dir / "paper" / "metrics_per_type.csv")
both = official[["machine_type", "auc", "pauc"]].merge(
    pooled_paper[["machine_type", "auc", "pauc"]], on="machine_type", suffixes=("_official", "_pooled"))
both["auc_pooled_minus_official"] = both.auc_pooled - both.auc_official
both.set_index("machine_type").round(2)

# %% [markdown]
# The per-ID table behind the official numbers (the pump and slider rows hold their own IDs here,
# whatever the label map):

# %%
per_id = pd.read_csv(eval_dir / "paper" / "metrics_per_id.csv", dtype={"machine_id": str})
per_id.round(2)

# %% [markdown]
# The official per-type number is nothing more than the arithmetic mean of these per-ID rows.
# Computed here with `groupby`, next to the evaluation's `metrics_per_type.csv`:

# %%
by_hand_mean = per_id.groupby("machine_type")[["auc", "pauc"]].mean()
check = official.set_index("machine_type")[["auc", "pauc"]].join(by_hand_mean, rsuffix="_by_hand",
                                                                 how="inner")   # the six types
assert np.allclose(check[["auc", "pauc"]].to_numpy(), check[["auc_by_hand", "pauc_by_hand"]].to_numpy(),
                   equal_nan=True)
check.round(2)

# %% [markdown]
# ## 7. Three ways to choose the checkpoint
#
# Training saves a checkpoint every few epochs (every 20 in the paper profile; every epoch in
# the smoke profile's proposed run, so that the rules have fifteen to choose from) and at the end.
# Which one is "the model"?
#
# - `paper`: the checkpoint with the **best global AUC on the test set**, as the authors' code
#   does: one ROC over *all* test clips pooled together (`roc_auc_score(all_labels, all_errors)`,
#   printed by their script as "Global AUC"), not a mean over machine types or IDs. This is
#   selection *on test data*: the reported number is the maximum of several noisy estimates on
#   the very clips it is reported on, so it is optimistically biased.
# - `validation`: the lowest loss on the 5 % validation hold-out of the training clips (normal
#   sounds only; no anomaly is used). This is an honest choice.
# - `last`: the last epoch, also honest.
#
# Every checkpoint's numbers:

# %%
checkpoints = pd.read_csv(eval_dir / "checkpoints.csv")
checkpoints.round(3)

# %%
pd.Series(PROTOCOL_NOTES, name="how the checkpoint is chosen").to_frame()

# %% [markdown]
# `global_auc` is the column the `paper` protocol maximises. Had the authors selected on the
# mean of the per-type AUCs (Table 1's row mean) or on the official per-ID mean, they could have
# picked another checkpoint; in this run:

# %%
by_rule = {"global AUC (the authors' rule)": "global_auc",
           "mean of the pooled per-type AUCs": "pooled_auc",
           "official per-ID mean AUC": "official_auc"}
pd.DataFrame([{"select on": label, "epoch picked": int(checkpoints.loc[checkpoints[col].idxmax(), "epoch"]),
               "its global AUC": checkpoints.loc[checkpoints[col].idxmax(), "global_auc"],
               "its pooled per-type mean": checkpoints.loc[checkpoints[col].idxmax(), "pooled_auc"]}
              for label, col in by_rule.items()]).round(2)

# %% [markdown]
# The whole story in one figure: the test AUC of every saved checkpoint against the epoch, under
# the three metrics, with the checkpoint each protocol picked; below, the validation loss that
# the `validation` protocol minimises.

# %%
fig = plot_auc_by_epoch(checkpoints, selection, log=read_log(run_dir(profile, "proposed")),
                        title=f"Three ways to choose the checkpoint, proposed model\n{banner}")
saved = save_fig(fig, "auc_by_epoch", out)
picked = selection.set_index("protocol")["epoch"]
print("epochs picked:", picked.to_dict())
by_protocol = selection.set_index("protocol")["global_auc"]
best_epoch = int(checkpoints.loc[checkpoints.global_auc.idxmax(), "epoch"])
display(Markdown(
    f"This run saved {len(checkpoints)} checkpoints (epochs "
    f"{', '.join(str(int(e)) for e in checkpoints.epoch)}); its test AUC peaks at epoch {best_epoch}"
    + (" (the last: still rising)" if best_epoch == int(checkpoints.epoch.max()) else "") + ". "
    + ("All three protocols pick the same epoch, so the gap is zero here."
       if picked.nunique() == 1 else
       f"The `paper` pick lies {by_protocol['paper'] - by_protocol['validation']:+.2f} points (global "
       f"AUC) from the `validation` pick and {by_protocol['paper'] - by_protocol['last']:+.2f} from "
       f"`last`: that gap is the optimism of selecting on test data.")))

# %% [markdown]
# The `paper` protocol picks the highest test AUC among the saved checkpoints, *on the test
# clips*, so its number is the top of the checkpoint-to-checkpoint noise. The validation loss,
# which never sees an anomaly, is what `validation` minimises (lower panel: every epoch from the
# training log, the saved checkpoints as dots). Where the test set picks another checkpoint than
# `validation` and `last`, the gap between the picks' numbers is the optimism of selecting on
# test data; the paper's 15 checkpoints of 300 epochs give the test pick many more chances than
# a smoke run's few (exercise 4 below).

# %% [markdown]
# ## 8. Table 1: AUC and pAUC per machine type
#
# Table 1 of the paper compares the proposed model with seven published methods. Their rows, and
# the paper's own "Proposed approach" row, are **quoted** from the paper (`asdlib.study.paper_numbers`),
# never computed here. Our rows come from this profile's run, under both metric protocols and all
# three checkpoint selections (`table1_reproduced`, long format):

# %%
ours_long = table1_reproduced(profile, "proposed")
ours_long.head(8)

# %% [markdown]
# `table1_layout` lays ours out like the paper (one row per method, AUC and pAUC per machine
# type) with three descriptive columns: which metric protocol, which checkpoint selection, where
# the row comes from:

# %%
table1_layout(ours_long, "ours", "this run").round(2)

# %% [markdown]
# The quoted rows (`table1_quoted`) carry their citation; the peers' numbers are per-ID averages
# as published, the paper's own row is the authors' pooled metric at their test-selected
# checkpoint. `table1_with_ours` puts the quoted rows and ours in one table, the one saved (every
# table of the paper is built once, in `asdlib.study.tables`; REPORT.md reads the saved CSV):

# %%
table1 = table1_with_ours(profile)
table1.round(2)

# %%
saved = save_table(table1, "table1_auc_pauc", out,
           caption=f"Table 1: AUC/pAUC [%] per machine type. Rows marked 'quoted' are copied from "
                   f"Neri & Carli 2024 (peers from their own papers); the others are this project's. "
                   f"{banner}")

# %% [markdown]
# How to read it. In the smoke profile our numbers come from synthetic sounds and a few CPU
# epochs: they test the pipeline and say nothing about the paper. In the paper profile the row
# "pooled (authors' masks), best global test AUC" is the faithful reproduction of the paper's row; the
# row "official (per-ID mean), lowest validation loss" is the number the peers' rows can fairly
# be compared with.
#
# ## 9. Table 2: parameters and averages: the global AUC
#
# Table 2 gives each method's parameter count and its average AUC/pAUC. Our count is measured on
# the network built for the paper's 10-s clips, part by part:

# %%
n_params = params_at_paper_length(config)
assert n_params["total"] == 884_376, n_params      # the paper's "884 k"
pd.Series(n_params, name="parameters (10-s network)").to_frame().style.format("{:,}")

# %% [markdown]
# Table 2's "average" column needs care. The mean of the proposed row of Table 1 over the six
# types is **94.65 / 87.86**, but Table 2 gives **93.44 / 85.71**; for five of the seven peers the
# row mean matches Table 2 to within 0.01. All values quoted:

# %%
table1_row_means().round(2)

# %% [markdown]
# This is not a typo. The authors' evaluation script computes one ROC over *all* 10,868 test
# clips pooled together, prints it as "Global AUC", keeps the checkpoint that maximises it and
# names the released weights after it (`MWM_93.44_...`): Table 2's 93.44 / 85.71 is that global
# AUC/pAUC. The peers report the official per-ID protocol, whose overall number *is* a mean, so
# their rows average. Pooling every machine into one ROC compares the scores of different
# machines with each other (a machine whose normal clips score above another machine's anomalies
# costs AUC), so the global AUC is usually below the per-type mean.
#
# The same two numbers on this run, at the checkpoint the `paper` protocol chose:

# %%
chosen = selection.set_index("protocol").loc["paper"]
pd.DataFrame({"this run": [chosen["pooled_auc"], chosen["global_auc"], chosen["official_auc"]],
              "paper (quoted)": [94.65, 93.44, float("nan")]},
             index=["mean of the 6 pooled per-type AUCs (Table 1 row mean)",
                    "global AUC, one ROC over all clips (Table 2)",
                    "official per-ID mean (the peers' protocol)"]).round(2)

# %% [markdown]
# Our Table 2 rows (`table2_rows`, one per checkpoint selection) therefore report the global
# AUC/pAUC as `auc`/`pauc` (comparable with the paper's 93.44 / 85.71) and keep the per-type
# means beside them, labelled; `table2_with_ours` puts the quoted rows (`table2_quoted`) first.
# Our rows carry the measured count, 884,376, where the paper prints "884 k":

# %%
table2 = table2_with_ours(profile)
table2.round(2)

# %%
saved = save_table(table2, "table2_parameters_average", out,
           caption=f"Table 2: parameters and average AUC/pAUC [%]. Rows marked 'quoted' are copied "
                   f"from Neri & Carli 2024; ours: auc/pauc are the global values (one ROC over all "
                   f"test clips, as the paper's 93.44 / 85.71), with the pooled per-type mean and the "
                   f"official per-ID mean beside them. {banner}")

# %% [markdown]
# The paper's row beside ours, with the difference, for Tables 1 and 2 (`table1_comparison`,
# `table2_comparison`): the faithful value (the authors' metric at their test-selected
# checkpoint), ours minus the paper's, and the honest value (official metric, validation-selected
# checkpoint). REPORT.md shows these two tables and the selection summary as saved here.

# %%
table1_vs = table1_comparison(profile)
saved = save_table(table1_vs, "table1_paper_vs_ours", out,
                   caption=f"Table 1, proposed model: the paper's row (quoted) beside ours (pooled per-type "
                           f"ROC at the test-selected checkpoint), the difference and the honest value. {banner}")
table2_vs = table2_comparison(profile)
saved = save_table(table2_vs, "table2_paper_vs_ours", out,
                   caption=f"Table 2, proposed model: parameters and the global AUC/pAUC beside the paper's "
                           f"(quoted), the difference, the per-type mean and the honest value. {banner}")
saved = save_table(selection, "model_selection", out,
                   caption=f"The checkpoint each selection protocol picks for the proposed run. {banner}")
table1_vs.round(2)

# %% [markdown]
# ## 10. Complexity: parameters, multiply-accumulates, latency
#
# Parameters measure memory; the work per clip is measured in multiply-accumulates (MACs).
# `count_macs` hooks every convolution and linear layer of the 10-s network on a silent clip and
# adds an estimate of the log-Mel (FFT and Mel matrix):

# %%
model10 = build_model(ModelConfig())               # the paper's network, 10-s clips
macs = pd.Series(count_macs(model10), name="MACs per 10-s clip")
macs.to_frame().assign(share=lambda d: (100 * d.iloc[:, 0] / macs["total"]).round(1)).style.format(
    {"MACs per 10-s clip": "{:,}", "share": "{:.1f} %"})

# %% [markdown]
# About 0.78 G MACs per 10-s clip, nine tenths of it in MobileFaceNet. The separable Wavegram and
# the attention module, the paper's additions, are cheap in parameters; the attention module is
# less cheap in MACs because it runs at the full 128 x 313 resolution.
#
# Latency: the time to score one 10-s clip on this machine's CPU (batch 1, one thread and all
# threads), with the real-time factor (latency / clip length; below 1 is faster than real time):

# %%
threads = sorted({1, torch.get_num_threads()})
latency = pd.DataFrame([cpu_latency(model10, threads=t, repeats=5) for t in threads])
complexity = pd.DataFrame([{"model": "proposed (10-s clips)", "parameters": n_params["total"],
                            "MACs per clip": macs["total"],
                            **{f"CPU latency {int(r.threads)} thread(s) [ms]": 1000 * r.median_s
                               for r in latency.itertuples()}}])
saved = save_table(complexity, "complexity", out, caption=f"Complexity of the proposed network, measured "
           f"on this machine's CPU ({banner})")
latency.round(4)

# %% [markdown]
# ## 11. ROC curves and score histograms
#
# The scores of the `paper` checkpoint, one ROC curve per machine type, with the FPR = 0.1 limit
# of the pAUC shaded. The curves pool the clips of each *true* machine type (pump id_06 is a pump
# here), so pump and slider differ from the pooled table, which follows the authors' masks.

# %%
fig = plot_roc_curves(clips, by="machine_type",
                      title=f"ROC per machine type, proposed model ({profile} profile)")
save_fig(fig, "roc_curves", out)

# %% [markdown]
# The score distributions of normal and anomalous clips, per type. A cross-entropy is close to 0
# for a confident, correct classification and grows without bound, so the scores span several
# orders of magnitude: we plot their base-10 logarithm. Where the two distributions overlap, no
# threshold separates them; the AUC measures exactly this overlap (a monotone transform such as
# the log leaves it unchanged).

# %%
clips["log10_score"] = np.log10(clips.score + 1e-12)
fig = plot_score_histograms(clips, by="machine_type", score_col="log10_score",
                            title=f"Anomaly scores, normal vs anomalous test clips ({banner})")
for ax in fig.axes:
    ax.set_xlabel("log10(anomaly score)")
save_fig(fig, "score_histograms", out)

# %% [markdown]
# The per-type histograms hide what the official protocol looks at: each machine ID on its own.
# Per machine ID, the same log-scores as box plots with every clip as a point. An ID whose
# anomalies (red) sit clearly to the right of its normal clips (blue) has a high AUC; IDs can
# differ in where their normal clips sit, which is what pooling several IDs into one ROC mixes up.

# %%
fig = plot_scores_per_id(clips, score_col="log10_score",
                         title=f"Anomaly scores per machine ID, proposed model\n{banner}")
fig.axes[0].set_xlabel("log10(anomaly score)")
saved = save_fig(fig, "scores_per_id", out)

# %% [markdown]
# ## 12. The authors' released score arrays
#
# The authors' repository also holds `other_data/*.npz`: saved anomaly scores of one of their
# models for all 10,868 development test clips, with the labels and class indices (MIT licence,
# like their code). A byte-exact copy ships in `data/authors-score-arrays/` with the licence;
# `load_authors_scores` checks each file's SHA-256 before reading it. No download, no training:
# real DCASE test-set numbers in a second, computed with the same metric code as ours.

# %%
authors = load_authors_scores()
authors_tables = authors_scores_tables(authors)
print(f"{len(authors):,} clips, {int(authors.anomaly.sum()):,} anomalous; source: {AUTHORS_SCORES_SOURCE}")
authors.head()

# %% [markdown]
# First the bookkeeping. The clips per class equal the DCASE development test counts
# (`asdlib/resources/dcase2020_task2_file_counts.csv`) for every class, and class 13 holds
# 658 clips: pump id_06 and slider id_00 together, the label-map collision of section 4, in the
# authors' own data. The arrays are shuffled and carry no file names, so those 658 clips cannot
# be told apart again.

# %%
counts = authors_tables["class_counts"]
print(f"all {len(counts)} classes match the DCASE counts: {bool(counts.match.all())}")
counts[counts.class_index == 13]

# %% [markdown]
# The authors' pooled Table 1 and the global AUC, from these scores (`all_clips` is the global
# AUC, the number the authors select on and print first):

# %%
authors_tables["pooled"].round(2)

# %% [markdown]
# And the official per-ID protocol. Class 13 is one merged row, left out of the pump and slider
# means (three IDs each):

# %%
display(authors_tables["per_type"].round(2))
authors_tables["per_id"].round(2)

# %% [markdown]
# What they are: a global AUC of **63.48**, so these are **not** the scores of the paper's model
# (93.44). The value equals Table 3's Wavegram-only row, 63.48 AUC; our pAUC is 54.1287 against
# the printed 54.12, which truncating (not rounding) to two decimals gives. The authors'
# evaluation script saves exactly these five arrays, from the checkpoint it selected (the best
# global AUC), at the end of a run. So the arrays fit being the `[X_Wav]` run's, and they support
# reading Tables 2-4 as global AUCs; the repository does not say which run wrote them, so this
# stays an inference. Per type, only fan (69.30) is clearly above chance. They are real DCASE
# scores all the same: a test bed for the metric code that needs no data download, and a look at
# the collision in the authors' own output.
#
# Saved beside our tables:

# %%
saved = save_table(authors_tables["pooled"], "authors_score_arrays_pooled", out,
                   caption="The authors' released score arrays (other_data/*.npz, MIT), scored with "
                           "asdlib's metric code: the authors' pooled per-type ROC; all_clips = global AUC.")
saved = save_table(authors_tables["per_id"], "authors_score_arrays_per_id", out,
                   caption="The authors' released score arrays: official per-ID AUC/pAUC; class 13 "
                           "(pump 06 + slider 00) is one merged row.")

# %% [markdown]
# ## 13. The authors' released checkpoint
#
# The authors published their trained weights, `MWM_93.44_s40_m0.7.ckpt` (AUC 93.44 by its name).
# With `authors_checkpoint = True`, `fetch_authors_checkpoint` downloads it once (recording its
# size and SHA-256, checked on every later use) and `score_checkpoint` scores this profile's test
# set with it, writing the same files as our evaluation under `results/<profile>/authors_checkpoint/`.
# Their network reads 10-s clips, so only the paper profile's test set gives comparable numbers;
# in the smoke profile we score the bundled real clips instead (too few for an AUC). Without a
# network the download fails, and the notebook says so and goes on.

# %%
ckpt_path = None
if not authors_checkpoint:
    print("authors_checkpoint = False: the authors' weights are not used in this run "
          "(pass -p authors_checkpoint True to run_all.sh or papermill to score them).")
else:
    try:
        ckpt_path = fetch_authors_checkpoint(data_dir() / "authors_checkpoint")
        print(f"authors' checkpoint: {ckpt_path}")
    except Exception as e:  # offline, or the file changed: say so and go on
        print(f"Could not get the authors' checkpoint ({type(e).__name__}: {e}).\n"
              "Going on without it: this section is skipped.")

# %% [markdown]
# In the paper profile: Table 1 and the averages for their weights, scored by our code (the
# paper's row is repeated, quoted, for comparison).

# %%
if ckpt_path is not None and profile == "paper":
    tables = score_checkpoint(ckpt_path, config.data.root_path(), out / "authors_checkpoint")
    theirs = pd.concat([tables["per_type"].assign(metric="official"),
                        tables["pooled"].assign(metric="pooled"),
                        tables["global"].assign(metric="global")]).assign(selection="paper")
    theirs_wide = table1_layout(theirs, "authors' checkpoint, scored here",
                                "this project: the authors' released weights").assign(
        selection="released by the authors (chosen on the global test AUC)")
    quoted = table1_quoted()
    authors_t1 = pd.concat([quoted[quoted.method.str.startswith("Proposed")], theirs_wide],
                           ignore_index=True)
    save_table(authors_t1, "table1_auc_pauc_authors_checkpoint", out,
               caption=f"Table 1 for the authors' released checkpoint, scored by this code. {banner}")
    save_table(authors_checkpoint_comparison(out), "authors_checkpoint_vs_paper", out,
               caption=f"The authors' released checkpoint scored by this code beside the paper's numbers. {banner}")
    display(authors_t1.round(2))
    display(table2_rows(theirs, "authors' checkpoint, scored here", "this project: the authors' released weights",
                        n_params["total"]).drop(columns="selection").round(2))

# %% [markdown]
# In the smoke profile: their scores on the 31 bundled real clips, averaged per type and label
# (a sanity check of loading and scoring, not a measurement).

# %%
if ckpt_path is not None and profile != "paper":
    authors_net = load_authors_checkpoint(ckpt_path)
    real = score_clips(authors_net, evaluation_clips(SAMPLE_DIR), progress=False)
    display(real.groupby(["machine_type", "label"])["score"].agg(["count", "mean"]).round(3))

# %% [markdown]
# ## 14. Summary and what comes next
#
# - The anomaly score is the ArcFace cross-entropy at the clip's true machine ID; it needs the
#   machine ID and nothing else about anomalies.
# - pAUC is McClish-standardised (sklearn `max_fpr=0.1`), for the authors and the peers alike.
# - The authors' pooled per-type metric, with their colliding label map, counts pump id_06 as a
#   slider; the official metric averages per-ID AUCs. Their checkpoint was chosen on the test set.
#   Our tables show all of it side by side, the paper's numbers quoted, ours computed.
# - The paper's Table 2 average (93.44) is the global AUC, one ROC over all test clips, which is
#   also what the authors selected the checkpoint on; it is not the mean of its Table 1 row (94.65).
# - The authors' released score arrays give a global AUC of 63.48 (Table 3's Wavegram-only
#   value), not the paper's model; their class counts show the label-map collision.
# - The network has 884,376 parameters and needs about 0.78 G MACs per 10-s clip.
#
# Saved under `results/<profile>/`: `tables/table1_auc_pauc`, `tables/table2_parameters_average`,
# `tables/complexity`, `tables/authors_score_arrays_pooled`, `tables/authors_score_arrays_per_id`
# (CSV, Markdown, LaTeX), `figures/auc_by_epoch`, `figures/roc_curves`,
# `figures/score_histograms`, `figures/scores_per_id` (PNG, PDF).
#
# **Next**: notebook 05_ablation trains the variants of Tables 3 and 4 (features, embedding size,
# separable convolutions, attention) and the honest variants; notebook 06_attention looks inside
# the attention module (Figs. 3 and 4).

# %% [markdown]
# ## Exercises
#
# Try each task first; the cell under it calls the solution in `asdlib.teaching.exercises`, which computes
# the answer with the library's functions (`??ex04_official_by_groupby` shows the code). Nothing
# here trains: the cells use the scores this notebook already loaded, the authors' score arrays
# or a small synthetic case, and take a few seconds at most. The answers are at the end.

# %% tags=["solutions-import"]
from asdlib.teaching.exercises import (ex04_global_vs_per_id, ex04_official_by_groupby, ex04_pauc_limits,
                              ex04_selection_bias)

# %% [markdown]
# ### Exercise 1 (compute): the official metric with a groupby
#
# Take this run's clip scores (`clips`, section 3: one row per test clip with `machine_type`,
# `machine_id`, `anomaly` and `score`) and compute the official DCASE metric yourself: AUC and
# pAUC for each (machine type, machine ID) with `groupby` and `auc_pauc`, then the mean over the
# IDs of each type, then the mean over the types. Compare with the saved table `official`
# (section 6).

# %% tags=["ex:04.1"]
mine = ex04_official_by_groupby(clips)
mine.join(official.set_index("machine_type")[["auc", "pauc"]], rsuffix=" (saved)").round(3)

# %% [markdown]
# ### Exercise 2 (change one thing and predict): global AUC against per-ID AUC
#
# Two fan IDs, each detected perfectly: in both, the normal clips score 0, 1, 2, 3 and the
# anomalous ones 4, 5, 6, 7. Now add an offset of 0, 2, 4 or 8 to every score of ID 02 (its
# scores run higher, as a noisier machine's would). Predict the per-ID AUCs, their mean and the
# global AUC (one ROC over all 16 clips) for each offset. Count pairs: the AUC is the share of
# (anomalous, normal) pairs in which the anomalous clip scores higher, ties counting half.

# %% tags=["ex:04.2"]
ex04_global_vs_per_id()

# %% [markdown]
# ### Exercise 3 (compute): what the pAUC's 50 means
#
# Predict the AUC and the pAUC (`max_fpr = 0.1`) of a random score, of a perfect score, and what
# `max_fpr = 1` gives. Check with 20,000 random clips, a perfect score, and the authors' score
# arrays of section 12.

# %% tags=["ex:04.3"]
ex04_pauc_limits().round(2)

# %% [markdown]
# ### Exercise 4 (change one thing and predict): choosing the checkpoint on the test set
#
# Suppose every checkpoint of a run is equally good: the true AUC is 76.0 % (normal scores
# N(0, 1), anomalous N(1, 1)), and each checkpoint's test AUC is measured on 100 normal and 100
# anomalous clips. Predict how far the best test AUC of 1, 3 and 15 checkpoints lies above the
# true AUC on average (the `paper` selection of section 7 picks the best of up to 15). The
# solution repeats the experiment 60 times.

# %% tags=["ex:04.4"]
ex04_selection_bias().round(2)

# %% [markdown]
# ### Coding tasks (write them before the library does)
#
# 1. `mcclish_pauc(y, s, max_fpr)`: the McClish-standardised partial AUC in % (section 5), as
#    scikit-learn's `roc_auc_score(y, s, max_fpr=...)`.
# 2. `official_mean_auc(scores)`: the official DCASE 2020 AUC in % of a score table (columns
#    machine_type, machine_id, anomaly, score): one AUC per machine ID, mean over IDs, mean over
#    types (section 6).
#
# `check_code` tries each on fresh random score tables against the library.

# %% tags=["task:04.C1"]
from asdlib.teaching.checks import check_code
from sklearn.metrics import roc_auc_score, roc_curve


def mcclish_pauc(y, s, max_fpr=0.1):
    """McClish-standardised partial AUC (FPR <= max_fpr), in %."""
    # -- solution --
    fpr, tpr, _ = roc_curve(y, s)
    stop = np.searchsorted(fpr, max_fpr, "right")
    x, yy = fpr[:stop], tpr[:stop]
    tpr_at = np.interp(max_fpr, fpr[stop - 1:stop + 1], tpr[stop - 1:stop + 1])
    area = np.trapezoid(np.r_[yy, tpr_at], np.r_[x, max_fpr])
    low, high = max_fpr ** 2 / 2, max_fpr
    return 100 * 0.5 * (1 + (area - low) / (high - low))


check_code("04.C1", mcclish_pauc)

# %% tags=["task:04.C2"]
from sklearn.metrics import roc_auc_score


def official_mean_auc(scores):
    """DCASE 2020 official AUC in %: per machine ID, mean over IDs, mean over machine types."""
    # -- solution --
    per_id = scores.groupby(["machine_type", "machine_id"]).apply(
        lambda g: roc_auc_score(g["anomaly"], g["score"]), include_groups=False)
    return 100 * per_id.groupby(level="machine_type").mean().mean()


check_code("04.C2", official_mean_auc)

# %% [markdown]
# ## Check your understanding
#
# 1. Why does the anomaly score need the clip's machine ID, and what is it exactly?
# 2. Why is a random score's pAUC 50 and not 5?
# 3. Which protocol counts pump id_06 as a slider, and why?
# 4. Why is the `paper` selection optimistic, and which selections are honest?
# 5. Table 2 prints 93.44 for the proposed model, Table 1's row averages 94.65. Which quantity is
#    which?

# %% [markdown] tags=["answers"]
# ## Answers
#
# **Exercise 1.** The groupby gives the saved per-type values and their average exactly (up to
# float rounding): the official metric is a plain mean over IDs, then over types. What makes it
# "official" is only the grouping: every machine ID gets its own ROC, and every ID and every
# type the same weight, however many clips it has.
#
# **Exercise 2.** Each ID stays at 100 whatever the offset (adding a constant to all of an ID's
# scores does not change their order), so the official mean stays 100. The global AUC compares
# the 8 anomalous with the 8 normal clips across both IDs, 64 pairs: offset 0, 100; offset 2,
# ID 00's anomalies 4 and 5 tie with or lose against ID 02's normals 4 and 5 in 2 pairs' worth,
# 62/64 = 96.9; offset 4, 8 pairs' worth lost, 87.5; offset 8, all 16 cross pairs lost, 75.0.
# The global AUC penalises a machine whose normal sounds score high; this is why Table 2's
# global number lies below the mean of the per-type values.
#
# **Exercise 3.** Random: AUC ≈ 50 and pAUC ≈ 50. scikit-learn's pAUC is McClish-standardised so
# that chance gives 50; the raw partial area of a random score is p²/2 = 0.005, 5 % of p = 0.1.
# Perfect: 100 and 100. With `max_fpr = 1` the pAUC is the whole AUC. The authors' arrays give
# 63.48 / 54.13.
#
# **Exercise 4.** With one checkpoint there is no choice and no bias (the mean lands within about
# half a point of 76.0). The best of 3 lies about 3.4 points higher, the best of 15 about 5.6: the
# standard error of one AUC on 100 + 100 clips is about 3.4 points, and the maximum of 15 noisy
# values sits about 1.7 standard errors above their mean. On the 10,868 clips of the real test
# set the standard error is about 0.25 points at an AUC near 93 (0.53 at the authors' arrays'
# 63.5; notebook 05, exercise 3) and the checkpoints of
# one run are correlated, so the optimism of the `paper` selection is much smaller there, but it
# is not zero; on the smoke profile's 288 clips it is large.
#
# **Check your understanding.**
#
# 1. The network was trained to recognise machine IDs. The score is the ArcFace cross-entropy at
#    the clip's *true* ID (margin logits, softmax, −log of that class's probability): it asks
#    whether the clip sounds like its own machine, not like any machine.
# 2. The McClish standardisation maps the raw partial area so that chance gives 0.5 and a perfect
#    detector 1; the raw area divided by p would give 0.05 at chance.
# 3. The authors' pooled protocol: it selects each type's clips by class-index ranges, and pump
#    id_06 gets class 13 (7 + 6), inside the slider range 13-19.
# 4. It picks the checkpoint with the best global AUC on the test clips, the same clips the
#    number is reported on: the maximum of noisy estimates (exercise 4). `validation` (lowest
#    loss on held-out normal training clips) and `last` never look at test labels.
# 5. 93.44 is the global AUC, one ROC over all 10,868 test clips, on which the authors also chose
#    the checkpoint; 94.65 is the mean of the six pooled per-type AUCs of Table 1.
