"""Profiles and runs: which runs a profile has, their configurations and folders, training and evaluating them once.

Two profiles run the same code:

- ``smoke``: synthetic 1-s machine sounds (plus the bundled real clips for the figures), a few
  epochs on a CPU; minutes. Its numbers test the pipeline and are not comparable to the paper.
- ``paper``: the full DCASE 2020 Task 2 development + additional training data, 300 epochs, GPU.

A run is ``configs/<profile>/<name>.toml`` trained into ``results/<profile>/runs/<name>``;
``<name>-seed<k>`` is the same configuration with seed + k (notebook 07). The settings
``run_all.sh`` passes through the environment (overrides, precision, seeds) are read by
``asdlib.paths`` and applied here. Explained in notebooks 03_training and 05_ablation.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from asdlib.engine.checkpoints import ConfigMismatchError, read_checkpoint
from asdlib.engine.config import RunConfig, load_config, profile_configs, run_config_from_dict
from asdlib.engine.cpu import default_threads
from asdlib.engine.device import cuda_unavailable_reason, resolve_device
from asdlib.engine.evaluate import evaluate_run
from asdlib.engine.memory import step_memory
from asdlib.engine.train import read_log, train
from asdlib.engine.workers import available_memory_bytes, map_in_workers, worker_layout
from asdlib.nets.methods import PEERS
from asdlib.nets.model import paper_length_network, parameter_counts
from asdlib.paths import (JOBS_ENV, OVERRIDES_ENV, SAMPLE_DIR, jobs_override, precision_override,
                          results_dir, run_overrides, seeds_override)

#: The runs of the paper's tables, in the order the paper lists them.
TABLE3_RUNS = {"mel_only": ("[X_Mel]", 128), "wave_only": ("[X_Wav]", 128),
               "h256": ("[X_Mel, X_Wav]", 256), "h64": ("[X_Mel, X_Wav]", 64),
               "proposed": ("[X_Mel, X_Wav]", 128)}
TABLE4_RUNS = {"no_separable_no_attention": "w/o separable convs., w/o f_ATT",
               "no_separable": "w/o separable convs.",
               "no_attention": "w/o f_ATT",
               "proposed": "Proposed approach"}
#: The peers of notebook 07, measured in the same engine (``asdlib.nets.methods.PEERS``).
PEER_RUNS = {name: info.label for name, info in PEERS.items()}
#: Honest variants (not in the paper) trained beside the paper's runs.
HONEST_RUNS = {"fixed_attention": "attention without the ReLU before the sigmoid",
               "distinct_labels": "41 distinct machine-ID classes (no pump 06 / slider 00 collision)"}
METRIC_PROTOCOLS = {"pooled": "authors' pooled per-type ROC (paper label map masks)",
                    "official": "official DCASE 2020: AUC/pAUC per machine ID, averaged per type"}
#: The clip of Figs. 2 and 3: a real anomalous fan clip from the bundled sample.
FIGURE_CLIP = SAMPLE_DIR / "fan" / "test" / "anomaly_id_06_00000129.wav"


@dataclass(frozen=True)
class Profile:
    """What a profile runs on and how long it is expected to take."""

    name: str
    description: str
    data_root: str


PROFILES = {
    "smoke": Profile("smoke", "synthetic 1-s machine sounds + the 31 bundled real clips; a few "
                     "CPU epochs. Numbers test the pipeline, they are NOT comparable to the paper.",
                     "synthetic"),
    "paper": Profile("paper", "full DCASE 2020 Task 2 development + additional training data "
                     "(36,283 training clips, 10,868 test clips), 300 epochs per run, GPU.",
                     "dcase2020"),
}


def get_profile(profile: str) -> Profile:
    """Settings of a profile (``smoke`` or ``paper``); a clear error for anything else. Notebook 01."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; expected one of {sorted(PROFILES)}")
    return PROFILES[profile]


#: Seeds per method of notebook 07 when ``$ASD_SEEDS`` is unset.
DEFAULT_SEEDS = {"smoke": 2, "paper": 1}
_SEED_SUFFIX = "-seed"


def seed_count(profile: str) -> int:
    """Seeds per method of notebook 07 (``$ASD_SEEDS``, else ``DEFAULT_SEEDS``: smoke 2, paper 1). Notebook 07."""
    override = seeds_override()
    return override if override is not None else DEFAULT_SEEDS.get(profile, 1)


def seed_run_name(name: str, k: int) -> str:
    """The run of repeat ``k`` of a configuration: ``name`` itself for k = 0, else ``name-seed<k>`` (its seed + k). Notebook 07."""
    if k < 0:
        raise ValueError(f"seed repeat {k}: must be >= 0")
    return name if k == 0 else f"{name}{_SEED_SUFFIX}{k}"


def split_seed_name(name: str) -> tuple[str, int]:
    """(configuration, repeat) of a run name: ``"idnn-seed2"`` -> ``("idnn", 2)``, ``"idnn"`` -> ``("idnn", 0)``. Notebook 07."""
    base, sep, k = name.rpartition(_SEED_SUFFIX)
    if sep and k.isdigit() and int(k) > 0 and base:
        return base, int(k)
    return name, 0


def seed_runs(profile: str, name: str, n: int | None = None) -> list[str]:
    """The run names of ``n`` seeds of one configuration (default ``seed_count(profile)``). Notebook 07."""
    return [seed_run_name(name, k) for k in range(n if n is not None else seed_count(profile))]


def run_config(profile: str, name: str, overrides: dict | None = None) -> RunConfig:
    """The configuration of one run of a profile (``configs/<profile>/<name>.toml``), with ``$ASD_RUN_OVERRIDES`` applied. Notebook 03.

    ``<name>-seed<k>`` is the same configuration trained with seed ``train.seed + k`` (notebook 07).
    """
    configs = profile_configs(profile)
    base, repeat = split_seed_name(name)
    if base not in configs:
        raise ValueError(f"no run {base!r} in profile {profile!r}; known: {sorted(configs)}")
    config = load_config(configs[base])
    if repeat:
        config = replace(config, name=name, train=replace(config.train, seed=config.train.seed + repeat))
    precision = {"train.precision": precision_override()} if precision_override() else {}
    overrides = {**precision, **run_overrides(), **(overrides or {})}
    try:
        return config.with_overrides(overrides) if overrides else config
    except ValueError as e:
        raise ValueError(f"{e} (from the overrides {overrides}; {OVERRIDES_ENV} holds "
                         f"{run_overrides() or 'nothing'})") from None


def run_dir(profile: str, name: str) -> Path:
    """Folder of one run: ``results/<profile>/runs/<name>``. Notebook 03."""
    return results_dir(profile) / "runs" / name


def run_is_complete(profile: str, name: str, config: RunConfig | None = None) -> bool:
    """Whether a run already trained all its epochs with this configuration. Notebook 03."""
    config = config or run_config(profile, name)
    last = run_dir(profile, name) / "checkpoints" / "last.pt"
    if not last.is_file():
        return False
    ckpt = read_checkpoint(last)
    same = run_config_from_dict(ckpt["config"]).identity() == config.identity()
    return same and int(ckpt["epoch"]) >= config.train.epochs


def ensure_trained(profile: str, name: str, *, overrides: dict | None = None,
                   retrain: bool = False, progress: bool = True) -> Path:
    """Train a run unless it is already complete (an interrupted run resumes). Notebook 03."""
    config = run_config(profile, name, overrides)
    folder = run_dir(profile, name)
    if retrain and folder.exists():
        shutil.rmtree(folder)
    if run_is_complete(profile, name, config):
        if progress:
            print(f"{name}: already trained ({config.train.epochs} epochs) in {folder}")
        return folder
    try:
        return train(config, folder, resume=True, progress=progress)
    except ConfigMismatchError as e:
        raise ConfigMismatchError(
            f"{e}. The configuration of run {name!r} changed since it was trained: delete "
            f"{folder} or retrain it (ensure_trained(..., retrain=True); notebook 03's parameter "
            "`retrain`) to train it afresh.") from None


def ensure_evaluated(profile: str, name: str, *, progress: bool = True) -> pd.DataFrame:
    """Evaluate a trained run (all checkpoints, three selections) unless up to date. Notebook 04."""
    if run_evaluated(profile, name):
        return pd.read_csv(run_dir(profile, name) / "evaluation" / "selection.csv")
    return evaluate_run(run_dir(profile, name), progress=progress)


#: Memory of one worker process besides its training step (Python, torch, the clip store).
WORKER_BYTES = 2 << 30


def _train_and_evaluate(profile: str, name: str, progress: bool = False) -> dict:
    """One run trained (unless complete) and evaluated, with its times (a worker process's job: quietly)."""
    t0 = time.perf_counter()
    ensure_trained(profile, name, progress=progress)
    t1 = time.perf_counter()
    ensure_evaluated(profile, name, progress=progress)
    return {"seconds_now": time.perf_counter() - t0, "eval_seconds_now": time.perf_counter() - t1}


def training_layout(profile: str, names) -> tuple[int, int]:
    """(runs at once, threads each) for training these runs: ``$ASD_JOBS``, else one run per usable core on a CPU, one at a time on a GPU or when memory is short. Notebook 05.

    Each run at once takes the memory of its training step (``engine.memory.step_memory``) and
    a Python process with torch (``WORKER_BYTES``).
    """
    names = list(names)
    configs = [run_config(profile, n) for n in names]
    wanted = jobs_override()
    if len(configs) < 2 or wanted == 1:
        return 1, default_threads()
    try:
        on_cpu = all(resolve_device(c.train.device).type == "cpu" for c in configs)
    except ValueError:  # a device that cannot be used: training says so, one run at a time
        on_cpu = False
    if not on_cpu:
        return 1, default_threads()
    per_job = WORKER_BYTES + max(step_memory(c)["peak"] for c in configs)
    return worker_layout(wanted or len(configs), len(configs), bytes_per_job=per_job,
                         available=available_memory_bytes())


def checkpoint_count(train) -> int:
    """Checkpoints a run's training settings save: every ``checkpoint_every`` epochs and the last. Notebook 04."""
    return train.epochs // train.checkpoint_every + (train.epochs % train.checkpoint_every != 0)


def ensure_runs(profile: str, names, *, insist: bool = False, progress: bool = True) -> pd.DataFrame:
    """Train (unless complete) and evaluate several runs, several at once on a CPU (``training_layout``); one row per run with its logged training time. Notebook 05."""
    names = list(names)
    todo = [n for n in names if not run_is_complete(profile, n)]
    if todo and profile == "paper" and not torch.cuda.is_available() and not insist:
        raise RuntimeError(f"runs {todo} of the paper profile still need training (300 epochs on "
                           "34,469 clips each): without a GPU that takes days. Run on a GPU, or set "
                           "insist = True (run_all.sh --insist) to go on anyway.")
    times = {}
    jobs, threads = training_layout(profile, todo)
    if jobs > 1:
        if progress:  # the workers are quiet: what each run would say about its device is said here
            why = "" if torch.cuda.is_available() else f" ({cuda_unavailable_reason()})"
            print(f"training {len(todo)} runs on the CPU{why}, {jobs} at a time with {threads} "
                  f"thread(s) each ({JOBS_ENV}=1: one after the other)", flush=True)
        bar = tqdm(total=len(todo), desc="runs", unit="run", disable=not progress)
        # the runs with the most checkpoints to score (the longest jobs) start first
        first = sorted(todo, key=lambda n: -checkpoint_count(run_config(profile, n).train))
        for (_, name), took in map_in_workers(_train_and_evaluate, [(profile, n) for n in first],
                                              jobs, threads, quiet=True):
            times[name] = took
            bar.update(1)
            if progress:
                bar.write(f"{name}: trained and evaluated in {took['seconds_now']:.0f} s "
                          f"(evaluation {took['eval_seconds_now']:.0f} s)")
        bar.close()
    rows = []
    for name in names:
        took = times[name] if name in times else _train_and_evaluate(profile, name, progress)
        log = read_log(run_dir(profile, name))
        rows.append({"run": name, "trained_now": name in todo, "epochs": len(log),
                     "train_seconds_logged": float(log["seconds"].sum()), **took})
    return pd.DataFrame(rows)


def selected_checkpoint(profile: str, name: str, protocol: str = "paper") -> Path:
    """Path of the checkpoint a selection protocol chose for a run (from its ``selection.csv``). Notebook 06."""
    sel = pd.read_csv(run_dir(profile, name) / "evaluation" / "selection.csv").set_index("protocol")
    return run_dir(profile, name) / "checkpoints" / f"epoch_{int(sel.loc[protocol, 'epoch']):04d}.pt"


def run_evaluated(profile: str, name: str) -> bool:
    """Whether a run's evaluation is up to date: newer than its last checkpoint and made by the
    current selection rule (its selection.csv has ``global_auc``). Notebook 04."""
    folder = run_dir(profile, name)
    selection = folder / "evaluation" / "selection.csv"
    last = folder / "checkpoints" / "last.pt"
    if not (selection.is_file() and last.is_file()
            and selection.stat().st_mtime > last.stat().st_mtime):
        return False
    return "global_auc" in pd.read_csv(selection, nrows=0).columns


def params_at_paper_length(config: RunConfig) -> dict[str, int]:
    """Parameter counts of a run's network built for 10-s clips (as in the paper's tables). Notebook 05.

    The global depthwise kernel of MobileFaceNet follows the input length, so a smoke model
    (1-s clips) has fewer parameters; tables always count the 10-s network.
    """
    return parameter_counts(paper_length_network(config.model))
