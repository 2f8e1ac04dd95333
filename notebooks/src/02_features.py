# %% [markdown]
# # 02 · Features: the log-Mel spectrogram step by step, and the separable Wavegram
#
# Companion to Neri & Carli (2024), IEEE Sensors Letters. This notebook redraws the paper's
# **Fig. 1** (the pipeline) and **Fig. 2** (the acoustic features of an anomalous clip).
#
# **What you will learn**
#
# - how a log-Mel spectrogram is computed: framing with a 64 ms Hann window and 50 % overlap,
#   the STFT, the power spectrum, an HTK Mel filterbank and the decibel scale, each step by hand,
#   checked against the library's `LogMel` (the exact torchaudio transform the authors use);
# - what a Wavegram is: a *learned* filterbank; here one strided 1-D convolution on the raw
#   waveform (the front end of STgram-MFN's Tgram; PANNs' Wavegram, which gave the name, is deeper);
# - how the authors' separable Wavegram is built, and why every one of its 128 channels is a
#   function of **one signal per frame** (the output of a single learned filter, after BatchNorm
#   and ReLU), so that before its last ReLU the map has **rank at most 2**; we show it numerically
#   with singular values, and contrast it with the ordinary convolution of the ablation.
#
# **Prerequisites**: notebook 01_data (the data and the bundled real clips). Knowing what a
# Fourier transform is helps.
#
# **Run time**: {{run-time:02_features}} on 2 CPU cores (measured on {{run-time:measured on}}),
# the same in either profile (one 10-s clip, no training); a GPU changes nothing here. Both profiles use the same real clip.
#
# **asdlib modules used**: `study.runs` (the figure clip), `data.audio`, `nets.features`, `nets.layers` (through
# the model), `nets.model`, `teaching.plots`, `outputs`, `paths`.
#
# ## Contents
# 1. Parameters and imports
# 2. The pipeline at a glance (Fig. 1)
# 3. The clip
# 4. The log-Mel spectrogram, step by step
# 5. The Wavegram: a learned filterbank
# 6. The acoustic features X (Fig. 2)
# 7. Why the authors' Wavegram carries one signal per frame (rank at most 2)
# 8. Summary and what comes next

# %% [markdown]
# ## 1. Parameters and imports
#
# The parameters cell (tagged `parameters`) is overwritten by papermill when `run_all.sh`
# executes the notebook. `seed` fixes the random initial weights of the Wavegram, so that the
# figures are the same on every run.

# %% tags=["parameters"]
profile = "smoke"           # "smoke" or "paper": only the output folder and labels differ here
insist = False              # run_all.sh --insist; unused here
authors_checkpoint = False  # run_all.sh -p authors_checkpoint True; unused here
seed = 0                    # initial weights of the Wavegram (untrained in this notebook)

# %%
import numpy as np
import torch
import torchaudio

from asdlib.data.audio import (load_clip)
from asdlib.data.dcase import (SAMPLE_RATE)
from asdlib.engine.cpu import (configure_threads)
from asdlib.nets.features import (HOP, LogMel, N_FFT, N_MELS, Wavegram, mel_bin_centres_hz, num_frames)
from asdlib.nets.model import (build_model)
from asdlib.outputs import (profile_banner, save_fig)
from asdlib.paths import (results_dir)
from asdlib.study.runs import (FIGURE_CLIP)
from asdlib.teaching.plots import (plot_features, plot_logmels, plot_mel_filterbank, plot_pipeline,
                                   plot_wavegram_rank)

configure_threads()  # torch threads for the cores this process may use (notebook 08)
out = results_dir(profile)
print(profile_banner(profile))

# %% [markdown]
# ## 2. The pipeline at a glance (Fig. 1)
#
# The paper's detector reads a 10-s waveform and computes two time-frequency pictures of it:
# a fixed one (the log-Mel spectrogram) and a learned one (the Wavegram). They are stacked as two
# channels, weighted by an attention map, and classified by MobileFaceNet into one of 41 machine
# IDs with an ArcFace head. At test time, the anomaly score is how badly the clip matches its own
# machine ID. This notebook covers the left half of the figure; notebook 03 the right half and
# training, notebook 06 the attention module.

# %%
fig = plot_pipeline()
saved = save_fig(fig, "fig1_pipeline", out)

# %% [markdown]
# ## 3. The clip
#
# All features here are computed from one real anomalous fan clip of the DCASE 2020 development
# set, bundled with the project (`FIGURE_CLIP`, fan `id_06`, the clip you listened to in notebook
# 01). The network reads the first 10 s: 160,000 samples at 16 kHz.

# %%
num_samples = int(10 * SAMPLE_RATE)
wave = torch.from_numpy(load_clip(FIGURE_CLIP, num_samples))
print(FIGURE_CLIP.relative_to(FIGURE_CLIP.parents[3]), tuple(wave.shape), wave.dtype)

# %% [markdown]
# ## 4. The log-Mel spectrogram, step by step
#
# > **Background.** A spectrogram describes a sound as energy over time and frequency. The
# > waveform is cut into short overlapping frames; each frame is multiplied by a window that
# > tapers its edges (so the cut does not smear energy over all frequencies, "spectral leakage"),
# > and Fourier-transformed. Human hearing, and many machine sounds, resolve low frequencies
# > finely and high frequencies coarsely, so the linear frequency bins are then pooled into bands
# > that are narrow at low and wide at high frequencies: the Mel scale. Finally, levels are taken
# > in decibels, because sound levels span many orders of magnitude.
#
# ### 4.1 Frames and the STFT
#
# The paper uses a **Hann window of 64 ms** (1024 samples at 16 kHz) and **50 % overlap** (a hop
# of 512 samples). As in torchaudio's defaults, the signal is padded by half a window at each end
# by reflection (`center=True`), so frame *t* is centred on sample 512·*t*: 1 + 160000 // 512 =
# **313 frames**. Each frame gives 1024/2 + 1 = **513 frequency bins**, 15.6 Hz apart, from 0 Hz
# to 8 kHz (half the sample rate).

# %%
window = torch.hann_window(N_FFT)  # periodic Hann, 1024 samples = 64 ms
stft = torch.stft(wave, n_fft=N_FFT, hop_length=HOP, win_length=N_FFT, window=window,
                  center=True, pad_mode="reflect", return_complex=True)
print(f"window {N_FFT / SAMPLE_RATE * 1000:g} ms, hop {HOP / SAMPLE_RATE * 1000:g} ms "
      f"({100 * (1 - HOP / N_FFT):g} % overlap)")
print(f"STFT: {stft.shape[0]} frequency bins x {stft.shape[1]} frames "
      f"(num_frames gives {num_frames(num_samples)}); bin spacing {SAMPLE_RATE / N_FFT:.1f} Hz")

# %% [markdown]
# ### 4.2 The power spectrum
#
# The STFT is complex: a magnitude and a phase per bin. The phase is dropped and the magnitude
# squared, giving the **power** in each bin (`power=2.0` in the authors' transform).

# %%
power = stft.abs() ** 2
print(f"power spectrogram {tuple(power.shape)}, from {power.min():.2e} to {power.max():.2e}")

# %% [markdown]
# ### 4.3 The HTK Mel filterbank
#
# The HTK Mel scale maps a frequency *f* in Hz to mel(*f*) = 2595 log10(1 + *f*/700): nearly
# linear below about 1 kHz, logarithmic above. For 128 bands we take 130 points equally spaced
# in mel between 0 Hz and 8 kHz; band *k* is a triangle that rises from point *k* to point *k*+1
# and falls to point *k*+2. With the "Slaney" normalisation (`norm="slaney"`) each triangle is
# scaled by 2 / (its width in Hz), so every band has the same area: wide high bands do not get
# more weight just for being wide. Built by hand with NumPy:

# %%
def hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + f / 700.0)

def mel_to_hz(m):
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

points = mel_to_hz(np.linspace(0.0, hz_to_mel(SAMPLE_RATE / 2), N_MELS + 2))   # 130 band edges
lo, centre, hi = points[:-2, None], points[1:-1, None], points[2:, None]       # (128, 1) each
bin_hz = np.linspace(0.0, SAMPLE_RATE / 2, N_FFT // 2 + 1)                      # (513,)
triangles = np.clip(np.minimum((bin_hz - lo) / (centre - lo), (hi - bin_hz) / (hi - centre)), 0, None)
filterbank = torch.tensor((triangles * 2.0 / (hi - lo)).T, dtype=torch.float32)  # (513, 128)

# %% [markdown]
# The same filterbank from torchaudio, which the library's `LogMel` uses, for comparison:

# %%
reference = torchaudio.functional.melscale_fbanks(N_FFT // 2 + 1, 0.0, SAMPLE_RATE / 2, N_MELS,
                                                  SAMPLE_RATE, norm="slaney", mel_scale="htk")
print(f"filterbank {tuple(filterbank.shape)}; largest difference from torchaudio: "
      f"{(filterbank - reference).abs().max():.1e} (weights up to {reference.max():.3f})")
fig = plot_mel_filterbank(filterbank, title="HTK Mel filterbank, 128 bands, Slaney normalisation")
saved = save_fig(fig, "mel_filterbank", out)

# %% [markdown]
# Low bands are a few STFT bins wide and tall; high bands span dozens of bins and are flat (same
# area). At the very bottom neighbouring bands are closer than the 15.6 Hz spacing of the STFT
# bins, so each of the lowest bands sees just one or two STFT bins: the lowest Mel bins are
# coarse copies of single Fourier bins. The spacing grows with frequency; the cell below prints it.

# %%
centres = mel_bin_centres_hz()                              # 128 band centres in Hz
edges = torch.cat([torch.zeros(1), centres])               # 0 Hz, then every centre
spacing = edges.diff()                                      # distance to the band below
for hz in (0, 500, 1000, 4000):
    k = int((centres - hz).abs().argmin())
    print(f"near {hz:>4} Hz: band {k:>3} at {centres[k]:7.1f} Hz, {spacing[k]:5.1f} Hz from the band below (or from 0 Hz)")
closer = spacing < SAMPLE_RATE / N_FFT
print(f"{int(closer.sum())} bands lie closer than the STFT bin spacing of {SAMPLE_RATE / N_FFT:.1f} Hz, "
      f"all below {centres[closer].max():.0f} Hz")
#
# ### 4.4 Mel energies in decibels
#
# Each band's energy is the filter-weighted sum of the power bins: one matrix product. Then the
# authors take **10 log10(x + 10⁻⁸)**: decibels of power, with a tiny offset so that silence gives
# -80 dB instead of minus infinity. For one STFT bin, 10 log10 |X|² is the same as 20 log10 |X|,
# the form the paper's text writes; after the Mel pooling it is not: the filterbank sums powers,
# and 20 log10 of a filter-weighted sum of *magnitudes* would be another feature.

# %%
mel_energy = filterbank.T @ power                  # (128 bands, 313 frames)
logmel_by_hand = 10.0 * torch.log10(mel_energy + 1e-8)
logmel_library = LogMel()(wave[None])[0]           # the torchaudio transform of the authors
diff = (logmel_by_hand - logmel_library).abs().max().item()
print(f"log-Mel {tuple(logmel_by_hand.shape)}, range {logmel_by_hand.min():.1f} to "
      f"{logmel_by_hand.max():.1f} dB; largest difference from LogMel: {diff:.1e} dB")
assert diff < 1e-2, "the hand-made log-Mel should equal asdlib.nets.features.LogMel"

# %% [markdown]
# The hand-made spectrogram and the library's agree to float32 rounding (thousandths of a dB):
# `asdlib.nets.features.LogMel` is exactly these four steps. Here it is:

# %%
fig = plot_logmels([logmel_by_hand], ["log-Mel of the anomalous fan clip, by hand"],
                   title="64 ms Hann window, 50 % overlap, 128 HTK Mel bands, dB")
saved = save_fig(fig, "logmel_by_hand", out)

# %% [markdown]
# ## 5. The Wavegram: a learned filterbank
#
# The log-Mel is fixed by design. A **Wavegram** lets the network learn its own time-frequency
# representation from the waveform. The name comes from PANNs (Kong et al., 2020, the paper's
# ref. [22]), where the Wavegram is the output of a stack of 1-D convolutional layers with
# downsampling. The front end used here is simpler, and comes from STgram-MFN (Liu et al., ICASSP
# 2022, the paper's ref. [18]; the paper: "a 1-D convolution that acts as a learnable STFT"): a
# **single strided `Conv1d`** that slides 128 learned filters of 1024 samples over the waveform
# with a stride of 512, like the STFT's frames, giving 128 "bins" x 313 frames on the same grid as
# the log-Mel (with padding 512 the frames line up with the centred STFT). In STgram-MFN's Tgram
# that layer is followed by LayerNorm, LeakyReLU and three more 1-D convolutions; the authors keep
# only the strided layer, and make it separable.
#
# The ablation's **ordinary** Wavegram is a `Conv1d(1 -> 128, kernel 1024)`: 128 filters of 1024
# taps, 131,200 parameters. The authors' **separable** Wavegram comes from the PyPI package
# `separableconv-torch`, whose defaults make a layer of six steps:
#
# depthwise conv → BatchNorm → ReLU → pointwise 1x1 conv → BatchNorm → ReLU.
#
# The depthwise step has one filter per *input* channel, and the waveform has one channel: so
# there is **one** 1024-tap filter. The pointwise step then maps that one channel to 128.

# %%
separable, ordinary = Wavegram(separable=True), Wavegram(separable=False)
count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
print(f"separable Wavegram: {count(separable):,} parameters; ordinary Conv1d: {count(ordinary):,}")
print(separable.layer)

# %% [markdown]
# 1,539 parameters instead of 131,200: 1024 + 1 for the depthwise filter and its bias, 2 for its
# BatchNorm, 128 + 128 for the pointwise weights and biases, 256 for the second BatchNorm. The
# saving is real; section 7 shows what it costs.

# %% [markdown]
# ## 6. The acoustic features X (Fig. 2)
#
# The model's `features` method computes both representations and stacks them as two channels,
# X = [X_Mel, X_Wave], of shape (batch, 2, 128, 313). Here the network is **untrained**: its
# weights are the random initial ones (fixed by `seed`), so the Wavegram panel shows what the
# *structure* of the layer produces, not what training learns. Notebook 06 redraws the features
# and attention maps with trained weights.
#
# One detail: BatchNorm normalises each channel with the mean and variance of the current batch
# in training mode, and with running averages gathered during training in evaluation mode. Before
# any training those averages are placeholders (mean 0, variance 1), which do not fit a filtered
# waveform whose values are around 0.01. So the model stays in training mode here, as in its
# first training step, and BatchNorm uses the statistics of our one-clip batch.

# %%
torch.manual_seed(seed)
model = build_model()   # the proposed network for 10-s clips: weights at initialisation, train mode
with torch.no_grad():
    X = model.features(wave[None])
print(f"X: {tuple(X.shape)}; log-Mel channel equals LogMel: "
      f"{torch.allclose(X[0, 0], logmel_library)}")

# %%
fig = plot_features(X, title="Fig. 2: features X of a real anomalous fan clip (Wavegram at "
                             "initialisation; the same in every profile)")
saved = save_fig(fig, "fig2_features", out)

# %% [markdown]
# Look at the right panel: whatever happens over time happens in every Wavegram bin at once, as
# vertical stripes, and the bins come in only two kinds, mirror images of each other. The
# log-Mel on the left has a different pattern in every band. The next section explains why.

# %% [markdown]
# ## 7. Why the authors' Wavegram carries one signal per frame (rank at most 2)
#
# Follow one frame *t* through the separable layer:
#
# 1. the depthwise filter gives one number: the waveform filtered by one learned 1024-tap filter,
#    read once per hop of 512 samples, a *signed* value (a sample of the filtered signal, not an
#    energy or a loudness); BatchNorm and ReLU keep it one number: **d_t ≥ 0**;
# 2. the pointwise 1x1 convolution gives channel *c* the value a_c · d_t + b_c;
# 3. BatchNorm scales and shifts each channel: still an affine function of d_t;
# 4. ReLU clips it at zero.
#
# So every one of the 128 channels is **ReLU(α_c · d_t + β_c)**: a fixed curve of the *same*
# number d_t. The 128 x 313 matrix before the last ReLU is α dᵀ + β 1ᵀ, a sum of two outer
# products: its rank is at most 2 (one for the signal, one for the constant offsets). The
# Wavegram tells the classifier one thing per frame: the rectified, standardised output of one
# learned filter at that frame. This holds for *any* weights, trained or not; training
# (BatchNorm on batch statistics included) changes α, β and the filter, never the structure.
#
# Let us check it step by step on our clip.

# %%
layer = model.wavegram.layer
with torch.no_grad():
    d = layer.dwconv_activation(layer.dwconv_normalization(layer.dwconv(wave[None, None])))
    pre_relu = layer.pwconv_normalization(layer.pwconv(d))[0]   # (128, 313)
    wavegram = layer.pwconv_activation(pre_relu)                 # what the network sees
d = d[0, 0]                                                       # (313,): one number per frame
print(f"d_t: {tuple(d.shape)}, {int((d > 0).sum())} of {len(d)} frames > 0; "
      f"same Wavegram as in X: {torch.equal(wavegram, X[0, 1])}")

# %% [markdown]
# Now write α_c and β_c out from the layer's weights (pointwise weight and bias, then the
# BatchNorm's mean, variance, scale and shift; the mean and variance are those of the batch, as
# BatchNorm is in training mode) and predict all 128 channels from d_t alone:

# %%
bn = layer.pwconv_normalization
with torch.no_grad():
    pointwise = layer.pwconv(d[None, None])[0]                        # (128, 313): a_c d_t + b_c
    scale = bn.weight / torch.sqrt(pointwise.var(dim=1, unbiased=False) + bn.eps)
    alpha = layer.pwconv.weight[:, 0, 0] * scale                       # (128,)
    beta = (layer.pwconv.bias - pointwise.mean(dim=1)) * scale + bn.bias   # (128,)
    predicted = torch.relu(alpha[:, None] * d[None, :] + beta[:, None])
print(f"largest error of ReLU(alpha_c * d_t + beta_c): {(predicted - wavegram).abs().max():.1e}")

# %% [markdown]
# The formula reproduces the Wavegram exactly. For comparison, the ablation's ordinary `Conv1d`
# Wavegram (also at initialisation, same seed; it has no BatchNorm) applies 128 *different* 1024-tap filters, so its
# channels can vary independently. The singular values of a matrix count its independent
# patterns: a rank-*r* matrix has *r* non-zero singular values, and the rest are zero up to
# rounding (about 10⁻⁶ of the largest in float32).

# %%
torch.manual_seed(seed)
with torch.no_grad():
    conv_wavegram = Wavegram(separable=False)(wave[None])[0]
ranks = {name: int(torch.linalg.matrix_rank(m)) for name, m in
         {"separable, before ReLU": pre_relu, "separable, output": wavegram,
          "ordinary Conv1d": conv_wavegram}.items()}
print("numerical rank of each 128 x 313 matrix:", ranks)

# %%
fig = plot_wavegram_rank({"separable Wavegram, before the last ReLU": pre_relu,
                          "separable Wavegram, output": wavegram,
                          "ordinary Conv1d Wavegram (ablation)": conv_wavegram},
                         d, wavegram, n_channels=8,
                         title="The separable Wavegram carries one signal per frame "
                               "(weights at initialisation; the same in every profile)")
saved = save_fig(fig, "wavegram_rank", out)

# %% [markdown]
# Left: before the last ReLU the separable Wavegram has a single singular value above rounding
# (at initialisation BatchNorm's shift is zero, so the constant-offset pattern vanishes; after
# training there can be two), and then drops by more than five orders of magnitude. After the
# ReLU there are two: ReLU(+d̃_t) and ReLU(−d̃_t), with d̃_t the standardised d_t. The ordinary
# convolution's singular values decay slowly: it needs all 128. Right: plotted against d_t,
# every Wavegram channel falls on a straight line bent at zero by the ReLU. At initialisation
# (BatchNorm scale 1, shift 0) there are just two such lines, rising for the channels whose
# pointwise weight is positive and falling for the others, which is why the eight channels drawn
# show only two colours. Training gives each channel its own slope and offset, but every channel
# remains a bent line of the same d_t.
#
# What this means for the paper: the "Wavegram" channel is one learned filter's output per
# frame (a signed filter output, standardised and rectified; not a loudness envelope), copied
# 128 times through 128 bent lines. It can still help the classifier next to the
# log-Mel (the paper's Table 3 reports 93.43 % AUC with both versus 92.26 % with the log-Mel
# alone; these are the paper's numbers, quoted), but on its own it has little to say, which fits
# the weak Wavegram-only row of the same table (63.48 %, quoted). Notebook 05 retrains these
# variants.

# %% [markdown]
# ## 8. Summary and what comes next
#
# - The log-Mel is four steps: a 64 ms Hann STFT with 50 % overlap (313 frames x 513 bins), the
#   power spectrum, a 128-band HTK Mel filterbank with Slaney normalisation, and 10 log10(x + 10⁻⁸).
#   Built by hand, it equals `asdlib.nets.features.LogMel` to float32 rounding.
# - The Wavegram is a learned strided convolution on the waveform, on the same 128 x 313 grid.
# - The authors' separable Wavegram has 1,539 parameters instead of 131,200, but with a single
#   input channel its depthwise step yields one number per frame, so all 128 channels are
#   ReLU(α_c d_t + β_c): rank at most 2 before the ReLU, whatever the weights.
# - Files written under `results/<profile>/figures/`: `fig1_pipeline`, `mel_filterbank`,
#   `logmel_by_hand`, `fig2_features` (Wavegram at initialisation) and `wavegram_rank`, each as
#   PNG and PDF.
#
# **Next: notebook 03_training** explains the training recipe (mixup, ArcFace, the Noisy-ArcMix
# loss, AdamW with cosine annealing), counts the network's 884,376 parameters and trains it.

# %% [markdown]
# ## Exercises
#
# Try each task first; the cell under it calls the solution in `asdlib.teaching.exercises`, which computes
# the answer with the library's functions (`??ex02_frames` shows the code). No training; each
# cell takes about a second in either profile. The answers are at the end of the notebook.

# %% tags=["solutions-import"]
from asdlib.teaching.exercises import (ex02_frames, ex02_wavegram_params, ex02_wavegram_rank)

# %% [markdown]
# ### Exercise 1 (compute): frames for another hop
#
# By hand: with the centred STFT of section 4.1, how many frames does a 10-s clip at 16 kHz give
# with a hop of 256 samples (75 % overlap) instead of 512? And a 1-s clip (the smoke profile) with
# each hop? Then check with `num_frames` and by running `LogMel(hop_length=...)` on the clip.

# %% tags=["ex:02.1"]
ex02_frames()

# %% [markdown]
# ### Exercise 2 (change one thing and predict): a longer window
#
# Section 5 counted 1,539 parameters for the separable Wavegram and 131,200 for the ordinary
# `Conv1d`. Predict both counts for a window (kernel) of 2048 samples (128 ms), and of 512,
# with a hop of half the window each time. Which of the two grows faster with the window?

# %% tags=["ex:02.2"]
ex02_wavegram_params()

# %% [markdown]
# ### Exercise 3 (change one thing and predict): the rank after training
#
# Section 7 found rank 1 before the last ReLU at initialisation, where BatchNorm's scale is 1 and
# its shift 0. Training moves those. Give both BatchNorms of the separable Wavegram random scales
# and shifts, and predict the numerical rank of the 128 x 313 matrix before the last ReLU, and
# after it. Does a higher rank after the ReLU mean that the Wavegram now carries more than one
# number per frame?

# %% tags=["ex:02.3"]
ex02_wavegram_rank()

# %% [markdown]
# ## Check your understanding
#
# 1. Why is the hop 32 ms, and why does the STFT give 513 frequency bins rather than 1024?
# 2. Why are the lowest Mel bands "coarse copies of single Fourier bins"?
# 3. The log-Mel is 10 log10(x + 10⁻⁸). What does a silent frame give, and why the offset?
# 4. Why does the separable Wavegram have a single depthwise filter? What would feeding it the
#    waveform twice, as two input channels, change?
# 5. If every Wavegram channel is a function of one number per frame, how can the Wavegram still
#    add something next to the log-Mel?

# %% [markdown] tags=["answers"]
# ## Answers
#
# **Exercise 1.** Frames = 1 + samples // hop: 1 + 160,000 // 256 = **626** for 10 s with hop
# 256 (313 with hop 512), and 63 (hop 256) or 32 (hop 512) for 1 s. `LogMel` measures the same.
# Halving the hop doubles the frames, and with them the work of the attention module and
# MobileFaceNet, and the global kernel of MobileFaceNet (notebook 03, exercise 4).
#
# **Exercise 2.** Separable: k + 1 (depthwise filter and bias) + 2 (BatchNorm) + 256 (pointwise
# weights and biases) + 256 (BatchNorm) = k + 515, so 2,563 for 2048 and 1,027 for 512. Ordinary:
# 128 filters of k taps plus 128 biases = 128 k + 128, so 262,272 and 65,664. The separable layer
# grows by one parameter per tap, the ordinary one by 128: the ratio grows from 64 to 102.
#
# **Exercise 3.** Before the last ReLU: **2**. The matrix is α dᵀ + β 1ᵀ, and with a random
# shift β is no longer proportional to α, so the constant-offset pattern appears beside the
# signal. After the ReLU the numerical rank is much larger (dozens): each channel is bent at its
# own point −β_c/α_c, and bent lines with different bends are linearly independent vectors. But
# every channel is still a fixed function of the same d_t (section 7 predicted all 128 from it):
# rank counts linearly independent patterns, not information. The Wavegram still carries one
# number per frame. The ordinary `Conv1d` has full rank 128.
#
# **Check your understanding.**
#
# 1. The hop is half the 64-ms window (50 % overlap), 512 samples = 32 ms. The spectrum of a real
#    signal is symmetric, so only 1024 / 2 + 1 = 513 bins, from 0 Hz to 8 kHz, are distinct.
# 2. The lowest Mel bands are about 14 Hz apart (13.8 Hz at 0 Hz), less than the 15.6-Hz spacing
#    of the STFT bins, so each of them covers only one or two bins. The spacing grows with
#    frequency (about 24 Hz at 500 Hz, 34 Hz at 1 kHz, as printed in section 4.3): only the
#    lowest few bands (the same cell counts them), all below about 100 Hz, are closer than the
#    STFT bins.
# 3. 10 log10(10⁻⁸) = −80 dB; without the offset the logarithm of 0 would be minus infinity.
# 4. A depthwise convolution has one filter per input channel, and the waveform has one channel.
#    Two copies of the waveform would give two filters: two numbers per frame (rank up to 3
#    before the ReLU), still far from the 128 independent filters of the ordinary `Conv1d`.
# 5. It adds one learned filter's output per frame (a signed filter output, standardised and
#    rectified, then passed through 128 bent lines), which the classifier can combine with the
#    log-Mel's 128 bands. Alone it carries too little, which fits
#    the weak Wavegram-only row of Table 3; the gain beside the log-Mel in the paper (93.43
#    against 92.26, quoted) is about a point: 4-5 standard errors of the test-set noise at an
#    AUC near 93 (notebook 05, exercise 3), but of the order of what another seed could move
#    (notebook 07), which the paper's single runs cannot show.
