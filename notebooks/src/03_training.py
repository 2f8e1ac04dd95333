# %% [markdown]
# # 03 · Training: mixup, ArcFace and the Noisy-ArcMix loss
#
# Companion to Neri & Carli (2024), IEEE Sensors Letters, Sections II-C, II-D and III.
#
# **What you will learn**
#
# - why a detector that never sees an anomaly is trained to *classify machine IDs*;
# - mixup on raw waveforms, with one λ ~ Beta(0.2, 0.2) per batch, and what such a λ looks like;
# - the ArcFace head: cosine logits, a scale *s* = 40 and an additive angular margin *m* = 0.7,
#   on a toy example you can check by hand;
# - the Noisy-ArcMix loss of the authors' code: the margin at the *unmixed* label only;
# - the optimiser (AdamW), the cosine learning-rate schedule, the 5 % validation hold-out and the
#   checkpoints;
# - how many parameters each part of the network has (884,376 in all, the paper's "884 k");
# - how to train the proposed model with `asdlib`, read its log, and plot its learning curves.
#
# **Prerequisites**: notebook 01_data (it creates the data this notebook trains on) and notebook
# 02_features (the features the network reads).
#
# **Run time**: smoke profile 1 to 2 minutes on 2 idle CPU cores, almost all of it training (a
# 3 epochs of 29 steps (batch 16) on 456 synthetic 1-s clips, about 7 s per epoch when the cores are
# free, up to a minute when other jobs share them). Rerunning after the run finished takes
# seconds. Paper profile: one
# 300-epoch run on 34,469 clips of 10 s, some hours on one GPU (the preflight of `run_all.sh`
# prints an estimate measured on your device). A finished run is reused, and an interrupted one
# resumes from its last epoch.
#
# **asdlib modules used**: `reproduction`, `config`, `model`, `loss`, `train`, `store` (through
# the trainer), `audio`, `features`, `plots`, `outputs`, `paths`.
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
from IPython.display import Audio, display

from asdlib.audio import (load_clip)
from asdlib.features import (LogMel)
from asdlib.loss import (ArcFace, mixup, noisy_arcmix_loss)
from asdlib.model import (build_model, parameter_counts)
from asdlib.outputs import (profile_banner, save_fig)
from asdlib.paths import (SAMPLE_DIR, results_dir)
from asdlib.plots import (plot_logmels, plot_training_curves)
from asdlib.reproduction import (ensure_trained, params_at_paper_length, run_config, run_dir)
from asdlib.train import (list_checkpoints, read_log, split_validation, training_table)

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
# the file leaves out takes the paper's value (`asdlib.config`). Side by side, the two profiles:

# %%
configs = {p: run_config(p, "proposed") for p in ("smoke", "paper")}
rows = {p: {f"{section}.{k}": v for section in ("model", "data", "train")
            for k, v in c.to_dict()[section].items()} for p, c in configs.items()}
settings = pd.DataFrame(rows).astype(str)
settings[settings["smoke"] != settings["paper"]]

# %% [markdown]
# Only these settings differ: the smoke run uses 1-s clips of synthetic sounds, a few epochs, a
# batch of 32 and a 10x larger learning rate (it has very few steps), and decodes data in the main
# process. Everything else (the architecture, ArcFace's s = 40 and m = 0.7, mixup's α = 0.2,
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
# ## 5. Mixup on waveforms
#
# Mixup (Zhang et al., 2018) trains on blends of two examples: x = λ xᶦ + (1 − λ) xʲ, with
# the labels blended the same way. The authors mix **raw waveforms**, before any feature is
# computed, with **one λ per batch** drawn from Beta(α, α), α = 0.2, and the batch itself in a
# random order as the partners.
#
# Beta(0.2, 0.2) is U-shaped: most draws are close to 0 or 1 (a clip with a faint second machine
# underneath), and a real half-and-half blend is rare. 100,000 draws:

# %%
lams = np.random.default_rng(0).beta(0.2, 0.2, size=100_000)
bins = pd.cut(lams, [0, 0.1, 0.3, 0.7, 0.9, 1.0], include_lowest=True)
pd.Series(bins).value_counts(normalize=True, sort=False).rename("share of draws").to_frame()

# %% [markdown]
# Two thirds of the batches are nearly unmixed; about one in seven is a genuine blend.
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
                   title=f"Mixup on waveforms ({profile_banner(profile)})")
saved = save_fig(fig, "mixup_example", out)

# %% [markdown]
# The mixture looks mostly like the fan: the pump enters with amplitude 0.3 against the fan's
# 0.7, about 7 dB lower (10 log10(0.3²/0.7²) ≈ −7.4 dB), and its line near 2 kHz is only faintly
# visible. The mixture's label is 70 % "fan 06" and 30 % "pump 04".
#
# In training, `asdlib.loss.mixup` does this for a whole batch: one λ, and a random permutation
# of the batch as the partners. With a batch of four clips of classes 0 to 3:

# %%
batch, target = torch.randn(4, num_samples), torch.tensor([0, 1, 2, 3])
mixed_batch, y_a, y_b, lam_batch = mixup(batch, target, alpha=0.2, rng=np.random.default_rng(1),
                                         generator=torch.Generator().manual_seed(1))
print(f"lambda = {lam_batch:.3f}; unmixed labels y_a = {y_a.tolist()}, partners y_b = {y_b.tolist()}")

# %% [markdown]
# A clip whose partner is itself (here where y_a equals y_b) is simply not mixed.

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

# %% [markdown]
# ## 7. The Noisy-ArcMix loss
#
# With mixup, a clip has two labels, y_a (the unmixed one, weight λ) and y_b (the partner,
# weight 1 − λ). The paper's Eq. (2) writes the loss as λ L_AF(y_a) + (1 − λ) L_AF(y_b). In the
# authors' code, which follows the **Noisy-ArcMix** form of Choi & Choi (ICASSP 2024), the
# ArcFace head runs **once**, with the margin at the unmixed label y_a; both cross-entropies are
# taken on these same logits. ("ArcMix" would run the head twice, with the margin at each label.)
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
# one-hot vectors: the margin always goes to one whole class. `asdlib.train` computes exactly
# `lam * CE(logits, y_a) + (1 - lam) * CE(logits, y_b)` on the margin-at-y_a logits.

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
# Now the training itself. Each epoch prints its training loss and accuracy (on mixed batches,
# so the accuracy is of the unmixed label y_a), validation loss and accuracy, and seconds.
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
# stays well above zero even for a good model, and the training accuracy is that of the unmixed
# label on blended inputs: both are noisy, especially with the smoke profile's 29 steps per epoch.
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

# %% [markdown]
# In the smoke profile the short run is a test that the whole pipeline works, and its numbers are
# **not** comparable to anything in the paper. A few smoke epochs always lower the training loss;
# the validation accuracy on this synthetic data moved from one-class guessing to 100 % only at
# the fifth epoch in a 6-epoch run we measured, so a shorter run may end before that jump. To see
# it, train a longer copy into its own folder (section 11):
# `python -m asdlib train --config configs/smoke/proposed.toml --set train.epochs=6 --out
# results/smoke/runs/proposed_6_epochs`. In the paper profile the same curves cover 300 epochs;
# the learning-rate line shows the cosine schedule.
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
# - Mixup blends raw waveforms with one λ ~ Beta(0.2, 0.2) per batch (mostly nearly unmixed).
# - ArcFace scores classes by cosine, scales by *s* = 40 and adds an angular margin *m* = 0.7
#   at the true class, forcing tight clusters; Noisy-ArcMix puts the margin at the unmixed label
#   only and weights the two cross-entropies by λ and 1 − λ.
# - AdamW, cosine annealing from 10⁻⁴ to 10⁻⁵ over 300 epochs, a 5 % validation hold-out, and
#   checkpoints that make every run resumable. The network has 884,376 parameters.
# - Files written under `results/<profile>/`: `runs/proposed/` (configuration, log, checkpoints),
#   `figures/mixup_example.*` and `figures/training_curves.*`.
#
# **Next: notebook 04_evaluation** turns the trained network into an anomaly detector: the score
# of each test clip, AUC and pAUC per machine, the authors' pooled metric next to the official
# one, and the checkpoint chosen on the test set next to honest choices.
