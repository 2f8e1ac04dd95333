# %% [markdown]
# # 03 · Training: mixup, ArcFace and the Noisy-ArcMix loss
#
# Companion to Neri & Carli (2024), IEEE Sensors Letters, Sections II-C, II-D and III.
#
# **What you will learn**
#
# - why a detector that never sees an anomaly is trained to *classify machine IDs*;
# - mixup on raw waveforms, with one λ ~ Beta(0.2, 0.2) per batch, and what such a λ looks like
#   (a histogram, and the exact shares of the Beta distribution);
# - the ArcFace head: cosine logits, a scale *s* = 40 and an additive angular margin *m* = 0.7,
#   on a toy example you can check by hand and as a picture of the angles; the paper's Eqs. (1)
#   and (2) as printed, and where they differ from standard ArcFace and from the code;
# - the Noisy-ArcMix loss of the authors' code: the margin at y_a, the label of the clip weighted
#   by λ, which is the *minor* part of the mix in half of the batches (λ is never folded to ≥ 0.5);
# - one complete training step written out (mixup, forward, loss, backward, step), and the
#   structure of MobileFaceNet;
# - the optimiser (AdamW), the cosine learning-rate schedule, the 5 % validation hold-out and the
#   checkpoints;
# - how many parameters each part of the network has (884,376 in all, the paper's "884 k");
# - how to train the proposed model with `asdlib`, read its log, and plot its learning curves.
#
# **Prerequisites**: notebook 01_data (it creates the data this notebook trains on) and notebook
# 02_features (the features the network reads).
#
# **Run time**: smoke profile {{run-time:03_training}} on 2 idle CPU cores (measured on
# {{run-time:measured on}}), almost all of it training (15 short epochs of 6 steps at batch 8,
# i.e. 48 of the 456 synthetic 1-s clips per epoch; longer when other jobs share the cores).
# Rerunning after the run finished takes seconds. Paper profile: one
# 300-epoch run on 34,469 clips of 10 s, some hours on one GPU (the preflight of `run_all.sh`
# prints an estimate measured on your device). A finished run is reused, and an interrupted one
# resumes from its last epoch.
#
# **asdlib modules used**: `study.runs`, `engine.config`, `nets.model`, `nets.loss`, `engine.train`, `data.store` (through
# the trainer), `data.audio`, `nets.features`, `teaching.plots`, `outputs`, `paths`.
#
# ## Contents
# 1. Parameters and imports
# 2. Learning "normal" by classifying machines
# 3. The run configuration
# 4. The network and its 884,376 parameters
# 5. Mixup on waveforms
# 6. ArcFace: cosine logits with an angular margin
# 7. The Noisy-ArcMix loss
# 8. Optimiser, learning-rate schedule, validation and checkpoints
# 9. Training the proposed model
# 10. Learning curves and where the time went
# 11. Training outside the notebook
# 12. Summary and what comes next

# %% [markdown]
# ## 1. Parameters and imports
#
# `retrain = True` deletes this profile's finished `proposed` run and trains it again; by default
# a finished run is reused. `insist = True` allows the paper profile to train without a GPU
# (days on a CPU); `run_all.sh --insist` sets it.

# %% tags=["parameters"]
profile = "smoke"           # "smoke": synthetic data, a few CPU epochs; "paper": full data, 300 epochs
insist = False              # train the paper profile even without a GPU
authors_checkpoint = False  # run_all.sh -p authors_checkpoint True; unused here (see notebook 04)
retrain = False             # True: delete a finished run of this profile and train it again

# %%
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from IPython.display import Audio, Markdown, display

from asdlib.data.audio import (load_clip)
from asdlib.engine.checkpoints import (list_checkpoints)
from asdlib.engine.cpu import (configure_threads)
from asdlib.engine.train import (read_log, split_validation, training_table)
from asdlib.nets.features import (LogMel)
from asdlib.nets.loss import (ArcFace, mixup, noisy_arcmix_loss)
from asdlib.nets.model import (build_model, parameter_counts)
from asdlib.outputs import (profile_banner, save_fig)
from asdlib.paths import (SAMPLE_DIR, results_dir)
from asdlib.study.runs import (ensure_trained, params_at_paper_length, run_config)
from asdlib.teaching.plots import (plot_arcface_geometry, plot_lambda_histogram, plot_logmels,
                                   plot_training_curves)

configure_threads()  # torch threads for the cores this process may use (notebook 08)
out = results_dir(profile)
print(profile_banner(profile))

# %% [markdown]
# ## 2. Learning "normal" by classifying machines
#
# > **Background.** Training data hold only normal sounds, so a detector cannot be taught what an
# > anomaly is. Classification-based detectors give the network a *proxy* task that needs only
# > normal data: tell apart the 41 machines (type and ID) from their sounds. A network that has
# > learned how each machine normally sounds will be unsure, or wrong, about a clip whose sound
# > has changed. The anomaly score of a test clip is therefore the classification loss at its
# > *true* machine ID: high loss, likely anomalous (notebook 04).
#
# The machine ID is known for every clip (it is in the file name), so this is self-supervised:
# no one labels anything. The loss is ArcFace's, and mixup makes training harder and smoother.

# %% [markdown]
# ## 3. The run configuration
#
# Every setting of a training run lives in one TOML file, `configs/<profile>/proposed.toml`; what
# the file leaves out takes the paper's value (`asdlib.engine.config`). Side by side, the two profiles:

# %%
configs = {p: run_config(p, "proposed") for p in ("smoke", "paper")}
rows = {p: {f"{section}.{k}": v for section in ("model", "data", "train")
            for k, v in c.to_dict()[section].items()} for p, c in configs.items()}
settings = pd.DataFrame(rows).astype(str)
settings[settings["smoke"] != settings["paper"]]

# %% [markdown]
# Only these settings differ: the smoke run uses 1-s clips of synthetic sounds, 15 short epochs
# of 6 steps each (`max_steps_per_epoch`: each epoch trains on the first 48 clips of a fresh
# random order; 90 steps in all), a checkpoint after every epoch (so that notebook 04's three
# selection rules have fifteen to choose from; the authors saved one every 20 epochs of 300), a
# batch of 8 and a 60x larger learning rate (it has very few steps), and decodes
# data in the main process. Everything else (the architecture, ArcFace's s = 40 and m = 0.7, mixup's α = 0.2,
# the authors' label map, the 5 % validation hold-out) is the paper's. The whole configuration
# of this profile's run:

# %%
config = run_config(profile, "proposed")
settings[[profile]].rename(columns={profile: f"{profile} value"})

# %% [markdown]
# ## 4. The network and its 884,376 parameters
#
# `build_model` builds the network of a configuration: the features of notebook 02, the
# attention module (notebook 06), MobileFaceNet and the ArcFace head. `parameter_counts` counts
# the learnable parameters of each part. For the paper's 10-s clips:

# %%
counts = parameter_counts(build_model())   # the paper's configuration, 10-s clips
display(pd.Series(counts, name="parameters").to_frame().style.format("{:,}"))
assert counts["total"] == 884_376, counts

# %% [markdown]
# 884,376: exactly the paper's "884 k" (Tables 2 and 4). Almost all of it is MobileFaceNet
# (875,625, including an output layer `fc_out` of 5,289 parameters that the authors build but
# never use); the separable Wavegram (1,539) and the attention module (1,964) are tiny, and the
# ArcFace head holds one 128-dimensional direction per class (41 x 128 = 5,248).
#
# The smoke model reads 1-s clips: 32 frames instead of 313. MobileFaceNet ends with a "global"
# depthwise convolution whose kernel covers the whole remaining time axis, so the smoke network
# is a little smaller. Tables always count the 10-s network (`params_at_paper_length`).

# %%
profile_counts = parameter_counts(build_model(config.model))
print(f"this profile's network ({config.model.clip_seconds:g}-s clips): {profile_counts['total']:,} "
      f"parameters; at 10 s: {params_at_paper_length(config)['total']:,}")

# %% [markdown]
# The classifier itself, as PyTorch prints it (the paper's profile, 10-s clips). Read it from the
# top: `conv1` (3x3, stride 2) and a depthwise 3x3 (`dw_conv1`); three pairs of inverted-residual
# bottlenecks (1x1 expansion, depthwise 3x3, 1x1 projection; the first of each pair has stride 2);
# `conv2` (1x1 to 512 channels); `linear7`, the "global" depthwise convolution whose kernel
# (8, 20) covers the whole remaining 128/16 x 313/16 map; `linear1` (1x1 to the embedding size
# h = 128); and `fc_out`, built but never used:

# %%
print(build_model().classifier)

# %% [markdown]
# ## 5. Mixup on waveforms
#
# Mixup (Zhang et al., 2018) trains on blends of two examples: x = λ xᶦ + (1 − λ) xʲ, with
# the labels blended the same way. The authors mix **raw waveforms**, before any feature is
# computed, with **one λ per batch** drawn from Beta(α, α), α = 0.2, and the batch itself in a
# random order as the partners. Their code uses λ as drawn: it does **not** fold it to
# max(λ, 1 − λ), so the clip weighted by λ (whose label y_a later gets the ArcFace margin,
# section 7) is the larger part of the blend in only half of the batches.
#
# Beta(0.2, 0.2) is U-shaped: most draws are close to 0 or 1 (a clip with a faint second machine
# underneath), and a real half-and-half blend is rare. The exact shares, from the Beta
# distribution's CDF, next to 100,000 draws:

# %%
from scipy.stats import beta as beta_dist

lams = np.random.default_rng(0).beta(0.2, 0.2, size=100_000)
edges = [0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0]
cdf = beta_dist(0.2, 0.2).cdf(edges)
bins = pd.cut(lams, edges, include_lowest=True)
pd.DataFrame({"exact (Beta CDF)": np.diff(cdf),
              "share of draws": pd.Series(bins).value_counts(normalize=True, sort=False).to_numpy()},
             index=pd.Series(bins).cat.categories.astype(str)).round(4)

# %%
fig = plot_lambda_histogram(lams, alpha=0.2)
saved = save_fig(fig, "lambda_histogram", out)

# %% [markdown]
# Exactly: P(λ < 0.5) = 50 %, P(λ < 0.1) = 33.7 %, P(λ < 0.05) = 29.1 %; the nearly unmixed
# batches (λ < 0.1 or λ > 0.9) are 67.3 %, and a genuine blend (0.3 < λ < 0.7) is 13.4 %, about
# one in seven. So in a third of all batches the clip whose label gets the margin contributes
# less than a tenth of the waveform.
#
# To hear and see one blend, take two real clips of different machines from the bundled sample (a
# fan and a pump), at this profile's clip length, and mix them with λ = 0.7:

# %%
num_samples = config.model.num_samples
a = torch.from_numpy(load_clip(SAMPLE_DIR / "fan/test/normal_id_06_00000012.wav", num_samples))
b = torch.from_numpy(load_clip(SAMPLE_DIR / "pump/test/normal_id_04_00000004.wav", num_samples))
lam = 0.7
mixed = lam * a + (1 - lam) * b
display(Audio(mixed.numpy(), rate=16_000))
logmel = LogMel()
fig = plot_logmels([logmel(x[None])[0] for x in (a, b, mixed)],
                   ["fan id_06 (x^i)", "pump id_04 (x^j)", f"mixup, lambda = {lam}"],
                   title=f"Mixup on waveforms (two real clips, first {config.model.clip_seconds:g} s)")
saved = save_fig(fig, "mixup_example", out)

# %% [markdown]
# The mixture looks mostly like the fan: the pump enters with amplitude 0.3 against the fan's
# 0.7, about 7 dB lower (10 log10(0.3²/0.7²) ≈ −7.4 dB), and its line near 2 kHz is only faintly
# visible. The mixture's label is 70 % "fan 06" and 30 % "pump 04".
#
# In training, `asdlib.nets.loss.mixup` does this for a whole batch: one λ, and a random permutation
# of the batch as the partners. With a batch of four clips of classes 0 to 3:

# %%
batch, target = torch.randn(4, num_samples), torch.tensor([0, 1, 2, 3])
mixed_batch, y_a, y_b, lam_batch = mixup(batch, target, alpha=0.2, rng=np.random.default_rng(1),
                                         generator=torch.Generator().manual_seed(1))
print(f"lambda = {lam_batch:.3f}; y_a = {y_a.tolist()} (weight lambda, gets the margin), "
      f"partners y_b = {y_b.tolist()} (weight 1 - lambda)")

# %% [markdown]
# `y_a` is the batch's own label order and `y_b` the permuted one. A clip whose partner is
# itself (here where y_a equals y_b) is simply not mixed. With this λ, each clip of `y_a` makes
# up only a small part of its blend: the partner dominates.

# %% [markdown]
# ## 6. ArcFace: cosine logits with an angular margin
#
# The classifier ends in an embedding **h** (128 numbers). An ordinary linear layer would score
# class *i* by **w**ᵢ · **h**. ArcFace (Deng et al., 2019) normalises both to unit length, so the
# score is the cosine of the angle θᵢ between the embedding and the class direction, and the loss
# depends only on angles. Then:
#
# - all logits are multiplied by a **scale** *s* = 40, so that softmax probabilities can get
#   close to 1 even though cosines stay in [−1, 1];
# - at the **true** class only, the angle is increased by a **margin** *m* = 0.7 rad (40°) before
#   taking the cosine: logit = *s* cos(θ_y + *m*).
#
# The margin makes the task harder on purpose: to win, an embedding must be 40° closer to its own
# class than needed. The result is tight clusters per machine, and at test time a clip that lands
# away from its machine's direction gets a high loss.
#
# A toy example in two dimensions: three classes 120° apart, and an embedding of class 0 that
# lies 50° from its class direction (and 70° from class 1's):

# %%
head = ArcFace(embedding_dim=2, num_classes=3, s=40.0, m=0.7)
angles = torch.deg2rad(torch.tensor([0.0, 120.0, 240.0]))
with torch.no_grad():
    head.weight.copy_(torch.stack([angles.cos(), angles.sin()], dim=1))   # class directions
emb = torch.tensor([[np.cos(np.deg2rad(50.0)), np.sin(np.deg2rad(50.0))]], dtype=torch.float32)
target = torch.tensor([0])
with torch.no_grad():
    cos = head.cosine(emb)[0]
    plain, margin = head.s * cos, head(emb, target)[0]

# %%
toy = pd.DataFrame({"angle to class [deg]": torch.rad2deg(torch.arccos(cos)).round(),
                    "cos": cos, "logit s*cos": plain, "logit with margin at class 0": margin,
                    "p without margin": plain.softmax(0), "p with margin": margin.softmax(0)},
                   index=["class 0 (true)", "class 1", "class 2"])
display(toy.round(3))
print(f"loss without margin {F.cross_entropy(plain[None], target):.2g}, "
      f"with margin {F.cross_entropy(margin[None], target):.2f}")

# %% [markdown]
# Without the margin, the embedding is closer to class 0 than to any other, and the scale *s*
# turns that into a probability of practically 1 and a loss of practically 0: nothing more to
# learn. With the margin, the true class is scored as if it were 50° + 40° = 90° away: its logit
# drops from 40 cos 50° ≈ 25.7 to 40 cos 90.1° ≈ 0 (0.7 rad is 40.1°), below class 1's
# 40 cos 70° ≈ 13.7, and the loss is about 13.8. The true class only wins once the embedding is within 40° of its direction
# (where cos(θ + 40°) exceeds class 1's cos(120° − θ)), and the loss gets small only well inside
# that, so training pulls each machine's clips into a narrow cone around its direction. (When θ + *m* would pass 180°, where
# cos(θ + *m*) would start to grow again, the code uses cos θ − *m* sin *m* instead: the usual
# "non-easy margin" fallback of ArcFace, see the `ArcFace` docstring.)
#
# The same geometry as a picture: left, the angles on the unit circle; right, the true-class
# logit against the angle θ with and without the margin (computed by `asdlib.nets.loss.ArcFace`),
# and the other class's logit:

# %%
fig = plot_arcface_geometry(s=40.0, m=0.7, theta_deg=50.0, other_deg=120.0)
saved = save_fig(fig, "arcface_geometry", out)

# %% [markdown]
# The margin shifts the red curve 40° to the left of the blue one: the true class wins only below
# θ ≈ 40° instead of below 60° (where the blue and green curves cross). The small step at
# 180° − *m* ≈ 140° is the fallback.
#
# ### The paper's equations, as printed
#
# The paper writes the ArcFace loss as its Eq. (1),
#
# $$\mathcal{L}(\boldsymbol{\theta}, \mathbf{y})_{\text{AF}} = -\mathbf{y}^T \frac{e^{s \cos \theta + m y}}{\sum_{i=1}^c e^{s \cos \theta_i + m \hat{y}_i}} \quad (1)$$
#
# and the training loss as its Eq. (2),
#
# $$\mathcal{L}(\boldsymbol{\theta}, \mathbf{y}, \mathbf{y}^{ij}) = \lambda \mathcal{L}(\boldsymbol{\theta}, \mathbf{y})_{\text{AF}} + (1 - \lambda) \mathcal{L}(\boldsymbol{\theta}, \mathbf{y}^{ij})_{\text{AF}}. \quad (2)$$
#
# Standard ArcFace (Deng et al., 2019), which the authors' code computes, is
#
# $$\mathcal{L}_{\text{AF}} = -\log \frac{e^{s \cos(\theta_y + m)}}{e^{s \cos(\theta_y + m)} + \sum_{j \neq y} e^{s \cos \theta_j}}.$$
#
# Where Eq. (1) as printed differs from it: (a) it has no logarithm (it is minus a probability, not
# a cross-entropy); (b) the margin is added to the logit, outside the cosine and unscaled
# (*s* cos θ + *m* y), where ArcFace adds it to the **angle** inside the cosine, cos(θ_y + *m*);
# (c) the denominator uses ŷ, which the paper does not define, where ArcFace puts the margin on
# the true class y only. Eq. (2) as printed takes the second term at the mixed label
# y^{ij} = λ y^i + (1 − λ) y^j; the code takes it at the partner's label y^j alone, and runs the
# head once, with the margin at y^i (= y_a; section 7). Everything here follows the code.

# %% [markdown]
# ## 7. The Noisy-ArcMix loss
#
# With mixup, a blend x = λ x_a + (1 − λ) x_b has two labels: y_a, the label of the clip that
# enters with weight λ, and y_b, the partner's, weight 1 − λ. Neither is "unmixed": y_a is simply
# the label of the first clip of the pair. In the authors' code, which follows the
# **Noisy-ArcMix** form of Choi & Choi (ICASSP 2024), the ArcFace head runs **once**, with the
# margin at y_a; both cross-entropies are taken on these same logits:
# λ CE(logits, y_a) + (1 − λ) CE(logits, y_b). ("ArcMix" would run the head twice, with the
# margin at each label.)
#
# On the toy head, with an embedding halfway between classes 0 and 1 and λ = 0.7:

# %%
emb_mix = torch.tensor([[np.cos(np.deg2rad(60.0)), np.sin(np.deg2rad(60.0))]], dtype=torch.float32)
y_a, y_b, lam = torch.tensor([0]), torch.tensor([1]), 0.7
with torch.no_grad():
    noisy, logits = noisy_arcmix_loss(head, emb_mix, y_a, y_b, lam)
    arcmix = (lam * F.cross_entropy(head(emb_mix, y_a), y_a)
              + (1 - lam) * F.cross_entropy(head(emb_mix, y_b), y_b))
print(f"logits with the margin at y_a = 0: {logits[0].numpy().round(2)}")
print(f"Noisy-ArcMix loss {noisy:.3f}  vs  ArcMix (margin at each label) {arcmix:.3f}")

# %% [markdown]
# The two differ: with the margin at y_a only, the partner class keeps its plain cosine logit
# and is "easier" than in ArcMix. Note also that the label mixing happens in the loss, never on the
# one-hot vectors: the margin always goes to one whole class. `asdlib.engine.train` computes exactly
# `lam * CE(logits, y_a) + (1 - lam) * CE(logits, y_b)` on the margin-at-y_a logits.
#
# **What the unfolded λ does.** Since λ ~ Beta(0.2, 0.2) is used as drawn, λ < 0.5 in half of the
# batches (exactly 50 %), and λ < 0.1 in 33.7 % of them. In those batches y_a is the **minor**
# part of the blend, yet it is the class that gets the margin:
#
# - *The margin.* The loss is then mostly (1 − λ) CE(logits, y_b) at the dominant clip's class,
#   whose logit has **no** margin, while the faint class y_a has its logit lowered by the margin,
#   which only makes the dominant class easier to pick. The margin's pull into a tight cone
#   therefore acts on the dominant class in only half of the batches; in the other half it acts on
#   a class that is barely audible. Folding λ to max(λ, 1 − λ) (or putting the margin at the
#   dominant label) would apply it to the dominant class every time; we keep the authors' form.
# - *The logged training accuracy.* The trainer counts a hit when the arg-max of the margin logits
#   equals y_a. When λ < 0.5 a network that correctly recognises the dominant machine scores a
#   miss, so the training accuracy stays far below the validation accuracy (about half of the
#   batches are "wrong" by construction), and it jumps from epoch to epoch with the batches' λs.
#   Section 10 shows it: read the validation accuracy, not the training accuracy.

# %% [markdown]
# ## 8. Optimiser, learning-rate schedule, validation and checkpoints
#
# - **AdamW** (Adam with decoupled weight decay, PyTorch's default decay 0.01), learning rate
#   10⁻⁴ in the paper.
# - **Cosine annealing**: the learning rate follows half a cosine from 10⁻⁴ down to 10⁻⁵ over
#   the 300 epochs, stepped once per epoch. Large steps early, fine ones at the end:

# %%
def cosine_lrs(train_settings):
    """The learning rate of every epoch, from PyTorch's scheduler on a dummy parameter."""
    opt = torch.optim.AdamW([torch.zeros(1, requires_grad=True)], lr=train_settings.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(
        opt, T_max=train_settings.epochs, eta_min=train_settings.lr * train_settings.eta_min_ratio)
    lrs = []
    for _ in range(train_settings.epochs):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs

paper_lrs = cosine_lrs(configs["paper"].train)
pd.Series({e: paper_lrs[e - 1] for e in (1, 75, 150, 225, 300) if e <= len(paper_lrs)},  # fewer under ASD_RUN_OVERRIDES
          name="paper lr").to_frame().T

# %% [markdown]
# - **Validation**: 5 % of the training clips, drawn at random (seeded here), are held out. Their
#   loss and machine-ID accuracy are computed after every epoch; the authors did not use them to
#   choose a checkpoint (they chose on the test set, notebook 04), but the "honest" selection does.

# %%
train_clips = training_table(config)
train_pos, val_pos = split_validation(len(train_clips), config.data.val_fraction, config.train.seed)
print(f"{len(train_clips)} training clips of {train_clips['class_index'].nunique()} classes "
      f"({train_clips[['machine_type', 'machine_id']].drop_duplicates().shape[0]} machines): "
      f"{len(train_pos)} to train on, {len(val_pos)} held out for validation")

# %% [markdown]
# (The smoke data hold 12 machines but 11 classes: pump 06 and slider 00 share class 13 under
# the authors' label map, notebook 01. In the paper profile: 36,283 clips of 41 machines in 40
# classes.)
#
# - **Checkpoints**: the full training state (weights, optimiser, scheduler, epoch, random
#   states) is saved as `last.pt` after every epoch, which is what lets an interrupted run resume,
#   and kept as `epoch_XXXX.pt` every `checkpoint_every` epochs (20 in the paper; smoke: see the
#   table of section 3) and at the last epoch. Notebook 04 scores every kept checkpoint.
# - **Reproducibility**: the authors set no seed; `asdlib` seeds everything, and draws each
#   epoch's clip order and mixup λs from a generator seeded by (seed, epoch), so a resumed run
#   continues exactly as an uninterrupted one would.
# - **Precision**: the authors trained in 32-bit float (their Lightning `Trainer` has no
#   `precision` argument), and so does every configuration here (`train.precision = "fp32"`).
#   bf16 autocast, which runs the network in bfloat16 and keeps the features and the loss in
#   fp32, is an explicit opt-in (`./run_all.sh --precision bf16`, `python -m asdlib train
#   --precision bf16`); it is faster on recent GPUs but is not what the authors ran.
#   `benchmarks/REPORT.md` shows what it changed on the smoke run. This run's precision:

# %%
print(f"train.precision = {config.train.precision!r}"
      + ("  (bf16 autocast: an opt-in, NOT the authors' fp32)" if config.train.precision == "bf16"
         else "  (32-bit float, as the authors trained)"))

# %% [markdown]
# ## 9. Training the proposed model
#
# `ensure_trained` trains the run `proposed` of this profile into `results/<profile>/runs/proposed/`
# unless it has already finished with the same configuration; an interrupted run resumes from
# `last.pt`. The first time, the training clips are decoded once into a 16-bit "clip store"
# under the data folder's `cache/`, reused by every later epoch, run and notebook (decoding
# 36,283 WAV files every epoch would cost more than the network on a GPU).
#
# The data must exist (notebook 01), and the paper profile needs a GPU unless `insist` is set.

# %%
if not config.data.root_path().is_dir():
    raise FileNotFoundError(f"no training data at {config.data.root_path()}: run notebook 01_data "
                            f"with profile = {profile!r} first")
if profile == "paper" and not torch.cuda.is_available() and not insist:
    raise RuntimeError("the paper profile trains 300 epochs on 34,469 clips: without a GPU that takes "
                       "days. Run on a GPU, or set insist = True (run_all.sh --insist) to go on anyway.")
print(f"device: {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'CPU'}")

# %% [markdown]
# ### One training step, written out
#
# Before handing training to the library, here is one complete step as `asdlib.engine.train` runs it,
# on a fresh network and one batch of this profile's training clips: mixup, forward, loss,
# backward, step.

# %%
torch.manual_seed(0)
net_demo = build_model(config.model)                   # a fresh network, in training mode
opt_demo = torch.optim.AdamW(net_demo.parameters(), lr=config.train.lr,
                             weight_decay=config.train.weight_decay)
batch_clips = train_clips.iloc[train_pos[: config.train.batch_size]]
wave = torch.from_numpy(np.stack([load_clip(p, num_samples) for p in batch_clips.path]))
target = torch.from_numpy(batch_clips.class_index.to_numpy())

# 1. mixup: one lambda for the batch, the batch in a random order as the partners
mixed, y_a, y_b, lam = mixup(wave, target, alpha=config.train.mixup_alpha,
                             rng=np.random.default_rng(0), generator=torch.Generator().manual_seed(0))
# 2. forward: features -> attention -> MobileFaceNet -> embedding; ArcFace logits, margin at y_a
embedding = net_demo(mixed)
logits = net_demo.arcface(embedding, y_a)
# 3. loss: the Noisy-ArcMix form, both cross-entropies on the same logits
loss = lam * F.cross_entropy(logits, y_a) + (1 - lam) * F.cross_entropy(logits, y_b)
same_as_library = torch.isclose(loss, noisy_arcmix_loss(net_demo.arcface, embedding, y_a, y_b, lam)[0])
# 4. backward: gradients of the loss for every parameter
opt_demo.zero_grad(set_to_none=True)
loss.backward()
# 5. step: AdamW updates the weights
opt_demo.step()

with torch.no_grad():
    after = noisy_arcmix_loss(net_demo.arcface, net_demo(mixed), y_a, y_b, lam)[0]
grad_norm = torch.sqrt(sum((p.grad ** 2).sum() for p in net_demo.parameters() if p.grad is not None))
print(f"batch of {len(target)} clips, lambda = {lam:.3f} (y_a is the {'major' if lam >= 0.5 else 'minor'} part)")
print(f"loss {loss.item():.3f}; gradient norm {grad_norm:.2f}; same batch after one step: {after.item():.3f}")
print(f"same loss as asdlib.nets.loss.noisy_arcmix_loss: {bool(same_as_library)}")

# %% [markdown]
# (The loss after the step is computed with BatchNorm still in training mode, on the same batch,
# so it shows the direction of one step, not a real improvement.) `asdlib.engine.train.train` repeats
# exactly this for every batch of every epoch, then steps the learning-rate schedule, validates
# and saves a checkpoint.
#
# Now the training itself. Each epoch prints its training loss and accuracy (on mixed batches:
# the accuracy is that of y_a, which is the minor part of the blend in about half of the batches,
# section 7), validation loss and accuracy, and seconds.
#
# If the configuration file changed since the run was trained, `ensure_trained` refuses to mix
# the two: it raises a `ConfigMismatchError` that names the settings that differ. Set
# `retrain = True` in the parameters cell to start this run afresh with the new settings.

# %%
folder = ensure_trained(profile, "proposed", retrain=retrain)
print(f"run folder: {folder}")

# %% [markdown]
# ## 10. Learning curves and where the time went
#
# The trainer writes one JSON line per epoch to `train_log.jsonl`; `read_log` turns it into a
# table:

# %%
log = read_log(folder)
log[["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"]].round(4)

# %%
fig = plot_training_curves(log, title=f"Training the proposed model ({profile_banner(profile)})")
saved = save_fig(fig, "training_curves", out)

# %% [markdown]
# How to read the curves: the training loss is measured on mixed batches with the margin, so it
# stays well above zero even for a good model, and the training accuracy is that of y_a on
# blended inputs, which is the minor part of the blend in about half of the batches (section 7):
# it stays far below the validation accuracy and jumps with each epoch's λs, especially with the
# smoke profile's 6 steps per epoch.
# The validation loss and accuracy are measured on unmixed held-out clips, with BatchNorm in
# evaluation mode (its running averages instead of batch statistics). In the first epochs they
# can stay poor, or even get worse, while the training loss already falls: the running averages
# and the class directions are still moving fast. The first and last epoch in numbers:

# %%
first, last = log.iloc[0], log.iloc[-1]
guess = 1 / train_clips["class_index"].nunique()
print(f"training loss {first.train_loss:.2f} -> {last.train_loss:.2f}, training accuracy "
      f"{first.train_acc:.0%} -> {last.train_acc:.0%}")
print(f"validation loss {first.val_loss:.2f} -> {last.val_loss:.2f}, validation accuracy "
      f"{first.val_acc:.0%} -> {last.val_acc:.0%} (a random guess: {guess:.0%})")
reached = log.loc[log.val_acc >= 0.9, "epoch"]
display(Markdown(
    f"In this run the validation accuracy starts at {first.val_acc:.0%} (epoch {int(first.epoch)}) and "
    + (f"first reaches 90 % at epoch {int(reached.iloc[0])} of {int(last.epoch)}"
       if len(reached) else f"never reaches 90 % in {int(last.epoch)} epochs")
    + f", ending at {last.val_acc:.0%}. Notebook 04 shows whether the test AUC follows."))

# %% [markdown]
# In the smoke profile the short run is a test that the whole pipeline works, and its numbers are
# **not** comparable to anything in the paper. Does the validation accuracy rise steadily or stay
# near guessing and then jump? The sentence above is computed from this run's log. In the paper
# profile the same curves cover 300 epochs; the learning-rate line shows the cosine schedule.
#
# **Where did the time go?** For each epoch the log records how many seconds the training loop
# waited for the next batch of data (`data_wait_seconds`). A large share means the GPU is idle
# while clips are read and decoded: more loader workers (`num_workers`) or a faster disk would
# help more than a faster GPU.

# %%
wait = log["data_wait_fraction"]
print(f"waiting for data: {100 * wait.mean():.1f} % of each epoch on average "
      f"(max {100 * wait.max():.1f} %), {log['seconds'].sum():.0f} s of training in all")

# %% [markdown]
# With the clip store, reading a batch is a few file reads of 16-bit samples, so the wait stays
# small.
#
# The run folder holds the configuration, the log and the checkpoints that notebook 04 evaluates:

# %%
for path in [folder / "config.json", folder / "train_log.jsonl", *list_checkpoints(folder),
             folder / "checkpoints" / "last.pt"]:
    print(f"{path.relative_to(out)}  ({path.stat().st_size / 1e6:.1f} MB)")

# %% [markdown]
# ## 11. Training outside the notebook
#
# The same engine runs from the command line, for long runs on a remote machine:
#
# ```bash
# python -m asdlib train --config configs/paper/proposed.toml     # resumable, seeded, logged
# python -m asdlib train --config configs/smoke/proposed.toml --set train.epochs=10
# ```
#
# With several GPUs on one machine, `torchrun` starts one process per GPU and the trainer uses
# DistributedDataParallel, the global batch of 64 split between them:
#
# ```bash
# torchrun --nproc_per_node 4 -m asdlib train --config configs/paper/proposed.toml
# ```
#
# and `python -m asdlib train-many configs/paper/*.toml --gpus 0,1,2,3` trains the ten runs of
# the profile (the eight of the paper's tables and two honest variants) as a queue, one run per
# GPU. Runs land in the same folders as from the
# notebooks, so notebooks 04-06 pick them up.

# %% [markdown]
# ## 12. Summary and what comes next
#
# - The network learns "normal" by classifying the 41 machine IDs; it never sees an anomaly.
# - Mixup blends raw waveforms with one λ ~ Beta(0.2, 0.2) per batch (67 % of the batches
#   nearly unmixed, λ < 0.1 or > 0.9).
# - ArcFace scores classes by cosine, scales by *s* = 40 and adds an angular margin *m* = 0.7
#   to the angle of the true class, forcing tight clusters (the paper's Eq. (1), as printed,
#   adds it outside the cosine and has no logarithm; the code is standard ArcFace).
#   Noisy-ArcMix puts the margin at y_a only, the label weighted by λ, and weights the two
#   cross-entropies by λ and 1 − λ. λ is not folded, so y_a is the minor part of the blend in
#   half of the batches (λ < 0.1 in a third): the margin then lands on a faint class, and the
#   logged training accuracy (arg-max = y_a) stays low by construction.
# - One training step is mixup, forward, the Noisy-ArcMix loss, backward and an AdamW step.
# - AdamW, cosine annealing from 10⁻⁴ to 10⁻⁵ over 300 epochs, a 5 % validation hold-out, and
#   checkpoints that make every run resumable. The network has 884,376 parameters.
# - Files written under `results/<profile>/`: `runs/proposed/` (configuration, log, checkpoints),
#   `figures/lambda_histogram.*`, `figures/mixup_example.*`, `figures/arcface_geometry.*` and
#   `figures/training_curves.*`.
#
# **Next: notebook 04_evaluation** turns the trained network into an anomaly detector: the score
# of each test clip, AUC and pAUC per machine, the authors' pooled metric next to the official
# one, and the checkpoint chosen on the test set next to honest choices.

# %% [markdown]
# ## Exercises
#
# Try each task first; the cell under it calls the solution in `asdlib.teaching.exercises`, which computes
# the answer with the library's functions (`??ex03_mixup_lambda` shows the code). Nothing here
# trains: each cell takes about a second in either profile. The answers are at the end.

# %% tags=["solutions-import"]
from asdlib.teaching.exercises import (ex03_arcface_loss_vs_angle, ex03_global_kernel, ex03_mixup_lambda,
                              ex03_params_vs_embedding)

# %% [markdown]
# ### Exercise 1 (compute): the ArcFace loss against the angle
#
# Take the toy head of section 6 (three class directions 120° apart, s = 40) and an embedding of
# class 0 at an angle θ from its class direction, towards class 1. By hand first: up to which θ
# is class 0 still the predicted class, for m = 0, 0.35 and 0.7 rad? What is the loss at θ = 60°
# without a margin? Then compute the loss for θ = 0°, 10°, ..., 120° and the three margins.

# %% tags=["ex:03.1"]
arc = ex03_arcface_loss_vs_angle()
display(arc["true class wins up to [deg]"].to_frame())
ax = arc["loss"].plot(marker="o", ylabel="ArcFace loss at class 0", title="Toy head, s = 40")
arc["loss"].round(3)

# %% [markdown]
# ### Exercise 2 (change one thing and predict): which label gets the margin?
#
# The authors draw one λ ~ Beta(0.2, 0.2) per batch and put the margin on y_a, whose weight in
# the mixture is λ (section 7). Predict: in what share of the batches is y_a the *minor* part of
# the input (λ < 0.5)? Under a tenth of it (λ < 0.1)? Then change α to 1 (λ uniform) and
# predict again. The solution draws λ with `asdlib.nets.loss.mixup` itself, 20,000 times.

# %% tags=["ex:03.2"]
for alpha in (0.2, 1.0):
    display(ex03_mixup_lambda(alpha)["shares"].round(3).to_frame())

# %% [markdown]
# ### Exercise 3 (change one thing and predict): the embedding size h
#
# Table 3 compares h = 64, 128 and 256. Which layers have a size that depends on h (section 4's
# parts, and MobileFaceNet's last layers)? Predict how many parameters the network gains per unit
# of h, and the totals for h = 64 and 256.

# %% tags=["ex:03.3"]
ex03_params_vs_embedding()

# %% [markdown]
# ### Exercise 4 (change one thing and predict): the clip length
#
# MobileFaceNet ends with a "global" depthwise convolution whose kernel covers what is left of
# the 128 x frames map after four stride-2 steps (each halves, rounding up). Predict the frames,
# the kernel and the parameter count for clips of 1 s (smoke), 5 s, 10 s (paper) and 11 s (a
# whole ToyCar clip).

# %% tags=["ex:03.4"]
ex03_global_kernel()

# %% [markdown]
# ### Coding task (write it before the library does): the margin logit
#
# Write `margin_logit(cos, m)`: for a tensor of cosines cos θ, the authors' ArcFace logit at the
# true class, cos(θ + m) where cos θ > cos(π − m), and cos θ − m sin(m) elsewhere (section 6).
# `check_code` runs it against `ArcFace` on fresh random cosines and margins.

# %% tags=["task:03.C"]
import math

from asdlib.teaching.checks import check_code, retrain_task


def margin_logit(cos, m):
    """cos(theta + m) at the true class, with the authors' fallback where theta + m would pass pi."""
    # -- solution --
    sin = torch.sqrt((1.0 - cos * cos).clamp(0.0, 1.0))
    phi = cos * math.cos(m) - sin * math.sin(m)
    return torch.where(cos > math.cos(math.pi - m), phi, cos - math.sin(math.pi - m) * m)


check_code("03.C", margin_logit)

# %% [markdown]
# ### Change one thing and retrain: no margin
#
# Train the proposed model again with m = 0 (plain softmax on cosines, section 6), at this
# profile's budget (on the smoke profile about as long as section 9's training), and compare its
# global test AUC at the last epoch with the proposed run's, paired over the same test clips.
# Before running: will it be higher, lower or about the same? Write your prediction first; the
# cell trains only once it has one.

# %% tags=["retrain:03.R"]
prediction = "lower"
outcome = retrain_task("03.R", prediction, profile, insist=insist)

# %% [markdown]
# ## Check your understanding
#
# 1. Why does ArcFace normalise both the embedding and the class weights, and what is the scale
#    s for?
# 2. In Noisy-ArcMix, which label gets the margin, and how does ArcMix differ?
# 3. Why does training read a clip store rather than the WAV files, and what in the log tells
#    you that more loader workers would help?
# 4. In the first epochs the validation loss can rise while the training loss falls. Give a
#    reason that is not overfitting.
# 5. Why does a resumed run continue exactly as an uninterrupted one would?

# %% [markdown] tags=["answers"]
# ## Answers
#
# **Exercise 1.** Class 0 wins while cos(θ + m) > cos(120° − θ), that is θ < (120° − m) / 2:
# 60° for m = 0, about 50° for m = 0.35 rad (20.05°) and about 40° for m = 0.7 rad (40.1°). At
# θ = 60° without a margin classes 0 and 1 tie, and the loss is ln 2 ≈ 0.693. Without a margin
# the loss is practically 0 up to 50°; with m = 0.7 it is already 0.73 at 40° and 13.8 at 50°:
# the margin keeps pulling embeddings that are classified correctly until they lie within about
# 30° of their class direction.
#
# **Exercise 2.** Beta(0.2, 0.2) is symmetric about 0.5, so **λ < 0.5 in half of the batches**
# (0.503 of the 20,000 draws): there the margin goes to the class that is the *minor* part of the
# input. λ < 0.1 in about a third (0.335), where y_a is under a tenth of the signal. `mixup` never
# swaps the pair to make λ ≥ 0.5, so y_a is "the label of the clip in its batch position", not
# the dominant one. The training accuracy of the log is measured against y_a, so in those batches
# it is scored against the minor component, which keeps it low. With α = 1, λ is uniform: still
# half below 0.5, but only 10 % below 0.1, and 40 % of the batches are real blends.
#
# **Exercise 3.** `linear1` (1x1 convolution 512 → h without bias, 512 h, and its BatchNorm,
# 2 h), `fc_out` (41 h; its 41 biases do not depend on h) and the ArcFace weight (41 h): **596
# parameters per unit of h**, so 846,232 for h = 64 (−38,144) and 960,664 for h = 256 (+76,288).
#
# **Exercise 4.** Frames = 1 + samples // 512: 32, 157, 313 and 344. Four halvings, rounding up,
# give a time kernel of ⌈frames / 16⌉ = 2, 10, 20 and 22, and always 128 / 16 = 8 in frequency.
# `linear7` holds 512 x 8 x k_t weights (plus 1,024 for its BatchNorm), so the totals are
# 810,648, 843,416, 884,376 and 892,568: the smoke model (1 s) has 73,728 parameters fewer. A
# network built for one length cannot classify another: on a 10-s clip the 1-s network's
# embedding has 128 x 19 numbers instead of 128, and the ArcFace head cannot take it (its
# features and attention maps work at any length, notebook 06).
#
# **Check your understanding.**
#
# 1. With both normalised, the logit is the cosine of an angle, so the loss depends on angles
#    only, not on the embedding's length. Cosines lie in [−1, 1]; the scale s = 40 spreads the
#    logits so that a softmax probability can get close to 1.
# 2. Noisy-ArcMix runs the head once, with the margin at y_a, and weights the cross-entropies at
#    y_a and y_b by λ and 1 − λ on those same logits. ArcMix runs the head twice, with the margin
#    at each label in turn.
# 3. Decoding 36,283 WAV files every epoch would cost more than the network on a GPU; the store
#    holds them decoded once, as 16-bit samples. A large `data_wait_fraction` (the share of each
#    epoch spent waiting for a batch) says that the GPU waits for data.
# 4. The validation loss is measured in evaluation mode, with BatchNorm's running averages, which
#    lag behind in the first epochs while the weights and class directions move fast; mixup also
#    makes the training batches unlike the unmixed validation clips.
# 5. `last.pt` saves the weights, optimiser, scheduler, epoch and random states after every epoch,
#    and each epoch's clip order and λs come from a generator seeded by (seed, epoch).
