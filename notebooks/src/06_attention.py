# %% [markdown]
# # 06 · Attention: the maps of Fig. 3, their statistics in Fig. 4, and the 0.5 floor
#
# Companion to Neri & Carli (2024), IEEE Sensors Letters, Sections II-B and III-A, Figs. 3 and 4.
#
# **What you will learn**
#
# - what the attention module f_ATT computes: a map H with one weight in [0, 1] per
#   time-frequency point of each feature channel, multiplied into the features (X̃ = H ⊗ X);
# - how to regenerate Fig. 3 (the maps of one clip) from a trained model, and why a model trained
#   on 1-s clips can map a 10-s clip;
# - how to regenerate Fig. 4 (mean and standard deviation of the log-Mel map over the test set,
#   per Mel bin, frequency in Hz) and check the paper's reading of it band by band;
# - why, in the authors' network, **no attention value can be below 0.5** (BatchNorm -> ReLU
#   before the sigmoid), so that "0.5 with zero variance" marks where the ReLU clips, not what
#   the model learned to ignore;
# - what a fixed module (no ReLU) does instead: its maps go below 0.5.
#
# **Prerequisites**: notebook 03_training (the trained `proposed` run), notebook 04_evaluation
# (checkpoint selection) and notebook 05_ablation (the `fixed_attention` run). Runs that are
# missing are trained here.
#
# **Run time**: smoke profile {{run-time:06_attention}} on 2 CPU cores when notebooks 03 and 05
# have run (measured on {{run-time:measured on}}; longer for each of its two runs it must train
# first). Paper profile: a few minutes on one
# GPU (attention maps of the 10,868 test clips, twice).
#
# **asdlib modules used**: `study.runs`, `study.attention`, `engine.train`, `nets.model`, `nets.features`, `data.audio`, `engine.evaluate`,
# `data.store`, `data.dataset`, `study.paper_numbers`, `engine.authors_checkpoint`, `teaching.plots`, `outputs`, `paths`.
#
# ## Contents
# 1. Parameters and imports
# 2. The trained model and the figure clip
# 3. Fig. 3: the attention maps of one clip
# 4. Why no value is below 0.5
# 5. Fig. 4: the log-Mel attention over the test set
# 6. The paper's bands, checked
# 7. The fixed attention module
# 8. The authors' released checkpoint (optional)
# 9. Summary

# %% [markdown]
# ## 1. Parameters and imports

# %% tags=["parameters"]
profile = "smoke"           # "smoke": synthetic data, CPU; "paper": full DCASE 2020 Task 2, GPU
insist = False              # train the paper profile even without a GPU (run_all.sh --insist)
authors_checkpoint = False  # also map with the authors' released weights (section 8)

# %%
import pandas as pd
import torch
from IPython.display import Markdown, display

from asdlib.data.audio import (load_clip)
from asdlib.data.dataset import (scan_dataset)
from asdlib.data.store import (build_store)
from asdlib.data.synthetic import (generate_synthetic_dataset)
from asdlib.engine.authors_checkpoint import (fetch_authors_checkpoint, load_authors_checkpoint)
from asdlib.engine.checkpoints import (load_model)
from asdlib.engine.cpu import (configure_threads)
from asdlib.engine.evaluate import (evaluation_clips)
from asdlib.engine.train import (resolve_device)
from asdlib.nets.features import (mel_bin_centres_hz)
from asdlib.outputs import (profile_banner, save_fig, save_table)
from asdlib.paths import (SAMPLE_DIR, data_dir, results_dir)
from asdlib.study.attention import (attention_bands, attention_statistics, fig4_band_check)
from asdlib.study.paper_numbers import (PAPER_FIG4_CLAIMS, fig4_bands)
from asdlib.study.runs import (FIGURE_CLIP, ensure_runs, run_config, selected_checkpoint)
from asdlib.teaching.plots import (plot_attention_maps, plot_attention_stats)

configure_threads()  # torch threads for the cores this process may use (notebook 08)
out = results_dir(profile)
banner = profile_banner(profile)
device = resolve_device("auto")
print(banner, f"| device: {device}")

# %% [markdown]
# ## 2. The trained model and the figure clip
#
# We use the `proposed` run of this profile at the checkpoint the `paper` protocol chose (the
# best global test AUC, as the authors did; notebook 04). `ensure_runs` trains and evaluates the run
# first if needed (and, in the smoke profile, generates the synthetic data if notebook 01 has not).

# %%
config = run_config(profile, "proposed")
if not config.data.root_path().is_dir():
    if profile != "smoke":
        raise FileNotFoundError(f"no data at {config.data.root_path()}: run notebook 01_data first")
    generate_synthetic_dataset(config.data.root_path())
ensure_runs(profile, ["proposed"], insist=insist)
checkpoint = selected_checkpoint(profile, "proposed", "paper")
net = load_model(checkpoint).to(device)
print(f"{checkpoint.name}: trained on {net.config.clip_seconds:g}-s clips")

# %% [markdown]
# Figs. 2 and 3 of the paper show one anomalous clip. We use a real anomalous fan clip bundled
# with the project (`FIGURE_CLIP`), all 10 s of it, whatever the clip length the model was
# trained on: the features and the attention module are convolutions, which slide over any
# number of frames (only MobileFaceNet's last layer is tied to the trained length, and the maps
# do not need it).

# %%
wave = torch.from_numpy(load_clip(FIGURE_CLIP, 160_000))[None].to(device)   # (1, 160000): 10 s
with torch.no_grad():
    maps = net.maps(wave)
print(FIGURE_CLIP.name, {k: tuple(v.shape) for k, v in maps.items()})

# %% [markdown]
# `features` is X = [X_Mel, X_Wave] (notebook 02), `attention` is H = f_ATT(X), and `weighted`
# is H ⊗ X, what MobileFaceNet reads: 2 channels x 128 bins x 313 frames each. Written out, the
# attention step of the forward pass is three lines: the features, the attention module on them,
# and an elementwise product (same shape, value by value, no sum):

# %%
with torch.no_grad():
    X = net.features(wave)                  # (1, 2, 128, 313): log-Mel and Wavegram
    H = net.attention(X)                    # (1, 2, 128, 313): one weight per value, in [0.5, 1)
    X_tilde = H * X                         # elementwise: X_tilde[c, f, t] = H[c, f, t] * X[c, f, t]
print(f"H * X equals maps['weighted']: {torch.equal(X_tilde, maps['weighted'])}")
c, f, t = 0, 100, 150                       # one log-Mel value: bin 100, frame 150
print(f"log-Mel bin {f}, frame {t}: X = {X[0, c, f, t]:.2f} dB, H = {H[0, c, f, t]:.3f}, "
      f"H * X = {X_tilde[0, c, f, t]:.2f}")

# %% [markdown]
# MobileFaceNet never sees X itself, only X̃ = H ⊗ X. What does a weight below 1 do? It depends on
# the sign of the value it multiplies. The log-Mel channel is in decibels; here is how much of it
# is negative on this clip, and what the product does to it:

# %%
logmel, weighted = X[0, 0], X_tilde[0, 0]
negative = logmel < 0
print(f"log-Mel values below 0 dB: {negative.float().mean():.1%} (range {logmel.min():.1f} to "
      f"{logmel.max():.1f} dB)")
print(f"of those, moved towards 0 dB (louder) by H: {(weighted[negative] >= logmel[negative]).float().mean():.1%}; "
      f"Wavegram values below 0: {(X[0, 1] < 0).float().mean():.1%}")

# %% [markdown]
# A weight H < 1 shrinks a value towards 0. On a negative dB value that is *louder*: a bin at
# −60 dB weighted by 0.5 becomes −30 dB. So on the log-Mel channel a low attention weight does not
# make a bin quieter; it pulls it towards 0 dB, and a weight near 1 leaves it as it is. On the
# Wavegram channel of the proposed model (separable layer ending in a ReLU, so values >= 0) a
# weight below 1 does make a value smaller. Read H as "how far each value is pulled towards 0",
# not as "emphasis" and "suppression" of loudness.
#
# ## 3. Fig. 3: the attention maps of one clip
#
# The two channels of H, on a fixed [0, 1] colour scale. Each panel's title gives the smallest
# value and the share of values exactly equal to 0.5.

# %%
fig = plot_attention_maps(maps["attention"][0],
                          title=f"Fig. 3: attention maps H of {FIGURE_CLIP.name} ({banner})")
saved = save_fig(fig, "fig3_attention_maps", out)

# %% [markdown]
# ## 4. Why no value is below 0.5
#
# > **Background.** The last layer of f_ATT is a 1x1 separable convolution to 2 channels, then a
# > sigmoid. The authors build separable layers with the `separableconv-torch` package, whose
# > defaults make each separable layer *depthwise conv -> BatchNorm -> ReLU -> pointwise conv ->
# > BatchNorm -> ReLU*. So what enters the sigmoid has just passed a ReLU: it is >= 0, and
# > sigmoid(z) >= sigmoid(0) = 0.5. Wherever the ReLU clips (its input was negative), the
# > attention is *exactly* 0.5. The paper's f_ATT maps into R+, with "a sigmoid activation for
# > mapping each pixel into a probability", but in the authors' code half of that range is
# > unreachable: the module can scale a value at most to one half, never further towards 0
# > (on the log-Mel channel, a bin moves at most halfway to 0 dB; section 2).
#
# The module's layers (indices as in the authors' `heatmap` Sequential):

# %%
print(net.attention)

# %% [markdown]
# We run the module up to, but not including, the sigmoid (layers 0-6) and look at what the
# sigmoid receives:

# %%
with torch.no_grad():
    pre = net.attention[:7](maps["features"])      # input of the sigmoid, layer 7
H = maps["attention"]
pd.DataFrame({"min input of sigmoid": pre.amin(dim=(0, 2, 3)).cpu(),
              "share of inputs exactly 0": (pre == 0).float().mean(dim=(0, 2, 3)).cpu(),
              "min of H": H.amin(dim=(0, 2, 3)).cpu(),
              "share of H exactly 0.5": (H == 0.5).float().mean(dim=(0, 2, 3)).cpu()},
             index=["log-Mel channel", "Wavegram channel"]).round(4)

# %% [markdown]
# The smallest input of the sigmoid is 0, never negative; every 0 becomes an attention of exactly
# 0.5, and these are the only 0.5 values. This holds for any weights, trained or not: it is a
# property of the architecture. Section 7 shows the same module without that last ReLU.
#
# ## 5. Fig. 4: the log-Mel attention over the test set
#
# Fig. 4 of the paper shows the mean and the standard deviation of the attention map of the
# log-Mel channel over the test set. `attention_statistics` runs every test clip of this profile
# through the model and accumulates, per Mel bin and frame, the sum and the sum of squares of
# the log-Mel channel of H, and how often it is exactly 0.5. In the smoke profile the test set is
# the 288 synthetic 1-s clips; the clips are read from the store the evaluation built.

# %%
clips = evaluation_clips(config.data.root_path(), config.data.label_map, labelled_only=True)
store = build_store(clips, net.config.num_samples, name=f"test-{config.data.root_path().name}",
                    progress=False)
stats = attention_statistics(net, store.table, store=store, channel=0, batch_size=32)
mel_hz = mel_bin_centres_hz().numpy()
print(f"{stats['n_clips']} clips; smallest value {stats['min']:.4f}; "
      f"share of values exactly 0.5: {stats['share_at_half'].mean():.1%}")

# %% [markdown]
# The figure: mean (with a band of ± one standard deviation) and standard deviation per Mel bin,
# on a Mel-spaced axis labelled in Hz. The shaded bands are the paper's: [0, 71] Hz and
# [1.7, 8] kHz "relevant", [0.071, 1.7] kHz "0.5 with zero variance" (quoted, `fig4_bands`).
# Where the light ± std band dips below 0.5, that is the symmetric band drawn around the mean
# of a one-sided distribution: no single value is below 0.5 (the smallest is printed above).

# %%
fig = plot_attention_stats(stats["mean"], stats["std"], mel_hz=mel_hz, bands=fig4_bands(),
                           title=f"Fig. 4: log-Mel attention over the {stats['n_clips']} test clips "
                                 f"of the {profile} profile ({banner})")
saved = save_fig(fig, "fig4_attention_stats", out)

# %% [markdown]
# The same statistics as maps (Mel bin x frame), averaged over clips only:

# %%
fig = plot_attention_stats(stats["mean_map"], stats["std_map"], mel_hz=mel_hz, bands=fig4_bands(),
                           title=f"log-Mel attention, mean and std over test clips, per frame ({banner})")
saved = save_fig(fig, "fig4_attention_stats_maps", out)

# %% [markdown]
# The synthetic sounds are not the real machines. The project also bundles 31 real DCASE 2020
# clips (10 s, every machine type); the same statistics over them, with the full 10 s of each:

# %%
real = scan_dataset(SAMPLE_DIR)
stats_real = attention_statistics(net, real, channel=0, num_samples=160_000)
fig = plot_attention_stats(stats_real["mean"], stats_real["std"], mel_hz=mel_hz, bands=fig4_bands(),
                           title=f"log-Mel attention over the {stats_real['n_clips']} bundled real "
                                 f"clips ({profile} model; {banner})")
saved = save_fig(fig, "fig4_attention_stats_real_clips", out)
trained_on = (f"{config.data.root} data, {net.config.clip_seconds:g}-s clips, "
              f"{config.train.epochs} epochs")
display(Markdown(
    f"This model was trained on {trained_on}. "
    + ("Its attention over real clips therefore tells nothing about real machines: the figure shows "
       "the pipeline works, not what the paper's model attends to; only a model trained on the DCASE "
       "data (the paper profile) can test the paper's reading."
       if config.data.root != "dcase2020" else
       "It was trained on the DCASE 2020 clips, so these statistics can be set against the paper's.")))

# %% [markdown]
# ## 6. The paper's bands, checked
#
# The paper reads Fig. 4 as follows (quoted, `PAPER_FIG4_CLAIMS`):

# %%
print(PAPER_FIG4_CLAIMS["source"], "\n\n\"" + PAPER_FIG4_CLAIMS["quote"] + "\"")

# %% [markdown]
# We locate, from our statistics alone, the runs of consecutive Mel bins whose mean is exactly
# 0.5 with zero standard deviation (every clip, every frame at the floor) and the runs above it:

# %%
located = attention_bands(stats["mean"], stats["std"], mel_hz)
located.round(3)

# %% [markdown]
# And per band of the paper: how many of its bins are flat at 0.5 in our statistics, their mean
# attention and standard deviation, and the share of values exactly 0.5. A bin belongs to a band
# when its centre frequency lies inside it. Both networks' numbers (test set, real clips) are
# ours; the band limits and claims are the paper's.

# %%
check = pd.concat({f"{profile} test set": fig4_band_check(stats["mean"], stats["std"], mel_hz,
                                                         stats["share_at_half"]),
                   "bundled real clips": fig4_band_check(stats_real["mean"], stats_real["std"], mel_hz,
                                                         stats_real["share_at_half"])},
                  names=["clips"]).reset_index(level=0).reset_index(drop=True)
saved = save_table(check, "fig4_bands", out,
                   caption="Fig. 4 bands: the paper's claims (Neri & Carli 2024, Sec. III-A, quoted) "
                           f"beside this project's attention statistics. {banner}")
saved = save_table(located, "fig4_bands_located", out,
                   caption="Runs of Mel bins flat at 0.5 (zero std) or above, located in our "
                           f"statistics. {banner}")
check.round(3)

# %% [markdown]
# How to read this. Where a bin's attention is exactly 0.5 with zero variance, the ReLU before the
# sigmoid clipped *every* value of that bin in every clip: the module passes that band on at
# half weight, the lowest weight it can give. The paper interprets such a band as "less
# important for the ID classification"; it is rather the region where the last layer's
# BatchNorm output is negative for all inputs, and the weight there is the architectural floor,
# not a learned low value. Where the band lies depends on the trained weights: the authors' model
# puts it at 0.071-1.7 kHz; a smoke model, trained a few epochs on synthetic sounds, may put it
# elsewhere or nowhere.
#
# ## 7. The fixed attention module
#
# The honest variant `fixed_attention` (notebook 05) drops the ReLU at the end of the last
# separable layer, so the sigmoid sees negative values too and H ranges over (0, 1). We load its
# checkpoint chosen the same way (training and evaluating it first if notebook 05 has not):

# %%
ensure_runs(profile, ["fixed_attention"], insist=insist)
net_fixed = load_model(selected_checkpoint(profile, "fixed_attention", "paper")).to(device)
with torch.no_grad():
    maps_fixed = net_fixed.maps(wave)
fig = plot_attention_maps(maps_fixed["attention"][0],
                          title=f"Fixed attention (no ReLU before the sigmoid): {FIGURE_CLIP.name} "
                                f"({banner})")
saved = save_fig(fig, "fig3_attention_maps_fixed_attention", out)

# %% [markdown]
# Its statistics over the same test clips, beside the faithful module's:

# %%
stats_fixed = attention_statistics(net_fixed, store.table, store=store, channel=0, batch_size=32)
fig = plot_attention_stats(stats_fixed["mean"], stats_fixed["std"], mel_hz=mel_hz, bands=fig4_bands(),
                           title=f"Fixed attention: log-Mel attention over the {profile} test set ({banner})")
saved = save_fig(fig, "fig4_attention_stats_fixed_attention", out)

# %%
pd.DataFrame({name: {"smallest value": s["min"], "share of values exactly 0.5": s["share_at_half"].mean(),
                     "share of bins below 0.5 on average": float((s["mean"] < 0.5).mean()),
                     "mean attention": float(s["mean"].mean())}
              for name, s in (("faithful (authors')", stats), ("fixed (no ReLU)", stats_fixed))}).round(4)

# %% [markdown]
# The fixed module's values go below 0.5 (it can now pull a value further towards 0: on the
# log-Mel channel, closer to 0 dB, which is louder), and exactly-0.5 values
# no longer pile up: a value of exactly 0.5 is no longer special. Notebook 05's `honest_variants`
# table shows whether this changes the detection scores.
#
# ## 8. The authors' released checkpoint (optional)
#
# With `authors_checkpoint = True` the authors' own weights (notebook 04 downloads them) draw
# Fig. 3 for the same clip and Fig. 4 over this profile's test set in the paper profile (the
# 10-s DCASE clips their network was trained on), or over the bundled real clips in the smoke
# profile. Without a network the notebook says so and goes on.

# %%
net_authors = None
if not authors_checkpoint:
    print("authors_checkpoint = False: the authors' weights are not used in this run.")
else:
    try:
        net_authors = load_authors_checkpoint(fetch_authors_checkpoint(data_dir() / "authors_checkpoint"))
        net_authors = net_authors.to(device)
    except Exception as e:  # offline, or the file changed: say so and go on
        print(f"Could not get the authors' checkpoint ({type(e).__name__}: {e}). Section skipped.")

# %%
if net_authors is not None:
    with torch.no_grad():
        maps_authors = net_authors.maps(wave)
    fig = plot_attention_maps(maps_authors["attention"][0],
                              title=f"Authors' checkpoint: attention maps of {FIGURE_CLIP.name}")
    saved = save_fig(fig, "fig3_attention_maps_authors_checkpoint", out)
    if profile == "paper":
        stats_authors = attention_statistics(net_authors, store.table, store=store, batch_size=32)
    else:
        stats_authors = attention_statistics(net_authors, real, num_samples=160_000)
    fig = plot_attention_stats(stats_authors["mean"], stats_authors["std"], mel_hz=mel_hz,
                               bands=fig4_bands(), title="Authors' checkpoint: log-Mel attention statistics")
    saved = save_fig(fig, "fig4_attention_stats_authors_checkpoint", out)
    display(fig4_band_check(stats_authors["mean"], stats_authors["std"], mel_hz,
                            stats_authors["share_at_half"]).round(3))

# %% [markdown]
# ## 9. Summary
#
# - Fig. 3 is regenerated from our trained model on a real 10-s clip; the attention module is
#   fully convolutional, so it maps any clip length.
# - In the authors' network every attention value is at least 0.5: the last separable layer ends
#   in BatchNorm -> ReLU before the sigmoid, and each clipped value becomes exactly 0.5.
# - Fig. 4 is regenerated per Mel bin with a frequency axis in Hz, on the profile's test set and
#   on the bundled real clips. The band the paper calls "0.5 with zero variance" is where that
#   ReLU clips every value; we locate such bands from the data and compare them with the
#   paper's.
# - H multiplies the features value by value, so a weight below 1 pulls a value towards 0: on the
#   log-Mel (negative dB) that is louder, on the rectified Wavegram smaller. Without the ReLU
#   (the fixed variant) the maps go below 0.5 and pull further.
#
# Saved under `results/<profile>/`: `figures/fig3_attention_maps`, `figures/fig4_attention_stats`
# (and `_maps`, `_real_clips`, `fixed_attention` versions), `tables/fig4_bands`,
# `tables/fig4_bands_located`.
#
# Next: notebook 07 compares the proposed model with its peers fairly (same data, seeds, protocols),
# and notebook 08 takes the trained model to a machine (inference form, ONNX, thresholds, the
# monitor). `run_all.sh` ends by writing `results/<profile>/REPORT.md`, every number of Tables 1-4
# beside the paper's, with the differences.

# %% [markdown]
# ## Exercises
#
# Try each task first; the cell under it calls the solution in `asdlib.teaching.exercises`, which computes
# the answer with the library's functions (`??ex06_share_at_half` shows the code). Nothing here
# trains: the cells build untrained networks or use this notebook's trained `net`, on the figure
# clip, in about a second each. The answers are at the end.

# %% tags=["solutions-import"]
from asdlib.teaching.exercises import (ex06_fig4_band_bins, ex06_share_at_half, ex06_weighted_logmel)

# %% [markdown]
# ### Exercise 1 (compute): the 0.5 floor at initialisation
#
# Build the proposed network untrained, in training mode (BatchNorm normalises with the
# statistics of the batch, as in notebook 02), once with `attention_activation="faithful"` (the
# authors' ReLU before the sigmoid) and once with `"fixed"`. Before running: what share of the
# attention values of the figure clip do you expect to be exactly 0.5 in each? Then compare
# with this notebook's trained `net` (evaluation mode).

# %% tags=["ex:06.1"]
ex06_share_at_half(net).round(4)

# %% [markdown]
# ### Exercise 2 (compute): H ⊗ X in decibels
#
# Compute H ⊗ X yourself for the log-Mel channel of the figure clip with the trained `net`, and
# compare with `maps["weighted"]`. The log-Mel is in dB: which sign do its values have here? What
# does an attention weight of 0.5 do to a bin at −60 dB? Can the faithful module make any bin of
# this clip more negative?

# %% tags=["ex:06.2"]
ex06_weighted_logmel(net).to_frame("log-Mel channel, trained net")

# %% [markdown]
# ### Exercise 3 (compute): the bands of Fig. 4 in Mel bins
#
# How many of the 128 Mel bins have their centre frequency in each band of the paper's reading of
# Fig. 4: [0, 71] Hz, [0.071, 1.7] kHz and [1.7, 8] kHz (`mel_bin_centres_hz`)? Compare with the
# share of the 0-8 kHz axis each band covers.

# %% tags=["ex:06.3"]
ex06_fig4_band_bins().round(1)

# %% [markdown]
# ## Check your understanding
#
# 1. Why can a model trained on 1-s clips draw the attention maps of a 10-s clip, but not
#    classify it?
# 2. Why is every attention value at least 0.5 in the authors' network, whatever the weights?
# 3. What does "0.5 with zero variance" in a band of Fig. 4 mean mechanically?
# 4. What does the `fixed` variant change, and what does it cost in parameters?

# %% [markdown] tags=["answers"]
# ## Answers
#
# **Exercise 1.** Faithful: about half of the values are exactly 0.5 (0.489 on this clip at the
# seed used), and none is below. BatchNorm on batch statistics centres the last layer's output
# of each channel at zero, so about half of it is negative; the ReLU turns each of those into a
# sigmoid input of exactly 0, an attention of exactly 0.5. Fixed: no value is exactly 0.5, and
# about half are below it. The trained network's share depends on where its last BatchNorm's
# output is negative; Fig. 4's statistics show it bin by bin.
#
# **Exercise 2.** The two are equal: `maps["weighted"]` is exactly H ⊗ X. Every log-Mel value of
# this quiet clip is below 0 dB, and H lies in [0.5, 1), so the product moves every value
# *towards* 0 dB: a bin at −60 dB weighted by 0.5 becomes −30 dB. No bin becomes more negative
# (a sigmoid that saturates at 1.0 in float32 leaves a value unchanged). In decibels, a "low"
# attention weight makes a quiet bin look louder, not quieter; the fixed module, with H in
# (0, 1), does the same. Reading H as "emphasis" and "suppression" of the log-Mel must keep in
# mind that it scales a logarithmic, mostly negative feature.
#
# **Exercise 3.** 4 bins lie in [0, 71] Hz, 59 in [0.071, 1.7] kHz and 65 in [1.7, 8] kHz. The
# band the paper calls "0.5 with zero variance" is 20 % of the frequency axis in Hz but 46 % of
# the Mel bins, because the Mel scale gives the low frequencies more bins; on Fig. 4's Mel axis
# it is almost half the plot.
#
# **Check your understanding.**
#
# 1. The features and the attention module are convolutions, which slide over any number of
#    frames. MobileFaceNet's global depthwise kernel is fixed by the training length, so the
#    embedding of a longer clip has the wrong size (notebook 03, exercise 4).
# 2. The last separable layer ends in BatchNorm → ReLU, so the sigmoid receives values ≥ 0, and
#    sigmoid(z) ≥ sigmoid(0) = 0.5.
# 3. In that band the ReLU clipped every value, for every clip and frame: the module gives the
#    band its lowest possible weight, the architectural floor, rather than a learned low value.
# 4. It removes that last ReLU, so the sigmoid also sees negative inputs and H ranges over
#    (0, 1). A ReLU has no parameters: the count stays 884,376.
