# %% [markdown]
# # 01 · The data: DCASE 2020 Task 2, machine IDs and what an anomaly sounds like
#
# Companion to Neri & Carli (2024), *Low-Complexity Attention-Based Unsupervised Anomalous Sound
# Detection Exploiting Separable Convolutions and Angular Loss*, IEEE Sensors Letters.
#
# **What you will learn**
#
# - how the DCASE 2020 Task 2 data are organised: six machine types, 41 machines (IDs), a
#   training split holding only normal sounds and a test split holding normal and anomalous ones;
# - how the 12 archives the paper needs are downloaded safely (checksums, resuming, all-or-nothing
#   extraction) and how to tell that the download is complete (file counts);
# - what the smoke profile uses instead (synthetic machine sounds) and why its anomalies cannot be
#   found by loudness alone;
# - how the authors turn (machine type, ID) into one of 41 class labels, and the collision hidden
#   in their label map;
# - what a normal and an anomalous clip of the same real machine sound and look like.
#
# **Prerequisites**: none; this is the first notebook. Some Python and a little signal processing
# (what a sample rate and a spectrogram are) help.
#
# **Run time**: smoke profile {{run-time:01_data}} on 2 CPU cores (measured on
# {{run-time:measured on}}; most of it writing the synthetic clips); paper profile about an hour, bound by the network (15 GB of archives), then a few
# minutes of extraction and counting.
#
# **asdlib modules used**: `paths`, `data.dcase`, `data.dataset`, `data.download`, `data.synthetic`, `data.audio`,
# `nets.features`, `teaching.plots`, `outputs`, `study.runs`, `data.local_data`.
#
# ## Contents
# 1. Parameters and imports
# 2. Where everything lives
# 3. The DCASE 2020 Task 2 data
# 4. Getting the data (download, or synthetic data in the smoke profile)
# 5. Is the data complete? File counts
# 6. Why anomalies are not just loud (smoke)
# 7. From machine IDs to class labels: the two label maps
# 8. Listening to a real machine
# 9. Summary and what comes next

# %% [markdown]
# ## 1. Parameters and imports
#
# The next cell is the notebook's only parameters cell (tagged `parameters`). `run_all.sh`
# executes this notebook with papermill and overwrites these values, for example
# `profile = "paper"`. To run a profile by hand, change `profile` here and run all cells.
# `insist` and `authors_checkpoint` are passed by `run_all.sh` to every notebook; this one does
# not use them.

# %% tags=["parameters"]
profile = "smoke"           # "smoke": synthetic data on a CPU; "paper": the full DCASE download
insist = False              # run_all.sh --insist (paper profile without a GPU); unused here
authors_checkpoint = False  # run_all.sh -p authors_checkpoint True; unused here
base_url = None             # a mirror holding the 12 archives (None: download from Zenodo)
keep_archives = True        # keep the .zip files after extraction (False frees ~15 GB)

# %% [markdown]
# Every function the notebook calls comes from `asdlib`, imported by name so that you can see
# where each one lives (and read its docstring with `help(...)`).

# %%
import tempfile
from pathlib import Path

import pandas as pd
import torch
from IPython.display import Audio, display

from asdlib.data.audio import (load_clip, load_wav)
from asdlib.data.dataset import (count_files, scan_dataset)
from asdlib.data.dcase import (ARCHIVE_MD5, SAMPLE_RATE, expected_file_counts, label_map_table,
                               paper_archives)
from asdlib.data.download import (DownloadError, check_disk, download_dcase, download_file,
                                  verify_counts)
from asdlib.data.local_data import (check_dcase_tree, existing_tree)
from asdlib.data.synthetic import (anomaly_kind, energy_baseline_auc, generate_synthetic_dataset)
from asdlib.engine.cpu import (configure_threads)
from asdlib.nets.features import (LogMel)
from asdlib.outputs import (profile_banner, save_fig, save_table)
from asdlib.paths import (SAMPLE_DIR, data_dir, dcase_dir, results_dir)
from asdlib.study.runs import (FIGURE_CLIP, get_profile, run_config)
from asdlib.teaching.plots import (plot_logmels, plot_waveform)

# %% [markdown]
# ## 2. Where everything lives
#
# One module, `asdlib.paths`, knows every folder, so no cell depends on the folder you started
# Jupyter from. Downloads and generated data go under `data_dir()`; every table, figure, trained
# model and executed notebook of a profile goes under `results_dir(profile)`, so a smoke run can
# never overwrite the results of a paper run. Two environment variables move them:
# `ASD_DATA_DIR` (e.g. to a big disk for the 30 GB of archives and WAVs) and `ASD_RESULTS_DIR`.

# %%
configure_threads()  # torch threads for the cores this process may use (notebook 08)
out = results_dir(profile)
print(profile_banner(profile))
print(get_profile(profile).description)
print("data folder:   ", data_dir())
print("results folder:", out)
print("bundled sample:", SAMPLE_DIR)

# %% [markdown]
# ## 3. The DCASE 2020 Task 2 data
#
# > **Background.** The task (Koizumi et al., DCASE 2020) is *unsupervised* anomalous sound
# > detection: a detector learns from recordings of machines working normally, and must then
# > flag test recordings of broken machines (a bent fan blade, a clogged pump, a damaged rail...)
# > that it has never heard. The recordings come from two datasets: MIMII (real industrial
# > fans, pumps, slide rails and valves, recorded in factories with their background noise) and
# > ToyADMOS (toy cars and toy conveyors). Every clip is 16 kHz, mono, 16-bit, 10 s long
# > (ToyCar 11 s, which the paper cuts to its first 10 s).
#
# Each machine type comes as several individual machines, named by an ID (`id_00`, `id_02`...).
# The **development** set has training clips (normal only) and test clips (normal and anomalous)
# for 23 machines; the **additional training** set adds normal training clips of 18 more machines.
# The paper trains on both (41 machines, 36,283 clips) and tests on the development test clips.
#
# The expected number of files per machine type, dataset, split, ID and label is part of the
# library (`expected_file_counts`): it is what a complete download must match. Its totals:

# %%
expected = expected_file_counts()
totals = expected.groupby(["dataset", "split", "label"])["files"].sum().unstack("label", fill_value=0)
totals["total"] = totals.sum(axis=1)
totals

# %% [markdown]
# Development: 20,119 training and 10,868 test clips; additional training: 16,164 clips. These are
# properties of the dataset (from the DCASE 2020 material), not results of this project.
#
# The data are © NTT Corporation and Hitachi, Ltd., licensed CC BY-NC-SA 4.0: cite ToyADMOS
# (Koizumi et al., WASPAA 2019), MIMII (Purohit et al., DCASE 2019) and the task description
# (Koizumi et al., DCASE 2020) when you use them. The 31 real clips bundled in `data/sample/` are
# under the same licence (see `data/sample/README.md`).

# %% [markdown]
# ## 4. Getting the data
#
# The two profiles read different data, and both take the folder from the training configuration
# that notebook 03 will use, so this notebook prepares exactly what training reads.

# %%
config = run_config(profile, "proposed")
root = config.data.root_path()
print(f"profile {profile}: training data in {root}, clips of {config.model.clip_seconds:g} s")

# %% [markdown]
# ### 4a. Paper profile: download the 12 archives
#
# `download_dcase` handles the development and additional-training archive of each of the six
# machine types (`paper_archives()`; the evaluation set is not needed for the paper). For each
# archive it:
#
# 1. downloads into `<name>.zip.part`, and on a rerun **resumes** that file with an HTTP Range
#    request instead of starting again;
# 2. checks the **MD5 checksum** against the value registered in `asdlib.data.dcase.ARCHIVE_MD5`, and
#    only then renames `.part` to `.zip`: a half-downloaded or corrupted archive is never used;
# 3. extracts into a temporary folder and moves the files into place only when the whole archive
#    extracted (**all or nothing**), then writes a marker file, so a rerun skips finished archives.
#
# `run_all.sh` has already run the preflight check (disk space, network, GPU) before this
# notebook started. In the smoke profile this cell does nothing.
#
# **Data you already have.** If `dcase_dir()` already holds an extracted DCASE 2020 Task 2 tree
# (`run_all.sh --data-root /path/to/tree`, or `ASD_DCASE_DIR`; `asdlib.paths` says how the
# folder is chosen), `existing_tree` checks its file counts against the table and the download
# is skipped: no archives, no network. A tree with missing or extra files stops here with the
# machine type, ID and split of every group that differs.

# %%
if profile == "paper":
    assert root == dcase_dir(), f"the paper configuration should read {dcase_dir()}, not {root}"
    tree = existing_tree(dcase_dir())
    if tree is not None:
        print(tree.summary())
    else:
        status = download_dcase(paper_archives(), dcase_dir(), base_url=base_url,
                                keep_archives=keep_archives)
        display(status)
else:
    print("smoke profile: nothing to download (12 archives, ~15 GB, in the paper profile)")

# %% [markdown]
# **When something goes wrong**, `download_dcase` raises `DownloadError` with a message that says
# what happened and what to do, and the notebook stops there: it never goes on with incomplete
# data. Archives already extracted are kept, so rerunning the notebook continues where it
# stopped. The three usual failures, reproduced here on a tiny local file in a temporary folder
# (the messages are printed, not hidden, so you know what to look for):
#
# - **offline**: the server cannot be reached;
# - **bad checksum**: the bytes that arrived are not the archive registered (a truncated or
#   corrupted transfer, or a changed file on the server); the bad file is deleted;
# - **full disk**: the free space is checked before writing.

# %%
out.mkdir(parents=True, exist_ok=True)
with tempfile.TemporaryDirectory(dir=out) as tmp:
    fake = Path(tmp, "fake.zip")
    fake.write_bytes(b"not the real archive")
    attempts = {
        "offline": lambda: download_file("http://127.0.0.1:9/dev_data_fan.zip", Path(tmp, "a.zip"),
                                         progress=False, timeout=3),
        "bad checksum": lambda: download_file(fake.as_uri(), Path(tmp, "dev_data_fan.zip"),
                                              md5=ARCHIVE_MD5["dev_data_fan.zip"], progress=False),
        "full disk": lambda: check_disk(tmp, 10**16),  # 10 PB: more than any disk holds
    }
    for what, attempt in attempts.items():
        try:
            attempt()
        except DownloadError as exc:
            print(f"{what:>12}: DownloadError: {exc}\n")

# %% [markdown]
# ### 4b. Smoke profile: synthetic machine sounds
#
# Without the 15 GB download there are only the 31 real clips of `data/sample/`: far too few to
# train a network or measure an AUC. The smoke profile therefore trains and tests on **synthetic
# machine sounds** made by `asdlib.data.synthetic`: every machine type has its own character (a fan's
# airflow noise and blade tones, a pump's hum, a slider's sweeping tone and clicks...), every
# machine ID differs from the others in a stable way, and every clip varies at random. Anomalies
# change the *pattern* of the sound (an extra tone, a shifted resonance, a fast modulation,
# impacts, a pitch drift).
#
# The generator is deterministic: the same arguments always give the same clips, and a folder
# already holding the same dataset is reused, not rewritten. The clip length comes from the
# smoke configuration (1 s instead of 10 s, to train in minutes on a CPU). Two IDs per type,
# 40 normal training clips, and 12 normal plus 12 anomalous test clips each.

# %%
if profile == "smoke":
    clips = generate_synthetic_dataset(root, clip_seconds=config.model.clip_seconds)
else:
    clips = scan_dataset(dcase_dir())
print(f"{len(clips)} clips in {root}")
clips.head()

# %% [markdown]
# The same scanner reads the bundled real sample: it parses every path of the form
# `<type>/<split>/<normal|anomaly>_id_<XX>_<NNNNNNNN>.wav` into a table row.

# %%
sample = scan_dataset(SAMPLE_DIR)
print(f"{len(sample)} real clips in {SAMPLE_DIR}")
sample[["machine_type", "machine_id", "split", "label", "file_name"]].head(8)

# %% [markdown]
# ## 5. Is the data complete? File counts
#
# Counting files is a cheap and strong check: a missing archive, an interrupted extraction or a
# folder extracted twice all show up as a count that differs from the DCASE table. In the paper
# profile `check_dcase_tree` compares every (type, dataset, split, ID, label) group with the table
# (the same comparison as `verify_counts`; `ASD_EXPECTED_COUNTS` can name another table, which the
# rehearsal of `benchmarks/rehearsal.py` uses), and the notebook stops with the groups that differ.

# %%
if profile == "paper":
    tree_check = check_dcase_tree(dcase_dir(), raise_on_error=False)
    if not tree_check.ok:
        raise RuntimeError(
            f"{len(tree_check.differences)} groups of files differ from the {tree_check.counts_source}:\n"
            + "\n".join(tree_check.differences) + "\nRerun this notebook to resume the download; if "
            f"the counts still differ, delete {dcase_dir()} and download again.")
    print(tree_check.summary())
    check = tree_check.counts
    display(check.groupby(["dataset", "split"])[["expected", "found"]].sum())
else:
    planned = sum(len(ids) for ids in clips.groupby("machine_type")["machine_id"].unique()) * (40 + 12 + 12)
    assert len(clips) == planned, f"expected {planned} synthetic clips, found {len(clips)}"
    print(f"synthetic set complete: {len(clips)} = 12 machines x (40 train + 12 + 12 test) clips")

# %% [markdown]
# In the paper profile the sums above must read 20,119 development training clips, 10,868
# development test clips and 16,164 additional training clips.
#
# Now the counts per machine type, ID, split and label, for the profile's data and for the
# bundled sample, saved as the table `data_counts` (CSV, Markdown and LaTeX under
# `results/<profile>/tables/`).

# %%
counts = pd.concat([count_files(clips).assign(source=get_profile(profile).data_root),
                    count_files(sample).assign(source="sample (real)")], ignore_index=True)
counts = counts[["source", "machine_type", "dataset", "machine_id", "split", "label", "files"]]
save_table(counts, "data_counts", out,
           caption=f"Clips per machine type, ID, split and label. {profile_banner(profile)}")
view = counts.pivot_table(index=["source", "machine_type", "machine_id"],
                          columns=["split", "label"], values="files", aggfunc="sum", fill_value=0)
view.astype(int)

# %% [markdown]
# Notice the shape of the problem: training folders hold **only normal** clips, and the sample
# holds one or two machines per type (the figures of notebooks 02 and 06 use it).

# %% [markdown]
# ## 6. Why anomalies are not just loud (smoke profile)
#
# A detector is only interesting if the anomalies cannot be found by something trivial. The
# simplest baseline scores each test clip by its loudness (RMS energy) and measures the area under
# the ROC curve (AUC): 0.5 means the score says nothing about the label, 1.0 (or 0.0) that it
# separates normal from anomalous clips perfectly. The synthetic generator draws every clip's
# loudness from the same range, normal or not, so energy should be close to chance.

# %%
if profile == "smoke":
    energy = energy_baseline_auc(clips)
    save_table(energy, "synthetic_energy_baseline", out,
               caption=f"AUC of clip RMS energy as anomaly score, synthetic test clips. {profile_banner(profile)}")
    display(energy)
else:
    print("paper profile: the energy baseline is shown on the synthetic data of the smoke profile")

# %% [markdown]
# With only 24 normal and 24 anomalous clips per type, an AUC measured on pure chance has a
# standard error of about 0.08, so values anywhere between roughly 0.35 and 0.65 are what a
# useless score gives; a value further out (in either direction: below 0.5 means the anomalies
# are quieter on average) says that loudness carries a little information for that type. Either
# way, how far is the energy baseline from what a trained detector reaches in notebook 04 (come
# back to this table when you have run it)? The synthetic anomalies are meant to be found in the
# *spectral and temporal pattern*, as real ones, not in the loudness.
#
# What does a synthetic anomaly look like? Here is a normal fan clip beside an anomalous one
# (anomalous clip 0 carries the kind `anomaly_kind(0)`).

# %%
if profile == "smoke":
    fan = clips[(clips.machine_type == "fan") & (clips.machine_id == "00") & (clips.split == "test")]
    pair = [fan[fan.label == "normal"].iloc[0], fan[(fan.label == "anomaly") & (fan["index"] == 0)].iloc[0]]
    waves = [load_wav(row.path) for row in pair]
    for row, w in zip(pair, waves):
        display(Audio(w, rate=SAMPLE_RATE))
    fig = plot_logmels([LogMel()(torch.from_numpy(w)[None])[0] for w in waves],
                       ["synthetic fan 00, normal", f"synthetic fan 00, anomaly ({anomaly_kind(0)})"],
                       title=profile_banner(profile))
    saved = save_fig(fig, "synthetic_fan00_logmels", out)

# %% [markdown]
# ## 7. From machine IDs to class labels: the two label maps
#
# The detector of the paper is *classification based*: it learns to tell the 41 machines apart
# from their sounds, and at test time a clip that does not sound like its own machine is
# anomalous (notebooks 03 and 04). So each (type, ID) pair needs a class index in 0..40.
#
# The authors compute it as `offset[type] + int(id)` with offsets fan 0, pump 7, slider 13,
# ToyCar 20, ToyConveyor 27, valve 34. Pumps have IDs up to 06, so pump 06 gets 7 + 6 = 13, and
# slider 00 gets 13 + 0 = 13 as well: **two different machines share one class**. A correct map
# (`distinct`) numbers the 41 machines 0..40. This project trains with the authors' map to
# reproduce their numbers, and with the distinct map as an "honest" variant (notebook 05).

# %%
maps = label_map_table("paper").merge(label_map_table("distinct"), on=["machine_type", "machine_id"],
                                      suffixes=("_paper", "_distinct"))
print(f"paper map: {maps['class_index_paper'].nunique()} distinct classes for {len(maps)} machines; "
      f"distinct map: {maps['class_index_distinct'].nunique()}")
maps[maps["class_index_paper"].duplicated(keep=False)]

# %% [markdown]
# Pump 06 and slider 00 are both in the development set, so the collision affects training (the
# network is asked to give two different machines the same label) and evaluation: the authors'
# per-type scores select clips by class-index ranges, so pump 06's test clips are counted as
# sliders (notebook 04). The smoke data include both machines on purpose.
#
# The whole table, for reference. Look also at ToyCar 07 (additional training only): 20 + 7 = 27
# falls in the range the authors' per-type masks give to ToyConveyor (27-33); it has no test
# clips, so this one does not change any score.

# %%
maps.pivot_table(index="machine_id", columns="machine_type", values="class_index_paper").astype("Int64")

# %% [markdown]
# ## 8. Listening to a real machine
#
# Synthetic sounds are a stand-in. Here are two real clips of the same machine from the bundled
# sample, fan `id_06`: a normal one and an anomalous one (the anomalous one is `FIGURE_CLIP`, the
# clip notebooks 02 and 06 draw Figs. 2 and 3 from). Listen first. The player normalises the
# volume; the clips are quiet factory recordings with a lot of background noise.

# %%
normal_clip = SAMPLE_DIR / "fan" / "test" / "normal_id_06_00000012.wav"
num_samples = int(10 * SAMPLE_RATE)  # the paper's input: the first 10 s
real = {"normal": load_clip(normal_clip, num_samples), "anomaly": load_clip(FIGURE_CLIP, num_samples)}
for label, wave in real.items():
    print(f"fan id_06, {label}: {len(wave) / SAMPLE_RATE:g} s, RMS {(wave ** 2).mean() ** 0.5:.4f}")
    display(Audio(wave, rate=SAMPLE_RATE))

# %% [markdown]
# The waveforms: amplitude against time. A fan is a steady noise, so the two look alike at this
# scale; whatever distinguishes them is in the spectrum, not the envelope.

# %%
for label, wave in real.items():
    fig = plot_waveform(wave, title=f"real fan id_06, {label} clip (bundled DCASE clip, every profile)")
    saved = save_fig(fig, f"sample_fan06_{label}_waveform", out)

# %% [markdown]
# The log-Mel spectrograms (how they are computed is the subject of notebook 02) show where the
# energy lies over time and frequency, on a shared dB scale so that the two can be compared.

# %%
logmels = [LogMel()(torch.from_numpy(w)[None])[0] for w in real.values()]
fig = plot_logmels(logmels, ["real fan id_06, normal", "real fan id_06, anomaly"],
                   title="bundled real DCASE clips (the same in every profile)")
saved = save_fig(fig, "sample_fan06_logmels", out)

# %% [markdown]
# This pair differs visibly: the horizontal lines (tones of the fan and its motor) sit at other
# frequencies in the anomalous clip, and its band above 4 kHz holds more energy. Many anomalies
# in the dataset are much less obvious, and the normal clips of one machine also vary. The
# detector must learn what "normal" looks like for each machine without ever being shown an
# anomaly.

# %% [markdown]
# ## 9. Summary and what comes next
#
# - DCASE 2020 Task 2 has six machine types and 41 machines; training clips are all normal, and
#   test clips are normal or anomalous. The paper trains on 36,283 clips (development plus
#   additional training) and tests on the 10,868 development test clips.
# - The paper profile downloads 12 archives with MD5 checks, resuming and all-or-nothing
#   extraction, then checks every file count against the DCASE table. Failures stop the notebook
#   with a `DownloadError` that says what to do.
# - The smoke profile uses deterministic synthetic machine sounds whose anomalies change the
#   sound's pattern, not its loudness.
# - The authors' label map puts pump 06 and slider 00 in the same class (13); a distinct map is
#   the honest alternative.
# - Files written: `tables/data_counts.*`, the waveform and log-Mel figures of the real fan clips
#   (`figures/sample_fan06_*`), and in the smoke profile `tables/synthetic_energy_baseline.*` and
#   `figures/synthetic_fan00_logmels.*`, all under `results/<profile>/`.
#
# **Next: notebook 02_features** builds the log-Mel spectrogram step by step, introduces the
# learned Wavegram, redraws the paper's Figs. 1 and 2, and shows why the authors' Wavegram carries
# only one number per frame.

# %% [markdown]
# ## Exercises
#
# Try each task first, on paper or in a new cell of your own. The cell under each task calls the
# solution, a function of `asdlib.teaching.exercises` that computes the answer with the library's own
# functions (`??ex01_split_totals` shows its code). None of them trains anything, and each takes
# under a second in either profile. The numbers they print are discussed under "Answers", at the
# end of the notebook.

# %% tags=["solutions-import"]
from asdlib.teaching.exercises import (ex01_label_collisions, ex01_sample_durations, ex01_split_totals)

# %% [markdown]
# ### Exercise 1 (compute): how big is the task?
#
# From `expected_file_counts()` (section 3), compute for each machine type the number of
# training clips (development plus additional training), the normal and the anomalous test
# clips, and the share of anomalies in the test split. Which type has the largest share of
# anomalies? Which types have the most test clips, and what does that mean for a metric that
# puts all test clips into one ROC (notebook 04)?

# %% tags=["ex:01.1"]
ex01_split_totals().round(1)

# %% [markdown]
# ### Exercise 2 (change one thing and predict): the label map
#
# (a) By hand: with the offsets fan 0, pump 7, slider 13, ToyCar 20, ToyConveyor 27, valve 34,
# which classes hold two machines? Give every type the class range from its own offset up to the
# next type's offset minus 1 (valve up to 40): which machines fall outside their own type's
# range? (The IDs are in `label_map_table()`.)
#
# (b) Change one thing: the slider offset becomes 14. Predict before you run the cell: is any
# class still shared? Does any machine now leave its type's range?

# %% tags=["ex:01.2"]
collisions = ex01_label_collisions()
display(collisions[collisions.problem != ""])
shifted = ex01_label_collisions({"fan": 0, "pump": 7, "slider": 14, "ToyCar": 20, "ToyConveyor": 27,
                                 "valve": 34})
shifted[shifted.problem != ""]

# %% [markdown]
# ### Exercise 3 (compute): how long are the real clips?
#
# Load every clip of the bundled sample with `load_wav` and compute its length in seconds. Which
# type's clips are longer than 10 s? What does `load_clip(path, 160_000)` keep of them: does it
# resample, pad or cut, and which part?

# %% tags=["ex:01.3"]
durations = ex01_sample_durations()
display(durations.groupby("machine_type")[["seconds", "samples_kept"]].agg(["min", "max"]))
print("what load_clip keeps is the start of every file:", bool(durations.kept_is_the_start.all()))

# %% [markdown]
# ## Check your understanding
#
# 1. Why does the training split hold only normal clips, and what does the detector learn instead
#    of what an anomaly sounds like?
# 2. The energy baseline of section 6 gives AUCs near 0.5. Why is that good news for the
#    synthetic data, and what would an AUC of 0.95 have meant?
# 3. An archive arrives complete, but its MD5 differs from the registered one. What does
#    `download_dcase` do, and why not use the file anyway?
# 4. Pump id_06 and slider id_00 share class 13. Name one consequence for training and one for
#    the evaluation.

# %% [markdown] tags=["answers"]
# ## Answers
#
# **Exercise 1.** 36,283 training clips (20,119 development plus 16,164 additional) and 10,868
# test clips, 5,469 of them (50.3 %) anomalous. The share differs a lot between types: fan 78.7 %
# (1,475 anomalous against 400 normal clips), ToyConveyor 31.6 %. ToyConveyor (3,509) and ToyCar
# (2,459) hold the most test clips, pump the fewest (856). A single ROC over all clips (the
# global AUC, notebook 04) therefore weighs the toy machines up to four times more than the
# pumps, while the official DCASE metric gives every machine ID the same weight.
#
# **Exercise 2.** (a) Class 13 holds pump 06 (7 + 6) and slider 00 (13 + 0). ToyCar 07 gets
# 20 + 7 = 27, which lies in ToyConveyor's range 27-33; it has no test clips, so no score moves.
# (b) With the slider offset at 14 no class is shared any more (41 distinct classes), and pump 06
# (13) is back inside pump's range 7-13; but slider 06 now gets 14 + 6 = 20, ToyCar's offset, and
# falls into ToyCar's range (it is an additional-training ID, so again no test clip moves). With
# IDs up to 06 or 07, gaps of 6 or 7 between offsets cannot hold every type; the `distinct` map,
# which numbers the 41 machines 0..40, is the safe fix.
#
# **Exercise 3.** The ToyCar clips are 11.0 s long (176,000 samples), all the others 10.0 s.
# `load_clip` neither resamples nor stretches: it keeps the first 160,000 samples, so ToyCar loses
# its last second, and a clip shorter than 10 s would be padded with zeros at the end
# (`asdlib.data.audio.fit_length`).
#
# **Check your understanding.**
#
# 1. Anomalies are rare and varied, and one cannot record every way a machine can break. The
#    detector learns instead to recognise each machine ID from its normal sounds; a test clip
#    that does not sound like its own machine gets a high score (notebooks 03 and 04).
# 2. It shows that the synthetic anomalies cannot be found by loudness alone, like real ones. An
#    AUC of 0.95 would mean that anomalous clips are simply louder (or quieter), and a trained
#    model's high AUC would then say nothing about learning the sound's pattern.
# 3. It deletes the file and raises `DownloadError`: the bytes are not the registered archive (a
#    corrupted transfer or a changed file on the server), and training on them could silently
#    change the data.
# 4. Training: the network is asked to put two different machines on one ArcFace class
#    direction (40 classes in practice). Evaluation: the authors' per-type masks count pump 06's
#    test clips as sliders and leave them out of the pump column.
