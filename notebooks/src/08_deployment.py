# %% [markdown]
# # 08 · Deployment: a low-complexity detector next to a machine
#
# Companion to Neri & Carli (2024), IEEE Sensors Letters. The title promises a *low-complexity*
# detector. This notebook takes a trained network from notebook 03 to something an engineer can
# run beside a machine: an ONNX file that scores 10-s clips on a CPU, per-machine decision
# thresholds, and a monitor that writes one decision per clip.
#
# **What you will learn**
#
# - why "884 k parameters" is not "low cost": parameters, multiply-accumulates (MACs) and latency
#   measure different things;
# - how BatchNorm folds into the convolution before it (shown on one layer);
# - how the log-Mel is rewritten without complex numbers so that it exports to ONNX;
# - how the exported model is checked against PyTorch, and how fast each scoring path is;
# - how a decision threshold per machine ID is chosen from the training normals (a gamma fit, as
#   the DCASE baselines from 2021 on do) and what it does to false alarms;
# - how `python -m asdlib monitor` scores clips as they arrive, bad files included.
#
# **Prerequisites**: notebook 03_training (the trained `proposed` run) and 04_evaluation
# (checkpoint selection). A missing run is trained here.
#
# **Run time**: smoke profile {{run-time:08_deployment}} on 2 CPU cores (measured on
# {{run-time:measured on}}). Paper profile: a few minutes
# (the thresholds score the 36,283 training clips once).
#
# **asdlib modules used**: `deploy.inference`, `deploy.export`, `deploy.thresholds`, `deploy.monitor`, `nets.authors_network`,
# `engine.complexity`, `nets.model`, `nets.features`, `engine.evaluate`, `study.runs`, `teaching.plots`, `outputs`, `paths`.
#
# ## Contents
# 1. Parameters and imports
# 2. Parameters, MACs and latency
# 3. BatchNorm folding on one layer
# 4. A log-Mel that exports
# 5. The inference form and the ONNX export
# 6. How fast is each path?
# 7. Decision thresholds per machine ID
# 8. The monitor
# 9. Summary

# %% [markdown]
# ## 1. Parameters and imports

# %% tags=["parameters"]
profile = "smoke"      # "smoke": synthetic data, CPU; "paper": full DCASE 2020 Task 2, GPU
insist = False         # train the paper profile even without a GPU (run_all.sh --insist)
latency_clips = 6      # bundled real clips per path in the live latency check (the benchmark: 31)

# %%
import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
import torch
from IPython.display import Markdown, display

from asdlib.data.audio import (load_clip)
from asdlib.data.dataset import (add_class_index, scan_dataset)
from asdlib.deploy.export import (export_model, export_onnx, load_scorer)
from asdlib.deploy.inference import (ExportableLogMel, fold_batchnorm, inference_form)
from asdlib.deploy.thresholds import (fit_gamma, fit_thresholds, gamma_thresholds, threshold_info,
                                      training_scores)
from asdlib.engine.checkpoints import (load_model)
from asdlib.engine.complexity import (count_macs, per_clip_latency)
from asdlib.engine.cpu import (configure_threads)
from asdlib.engine.device import (apply_precision, resolve_device)
from asdlib.engine.evaluate import (evaluation_clips, score_checkpoint, score_clips)
from asdlib.nets.authors_network import (authors_model_from)
from asdlib.nets.features import (LogMel)
from asdlib.nets.loss import (anomaly_score)
from asdlib.nets.model import (build_model, parameter_counts)
from asdlib.outputs import (profile_banner, save_fig, save_table)
from asdlib.paths import (PROJECT_ROOT, SAMPLE_DIR, results_dir)
from asdlib.study.runs import (ensure_runs, run_config, selected_checkpoint)
from asdlib.teaching.plots import (plot_threshold_fit)

configure_threads()  # torch threads for the cores this process may use (notebook 08)
out = results_dir(profile)
work = out / "deployment"
work.mkdir(parents=True, exist_ok=True)
banner = profile_banner(profile)
print(banner)

# %% [markdown]
# ## 2. Parameters, MACs and latency
#
# The paper counts parameters: 884,376 for the proposed network. What a CPU pays per clip is
# closer to the multiply-accumulates (MACs), and what the user sees is the latency. We count both
# on the network built for 10-s clips (what the paper scores), part by part.

# %%
net10 = build_model().eval()
params = parameter_counts(net10)
macs = count_macs(net10)
parts = ["wavegram", "logmel", "attention", "classifier", "arcface"]
cost = pd.DataFrame({"parameters": [params.get(p, 0) for p in parts],
                     "MACs per 10-s clip (M)": [macs[p] / 1e6 for p in parts]}, index=parts)
cost.loc["total"] = [params["total"], macs["total"] / 1e6]
cost["share of MACs"] = cost["MACs per 10-s clip (M)"] / cost.loc["total", "MACs per 10-s clip (M)"]
save_table(cost, "deployment_cost_per_part", out,
           caption="Parameters and multiply-accumulates per part of the proposed network (10-s clip)")
cost.style.format({"MACs per 10-s clip (M)": "{:.1f}", "share of MACs": "{:.1%}"}, thousands=",")

# %% [markdown]
# The attention module holds 0.2 % of the parameters but runs at the full 128 x 313 resolution
# with up to 64 channels: its arithmetic is small, its memory traffic is not. MobileFaceNet's
# 1x1 convolutions do almost all the arithmetic (about 0.7 G MACs). One CPU core with AVX-512
# does at most 32 fp32 multiply-adds per cycle, so at 2.6 GHz those alone need at least 8 ms per
# clip, at 100 % of the core's peak. A network with few parameters is not automatically cheap.
#
# ## 3. BatchNorm folding on one layer
#
# At inference, BatchNorm uses fixed statistics, so `BN(conv(x))` is one affine map per output
# channel of a linear map: it is a convolution with rescaled weights and a new bias. We take the
# first convolution of MobileFaceNet in the trained model and fold its BatchNorm.

# %%
ensure_runs(profile, ["proposed"], insist=insist)
checkpoint = selected_checkpoint(profile, "proposed", "paper")
net = load_model(checkpoint)
block = net.classifier.conv1
folded = fold_batchnorm(block.conv, block.bn)
x = torch.randn(2, block.conv.in_channels, 32, 40)
with torch.no_grad():
    diff = (folded(x) - block.bn(block.conv(x))).abs().max().item()
scale = (block.bn.weight / torch.sqrt(block.bn.running_var + block.bn.eps)).detach()
print(f"checkpoint: {checkpoint.relative_to(out)}")
print(f"per-channel scale g/sqrt(var+eps): min {scale.min():.3f}, max {scale.max():.3f}")
print(f"max |folded - conv->BN| on random input: {diff:.2e}")

# %% [markdown]
# The folded layer computes the same values (to float rounding) with one operation instead of
# two. The inference form does this for every convolution followed by a BatchNorm. A BatchNorm
# that follows an activation (the attention module's `ReLU -> BN -> ELU`) cannot fold backwards
# across the ReLU; it stays a per-channel multiply-add.
#
# ## 4. A log-Mel that exports
#
# torchaudio computes the log-Mel with a complex FFT. ONNX itself has DFT and STFT operators
# (since opset 17); what fails is PyTorch's exporter, which cannot carry the complex tensors that
# `torch.stft` returns. The inference form avoids them and writes the same computation in real arithmetic: frames cut by reshapes (the hop is half
# the window, so a frame is two neighbouring hop blocks), the Hann window, a 1024-point FFT as
# two 32-point DFT matrix products (n = 32 n1 + n2, k = k1 + 32 k2, with "twiddle" factors in
# between), the power and torchaudio's own Mel filterbank. Two 32-point stages cost about 8x fewer
# multiplications than one 1024 x 1026 DFT matrix.

# %%
clip = torch.from_numpy(load_clip(SAMPLE_DIR / "fan" / "test" / sorted(
    p.name for p in (SAMPLE_DIR / "fan" / "test").glob("*.wav"))[0], 160_000))[None]
reference = LogMel()
with torch.no_grad():
    a, b = reference(clip), ExportableLogMel(reference)(clip)
print(f"log-Mel {tuple(a.shape)}: max |torchaudio - exportable| = {(a - b).abs().max():.2e} dB "
      f"(values from {a.min():.1f} to {a.max():.1f} dB)")

# %% [markdown]
# ## 5. The inference form and the ONNX export
#
# `inference_form(net)` folds every BatchNorm, uses the exportable log-Mel, drops MobileFaceNet's
# unused `fc_out`, writes PReLU as `max(x, a x)` where its slopes allow (same values, faster in
# ONNX Runtime) and reduces the ArcFace head to what scoring needs: for every class k, the
# cross-entropy the clip would get if its true class were k. Its scores must equal the training
# form's within 1e-3; we check on the bundled real clips (cut to the model's clip length).

# %%
samples = add_class_index(scan_dataset(SAMPLE_DIR), net.label_map)
n = net.config.num_samples
waves = torch.from_numpy(np.stack([load_clip(p, n) for p in samples["path"]]))
targets = torch.from_numpy(samples["class_index"].to_numpy())
inf = inference_form(net)
with torch.no_grad():
    training_form = anomaly_score(net.arcface, net(waves), targets).numpy()
    inference_scores = inf(waves)[0][torch.arange(len(targets)), targets].numpy()
print(f"{len(waves)} real clips: max |training - inference form| = "
      f"{np.abs(training_form - inference_scores).max():.2e}")

# %% [markdown]
# The export: `python -m asdlib export --checkpoint CKPT --out model.onnx` does the same as the
# call below. It stores the label map, clip length, sample rate, model configuration and the
# checkpoint's SHA-256 in the file, and keeps the file only if ONNX Runtime's scores of a test
# signal match PyTorch's. Thresholds (section 7) can be stored with it.

# %%
onnx_path = export_onnx(checkpoint, work / "proposed.onnx")
scorer = load_scorer(onnx_path)
print(f"{onnx_path.relative_to(out)}: {onnx_path.stat().st_size / 1e6:.2f} MB")
pd.Series(scorer.metadata).drop("model_config")

# %% [markdown]
# Scoring the test set with the ONNX file goes through the same command as a checkpoint
# (`python -m asdlib score --checkpoint proposed.onnx ...`) and writes the same DCASE score files.

# %%
data_root = run_config(profile, "proposed").data.root_path()
onnx_tables = score_checkpoint(load_scorer(onnx_path), data_root, work / "scores_onnx", progress=False)
clips = evaluation_clips(data_root, net.label_map, labelled_only=True)
# the PyTorch scores on the GPU when there is one (strict fp32, no TF32, so the comparison with
# ONNX on the CPU stays a comparison of two fp32 computations), on a copy: `net` stays on the CPU
device = resolve_device("auto")
apply_precision(device, tf32=False)
pytorch = score_clips(copy.deepcopy(net), clips, batch_size=32, progress=False, device=device)
via_scorer = score_clips(scorer, clips, batch_size=32, progress=False)
print(f"{len(clips)} test clips: max |PyTorch - ONNX| score = "
      f"{np.abs(pytorch['score'] - via_scorer['score']).max():.2e}")
display(onnx_tables["per_type"].round(4))

# %% [markdown]
# ## 6. How fast is each path?
#
# A live check on a few bundled real clips, batch 1, one thread, the paths taking turns clip by
# clip: the authors' network as their code builds it (plain eager PyTorch, `authors_network`; it
# shares no class with asdlib, so our optimisations cannot speed it up), our training form, the
# inference form, and the ONNX file in ONNX Runtime. Timings use the 10-s network (they do not
# depend on the weights); in the smoke profile the trained model reads 1-s clips.

# %%
fast_net = net if net.config.num_samples == 160_000 else build_model().eval()
authors = authors_model_from(fast_net)
fast_inf = inference_form(fast_net)
fast_onnx = load_scorer(export_model(fast_net, work / "latency_10s.onnx"), threads=1)
y0 = torch.zeros(1, dtype=torch.long)
clips10 = torch.from_numpy(np.stack([load_clip(p, 160_000) for p in samples["path"][:latency_clips]]))
live = per_clip_latency({
    "authors' network, eager": lambda w: authors.anomaly_score(w, y0),
    "asdlib training form, eager": lambda w: anomaly_score(fast_net.arcface, fast_net(w), y0),
    "inference form, eager": lambda w: fast_inf(w),
    "ONNX Runtime (fp32)": lambda w: fast_onnx.scores(w.numpy()),
}, clips10, threads=1)
save_table(live, "deployment_latency_live", out,
           caption=f"Latency per 10-s clip, batch 1, one thread, {latency_clips} real clips ({banner})")
live.round(2)

# %% [markdown]
# The full benchmark (`benchmarks/deployment.py`, 31 clips, also `torch.compile` and a bf16
# path, throughput on all cores and the training step) writes its table into
# `benchmarks/REPORT.md`, section 7. Its numbers, from the machine it ran on:

# %%
bench = PROJECT_ROOT / "benchmarks" / "deployment_results.json"
if bench.is_file():
    res = json.loads(bench.read_text())
    table = pd.DataFrame(res["latency"]).T.join(pd.Series(res["deviation"], name="max score deviation"))
    table.index = [res["paths"][k] for k in table.index]
    print(f"{res['cpu']['model']}, measured {res['date']}")
    display(table[["median_ms", "min_ms", "max score deviation"]].round(3))
    base = res["latency"]["authors_eager"]["median_ms"]
    speed = {k: base / v["median_ms"] for k, v in res["latency"].items() if k != "authors_eager"}
    smoke_dev = res.get("smoke_auc", {}).get("bf16_compiled", {}).get("max_score_deviation")
    display(Markdown(
        "In that benchmark, against the authors' eager network (median per clip, one thread): "
        + "; ".join(f"{res['paths'][k]} {x:.2f}x" for k, x in speed.items())
        + f". The bf16 path's largest score deviation is {res['deviation']['bf16_compiled']:.3f} on "
          f"the real clips" + (f" and {smoke_dev:.2f} on the smoke model's scores" if smoke_dev is not None else "")
        + ": the benchmark measures it, the library does not ship it."))
else:
    print("benchmarks/deployment_results.json not found: run benchmarks/deployment.py")

# %% [markdown]
# What to read in them: does folding BatchNorm alone (the inference form, eager) change much in
# eager PyTorch, whose grouped (depthwise) convolutions take a slow path? How much do ONNX
# Runtime and `torch.compile`, which fuse and vectorise, gain? Compare the fp32 paths with the
# floor that section 2's arithmetic gives for one core.
#
# ## 7. Decision thresholds per machine ID
#
# An anomaly score needs a threshold before it becomes a decision. The DCASE baselines from 2021
# on fit a gamma distribution to the anomaly scores of each machine's *normal training clips*
# and put the threshold at a quantile of it (0.9 by default): by construction about 10 % of
# normal clips would raise an alarm. We fit the thresholds with the ONNX scorer.

# %%
train_table = training_scores(scorer, data_root)
percentile = 0.9
thresholds = fit_thresholds(train_table, percentile=percentile, method="gamma")
print(f"{len(train_table)} normal training clips, {len(thresholds)} machine IDs")
pd.Series(thresholds, name=f"gamma threshold at {percentile}").round(3).to_frame().T

# %% [markdown]
# One machine ID: the histogram of its training scores, the fitted gamma density and the
# threshold. Then the test clips of the same IDs: how often a normal clip is flagged (false alarm)
# and how often an anomalous one is caught, for several percentiles.

# %%
params = fit_gamma(train_table)
key = next(iter(thresholds))
fig = plot_threshold_fit(train_table, params, key, {p: gamma_thresholds(params, p)[key] for p in (0.8, 0.9, 0.99)})
fig.suptitle(f"{key}: training normals, gamma fit and thresholds ({banner})", fontsize=9)
save_fig(fig, "deployment_threshold_fit", out)

# %%
test = via_scorer.assign(key=via_scorer["machine_type"] + "/" + via_scorer["machine_id"])
rows = []
for p in (0.5, 0.8, 0.9, 0.95, 0.99):
    th = gamma_thresholds(params, p)
    flagged = test["score"] > test["key"].map(th)
    rows.append({"percentile": p,
                 "false-alarm rate (normal test clips)": flagged[test["anomaly"] == 0].mean(),
                 "detection rate (anomalous test clips)": flagged[test["anomaly"] == 1].mean()})
rates = pd.DataFrame(rows).set_index("percentile")
save_table(rates, "deployment_threshold_rates", out,
           caption=f"Alarms on the test clips for gamma thresholds at several percentiles ({banner})")
rates.round(3)

# %% [markdown]
# A higher percentile means fewer false alarms and fewer detections: the threshold trades one
# against the other, and the right point depends on what a missed fault and a needless
# inspection cost. We store the 0.9 thresholds (and the fitted gamma parameters, so that the
# monitor can move to another percentile without rescoring) in the exported file.

# %%
info = threshold_info(train_table, percentile, "gamma", fitted_on=str(data_root.name))
onnx_path = export_onnx(checkpoint, work / "proposed.onnx", thresholds=thresholds, threshold_info=info)
print(f"{onnx_path.relative_to(out)}: thresholds for {len(load_scorer(onnx_path).thresholds)} machine IDs")

# %% [markdown]
# ## 8. The monitor
#
# `python -m asdlib monitor` scores clips as they arrive: a folder it watches for new WAV files,
# a long WAV cut into clips every `--hop` seconds, or a stream on stdin. Each decision is one JSON
# line: time, source, machine type and ID, score, threshold, decision. Bad input gets an `error`
# on its line and the monitor goes on. We fill a folder with test clips of one machine (two
# normal, two anomalous) and three bad files (a truncated WAV, an 8 kHz WAV, a clip of a machine
# ID the label map does not know), and let the monitor poll it a few times.

# %%
machine_type = "fan"
tests = scan_dataset(data_root, machine_types=[machine_type], splits=("test",))
first_id = sorted(tests["machine_id"])[0]
tests = tests[tests["machine_id"] == first_id]
picked = pd.concat([tests[tests["label"] == "normal"].head(2), tests[tests["label"] == "anomaly"].head(2)])
picked["path"] = picked["path"].map(Path)
inbox = work / "inbox" / machine_type
shutil.rmtree(inbox.parent, ignore_errors=True)
inbox.mkdir(parents=True)
for p in picked["path"]:
    shutil.copy(p, inbox / p.name)
good = picked["path"].iloc[0]
audio, rate = sf.read(good, dtype="int16")
(inbox / f"normal_id_{first_id}_90000000.wav").write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
sf.write(inbox / f"normal_id_{first_id}_90000001.wav", audio[::2], rate // 2, subtype="PCM_16")
sf.write(inbox / "normal_id_99_90000002.wav", audio, rate, subtype="PCM_16")
proc = subprocess.run([sys.executable, "-m", "asdlib", "monitor", "--model", str(onnx_path),
                       "--watch", str(inbox.parent), "--existing", "--polls", "3", "--poll", "0.2"],
                      capture_output=True, text=True, timeout=600)
print(proc.stderr.strip().splitlines()[-1])
decisions = pd.DataFrame([json.loads(line) for line in proc.stdout.splitlines()])
decisions.drop(columns=["time"])

# %% [markdown]
# The good clips were scored and compared with their machine's threshold; each bad file has its
# own line with the reason (the truncated one once its size stopped changing between polls), and
# nothing stopped the monitor. The same model can watch a long recording: we join the four test
# clips into one WAV (normal, normal, anomalous, anomalous) and let the monitor cut it every clip
# length. The scores should rise where the anomalous part begins.

# %%
long_wav = work / f"{machine_type}_id_{first_id}_recording.wav"
sf.write(long_wav, np.concatenate([sf.read(p, dtype="int16")[0] for p in picked["path"]]), rate,
         subtype="PCM_16")
proc = subprocess.run([sys.executable, "-m", "asdlib", "monitor", "--model", str(onnx_path),
                       "--wav", str(long_wav), "--machine-type", machine_type,
                       "--machine-id", first_id], capture_output=True, text=True, timeout=600)
windows = pd.DataFrame([json.loads(line) for line in proc.stdout.splitlines()])
windows["part"] = ["normal"] * (len(windows) // 2) + ["anomalous"] * (len(windows) - len(windows) // 2)
windows.drop(columns=["time", "source"])

# %% [markdown]
# ## 9. Summary
#
# - Parameters are a poor measure of cost: the proposed network's attention module holds 0.2 % of
#   its parameters but runs at full resolution, and the network's multiply-accumulates set a
#   floor that no fp32 path beats (exercise 1 measures it on this machine).
# - The inference form (BatchNorm folded, real-arithmetic log-Mel, no `fc_out`, per-class scores)
#   gives the training form's scores within 1e-3 and exports to ONNX with its metadata.
# - ONNX Runtime and `torch.compile` score faster than the authors' eager network on one core
#   (section 6 gives the measured ratios); the full table is in `benchmarks/REPORT.md`, section 7.
# - Per-ID gamma thresholds on the training normals turn scores into decisions; the percentile
#   trades false alarms against detections.
# - `python -m asdlib monitor` applies it all to clips as they arrive, one JSON line per clip,
#   bad input reported and skipped.
#
# **Next**: this is the last notebook. To deploy the detector, `docs/deployment.md` gives the
# commands; to go further as a course project, `docs/teaching.md` ends with ideas (seeds
# against the label-map collision, a Wavegram with more than one filter, the authors' released
# checkpoint on real clips).

# %% [markdown]
# ## Exercises
#
# Try each task first; the cell under it calls the solution in `asdlib.teaching.exercises`, which
# computes the answer with the library's functions (`??ex08_latency_floor` shows the code).
# Nothing here trains; exercise 2 uses this notebook's scores, the others an untrained network
# of the same shape (the arithmetic does not depend on the weights). About 5 s each.

# %% tags=["solutions-import"]
from asdlib.teaching.exercises import (ex08_false_alarms, ex08_latency_floor, ex08_time_per_part)

# %% [markdown]
# ### Exercise 1 (compute): how far from the machine's limit?
#
# Section 2 counted about 0.78 G multiply-accumulates per 10-s clip. Measure how many MACs per
# second this machine's CPU does on one thread in a large matrix product (`matmul_rate`, the
# best a BLAS library gets), divide, and you have a floor: no fp32 path can score a clip faster on
# one thread. Before running: is the inference form within 1.5x of that floor, or further?

# %% tags=["ex:08.1"]
ex08_latency_floor().round(3).to_frame("one thread, this machine")

# %% [markdown]
# ### Exercise 2 (compute): what a percentile promises
#
# A gamma threshold at percentile p promises that a share 1 - p of normal clips raise an alarm.
# That promise is about the *training* normals the gamma was fitted on. Compare it with the
# share of normal *test* clips flagged, for p = 0.5, 0.9 and 0.99, and turn the rate into alarms
# per day for a machine recorded once a minute (1,440 clips a day). Which would an operator
# accept?

# %% tags=["ex:08.2"]
ex08_false_alarms(train_table, via_scorer).round(3)

# %% [markdown]
# ### Exercise 3 (predict, then compute): where does the time go?
#
# Section 2 showed that MobileFaceNet does about 90 % of the arithmetic and the attention module
# under 10 %. Predict each part's share of the *time* of the inference form on one thread, then
# measure it.

# %% tags=["ex:08.3"]
ex08_time_per_part().round(3)

# %% [markdown]
# ### Coding tasks (write them before the library does)
#
# 1. `fold(conv, bn)`: one `Conv2d` that computes `bn(conv(x))` in evaluation mode (section 3).
#    The checker uses running variances down to 1e-6, as trained networks have.
# 2. `gamma_threshold(values, p)`: the p-quantile of a gamma distribution (shape, location and
#    scale) fitted to one machine's normal training scores (section 7).

# %% tags=["task:08.C1"]
from asdlib.teaching.checks import check_code


def fold(conv, bn):
    """One Conv2d equal to bn(conv(x)) with bn in evaluation mode."""
    # -- solution --
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    out = torch.nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                          padding=conv.padding, dilation=conv.dilation, groups=conv.groups, bias=True)
    with torch.no_grad():
        out.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
        bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        out.bias.copy_((bias - bn.running_mean) * scale + bn.bias)
    return out.eval()


check_code("08.C1", fold)

# %% tags=["task:08.C2"]
import scipy.stats


def gamma_threshold(values, p):
    """The p-quantile of a gamma distribution fitted to normal scores."""
    # -- solution --
    a, loc, scale = scipy.stats.gamma.fit(values)
    return scipy.stats.gamma.ppf(p, a, loc=loc, scale=scale)


check_code("08.C2", gamma_threshold)

# %% [markdown]
# ## Check your understanding
#
# 1. Why does folding BatchNorm change the scores by no more than rounding, but only in
#    evaluation mode?
# 2. Why does the exported file carry its label map, sample rate and clip length?
# 3. The monitor cuts a long recording every `--hop` seconds. What does a hop shorter than the
#    clip length buy, and what does it cost?
# 4. Why fit the thresholds on training normals and not on the test clips?

# %% [markdown] tags=["answers"]
# ## Answers
#
# **Exercise 1.** The floor is the MACs divided by the matrix-product rate; the inference form in
# eager PyTorch is a few times above it (the table gives the ratio on this machine). The gap
# is not arithmetic: depthwise convolutions and the attention module's full-resolution maps move
# far more memory per multiply-add than a matrix product, and eager PyTorch runs each layer as a
# separate pass over memory. Fused paths (ONNX Runtime, `torch.compile`, section 6) close part
# of the gap.
#
# **Exercise 2.** On the training normals the flagged share is close to 1 - p by construction
# (up to how well a gamma fits). On the test normals it is usually higher: the test clips were
# recorded at other times than the training clips, and on the smoke profile a model trained for
# a few minutes on synthetic sounds scores unseen normals higher. Even 1 - p = 1 % is about 14
# alarms a day at one clip a minute; an operator would ask for a higher percentile, several
# consecutive alarms, or both, at the price of later detection.
#
# **Exercise 3.** The attention module's share of the time is several times its share of the
# MACs, and MobileFaceNet's share of the time is below its share of the MACs: time follows
# memory traffic and the efficiency of each operation, not the count of multiply-adds.
# Optimising the attention module (or fusing it) pays more than its MACs suggest.
#
# **Check your understanding.**
#
# 1. In evaluation mode BatchNorm is a fixed affine map per channel (running mean and variance),
#    which composes with the convolution before it into one convolution; in training mode it
#    uses each batch's statistics, which no fixed weights can reproduce.
# 2. So that the scorer can refuse input it was not built for (another sample rate, another clip
#    length, an unknown machine ID) instead of scoring it silently wrong.
# 3. Decisions more often and an anomaly caught sooner after it starts, at the price of scoring
#    more clips per second of audio (clip length / hop times as many).
# 4. The test clips stand for the future: a threshold chosen on them would be chosen on the
#    answers. The training normals are all that exists when a monitor is deployed.
