#!/usr/bin/env python
"""Benchmarks of the asdlib engine against the authors' way of doing the same work.

Run from the repository root::

    .venv/bin/python benchmarks/benchmark.py            # full: batch 64 training steps (slow on a CPU)
    .venv/bin/python benchmarks/benchmark.py --quick    # smaller batches and fewer repeats

Everything is measured side by side in one run on one machine and reported as ratios:

1. data throughput (clips/s): the int16 clip store (``StoreDataset`` through a ``DataLoader``)
   against decoding one WAV per item with soundfile and no workers (the authors' loader style);
   the store's build time; the trainer's own ``data_wait_fraction`` from a short ``train()`` run;
2. training-step time on 10-s clips: ``asdlib.nets.model.build_model`` against a re-implementation,
   in this file, of the authors' ``Wavegram_AttentionMap`` wiring with the ``separableconv-torch``
   layer (same math), loaded with our weights (outputs compared);
3. inference latency per 10-s clip, batch 1, one CPU thread, and the real-time factor;
4. peak resident memory while iterating a store of 5,120 ten-second clips (1.6 GB) at batch 16
   and 64: it must follow the batch, not the store;
5. with a CUDA GPU: clips/s of the paper configuration with and without the store pipeline,
   epoch time for 36,283 clips, GPU-hours of 8 runs x 300 epochs (else: "not measured").

Writes ``benchmarks/results.json`` and ``benchmarks/REPORT.md``. Not a test. Synthetic clips go
to ``--work`` (default ``/tmp/asdlib-benchmark``; the 640 WAVs are kept for reruns, the big store
and the training run are deleted; ``--clean`` removes everything).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
import torchaudio  # noqa: E402
from torch import nn  # noqa: E402

SAMPLE_RATE = 16_000
CLIP_SECONDS = 10.0
N_SAMPLES = int(SAMPLE_RATE * CLIP_SECONDS)
PAPER_TRAIN_CLIPS = 36_283
PAPER_RUNS, PAPER_EPOCHS = 8, 300
#: 8 machines x 80 clips = 640 ten-second training clips.
BENCH_IDS = {"fan": ("00", "02", "04", "06"), "pump": ("00", "02", "04", "06")}
BENCH_PER_ID = 80
BIG_STORE_REPEATS = 8  # 640 x 8 = 5,120 clips in the memory benchmark


# =========================================================================== the authors' network
# A re-implementation of what the authors' code builds, for the comparison of section 2. Only the
# parts that differ from asdlib's own modules are re-written: the separable layer as the
# ``separableconv-torch`` package defines it and the ``Wavegram_AttentionMap`` wiring. The
# MobileFaceNet classifier and the ArcFace head are asdlib's (their math is not in question here).
# Module names follow the authors' state_dict (``authors-checkpoint-keys.tsv``), so our weights
# load into it with ``asdlib.engine.authors_checkpoint.to_authors_state_dict``.

class AuthorsSeparableConv(nn.Module):
    """The ``separableconv-torch`` layer with its defaults: depthwise conv -> BN -> ReLU ->
    pointwise 1x1 conv -> BN -> ReLU; both convolutions keep ``bias``."""

    def __init__(self, dims: int, in_channels: int, out_channels: int, kernel_size, stride=1,
                 padding=0, dilation=1, bias=True, padding_mode="zeros", depth_multiplier=1,
                 normalization_dw="bn", normalization_pw="bn", activation_dw=nn.ReLU,
                 activation_pw=nn.ReLU):
        super().__init__()
        conv = {1: nn.Conv1d, 2: nn.Conv2d}[dims]
        norm = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d}[dims]
        mid = in_channels * depth_multiplier
        self.dwconv = conv(in_channels, mid, kernel_size, stride=stride, padding=padding,
                           dilation=dilation, groups=in_channels, bias=bias,
                           padding_mode=padding_mode)
        self.dwconv_normalization = norm(mid) if normalization_dw == "bn" else None
        self.dwconv_activation = activation_dw() if activation_dw else None
        self.pwconv = conv(mid, out_channels, 1, bias=bias)
        self.pwconv_normalization = norm(out_channels) if normalization_pw == "bn" else None
        self.pwconv_activation = activation_pw() if activation_pw else None

    def forward(self, x):
        x = self.dwconv(x)
        if self.dwconv_normalization is not None:
            x = self.dwconv_normalization(x)
        if self.dwconv_activation is not None:
            x = self.dwconv_activation(x)
        x = self.pwconv(x)
        if self.pwconv_normalization is not None:
            x = self.pwconv_normalization(x)
        if self.pwconv_activation is not None:
            x = self.pwconv_activation(x)
        return x


class AuthorsWavegramAttentionMap(nn.Module):
    """The authors' network wiring: log-Mel (``transform_tf``) and separable Wavegram stacked,
    the ``heatmap`` attention Sequential, ``X * H`` into MobileFaceNet, ArcFace head."""

    def __init__(self, embedding_dim: int = 128, num_classes: int = 41, s: float = 40.0,
                 m: float = 0.7):
        super().__init__()
        from asdlib.nets.loss import ArcFace
        from asdlib.nets.mobilefacenet import MobileFaceNet

        self.transform_tf = torchaudio.transforms.MelSpectrogram(
            sample_rate=SAMPLE_RATE, n_fft=1024, win_length=1024, hop_length=512, center=True,
            pad_mode="reflect", power=2.0, norm="slaney", n_mels=128, mel_scale="htk")
        self.wavegram = AuthorsSeparableConv(1, 1, 128, 1024, stride=512, padding=512, bias=True)
        self.heatmap = nn.Sequential(
            AuthorsSeparableConv(2, 2, 16, 3, padding="same", bias=False), nn.BatchNorm2d(16),
            nn.ELU(),
            AuthorsSeparableConv(2, 16, 64, 3, padding="same", bias=False), nn.BatchNorm2d(64),
            nn.ELU(),
            AuthorsSeparableConv(2, 64, 2, 1, bias=True), nn.Sigmoid(),
        )
        self.classifier = MobileFaceNet(2, embedding_dim, num_classes, input_hw=(128, 313))
        self.arcface = ArcFace(embedding_dim, num_classes, s, m)

    def forward(self, wave):
        logmel = 10 * torch.log10(self.transform_tf(wave) + 1e-8)
        wavegram = self.wavegram(wave.unsqueeze(1))
        x = torch.stack([logmel, wavegram], dim=1)
        return self.classifier(self.heatmap(x) * x)


def authors_model_from(ours) -> AuthorsWavegramAttentionMap:
    """The authors' wiring holding exactly our model's weights (strict load)."""
    from asdlib.nets.authors_network import to_authors_state_dict

    ref = AuthorsWavegramAttentionMap(ours.config.embedding_dim, ours.config.num_classes,
                                      ours.config.arcface_s, ours.config.arcface_m)
    sd = {k.removeprefix("model."): v.clone() for k, v in to_authors_state_dict(ours).items()}
    ref.load_state_dict(sd, strict=True)
    return ref


# =========================================================================== helpers

def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def loadavg() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def machine_info() -> dict:
    import psutil

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or "unknown"
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "cpu_model": cpu,
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch_threads": torch.get_num_threads(),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "torch": torch.__version__,
        "torchaudio": torchaudio.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cuda_available": torch.cuda.is_available(),
        "gpu": gpu,
        "loadavg_at_start": loadavg(),
    }


class WavDataset(torch.utils.data.Dataset):
    """The authors' loader style: decode one WAV file per item (soundfile), no store."""

    def __init__(self, paths, targets, num_samples: int = N_SAMPLES):
        self.paths, self.targets, self.n = list(paths), np.asarray(targets), num_samples

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        from asdlib.data.audio import load_clip

        return torch.from_numpy(load_clip(self.paths[i], self.n)), int(self.targets[i])


def time_loader(loader, passes: int) -> dict:
    """clips/s of full passes over a DataLoader (the first pass also warms caches)."""
    rates, seconds = [], []
    for _ in range(passes):
        n = 0
        t = time.perf_counter()
        for wave, _target in loader:
            n += len(wave)
        dt = time.perf_counter() - t
        seconds.append(dt)
        rates.append(n / dt)
    return {"clips": n, "pass_seconds": seconds, "pass_clips_per_s": rates,
            "clips_per_s": max(rates)}


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


# =========================================================================== 1. data

def make_wavs(work: Path) -> pd.DataFrame:
    from asdlib.data.dataset import add_class_index
    from asdlib.data.synthetic import generate_synthetic_dataset

    t = time.perf_counter()
    table = generate_synthetic_dataset(work / "wavs", clip_seconds=CLIP_SECONDS,
                                       machine_ids=BENCH_IDS, n_train=BENCH_PER_ID,
                                       n_test_normal=0, n_test_anomaly=0, seed=0)
    log(f"{len(table)} synthetic 10-s WAVs ready in {time.perf_counter() - t:.1f} s")
    return add_class_index(table, "paper")


def bench_data(work: Path, table: pd.DataFrame, quick: bool) -> tuple[dict, object]:
    from asdlib.data.store import StoreDataset, build_store

    out = {"clips": len(table), "clip_seconds": CLIP_SECONDS, "batch_size": 64,
           "loadavg_before": loadavg()}
    stores = work / "stores"
    shutil.rmtree(stores, ignore_errors=True)
    workers = min(16, os.cpu_count() or 1)
    t = time.perf_counter()
    store = build_store(table, N_SAMPLES, name="bench", root=stores, progress=False)
    build_s = time.perf_counter() - t
    size = (store.folder / "clips.int16").stat().st_size
    out["store_build"] = {"seconds": build_s, "clips_per_s": len(table) / build_s,
                          "decode_threads": workers, "bytes": size}
    log(f"store built: {len(table)} clips in {build_s:.1f} s ({len(table) / build_s:.0f} clips/s)")

    perm = np.random.default_rng(0).permutation(len(store))  # the same shuffled order for all
    targets = store.table["class_index"].to_numpy()[perm]
    passes = 3
    cores = os.cpu_count() or 1

    def loader(ds, workers):
        return torch.utils.data.DataLoader(ds, batch_size=64, shuffle=False, num_workers=workers,
                                           prefetch_factor=4 if workers else None)

    store_ds = StoreDataset(store, perm, targets)
    wav_ds = WavDataset(store.table["path"].to_numpy()[perm], targets)
    # One torch thread in the loading process (DataLoader workers use one each anyway): collating
    # a 41 MB batch with several threads on a busy machine costs 10x more than with one.
    threads_before = torch.get_num_threads()
    torch.set_num_threads(1)
    out["torch_threads"] = 1
    try:
        out["store_workers0"] = time_loader(loader(store_ds, 0), passes)
        log(f"store, 0 workers: {out['store_workers0']['clips_per_s']:.0f} clips/s")
        w = min(4, cores)
        out["store_workers"] = {"workers": w, **time_loader(loader(store_ds, w), passes)}
        log(f"store, {w} workers: {out['store_workers']['clips_per_s']:.0f} clips/s")
        out["wav_workers0"] = time_loader(loader(wav_ds, 0), passes)
    finally:
        torch.set_num_threads(threads_before)
    log(f"WAV per item, 0 workers: {out['wav_workers0']['clips_per_s']:.0f} clips/s")
    out["ratio_store0_vs_wav0"] = out["store_workers0"]["clips_per_s"] / out["wav_workers0"]["clips_per_s"]
    out["ratio_store_workers_vs_wav0"] = out["store_workers"]["clips_per_s"] / out["wav_workers0"]["clips_per_s"]
    out["store_build_vs_one_wav_pass"] = build_s / (len(table) / out["wav_workers0"]["clips_per_s"])
    out["loadavg_after"] = loadavg()
    return out, store


def bench_train_wait(work: Path, quick: bool) -> dict:
    """A short real ``train()`` on CPU (10-s clips) and the trainer's own data-wait fraction."""
    from asdlib.engine.config import RunConfig
    from asdlib.engine.train import read_log, train

    clips, batch = (24, 8) if quick else (48, 16)
    cfg = RunConfig().with_overrides({
        "name": "bench", "data.root": str(work / "wavs"), "data.max_train_clips": clips,
        "train.epochs": 1, "train.batch_size": batch, "train.num_workers": 0,
        "train.device": "cpu", "train.checkpoint_every": 1})
    run = work / "train-run"
    shutil.rmtree(run, ignore_errors=True)
    before = loadavg()
    t = time.perf_counter()
    train(cfg, run, resume=False, progress=False, store_root=work / "stores")
    wall = time.perf_counter() - t
    row = read_log(run).iloc[0].to_dict()
    shutil.rmtree(run, ignore_errors=True)
    out = {"max_train_clips": clips, "batch_size": batch, "num_workers": 0, "epochs": 1,
           "wall_seconds_incl_store_and_validation": wall, "loadavg_before": before,
           **{k: (float(v) if isinstance(v, (int, float, np.floating, np.integer)) else v)
              for k, v in row.items()}}
    out["train_clips_per_s"] = out["clips"] / out["seconds"]
    log(f"train(): {out['clips']:.0f} clips in {out['seconds']:.1f} s, "
        f"data_wait_fraction {out['data_wait_fraction']:.4f}")
    return out


# =========================================================================== 2. training step

def bench_step(store, quick: bool) -> dict:
    from asdlib.nets.loss import anomaly_score, mixup, noisy_arcmix_loss
    from asdlib.nets.model import build_model

    batch, steps = (16, 3) if quick else (64, 3)
    torch.manual_seed(0)
    ours = build_model()
    ref = authors_model_from(ours)
    n_params = (sum(p.numel() for p in ours.parameters()), sum(p.numel() for p in ref.parameters()))

    # same outputs? eval mode (running statistics) and train mode (batch statistics)
    wave = torch.from_numpy(np.stack([store.read(i) for i in range(8)]))
    target = torch.from_numpy(store.table["class_index"].to_numpy()[:8].astype(np.int64))
    check = {}
    with torch.no_grad():
        for mode in ("eval", "train"):
            ours.train(mode == "train")
            ref.train(mode == "train")
            e1, e2 = ours(wave), ref(wave)
            s1, s2 = anomaly_score(ours.arcface, e1, target), anomaly_score(ref.arcface, e2, target)
            check[f"{mode}_embedding_max_abs_diff"] = float((e1 - e2).abs().max())
            check[f"{mode}_score_max_abs_diff"] = float((s1 - s2).abs().max())
            check[f"{mode}_embedding_max_abs"] = float(e1.abs().max())
    ref = authors_model_from(ours)  # both start the timed steps from exactly the same weights
    log(f"outputs: {check}")

    rng = np.random.default_rng(0)
    gen = torch.Generator().manual_seed(0)
    models = {"ours": ours, "authors": ref}
    opts = {k: torch.optim.AdamW(m.parameters(), lr=1e-4) for k, m in models.items()}
    times = {k: [] for k in models}
    losses = {k: [] for k in models}
    peak_before = maxrss_mb()
    load_before = loadavg()
    for i in range(steps + 1):  # step 0 is a warm-up, not timed
        idx = rng.choice(len(store), batch, replace=False)
        wave = torch.from_numpy(np.stack([store.read(int(j)) for j in idx]))
        target = torch.from_numpy(store.table["class_index"].to_numpy()[idx].astype(np.int64))
        mixed, y_a, y_b, lam = mixup(wave, target, 0.2, rng=rng, generator=gen)
        order = ("ours", "authors") if i % 2 == 0 else ("authors", "ours")  # interleaved
        for k in order:
            net, opt = models[k], opts[k]
            net.train()
            t = time.perf_counter()
            loss, _ = noisy_arcmix_loss(net.arcface, net(mixed), y_a, y_b, lam)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            dt = time.perf_counter() - t
            if i > 0:
                times[k].append(dt)
            losses[k].append(loss.item())
            log(f"step {i} {k}: {dt:.2f} s (batch {batch}), loss {loss.item():.4f}")
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "batch_size": batch, "timed_steps": steps, "warmup_steps": 1,
        "threads": torch.get_num_threads(), "parameters": {"ours": n_params[0], "authors": n_params[1]},
        "output_check": check,
        "step_seconds": times, "median_step_seconds": med,
        "median_seconds_per_clip": {k: v / batch for k, v in med.items()},
        "ratio_ours_vs_authors": med["ours"] / med["authors"],
        "ratio_ours_vs_authors_min": min(times["ours"]) / min(times["authors"]),
        "loss_per_step": losses,
        "max_abs_loss_diff": max(abs(a - b) for a, b in zip(losses["ours"], losses["authors"])),
        "peak_rss_mb_process": maxrss_mb(), "peak_rss_mb_before_steps": peak_before,
        "loadavg_before": load_before, "loadavg_after": loadavg(),
    }


# =========================================================================== 3. latency

def bench_latency(quick: bool) -> dict:
    """Batch-1, one-thread scoring latency of both networks, measured interleaved clip by clip."""
    from asdlib.nets.model import build_model

    repeats = 6 if quick else 12
    torch.manual_seed(0)
    ours = build_model().eval()
    ref = authors_model_from(ours).eval()
    out = {"threads": 1, "batch": 1, "repeats": repeats, "warmup": 2, "loadavg_before": loadavg()}
    times = _latency_interleaved({"ours": ours, "authors": ref}, repeats)
    for k, v in times.items():
        med = statistics.median(v)
        out[k] = {"median_s": med, "mean_s": statistics.fmean(v), "min_s": min(v),
                  "rtf": med / CLIP_SECONDS, "times_s": v}
    out["method"] = ("the protocol of asdlib.engine.complexity.cpu_latency (features, attention, "
                     "MobileFaceNet, ArcFace cross-entropy at class 0; no grad; eval mode), the "
                     "two networks alternating clip by clip")
    try:
        from asdlib.engine.complexity import cpu_latency

        res = cpu_latency(ours, threads=1, repeats=repeats, warmup=2)
        out["ours_cpu_latency_function"] = {k: res[k] for k in ("median_s", "mean_s", "min_s", "rtf")}
    except ImportError:
        pass
    out["ratio_ours_vs_authors"] = out["ours"]["median_s"] / out["authors"]["median_s"]
    out["ratio_ours_vs_authors_min"] = out["ours"]["min_s"] / out["authors"]["min_s"]
    out["loadavg_after"] = loadavg()
    log(f"latency: ours {out['ours']['median_s'] * 1e3:.0f} ms, authors' "
        f"{out['authors']['median_s'] * 1e3:.0f} ms per 10-s clip (1 thread)")
    return out


def _latency_interleaved(models: dict, repeats: int, warmup: int = 2) -> dict[str, list[float]]:
    wave = torch.randn(1, N_SAMPLES, generator=torch.Generator().manual_seed(0))
    target = torch.zeros(1, dtype=torch.long)
    before = torch.get_num_threads()
    times = {k: [] for k in models}
    try:
        torch.set_num_threads(1)
        with torch.no_grad():
            for i in range(warmup + repeats):
                for k, model in (models.items() if i % 2 == 0 else reversed(models.items())):
                    t = time.perf_counter()
                    logits = model.arcface(model(wave), target)
                    torch.nn.functional.cross_entropy(logits, target)
                    if i >= warmup:
                        times[k].append(time.perf_counter() - t)
    finally:
        torch.set_num_threads(before)
    return times


# =========================================================================== 4. memory

def write_big_store(store, folder: Path, repeats: int) -> Path:
    """A store of ``repeats`` copies of ``store``'s clips, written straight in the store layout."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    src = store.folder / "clips.int16"
    with open(folder / "clips.int16", "wb") as dst:
        for _ in range(repeats):
            with open(src, "rb") as f:
                shutil.copyfileobj(f, dst, 16 * 2**20)
    n = len(store) * repeats
    base = store.table.reset_index(drop=True)
    table = pd.DataFrame({
        "path": [f"synthetic-copy-{r}/{Path(p).name}" for r in range(repeats) for p in base["path"]],
        "machine_type": np.tile(base["machine_type"].to_numpy(), repeats),
        "machine_id": np.tile(base["machine_id"].to_numpy(), repeats),
        "class_index": np.tile(base["class_index"].to_numpy(), repeats),
        "row": np.arange(n),
    })
    table.to_csv(folder / "index.csv", index=False)
    meta = {"key": "benchmark", "fingerprint": "benchmark", "num_samples": store.num_samples,
            "sample_rate": store.sample_rate, "clips": n, "skipped": [], "format_version": 1}
    (folder / "meta.json").write_text(json.dumps(meta, indent=1))
    return folder


def _proc_status_mb(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Reset this process's peak RSS (VmHWM), Linux >= 4.0; False where not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def rss_child(folder: str, batch: int) -> None:
    """(Child process) iterate a whole store at ``batch``; print RSS figures as JSON."""
    from asdlib.data.store import StoreDataset, open_store

    torch.set_num_threads(1)
    store = open_store(folder)
    ds = StoreDataset(store)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=False, num_workers=0)
    base = rss_mb()
    reset = _reset_peak_rss()
    peak_sampled, n = base, 0
    t = time.perf_counter()
    for wave, _ in loader:
        n += len(wave)
        peak_sampled = max(peak_sampled, rss_mb())
    dt = time.perf_counter() - t
    hwm = _proc_status_mb("VmHWM") if reset else None
    # (ru_maxrss is not used: after fork + exec it still holds the parent's high-water mark)
    print(json.dumps({"batch": batch, "clips": n, "seconds": dt, "baseline_rss_mb": base,
                      "peak_rss_mb_sampled": peak_sampled, "peak_rss_mb_hwm": hwm,
                      "peak_rss_mb": max(peak_sampled, hwm or 0.0),
                      "peak_method": "VmHWM reset before the loop" if reset else "sampled per batch"}))


def bench_memory(work: Path, store) -> dict:
    big = write_big_store(store, Path("/tmp") / "asdlib-benchmark-bigstore", BIG_STORE_REPEATS)
    size = (big / "clips.int16").stat().st_size
    small_size = (store.folder / "clips.int16").stat().st_size
    out = {"store_clips": len(store) * BIG_STORE_REPEATS, "store_bytes": size,
           "small_store_clips": len(store), "small_store_bytes": small_size,
           "store_folder": str(big), "num_workers": 0, "loadavg_before": loadavg()}
    runs = {"batch16": (big, 16, size), "batch64": (big, 64, size),
            "batch64_small_store": (store.folder, 64, small_size)}
    try:
        for name, (folder, batch, nbytes) in runs.items():
            proc = subprocess.run([sys.executable, __file__, "--rss-child", str(folder), str(batch)],
                                  capture_output=True, text=True, check=True,
                                  env={**os.environ, "PYTHONWARNINGS": "ignore"})
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            res["growth_mb"] = res["peak_rss_mb"] - res["baseline_rss_mb"]
            res["float32_batch_mb"] = batch * N_SAMPLES * 4 / 2**20
            res["store_bytes"] = nbytes
            res["growth_vs_store"] = res["growth_mb"] * 2**20 / nbytes
            res["clips_per_s"] = res["clips"] / res["seconds"]
            out[name] = res
            log(f"RSS {name}: baseline {res['baseline_rss_mb']:.0f} MB, peak "
                f"{res['peak_rss_mb']:.0f} MB (+{res['growth_mb']:.0f} MB) over a "
                f"{nbytes / 2**30:.2f} GiB store ({res['peak_method']})")
    finally:
        shutil.rmtree(big, ignore_errors=True)
    out["deleted_afterwards"] = not big.exists()
    g16, g64, g64s = (out[k]["growth_mb"] for k in ("batch16", "batch64", "batch64_small_store"))
    out["growth_ratio_64_vs_16"] = g64 / g16 if g16 > 0 else None
    out["growth_ratio_big_vs_small_store_at_64"] = g64 / g64s if g64s > 0 else None
    return out


# =========================================================================== 5. GPU

def bench_gpu(work: Path, store, table: pd.DataFrame, quick: bool, device: str,
              precision: str = "fp32") -> dict:
    """Clips/s of the paper configuration (batch 64, ``precision`` fp32 as the authors and
    ``train()`` by default, or the bf16 opt-in) with the store pipeline and with the authors'
    one-WAV-per-item loader, on ``device``."""
    from asdlib.nets.loss import mixup, noisy_arcmix_loss
    from asdlib.nets.model import build_model
    from asdlib.data.store import StoreDataset

    dev = torch.device(device)
    batch = 64 if dev.type == "cuda" else 4
    max_batches = (4 if quick else 10) if dev.type == "cuda" else 3
    torch.manual_seed(0)
    net = build_model().to(dev)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    amp = precision == "bf16"
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(store))
    targets = store.table["class_index"].to_numpy()[perm]
    workers = min(4, os.cpu_count() or 1)

    def step(wave, target):
        wave = wave.to(dev, non_blocking=True)
        target = target.to(dev, non_blocking=True)
        mixed, y_a, y_b, lam = mixup(wave, target, 0.2, rng=rng)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            emb = net(mixed)
        loss, _ = noisy_arcmix_loss(net.arcface, emb.float(), y_a, y_b, lam)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def run(loader):
        n, t0 = 0, None
        for i, (wave, target) in enumerate(loader):
            step(wave, target)
            if i == 0:  # the first batch (worker start-up, kernel selection) is not timed
                sync()
                t0 = time.perf_counter()
                continue
            n += len(wave)
            if i >= max_batches:
                break
        sync()
        return n / (time.perf_counter() - t0)

    pipelines = {
        "store": torch.utils.data.DataLoader(
            StoreDataset(store, perm, targets), batch_size=batch, num_workers=workers,
            pin_memory=dev.type == "cuda", prefetch_factor=4),
        "wav_per_item_no_workers": torch.utils.data.DataLoader(
            WavDataset(store.table["path"].to_numpy()[perm], targets), batch_size=batch,
            num_workers=0),
    }
    out = {"device": str(dev), "gpu": torch.cuda.get_device_name(dev) if dev.type == "cuda" else None,
           "batch_size": batch, "precision": precision, "amp_bf16": amp, "timed_batches": max_batches,
           "store_workers": workers}
    for name, loader in pipelines.items():
        out[f"{name}_clips_per_s"] = run(loader)
        log(f"{device} training, {name}: {out[f'{name}_clips_per_s']:.1f} clips/s")
    # compute alone: one batch resident on the device
    wave, target = next(iter(pipelines["store"]))
    step(wave, target)
    sync()
    t = time.perf_counter()
    for _ in range(max_batches):
        step(wave, target)
    sync()
    out["compute_only_clips_per_s"] = batch * max_batches / (time.perf_counter() - t)
    out["ratio_store_vs_wav"] = out["store_clips_per_s"] / out["wav_per_item_no_workers_clips_per_s"]
    for name in ("store", "wav_per_item_no_workers", "compute_only"):
        epoch_s = PAPER_TRAIN_CLIPS / out[f"{name}_clips_per_s"]
        out[f"{name}_epoch_seconds"] = epoch_s
        out[f"{name}_gpu_hours_8x300"] = PAPER_RUNS * PAPER_EPOCHS * epoch_s / 3600
    return out


# =========================================================================== report

def fmt(v, nd=1):
    return "n/a" if v is None else f"{v:,.{nd}f}"


def write_report(res: dict, path: Path) -> None:
    m, d, tw, st, lat, mem, gpu = (res["machine"], res["data"], res["train_wait"], res["step"],
                                   res["latency"], res["memory"], res["gpu"])
    L = []
    L.append("# asdlib engine benchmarks\n")
    L.append(f"Generated by `benchmarks/benchmark.py{' --quick' if res['quick'] else ''}` on "
             f"{res['date']} in {fmt(res['total_seconds'] / 60)} min. "
             + ("**Quick mode**: training steps timed at batch 16 instead of 64, fewer latency "
                "repeats and a shorter `train()` run than the full mode (whose batch-64 CPU steps, "
                "eight of them, do not fit in ten minutes on a 2-core machine). Data, memory and "
                "latency sections are the same in both modes."
                if res["quick"] else "Full mode."))
    L.append("")
    L.append("## Machine\n")
    L.append(f"- CPU: {m['cpu_model']}, {m['logical_cores']} logical cores "
             f"({m['usable_cores']} usable), {m['ram_gb']} GB RAM")
    L.append(f"- GPU: {m['gpu'] or 'none'}")
    L.append(f"- torch {m['torch']} (torchaudio {m['torchaudio']}), numpy {m['numpy']}, "
             f"Python {m['python']}, {m['torch_threads']} torch threads")
    L.append(f"- Load average (1/5/15 min) at start {m['loadavg_at_start']}, at end "
             f"{res['loadavg_at_end']}. The machine is shared; absolute times vary with load, "
             "so every comparison below is measured side by side in the same run (training "
             "steps interleaved) and given as a ratio.")
    L.append("")

    L.append("## 1. Data throughput\n")
    L.append(f"Method: {d['clips']} synthetic 10-s clips (16 kHz, 16-bit WAV, "
             "`asdlib.data.synthetic.generate_synthetic_dataset`, 8 machine IDs x 80). Both loaders read "
             f"the same clips in the same shuffled order, batch 64, "
             f"{len(d['wav_workers0']['pass_clips_per_s'])} full passes each (files and "
             "store in the page cache: this isolates decoding/reading cost, not disk speed), one "
             "torch thread in the loading process; the best pass is reported. *Store*: `asdlib.data.store.StoreDataset` through a `DataLoader` "
             "(one `os.pread` of 320 kB per clip). *Authors' style*: a plain `Dataset` calling "
             "`asdlib.data.audio.load_clip` (soundfile decode + checks + cut/pad) per item, "
             "`num_workers=0`.\n")
    L.append("| loader | clips/s | vs authors' style |")
    L.append("|---|---:|---:|")
    w0 = d["wav_workers0"]["clips_per_s"]
    L.append(f"| WAV decoded per item, 0 workers (authors' style) | {fmt(w0)} | 1.00x |")
    L.append(f"| store, 0 workers | {fmt(d['store_workers0']['clips_per_s'])} | "
             f"{d['ratio_store0_vs_wav0']:.2f}x |")
    L.append(f"| store, {d['store_workers']['workers']} workers | "
             f"{fmt(d['store_workers']['clips_per_s'])} | {d['ratio_store_workers_vs_wav0']:.2f}x |")
    L.append("")
    sb = d["store_build"]
    L.append(f"Store build (decode all {d['clips']} clips once with {sb['decode_threads']} threads "
             f"into one {sb['bytes'] / 2**20:.0f} MiB int16 file): {sb['seconds']:.1f} s "
             f"({fmt(sb['clips_per_s'], 0)} clips/s), i.e. {d['store_build_vs_one_wav_pass']:.2f}x "
             "the time of one authors'-style pass over the same clips; it is paid once and "
             "reused by every later epoch, run and notebook.\n")
    L.append(f"Trainer's own data wait: a real `asdlib.engine.train.train()` run on the CPU (proposed "
             f"model, 10-s clips, {tw['max_train_clips']} clips, batch {tw['batch_size']}, "
             f"`num_workers=0`, 1 epoch) logged `data_wait_fraction` = "
             f"**{tw['data_wait_fraction']:.4f}** ({tw['data_wait_seconds']:.2f} s of "
             f"{tw['seconds']:.1f} s waiting for batches; {tw['train_clips_per_s']:.2f} clips/s "
             "trained). On a CPU the network, not the data, is the bottleneck.\n")

    L.append("## 2. Training step on 10-s clips (CPU)\n")
    L.append(f"Method: one Noisy-ArcMix step (waveform mixup, Beta(0.2, 0.2); ArcFace s = 40, "
             f"m = 0.7; AdamW lr 1e-4: forward, backward, optimizer step) on a batch of "
             f"{st['batch_size']} ten-second clips read from the store, {st['threads']} torch "
             f"threads; 1 warm-up step, then {st['timed_steps']} timed steps per model, the two "
             "models interleaved on the same mixed batches; median reported. *Ours*: "
             "`asdlib.nets.model.build_model()`. *Authors'*: `AuthorsWavegramAttentionMap` in "
             "`benchmarks/benchmark.py`, a re-implementation of the authors' wiring and of "
             "`separableconv-torch`'s layer (depthwise conv -> BN -> ReLU -> pointwise conv -> BN "
             "-> ReLU), sharing asdlib's MobileFaceNet and ArcFace classes, loaded with our "
             "weights through `asdlib.engine.authors_checkpoint.to_authors_state_dict` (strict).\n")
    c = st["output_check"]
    L.append(f"Same network? Parameters: ours {st['parameters']['ours']:,}, authors' "
             f"{st['parameters']['authors']:,}. On 8 clips, largest |difference| of the "
             f"embeddings: {c['eval_embedding_max_abs_diff']:.2e} (eval mode), "
             f"{c['train_embedding_max_abs_diff']:.2e} (train mode), of the anomaly scores "
             f"{c['eval_score_max_abs_diff']:.2e} (eval); of the training losses over all steps "
             f"{st['max_abs_loss_diff']:.2e}.\n")
    L.append("| model | median s/step | s/clip | vs authors' |")
    L.append("|---|---:|---:|---:|")
    for k, name in (("authors", "authors' wiring"), ("ours", "asdlib")):
        L.append(f"| {name} | {st['median_step_seconds'][k]:.2f} | "
                 f"{st['median_seconds_per_clip'][k]:.3f} | "
                 f"{st['median_step_seconds'][k] / st['median_step_seconds']['authors']:.2f}x |")
    L.append("")
    L.append(f"Ratio of the fastest steps (least disturbed by other load): "
             f"{st['ratio_ours_vs_authors_min']:.2f}x. The two networks do the same arithmetic, "
             "so any ratio away from 1.00 here is run-to-run variation of a shared machine.\n")
    L.append(f"Individual step times (s): ours {[round(v, 2) for v in st['step_seconds']['ours']]}, "
             f"authors' {[round(v, 2) for v in st['step_seconds']['authors']]}. Peak resident "
             f"memory of the benchmark process after these steps: {st['peak_rss_mb_process'] / 1024:.1f} GiB.\n")

    L.append("## 3. Inference latency (CPU, batch 1, one thread)\n")
    L.append(f"Method: {lat['method']}; {lat['warmup']} warm-up + {lat['repeats']} timed clips "
             "per network, median. Real-time factor = latency / 10 s (below 1: faster than real "
             "time).\n")
    L.append("| model | median ms per 10-s clip | real-time factor | vs authors' |")
    L.append("|---|---:|---:|---:|")
    for k, name in (("authors", "authors' wiring"), ("ours", "asdlib")):
        L.append(f"| {name} | {lat[k]['median_s'] * 1e3:.0f} | {lat[k]['rtf']:.4f} | "
                 f"{lat[k]['median_s'] / lat['authors']['median_s']:.2f}x |")
    L.append(f"\nRatio of the fastest clips: {lat['ratio_ours_vs_authors_min']:.2f}x (same "
             "arithmetic in both; differences are timing noise).")
    if "ours_cpu_latency_function" in lat:
        L.append(f"\n`asdlib.engine.complexity.cpu_latency(build_model(), threads=1)` run alone: "
                 f"{lat['ours_cpu_latency_function']['median_s'] * 1e3:.0f} ms "
                 f"(real-time factor {lat['ours_cpu_latency_function']['rtf']:.4f}).")
    L.append("")

    L.append("## 4. Memory while iterating a large store\n")
    L.append(f"Method: a store of {mem['store_clips']:,} ten-second clips "
             f"({mem['store_bytes'] / 2**30:.2f} GiB int16; the 640 benchmark clips written "
             f"{BIG_STORE_REPEATS} times straight into the store layout under /tmp, deleted "
             "afterwards) is read completely through `StoreDataset` and a `DataLoader` "
             "(`num_workers=0`) in a fresh process per batch size; resident memory (psutil RSS) "
             "is sampled after every batch. Page-cache pages are not counted in RSS: reads use "
             "`os.pread`, not a memory map.\n")
    L.append("| store | batch | RSS before | peak RSS | growth | one float32 batch | growth / store size | clips/s |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    for key in ("batch16", "batch64", "batch64_small_store"):
        r = mem[key]
        L.append(f"| {r['clips']:,} clips, {r['store_bytes'] / 2**30:.2f} GiB | {r['batch']} | "
                 f"{r['baseline_rss_mb']:.0f} MB | {r['peak_rss_mb']:.0f} MB | "
                 f"{r['growth_mb']:.0f} MB | {r['float32_batch_mb']:.0f} MB | "
                 f"{r['growth_vs_store'] * 100:.1f} % | {fmt(r['clips_per_s'], 0)} |")
    L.append("")
    L.append(f"Peak measured as {mem['batch64']['peak_method']} (and never below the per-batch "
             "samples). Growth at batch 64 / at batch 16 = "
             f"{fmt(mem['growth_ratio_64_vs_16'], 2)} for a 4x larger batch; growth with the "
             f"{mem['store_clips']:,}-clip store / with the {mem['small_store_clips']}-clip store "
             f"(both batch 64) = {fmt(mem['growth_ratio_big_vs_small_store_at_64'], 2)} for an "
             f"{BIG_STORE_REPEATS}x larger store. Memory follows the batch (a few batch-sized "
             "buffers: the clips of one batch, their collated copy, the allocator's cache) and "
             "not the size of the store.\n")

    L.append("## 5. GPU: paper configuration throughput\n")
    if gpu.get("not_measured"):
        L.append(f"{gpu['not_measured']}.\n")
        L.append("On a CUDA machine this section trains the paper configuration (batch 64) in fp32 "
                 "(the authors' precision and `train()`'s default) and with the bf16 autocast "
                 "opt-in, from the store pipeline and from the authors'-style loader, and reports "
                 "clips/s of each and of compute alone, the epoch time for 36,283 clips and the "
                 "GPU-hours of 8 runs x 300 epochs.\n")
    for g in [gpu, res.get("gpu_bf16")]:
        if not g or g.get("not_measured"):
            continue
        L.append(f"Device: {g['gpu'] or g['device']}, batch {g['batch_size']}, precision "
                 f"{g.get('precision', 'bf16' if g['amp_bf16'] else 'fp32')}, "
                 f"{g['timed_batches']} timed batches after one warm-up batch.\n")
        L.append("| pipeline | clips/s | epoch (36,283 clips) | 8 runs x 300 epochs |")
        L.append("|---|---:|---:|---:|")
        for k, name in (("wav_per_item_no_workers", "authors' loader (WAV per item, 0 workers)"),
                        ("store", f"store ({g['store_workers']} workers)"),
                        ("compute_only", "compute only (batch resident on device)")):
            L.append(f"| {name} | {fmt(g[f'{k}_clips_per_s'])} | "
                     f"{g[f'{k}_epoch_seconds'] / 60:.1f} min | "
                     f"{g[f'{k}_gpu_hours_8x300']:.1f} GPU-h |")
        L.append(f"\nStore vs authors' loader: {g['ratio_store_vs_wav']:.2f}x.\n")
    precision = HERE / "precision_results.json"  # written by benchmarks/precision.py
    if precision.is_file():
        L.append(json.loads(precision.read_text())["markdown"])
    deployment = HERE / "deployment_results.json"  # written by benchmarks/deployment.py
    if deployment.is_file():
        from deployment import markdown as deployment_markdown

        L.append(deployment_markdown(json.loads(deployment.read_text())))
    sharing = HERE / "sharing_results.json"  # written by benchmarks/sharing.py
    if sharing.is_file():
        from sharing import markdown as sharing_markdown

        L.append(sharing_markdown(json.loads(sharing.read_text())))
    L.extend(hand_written_sections(path))
    L.append("Raw numbers: `benchmarks/results.json`.")
    path.write_text("\n".join(L) + "\n")


#: Sections of REPORT.md written by hand (between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``):
#: a regenerated report keeps them as they are.
HAND_WRITTEN = ("mutation", "speed")


def hand_written_sections(path: Path) -> list[str]:
    """The hand-written sections of an existing report, each with its markers, in HAND_WRITTEN order."""
    text = path.read_text() if path.is_file() else ""
    kept = []
    for name in HAND_WRITTEN:
        start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
        if start in text and end in text:
            kept.append(text[text.index(start): text.index(end) + len(end)])
    return kept


# =========================================================================== main

def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smaller batches and fewer repeats")
    p.add_argument("--work", default="/tmp/asdlib-benchmark", help="folder for synthetic clips")
    p.add_argument("--clean", action="store_true", help="also delete the synthetic WAVs at the end")
    p.add_argument("--out", default=str(HERE), help="where REPORT.md and results.json go")
    p.add_argument("--gpu-section-device", default=None,
                   help="run section 5 on this device even without CUDA (e.g. cpu: a code check)")
    p.add_argument("--rss-child", nargs=2, metavar=("STORE", "BATCH"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.rss_child:
        rss_child(args.rss_child[0], int(args.rss_child[1]))
        return 0

    import warnings

    warnings.filterwarnings("ignore", message=".*subnormal.*")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    os.environ["ASD_DATA_DIR"] = str(work / "data")  # nothing lands in the repository's data/
    t_all = time.perf_counter()
    res = {"quick": args.quick, "date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine_info()}
    log(f"machine: {res['machine']['cpu_model']}, {res['machine']['logical_cores']} cores, "
        f"torch {res['machine']['torch']}, GPU {res['machine']['gpu']}")
    table = make_wavs(work)
    res["data"], store = bench_data(work, table, args.quick)
    res["train_wait"] = bench_train_wait(work, args.quick)
    res["step"] = bench_step(store, args.quick)
    res["latency"] = bench_latency(args.quick)
    res["memory"] = bench_memory(work, store)
    if torch.cuda.is_available() or args.gpu_section_device:
        res["gpu"] = bench_gpu(work, store, table, args.quick, args.gpu_section_device or "cuda")
        res["gpu_bf16"] = bench_gpu(work, store, table, args.quick,
                                    args.gpu_section_device or "cuda", precision="bf16")
    else:
        res["gpu"] = {"not_measured": "not measured: no GPU on this machine"}
    res["loadavg_at_end"] = loadavg()
    res["total_seconds"] = time.perf_counter() - t_all
    shutil.rmtree(work / "stores", ignore_errors=True)
    shutil.rmtree(work / "data", ignore_errors=True)
    if args.clean:
        shutil.rmtree(work, ignore_errors=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(res, indent=1, default=float) + "\n")
    write_report(res, out / "REPORT.md")
    log(f"done in {res['total_seconds'] / 60:.1f} min: {out / 'REPORT.md'}, {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
