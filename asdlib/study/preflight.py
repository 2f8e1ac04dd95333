"""The preflight: what a profile will run, how long it will take, and whether this machine can, before anything starts.

``preflight`` prints the runs, the downloads still needed, the disk, the device and a per-run
plan of training hours (``training_plan``, from ``estimate_step_seconds``: measured per network
on a GPU; on a CPU the proposed network's step is measured and the others scaled by their MACs
per clip; every network at its run's configured clip length, 10 s in the paper profile), each
run's memory per training step (``memory_plan``: estimated from the
activations counted on the ``meta`` device, measured on a GPU) against the card, with what to
do when a run does not fit, and /dev/shm against the data loader workers; it stops
(``SystemExit(2)``) on a too-small disk, no network, no GPU, a run that does not fit the GPU
or too small a /dev/shm.
``python -m asdlib preflight --profile P`` runs it (``run_all.sh`` does, first).
Explained in notebooks 01_data and 03_training.
"""

from __future__ import annotations

import json
from dataclasses import replace
import shutil
import sys
import time

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from asdlib.data.dcase import APPROX_ARCHIVE_BYTES, paper_archives
from asdlib.data.download import check_network as network_ok
from asdlib.data.local_data import DataTreeError, existing_tree
from asdlib.engine.complexity import count_macs
from asdlib.engine.config import RunConfig, profile_configs
from asdlib.engine.device import shm_problem
from asdlib.engine.memory import GiB, fitting_accumulate, memory_advice, step_memory, usable_bytes
from asdlib.engine.train import build_optimizer, resolve_device
from asdlib.nets.loss import draw_mix
from asdlib.nets.methods import step_output
from asdlib.nets.model import build_model
from asdlib.paths import data_dir, dcase_dir, precision_override
from asdlib.study.runs import PEER_RUNS, get_profile, run_config, seed_count


def estimate_step_seconds(device: str = "auto", batch_size: int = 64, steps: int = 3,
                          precision: str = "fp32", config: RunConfig | None = None) -> float:
    """Measured seconds of one training step of a run's network (default: the paper's proposed model) on a device (fp32 or bf16). Notebook 03.

    The step is the trainer's own (``methods.step_output``, mixup with the run's alpha, backward,
    optimiser step) on random clips of the run's configured length (10 s in the paper profile);
    data loading is not included.
    """
    config = config or RunConfig()
    dev = resolve_device(device)
    net = build_model(config.model).to(dev)
    opt, _ = build_optimizer(net, config.train)
    x = torch.randn(batch_size, net.config.num_samples, device=dev)
    y = torch.randint(0, 41, (batch_size,), device=dev)
    rng, gen = np.random.default_rng(0), torch.Generator().manual_seed(0)
    times = []
    for _ in range(steps + 1):
        t = time.perf_counter()
        lam, perm = draw_mix(batch_size, config.train.mixup_alpha, rng, gen, dev)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            out = step_output(net, x, y, perm, lam)
        loss = out.float() if out.dim() == 0 else (
            lam * F.cross_entropy(out.float(), y) + (1 - lam) * F.cross_entropy(out.float(), y[perm]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return sorted(times[1:])[len(times[1:]) // 2]


def _macs_per_clip(model_config) -> int:
    """MACs per clip of a run's network at its configured length (``complexity.count_macs``)."""
    return count_macs(build_model(model_config))["total"]


#: Training clips of the DCASE 2020 Task 2 paper profile per ``data.training_sets``.
TRAIN_CLIPS = {"development+additional": 36_283, "development": 20_119}
#: Five-frame windows of a 10-s clip (313 frames): what one clip weighs in a window batch.
WINDOWS_PER_CLIP = 313 - 4


def training_plan(profile: str, runs, seeds: int, step_seconds) -> pd.DataFrame:
    """Per configured run: repeats (seeds for the proposed model and the peers), steps and estimated device hours. Notebook 07.

    ``step_seconds(config)`` gives the seconds of one training step of a run's configuration.
    Steps per epoch count the run's training clips (36,283, or 20,119 for the development set
    only) minus the validation hold-out. A run batched in windows (``train.batch_unit =
    "windows"``) steps once per ``batch_size`` windows; its step is timed as a step of the same
    work in clips (``batch_size / 309`` ten-second clips, at least one).
    """
    rows = []
    for name in runs:
        config = run_config(profile, name)
        repeats = seeds if name in ("proposed", *PEER_RUNS) else 1
        clips = int(TRAIN_CLIPS[config.data.training_sets] * (1 - config.data.val_fraction))
        if config.train.batch_unit == "windows":
            steps = -(-clips * WINDOWS_PER_CLIP // config.train.batch_size)
            as_clips = max(1, round(config.train.batch_size / WINDOWS_PER_CLIP))
            timed = replace(config, train=replace(config.train, batch_size=as_clips, batch_unit="clips"))
        else:
            steps, timed = -(-clips // config.train.batch_size), config
        step = step_seconds(timed)
        rows.append({"run": name, "repeats": repeats, "batch_size": config.train.batch_size,
                     "epochs": config.train.epochs, "step_seconds": step,
                     "hours": step * steps * config.train.epochs * repeats / 3600})
    return pd.DataFrame(rows)


def memory_plan(profile: str, runs, card_bytes: int | None = None, card: str = "the GPU",
                measured: dict | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Per run: the estimated (and, where given, measured) peak GiB of a training step, and the advice lines for the runs that do not fit a card of ``card_bytes``. Notebook 03.

    ``measured`` maps run names to peaks measured on the GPU (bytes; -1: the measurement ran out
    of memory), which then decide.
    """
    rows, advice = [], []
    for name in runs:
        config = run_config(profile, name)
        micro = config.train.batch_size // config.train.accumulate
        peak = step_memory(config)["peak"]
        got = (measured or {}).get(name)
        row = {"run": name, "batch": micro, "estimated_gib": round(peak / GiB, 2)}
        if measured is not None:
            row["measured_gib"] = None if got is None else ("out of memory" if got < 0 else round(got / GiB, 2))
        if card_bytes:
            out_of_memory = got is not None and got < 0  # the measurement itself ran out of memory
            decide = max(peak, card_bytes) if out_of_memory else (got if got is not None else peak)
            k = fitting_accumulate(config, decide, card_bytes)
            row["fits"] = k is None
            line = memory_advice(name, config, decide, card_bytes, card, measured=got is not None)
            if line:
                advice.append(line.replace(f"needs ~{decide / GiB:.1f} GiB (measured)",
                                           "ran out of memory when measured") if out_of_memory else line)
        rows.append(row)
    return pd.DataFrame(rows), advice


def preflight(profile: str, *, insist: bool = False, runs=None, check_network: bool = True,
              check_content: bool = False, gpu_memory_gib: float | None = None) -> dict:
    """Print the plan of a profile and stop early (SystemExit) on a too-small disk, no network or no GPU. Notebook 01.

    ``insist=True`` goes on without a GPU (the time estimate is shown first). An existing DCASE
    tree at ``asdlib.paths.dcase_dir()`` (``run_all.sh --data-root``) that matches the file counts
    (and, with ``check_content=True``, every WAV header) needs neither archives nor network; one
    that differs stops the preflight with the groups that differ. ``gpu_memory_gib``: plan the
    memory for a card of that size (default: the GPU here, if any).
    """
    p = get_profile(profile)
    runs = list(runs or profile_configs(profile))
    plan = {"profile": profile, "runs": runs}
    print(f"Profile {profile}: {p.description}")
    print(f"Runs ({len(runs)}): {', '.join(runs)}")
    if profile != "paper":
        print("Nothing to download; the smoke profile runs on a CPU in minutes.")
        return plan
    archives = paper_archives()
    root = dcase_dir()
    try:
        tree = existing_tree(root, content=check_content, progress=True)
    except DataTreeError as exc:
        print(f"PREFLIGHT STOP: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if tree is not None:
        print(f"Data: {tree.summary()}")
        plan["data"] = {"root": str(root), "existing_tree": True, "files": tree.n_files,
                        "content_checked": tree.content_checked, "counts": tree.counts_source}
        missing = []
    else:
        missing = [a for a in archives if not (root / f".extracted-{a.name}").exists()]
    need = len(missing) * APPROX_ARCHIVE_BYTES * 2 + 20 * 10**9  # archives + WAVs + store/results
    data_dir().mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(data_dir()).free
    print(f"Downloads: {len(missing)} of {len(archives)} archives still needed (~15 GB in all); "
          f"disk needed ~{need / 1e9:.0f} GB, free {free / 1e9:.0f} GB at {data_dir()}")
    problems = []
    if free < need:
        problems.append(f"not enough disk: need about {need / 1e9:.0f} GB, {free / 1e9:.0f} GB free "
                        f"at {data_dir()} (set ASD_DATA_DIR to a bigger disk)")
    if missing and check_network and not network_ok():
        problems.append("the network is down or zenodo.org is unreachable, and archives are still "
                        "missing (place them under data/dcase2020 or retry online)")
    cuda = torch.cuda.is_available()
    precision = precision_override() or "fp32"
    card, card_bytes = None, None
    if gpu_memory_gib:
        card, card_bytes = f"a {gpu_memory_gib:g} GiB card", int(gpu_memory_gib * GiB)
    elif cuda:
        props = torch.cuda.get_device_properties(0)
        card, card_bytes = props.name, int(props.total_memory)
    memory, advice = memory_plan(profile, runs, card_bytes, card or "the GPU")
    too_big = {line.split(":", 1)[0] for line in advice}
    peaks: dict[str, int] = {}
    seeds = seed_count(profile)
    measured: dict[tuple, float] = {}

    def step_seconds(config: RunConfig) -> float:
        # GPU: one measurement per network and batch (a few steps each). CPU: a step of 64
        # ten-second clips takes ~1 min and ~12 GB RAM, so only the proposed network is timed
        # (8 clips, scaled to the batch) and the others are scaled by their MACs per clip. Each
        # network has its run's configured clip length (a rehearsal's overrides included), as in
        # the memory plan.
        if cuda:
            # a run that does not fit is timed at the micro-batch that does (train.accumulate)
            k = fitting_accumulate(config, step_memory(config)["peak"], card_bytes) if config.name in too_big else None
            k = k or 1
            key = (json.dumps(config.model.to_dict(), sort_keys=True), config.train.batch_size, k)
            if key not in measured:
                torch.cuda.reset_peak_memory_stats()
                try:
                    measured[key] = k * estimate_step_seconds("auto", config.train.batch_size // k,
                                                              precision=precision, config=config)
                except torch.cuda.OutOfMemoryError:
                    measured[key] = float("nan")
                    peaks[config.name] = -1
                else:
                    if k == 1:
                        peaks[config.name] = int(torch.cuda.max_memory_allocated())
                torch.cuda.empty_cache()
            return measured[key]
        def macs(model) -> int:  # once per network: the ablation runs share a few
            key = ("macs", json.dumps(model.to_dict(), sort_keys=True))
            if key not in measured:
                measured[key] = _macs_per_clip(model)
            return measured[key]

        if "cpu" not in measured:
            proposed = run_config(profile, "proposed")
            measured["cpu"] = estimate_step_seconds("cpu", 8, 1, precision=precision, config=proposed) / 8
            measured["macs"] = macs(proposed.model)
        return measured["cpu"] * config.train.batch_size * macs(config.model) / measured["macs"]

    table = training_plan(profile, runs, seeds, step_seconds)
    if cuda and not gpu_memory_gib:  # what the GPU measured decides (-1: out of memory)
        memory, advice = memory_plan(profile, runs, card_bytes, card, peaks)
    hours = float(table["hours"].sum())
    step = float(table.set_index("run")["step_seconds"].get("proposed", table["step_seconds"].iloc[0]))
    device = torch.cuda.get_device_name(0) if cuda else "CPU (no GPU)"
    how = ("measured per network" if cuda else
           "the proposed network's measured, the others scaled by their MACs per clip")
    print(f"Device: {device}; {precision} training steps {how} (proposed: {step:.3f} s per step "
          f"of 64 clips); seeds per compared method: {seeds} (run_all.sh --seeds N)")
    print(table.assign(hours=table["hours"].round(2), step_seconds=table["step_seconds"].round(4))
          .to_string(index=False))
    print(f"-> ~{hours:.1f} h of training for {int(table['repeats'].sum())} trainings "
          "(training steps only, one device)")
    how = ("estimated: the activations a step saves, counted on the meta device, + weights, "
           "gradients, optimiser state" + ("; measured on this GPU where it ran" if cuda and not gpu_memory_gib else ""))
    print(f"Memory per training step ({how}):")
    print(memory.to_string(index=False))
    if card_bytes:
        print(f"Card: {card}" + ("" if "GiB" in card else f", {card_bytes / GiB:.1f} GiB")
              + f" (a step may use ~{usable_bytes(card_bytes) / GiB:.1f} GiB: 10 % of it and 1 GiB are "
              "kept for the CUDA context and cuDNN); "
              + ("every run fits." if not advice else f"{len(advice)} run(s) do not fit:"))
        for line in advice:
            print(f"MEMORY: {line}")
    else:
        print("No GPU here: pass --gpu-memory-gib N to check the runs against a card of N GiB.")
    shm = sorted({msg for name in runs for c in [run_config(profile, name)]
                  if c.train.batch_unit == "clips"
                  for msg in [shm_problem(c.train.num_workers, c.train.prefetch_factor,
                                          c.train.batch_size, c.model.num_samples)] if msg})
    for msg in shm:
        problems.append(f"shared memory: {msg}")
    plan.update({"device": device, "precision": precision, "step_seconds": step, "seeds": seeds,
                 "estimated_hours": hours, "plan": table.to_dict("records"),
                 "memory": memory.to_dict("records"), "memory_advice": advice,
                 "card": card, "card_gib": None if not card_bytes else card_bytes / GiB})
    if cuda and advice and not gpu_memory_gib:
        problems.append(f"{len(advice)} run(s) do not fit {card}: follow the MEMORY lines above")
    if not cuda and not insist:
        problems.append(f"no CUDA GPU: the paper profile would take ~{hours:.0f} h on this CPU; "
                        "run on a GPU, or pass --insist to run anyway")
    if problems:
        for msg in problems:
            print(f"PREFLIGHT STOP: {msg}", file=sys.stderr)
        raise SystemExit(2)
    return plan
