"""The training engine: seeded, resumable, logged training of one run configuration.

What it does per epoch (the authors' recipe, paper-facts section 2): waveform mixup with one
``lam ~ Beta(0.2, 0.2)`` per batch and the Noisy-ArcMix loss, AdamW, cosine annealing stepped per
epoch, a validation pass on a seeded 5 % hold-out, a JSON-lines log, and checkpoints (every
``checkpoint_every`` epochs, the last epoch, and a rolling ``last.pt`` for resuming).

Every random choice of epoch ``e`` (clip order, mixup lambdas and partners) is drawn from a
generator seeded by ``(seed, e)``, so a run resumed from any checkpoint, even after ``kill -9``,
continues exactly as the uninterrupted run would have. Under ``torchrun`` the same code trains
with DistributedDataParallel (NCCL on GPUs, gloo on CPU), the global batch split over processes.
The peers of notebook 07 train in this same loop: their step, validation loss, optimiser
(``train.optimizer``) and schedule (``train.scheduler``) come from their configuration and
``asdlib.nets.methods``. Explained in notebook 03_training.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from asdlib.engine.checkpoints import (ConfigMismatchError, check_same_config, read_checkpoint, restore_rng_state,
                                       save_checkpoint)
from asdlib.engine.config import RunConfig
from asdlib.engine.device import (apply_precision, check_precision, cuda_unavailable_reason,
                                  describe_runtime, resolve_device, runtime_info, shm_problem)
from asdlib.engine.distributed import per_process_batch, sync_batchnorm
from asdlib.engine.run_folder import claim_run_folder
from asdlib.nets.loss import draw_mix
from asdlib.nets.methods import check_label_map, has_classes, step_output, validation_batch
from asdlib.nets.model import build_model
from asdlib.data.audio import load_wav
from asdlib.data.dataset import add_class_index, scan_dataset
from asdlib.data.dcase import DEV_IDS
from asdlib.nets.peers.build import PER_TYPE_KINDS, PerMachineType, type_of_class
from asdlib.data.store import build_store, StoreDataset

# --------------------------------------------------------------------------- small helpers

def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA). Notebook 03."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def epoch_generators(seed: int, epoch: int) -> tuple[np.random.Generator, torch.Generator]:
    """The NumPy and torch generators of one epoch, seeded by ``(seed, epoch)``. Notebook 03."""
    ss = np.random.SeedSequence([seed, epoch])
    rng = np.random.default_rng(ss)
    gen = torch.Generator().manual_seed(int(ss.generate_state(1, np.uint64)[0] % 2**63))
    return rng, gen


def split_validation(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of ``n`` training clips into (train, validation) positions. Notebook 03."""
    perm = np.random.default_rng(np.random.SeedSequence([seed, 0xDCA5E])).permutation(n)
    n_val = int(round(fraction * n))
    if fraction > 0 and n_val == 0 and n > 1:
        n_val = 1
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def _dist_info() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    return world, rank, local


class NonFiniteLossError(RuntimeError):
    """Training stopped: the loss became NaN or infinite (too high a learning rate, or bad data)."""


def _finite_loss(loss: torch.Tensor, config: RunConfig, epoch: int, step: int, optimizer, where: str = "") -> float:
    """The loss as a number; a NaN or infinite one stops the run before its step (the weights stay the last good ones)."""
    value = loss.item()
    if not math.isfinite(value):
        raise NonFiniteLossError(
            f"{config.name}: the training loss is {value} at epoch {epoch}, step {step} ({where}lr "
            f"{optimizer.param_groups[0]['lr']:g}); nothing of this epoch was saved. Lower train.lr, or "
            "check the data; the run resumes from its last checkpoint")
    return value


class _StepModule(nn.Module):
    """Wraps the network so that one ``forward`` gives a training step's output (what DDP needs).

    ``methods.step_output``: the margin logits on the mixed batch, or a reconstruction loss.
    """

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, wave, target, perm, lam: float, rows=None):
        return step_output(self.net, wave, target, perm, lam, rows)


# --------------------------------------------------------------------------- data

@dataclass
class TrainData:
    """The clip stores and index sets of a run: train/validation positions in the train store."""

    store: "object"
    train_idx: np.ndarray
    val_idx: np.ndarray
    targets: np.ndarray


def training_table(config: RunConfig) -> pd.DataFrame:
    """The run's training clips (``train`` split of the data root) with class indices. Notebook 03."""
    table = scan_dataset(config.data.root_path(), machine_types=config.data.machine_types,
                         splits=("train",))
    table = add_class_index(table, config.data.label_map)
    if config.data.training_sets == "development":  # the DCASE baseline's development mode
        dev = table.apply(lambda r: r["machine_id"] in DEV_IDS.get(r["machine_type"], ()), axis=1)
        table = table[dev.astype(bool)].reset_index(drop=True)
    if config.data.max_train_clips and len(table) > config.data.max_train_clips:
        rng = np.random.default_rng(np.random.SeedSequence([config.train.seed, 0x5EED]))
        keep = np.sort(rng.choice(len(table), config.data.max_train_clips, replace=False))
        table = table.iloc[keep].reset_index(drop=True)
    return table


def prepare_data(config: RunConfig, *, progress: bool = True, store_root=None) -> TrainData:
    """Scan, label, decode into a store (once) and split the run's training clips. Notebook 03."""
    table = training_table(config)
    world, rank, _ = _dist_info()
    name = f"train-{Path(config.data.root).name}"
    if world > 1 and dist.is_initialized():
        if rank == 0:
            store = build_store(table, config.model.num_samples, name=name, root=store_root,
                                progress=progress)
        dist.barrier()
        if rank != 0:
            store = build_store(table, config.model.num_samples, name=name, root=store_root,
                                progress=False)
    else:
        store = build_store(table, config.model.num_samples, name=name, root=store_root,
                            progress=progress)
    train_idx, val_idx = split_validation(len(store), config.data.val_fraction, config.train.seed)
    targets = store.table["class_index"].to_numpy().astype(np.int64)
    return TrainData(store, train_idx, val_idx, targets)


def _loader(data: TrainData, positions: np.ndarray, batch_size: int, workers: int,
            device: torch.device, prefetch_factor: int = 4) -> torch.utils.data.DataLoader:
    ds = StoreDataset(data.store, positions, data.targets[positions])
    return torch.utils.data.DataLoader(
        ds, batch_size=batch_size, shuffle=False, num_workers=workers,
        pin_memory=device.type == "cuda", persistent_workers=False,
        prefetch_factor=prefetch_factor if workers > 0 else None)


class _EpochOrder(torch.utils.data.Sampler):
    """The store positions of the current epoch, in order; set each epoch, so that one loader
    (and its workers, kept alive between epochs) serves every epoch."""

    def __init__(self):
        self.order = np.empty(0, dtype=np.int64)

    def __iter__(self):
        return iter(self.order.tolist())

    def __len__(self) -> int:
        return len(self.order)


def _epoch_loader(data: TrainData, sampler: _EpochOrder, batch_size: int, workers: int,
                  device: torch.device, prefetch_factor: int) -> torch.utils.data.DataLoader:
    ds = StoreDataset(data.store, np.arange(len(data.store)), data.targets)
    return torch.utils.data.DataLoader(
        ds, batch_size=batch_size, sampler=sampler, num_workers=workers,
        pin_memory=device.type == "cuda", persistent_workers=workers > 0,
        prefetch_factor=prefetch_factor if workers > 0 else None)


# --------------------------------------------------------------------------- window batches

def window_frames(net: PerMachineType, data: TrainData, positions: np.ndarray, device: torch.device,
                  progress: bool = False, whole_clips: bool = False) -> dict[str, torch.Tensor]:
    """Each machine type's training clips as log-Mel frames (clips, frames, n_mels), computed once by its model's front end. Notebook 07.

    ``whole_clips``: each clip decoded whole from its WAV file (ToyCar 11 s, as the DCASE
    baseline) instead of the store's first ``clip_seconds``; within one type the clips are cut
    to the shortest (all clips of a DCASE machine type have one length).
    """
    kind_of_class = type_of_class("distinct")
    by_type: dict[str, list[int]] = {t: [] for t in net.models}
    for p in positions:
        by_type.setdefault(kind_of_class[int(data.targets[p])], []).append(int(p))
    out = {}
    for t, model in net.models.items():
        chunks = []
        mine = np.asarray(by_type.get(t, []), dtype=np.int64)
        with torch.no_grad():
            if whole_clips:
                paths = data.store.table["path"].to_numpy()[mine]
                for path in tqdm(paths, desc=f"log-Mel frames of {t}", disable=not progress, leave=False):
                    wave = torch.from_numpy(load_wav(path))[None].to(device)
                    chunks.append(model.logmel(wave).transpose(1, 2).cpu())
                shortest = min((c.shape[1] for c in chunks), default=0)
                chunks = [c[:, :shortest] for c in chunks]
            else:
                loader = _loader(data, mine, 32, 0, device)
                for wave, _ in tqdm(loader, desc=f"log-Mel frames of {t}", disable=not progress, leave=False):
                    chunks.append(model.logmel(wave.to(device).float()).transpose(1, 2).cpu())
        out[t] = torch.cat(chunks) if chunks else torch.empty(0)
    return out


def window_batches(frames: dict[str, torch.Tensor], batch_size: int, window: int, rng: np.random.Generator,
                   max_batches: int | None = None):
    """Batches of ``window``-frame windows (batch, window, n_mels), each of one machine type, shuffled over all its clips. Notebook 07.

    Yields ``(type, windows, clip positions)``; every window of every type is visited once per
    call (at most ``max_batches`` batches per type); a last batch of one window is dropped
    (BatchNorm cannot train on it).
    """
    offsets = torch.arange(window)
    for t, mels in frames.items():
        if mels.numel() == 0:
            continue
        per_clip = mels.shape[1] - window + 1
        order = rng.permutation(mels.shape[0] * per_clip)
        starts = list(range(0, len(order), batch_size))
        if len(order) - starts[-1] == 1 and len(starts) > 1:
            starts = starts[:-1]
        for k, i in enumerate(starts):
            if max_batches and k >= max_batches:
                break
            idx = torch.from_numpy(order[i:i + batch_size])
            clip, start = idx // per_clip, idx % per_clip
            yield t, mels[clip[:, None], start[:, None] + offsets], clip


# --------------------------------------------------------------------------- checkpoints

# --------------------------------------------------------------------------- training

@torch.no_grad()
def validate(net: nn.Module, loader, device: torch.device, amp: bool) -> dict:
    """Validation loss and machine-ID accuracy (``amp``: bf16 autocast). Notebook 03.

    The loss is the unmixed ArcFace cross-entropy for classifiers, the reconstruction error for
    IDNN and the autoencoder (``val_acc`` None for them; ``methods.validation_batch``).
    """
    net.eval()
    total, loss_sum, correct = 0, 0.0, 0
    for wave, target in loader:
        wave, target = wave.to(device, non_blocking=True), target.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss, right = validation_batch(net, wave, target)
        loss_sum += loss
        correct = None if right is None else correct + right
        total += len(target)
    return {"val_loss": loss_sum / max(total, 1),
            "val_acc": None if correct is None else correct / max(total, 1)}


def build_optimizer(net: nn.Module, s) -> tuple[torch.optim.Optimizer, object]:
    """The optimiser (``adamw``, the authors', or ``adam``) and the per-epoch lr schedule (``cosine`` or ``constant``) of a run. Notebook 03.

    The schedule is stepped after each epoch past ``scheduler_start_epoch`` (the training loop does it).
    """
    opt_cls = {"adamw": torch.optim.AdamW, "adam": torch.optim.Adam}[s.optimizer]
    optimizer = opt_cls(net.parameters(), lr=s.lr, weight_decay=s.weight_decay)
    if s.scheduler == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=s.cosine_t_max or s.epochs, eta_min=s.lr * s.eta_min_ratio)
    else:
        scheduler = torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)
    return optimizer, scheduler


#: Steps between two reads of the loss on a GPU (each read waits for the GPU); every step on a CPU.
GPU_SYNC_EVERY = 50


def train(config: RunConfig, out_dir: str | Path, *, resume: bool = True, progress: bool = True,
          data: TrainData | None = None, store_root=None, force: bool = False) -> Path:
    """Train one configuration into ``out_dir`` (log, checkpoints), resuming when possible. Notebook 03.

    Returns the run folder. ``out_dir/train_log.jsonl`` holds one line per epoch (train loss and
    accuracy, validation loss and accuracy, lr, seconds, seconds waiting for data, processes).
    The run prints its device, card, precision and batch at start and writes them into
    ``config.json`` (``runtime``); ``device = "auto"`` falling back to the CPU says why. The folder
    is held for the whole training (``run_folder.claim_run_folder``): a second training of it is
    refused, and so is a folder of unrelated files unless ``force``.
    """
    out_dir = Path(out_dir)
    lock = claim_run_folder(out_dir, force=force) if _dist_info()[1] == 0 else None
    try:
        return _train_in_claimed_folder(config, out_dir, resume=resume, progress=progress,
                                        data=data, store_root=store_root)
    finally:
        if lock is not None:
            lock.release()


def _train_in_claimed_folder(config: RunConfig, out_dir: Path, *, resume: bool, progress: bool,
                             data: TrainData | None, store_root) -> Path:
    """``train`` once its folder is held (rank 0 holds it under DDP)."""
    world, rank, local_rank = _dist_info()
    distributed = world > 1
    s = config.train
    per_rank_batch = per_process_batch(s.batch_size, world, s.accumulate)  # before anything starts
    if distributed and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() and config.train.device != "cpu" else "gloo"
        dist.init_process_group(backend)
    device = resolve_device(config.train.device)
    if distributed and device.type == "cuda":
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    main = rank == 0
    check_precision(device, s.precision)
    apply_precision(device, s.tf32)
    amp = config.train.precision == "bf16"  # bf16 autocast, opt-in; the authors trained in fp32
    seed_everything(config.train.seed)

    check_label_map(config.model, config.data.label_map)  # before anything is written
    if config.train.batch_unit == "windows":
        if config.model.kind not in PER_TYPE_KINDS:
            raise ValueError(f"train.batch_unit = \"windows\" is for the window models {list(PER_TYPE_KINDS)}, "
                             f"not model kind {config.model.kind!r}")
        if distributed:
            raise ValueError("train.batch_unit = \"windows\" trains on one process (the models are small); "
                             "run it without torchrun")
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world))
    shm = shm_problem(s.num_workers * local_world, s.prefetch_factor, per_rank_batch,
                      config.model.num_samples)
    if shm and s.batch_unit == "clips":
        raise ValueError(f"{config.name}: {shm}")
    info = runtime_info(device, s.precision, s.tf32, world=world, batch_size=s.batch_size,
                        accumulate=s.accumulate, sync_batchnorm=s.sync_batchnorm)
    if main:
        if config.train.device == "auto" and device.type == "cpu":
            print(f"{config.name}: warning: {cuda_unavailable_reason()}; training on the CPU "
                  "(set train.device = \"cuda\" to stop instead)", file=sys.stderr, flush=True)
        print(describe_runtime(config.name, info), flush=True)
    ckpt_dir = out_dir / "checkpoints"
    if main:
        ckpt_dir.mkdir(parents=True, exist_ok=True)

    if data is None:
        data = prepare_data(config, progress=progress and main, store_root=store_root)
    net = build_model(config.model).to(device)
    optimizer, scheduler = build_optimizer(net, s)

    start_epoch = 1
    last = ckpt_dir / "last.pt"
    log_path = out_dir / "train_log.jsonl"
    if resume and last.is_file():
        ckpt = read_checkpoint(last)
        check_same_config(ckpt, config, last)
        before = (ckpt.get("log") or {}).get("world_size")
        if before is not None and int(before) != world:
            raise ConfigMismatchError(
                f"{last} was trained on {before} process(es), this run has {world}: resume it with "
                f"the same number (torchrun --nproc_per_node {before}), or start over with --no-resume")
        net.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        restore_rng_state(ckpt["rng"])
        start_epoch = int(ckpt["epoch"]) + 1
        if main and log_path.is_file():  # drop log lines of epochs that will be redone
            rows = [ln for ln in log_path.read_text().splitlines()
                    if ln.strip() and json.loads(ln)["epoch"] < start_epoch]
            log_path.write_text("".join(r + "\n" for r in rows))
        if main and progress:
            print(f"resuming {config.name} from {last} at epoch {start_epoch}")
    elif main and log_path.exists():
        log_path.unlink()
    if main:  # only now: a refused resume must leave the run's config.json as it was
        (out_dir / "config.json").write_text(json.dumps({**config.to_dict(), "runtime": info}, indent=1))

    if distributed and s.sync_batchnorm:  # BatchNorm over the global batch, as on one GPU
        net = sync_batchnorm(net, device)
    step_module = _StepModule(net)
    if distributed:
        # static_graph: the same parameters are used every step (fc_out never is, as in the
        # authors' code), so DDP finds the unused ones once instead of searching every step; a
        # per-machine-type model uses only the types in each batch, so it searches every step
        varying = isinstance(net, PerMachineType)
        step_module = nn.parallel.DistributedDataParallel(
            step_module, device_ids=[local_rank] if device.type == "cuda" else None,
            static_graph=not varying, find_unused_parameters=varying)
    if s.compile:  # opt-in: the same step through torch.compile (fused kernels, same fp32 math)
        step_module = torch.compile(step_module)

    val_loader = _loader(data, data.val_idx, per_rank_batch, 0, device) if len(data.val_idx) else None
    kill_after = int(os.environ.get("ASDLIB_KILL_AFTER_STEPS", "0"))  # test hook: kill -9 mid-run
    sync_every = GPU_SYNC_EVERY if device.type == "cuda" else 1
    steps_done = 0
    windows, window_length = None, 0
    if s.batch_unit == "windows":  # log-Mel frames of every training clip, once (deterministic)
        windows = window_frames(net, data, data.train_idx, device, progress and main,
                                whole_clips=config.model.whole_clips)
        window_length = next(iter(net.models.values())).frames
        epoch_order, loader = None, None
    else:  # one loader for every epoch: its workers stay alive (persistent_workers)
        epoch_order = _EpochOrder()
        loader = _epoch_loader(data, epoch_order, per_rank_batch, s.num_workers, device,
                               s.prefetch_factor)

    for epoch in range(start_epoch, s.epochs + 1):
        rng, gen = epoch_generators(s.seed, epoch)
        if windows is not None:  # IDNN, the DCASE autoencoder: batches of windows of one type
            net.train()
            t_epoch, wait = time.perf_counter(), 0.0
            acc_sum, seen, steps_epoch = 0.0, 0, 0
            loss_total = torch.zeros((), device=device)  # summed on the device, read every sync_every steps
            pending, first = torch.zeros((), device=device), steps_done + 1
            for kind, w, _ in window_batches(windows, s.batch_size, window_length, rng, s.max_steps_per_epoch):
                w = w.to(device, non_blocking=True)
                check = sync_every == 1 or (steps_epoch + 1) % sync_every == 0
                optimizer.zero_grad(set_to_none=True)
                parts = w.chunk(s.accumulate)  # train.accumulate: micro-batches, one step
                for j, part in enumerate(parts):
                    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                        loss = net.models[kind].window_loss(part).float() * (len(part) / len(w))
                    pending = pending + loss.detach()
                    if check and j == len(parts) - 1:  # before the optimiser step
                        where = f"{kind}, " if first == steps_done + 1 else f"in one of steps {first}-{steps_done + 1}, "
                        _finite_loss(pending, config, epoch, steps_done + 1, optimizer, where=where)
                        pending, first = torch.zeros((), device=device), steps_done + 2
                    loss.backward()
                    loss_total += loss.detach() * len(w)
                optimizer.step()
                seen += len(w)
                steps_epoch += 1
                steps_done += 1
                if kill_after and steps_done >= kill_after:
                    os.kill(os.getpid(), signal.SIGKILL)
            if first <= steps_done:  # the steps since the last check, before anything is saved
                _finite_loss(pending, config, epoch, steps_done, optimizer, where=f"in one of steps {first}-{steps_done}, ")
            loss_sum = float(loss_total)
        else:
            order = data.train_idx[rng.permutation(len(data.train_idx))]
            order = order[: len(order) - len(order) % world][rank::world]  # equal shards
            if len(order) > 1 and len(order) % per_rank_batch == 1:
                order = order[:-1]  # BatchNorm cannot train on a last batch of one clip
            if s.max_steps_per_epoch:  # smoke profile, rehearsals, tests: the first N batches only
                order = order[: int(s.max_steps_per_epoch) * per_rank_batch]
            epoch_order.order = order
            steps_epoch = len(loader)
            net.train()
            t_epoch = time.perf_counter()
            wait = 0.0
            # running sums stay on the device: the step never waits for the GPU to read them
            loss_total = torch.zeros((), device=device)
            acc_total = torch.zeros((), device=device)
            pending = torch.zeros((), device=device)  # losses since the last finiteness check
            seen = 0
            bar = tqdm(total=len(loader), desc=f"{config.name} epoch {epoch}/{s.epochs}",
                       disable=not (progress and main), leave=False, unit="batch")
            t_wait = time.perf_counter()
            for k, (wave, target) in enumerate(loader, 1):
                wait += time.perf_counter() - t_wait
                wave = wave.to(device, non_blocking=True)
                target = target.to(device, non_blocking=True)
                lam, perm = draw_mix(len(target), s.mixup_alpha, rng, gen, device)
                y_a, y_b = target, target[perm]
                n = len(target)
                parts = (torch.arange(n, device=device).chunk(s.accumulate) if s.accumulate > 1
                         else [None])
                check = sync_every == 1 or k % sync_every == 0 or k == steps_epoch
                optimizer.zero_grad(set_to_none=True)
                for j, rows in enumerate(parts):
                    share = 1.0 if rows is None else len(rows) / n
                    ya, yb = (y_a, y_b) if rows is None else (y_a[rows], y_b[rows])
                    quiet = (step_module.no_sync() if distributed and j < len(parts) - 1
                             else contextlib.nullcontext())
                    with quiet:
                        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                            out = step_module(wave, y_a, perm, lam, rows)
                        if out.dim() == 0:  # a reconstruction model: the step gave its loss
                            loss, logits = out.float(), None
                        else:
                            logits = out.float()
                            loss = lam * F.cross_entropy(logits, ya) + (1 - lam) * F.cross_entropy(logits, yb)
                        loss = loss * share
                        pending = pending + loss.detach()
                        if check and j == len(parts) - 1:  # before the optimiser step
                            first = steps_done + 1 - (k - 1) % sync_every
                            where = "" if first == steps_done + 1 else f"in one of steps {first}-{steps_done + 1}, "
                            try:
                                _finite_loss(pending, config, epoch, steps_done + 1, optimizer, where=where)
                            except NonFiniteLossError:
                                bar.close()
                                raise
                            pending = torch.zeros((), device=device)
                        loss.backward()
                    loss_total += loss.detach() * n
                    if logits is not None:
                        acc_total += (logits.detach().argmax(1) == ya).sum()
                optimizer.step()
                seen += n
                bar.update(1)
                if progress and main and (sync_every == 1 or k % sync_every == 0):
                    bar.set_postfix(loss=f"{float(loss_total) / seen:.3f}",
                                    acc=f"{float(acc_total) / seen:.2f}")
                steps_done += 1
                if kill_after and steps_done >= kill_after:
                    os.kill(os.getpid(), signal.SIGKILL)
                t_wait = time.perf_counter()
            bar.close()
            loss_sum, acc_sum = float(loss_total), float(acc_total)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t_epoch
        lr = optimizer.param_groups[0]["lr"]
        if epoch > s.scheduler_start_epoch:  # STgram-MFN: constant lr for its first 20 epochs
            scheduler.step()
        row = {"epoch": epoch, "train_loss": loss_sum / max(seen, 1),
               "train_acc": acc_sum / max(seen, 1) if has_classes(net) else None,
               "lr": lr, "seconds": seconds,
               "data_wait_seconds": wait, "data_wait_fraction": wait / max(seconds, 1e-9),
               "steps": steps_epoch, "world_size": world,
               **({"windows": seen, "clips": len(data.train_idx)} if windows is not None else {"clips": seen * world})}
        keep = epoch % s.checkpoint_every == 0 or epoch == s.epochs  # a checkpoint of its own
        if val_loader is not None and main and (keep or epoch % s.validate_every == 0):
            row.update(validate(net, val_loader, device, amp))
        if main:
            with log_path.open("a") as f:
                f.write(json.dumps(row) + "\n")
            if keep:
                save_checkpoint(last, config, net, optimizer, scheduler, epoch, row,
                                copies=[ckpt_dir / f"epoch_{epoch:04d}.pt"])
            elif epoch % s.save_last_every == 0:
                save_checkpoint(last, config, net, optimizer, scheduler, epoch, row)
            if progress:
                msg = " ".join(f"{k}={v:.4g}" for k, v in row.items() if v is not None
                               and k in ("train_loss", "train_acc", "val_loss", "val_acc", "seconds"))
                print(f"{config.name} epoch {epoch}: {msg}", flush=True)
        if distributed:
            dist.barrier()
    if distributed and dist.is_initialized():
        dist.destroy_process_group()
    return out_dir


def read_log(run_dir: str | Path) -> pd.DataFrame:
    """The per-epoch training log of a run as a table. Notebook 03."""
    path = Path(run_dir) / "train_log.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"no training log at {path}")
    return pd.DataFrame([json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()])
