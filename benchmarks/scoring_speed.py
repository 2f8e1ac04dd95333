"""Checkpoint scoring speed of the engine (issue 21, part 3): the training form, as the engine scored
before (one checkpoint at a time, ``ASDNet`` forward + ``loss.anomaly_score``, autograd off), against
``asdlib.engine.evaluate.score_checkpoints`` (the inference form, every batch read once and its
log-Mel computed once for all checkpoints), in the same process on the same clips and store.

    python benchmarks/scoring_speed.py --clips 64 --clip-seconds 10 --checkpoints 1 --threads 2
    python benchmarks/scoring_speed.py --clips 288 --clip-seconds 1 --checkpoints 15 --threads 2
    python benchmarks/scoring_speed.py --clip-seconds 10 --threads 1 --slices 8 16 32 80

``--slices`` times only ``score_checkpoints`` once per slice (the seconds of audio the inference
form scores at once on a CPU, ``asdlib.engine.evaluate.cpu_slice_seconds``), each the best of
``--repeats`` whole passes, and prints one JSON line per value.

The checkpoints are the proposed model with trained-looking BatchNorm statistics (running
variances down to 1e-6) and PReLU slopes; the clips are synthetic machine sounds in a clip store
(``asdlib.data.synthetic``, ``asdlib.data.store``), read from the store by both paths. The two paths
alternate ``--repeats`` times as whole passes (best time of each), and then batch by batch
(the two paths taking turns on every batch, summed: on a shared machine both see the same
load). Results, with the largest score difference, are printed as one JSON line (recorded in
benchmarks/REHEARSAL.md).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from asdlib.data.dataset import add_class_index, scan_dataset
from asdlib.data.store import build_store, load_batch
from asdlib.data.synthetic import generate_synthetic_dataset
from asdlib.engine import evaluate
from asdlib.engine.evaluate import _batch_scorer, score_checkpoints
from asdlib.nets.loss import anomaly_score
from asdlib.nets.model import build_model


def trained_looking(seed: int, clip_seconds: float) -> nn.Module:
    """The proposed model with BatchNorm statistics and PReLU slopes like a trained network's."""
    torch.manual_seed(seed)
    net = build_model(clip_seconds=clip_seconds)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                n = m.num_features
                c = 10 ** (-6 + 6 * torch.rand(n, generator=g))
                m.running_var.copy_(c)
                m.running_mean.copy_(0.3 * torch.randn(n, generator=g))
                m.weight.copy_((0.7 + 0.6 * torch.rand(n, generator=g)) * c.sqrt())
                m.bias.copy_(0.1 * torch.randn(n, generator=g))
            if isinstance(m, nn.PReLU):
                m.weight.copy_(0.5 * torch.rand(m.weight.shape, generator=g))
    net.label_map = "paper"
    return net.eval()


@torch.no_grad()
def training_form_scores(nets, clips, store, batch_size: int) -> list[np.ndarray]:
    """The engine's scoring before issue 21: each checkpoint in turn, training form, batches from the store."""
    targets = clips["class_index"].to_numpy().astype(np.int64)
    out = []
    for net in nets:
        scores = []
        for start in range(0, len(clips), batch_size):
            idx = list(range(start, min(start + batch_size, len(clips))))
            wave = torch.from_numpy(load_batch(clips, idx, net.config.num_samples, store))
            scores.append(anomaly_score(net.arcface, net(wave), torch.from_numpy(targets[idx])).numpy())
        out.append(np.concatenate(scores))
    return out


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=64, help="test clips (half normal, half anomalous)")
    ap.add_argument("--clip-seconds", type=float, default=10.0)
    ap.add_argument("--checkpoints", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=32, help="the engine's default")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--slices", type=float, nargs="+", default=None, metavar="SECONDS",
                    help="time score_checkpoints at each of these slices (seconds of audio at once) instead")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ids = {"fan": ("00", "02"), "pump": ("00", "02")}
    per_id = max(1, args.clips // (2 * len(ids) * 2))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "tree"
        generate_synthetic_dataset(root, clip_seconds=args.clip_seconds, machine_ids=ids, n_train=0,
                                   n_test_normal=per_id, n_test_anomaly=per_id, seed=0)
        clips = add_class_index(scan_dataset(root, splits=("test",)), "paper")
        num_samples = int(round(args.clip_seconds * 16000))
        store = build_store(clips, num_samples, root=Path(tmp) / "store", progress=False)
        clips = store.table
        nets = [trained_looking(seed, args.clip_seconds) for seed in range(args.checkpoints)]
        if args.slices:
            for seconds in args.slices:
                evaluate.CPU_SLICE_SECONDS_PER_THREAD = seconds / torch.get_num_threads()
                best = min(_timed(lambda: score_checkpoints(nets, clips, store=store, batch_size=args.batch_size,
                                                            device="cpu", progress=False))
                           for _ in range(args.repeats))
                print(json.dumps({"slice_seconds": seconds, "clip_seconds": args.clip_seconds,
                                  "clips_per_slice": max(1, int(seconds // args.clip_seconds)),
                                  "threads": args.threads, "checkpoints": len(nets),
                                  "clips_per_s": round(len(clips) * len(nets) / best, 2),
                                  "ms_per_audio_second": round(1000 * best / (len(clips) * len(nets) * args.clip_seconds), 2)}),
                      flush=True)
            return
        # whole passes, as the engine runs them (the scoring forms built inside, timed in)
        whole = {"before": [], "after": []}
        for _ in range(args.repeats):
            t = time.perf_counter()
            before = training_form_scores(nets, clips, store, args.batch_size)
            whole["before"].append(time.perf_counter() - t)
            t = time.perf_counter()
            after = score_checkpoints(nets, clips, store=store, batch_size=args.batch_size,
                                      device="cpu", progress=False)
            whole["after"].append(time.perf_counter() - t)
        worst = max(float(np.abs(a["score"].to_numpy() - b).max()) for a, b in zip(after, before))
        # and batch by batch, the two paths taking turns on each batch (the forms built once,
        # outside the timing): on a shared machine both then see the same load
        scorers = [_batch_scorer(net, "cpu") for net in nets]
        targets = clips["class_index"].to_numpy().astype(np.int64)
        paired = {"before": 0.0, "after": 0.0}
        with torch.no_grad():
            for _ in range(args.repeats):
                for start in range(0, len(clips), args.batch_size):
                    idx = list(range(start, min(start + args.batch_size, len(clips))))
                    batch = load_batch(clips, idx, num_samples, store)
                    t = time.perf_counter()
                    wave = torch.from_numpy(batch)
                    for net in nets:
                        anomaly_score(net.arcface, net(wave), torch.from_numpy(targets[idx]))
                    paired["before"] += time.perf_counter() - t
                    t = time.perf_counter()
                    shared: dict = {}
                    for score_batch, *_ in scorers:
                        score_batch(batch, targets[idx], shared)
                    paired["after"] += time.perf_counter() - t
    scored = len(clips) * len(nets)
    rates = {k: scored / min(v) for k, v in whole.items()}
    paired_rates = {k: scored * args.repeats / v for k, v in paired.items()}
    print(json.dumps({"clips": len(clips), "clip_seconds": args.clip_seconds,
                      "checkpoints": len(nets), "batch_size": args.batch_size, "threads": args.threads,
                      "whole_passes_clips_per_s": {k: round(v, 2) for k, v in rates.items()},
                      "whole_passes_speedup": round(rates["after"] / rates["before"], 2),
                      "paired_batches_clips_per_s": {k: round(v, 2) for k, v in paired_rates.items()},
                      "paired_batches_speedup": round(paired_rates["after"] / paired_rates["before"], 2),
                      "max_score_difference": worst, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
