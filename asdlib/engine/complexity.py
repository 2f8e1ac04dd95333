"""Model complexity: parameters per part, multiply-accumulates (MACs) per clip, CPU latency.

MACs of convolutions and linear layers are counted with forward hooks (no extra package):
``MAC = output elements x in_channels / groups x kernel elements``. BatchNorm, activations and
the log are not counted (BatchNorm folds into the preceding convolution at inference).
Explained in notebook 05_ablation (the proposed model's variants) and 07_peers (the peers).
"""

from __future__ import annotations

import math
import statistics
import time

import pandas as pd
import torch
from torch import nn

from asdlib.nets.model import ASDNet, parameter_counts
from asdlib.nets.peers.build import PerMachineType

#: The parts of ``ASDNet`` that complexity is reported for (``logmel`` has no parameters).
PARTS = ("wavegram", "logmel", "attention", "classifier", "arcface")


def human_count(n: int) -> str:
    """A count as the paper prints it: ``884 k`` below a million, ``1.02 M`` above. Notebook 05."""
    if n >= 1_000_000:
        return f"{n / 1e6:.2f} M"
    if n >= 1_000:
        return f"{round(n / 1e3)} k"
    return str(n)


def parameter_table(models: dict[str, ASDNet]) -> pd.DataFrame:
    """Learnable parameters per part and in total for each named model, plus ``884 k``-style strings. Notebook 05.

    ``classifier`` includes MobileFaceNet's unused ``fc_out`` (as the paper's count does).
    """
    rows = []
    for name, model in models.items():
        counts = parameter_counts(model)
        rows.append({"model": name, **counts, "parameters": human_count(counts["total"])})
    return pd.DataFrame(rows).set_index("model")


def logmel_macs(num_samples: int, n_fft: int = 1024, hop: int = 512, n_mels: int = 128) -> dict[str, int]:
    """Estimated real MACs of the log-Mel per clip: window, FFT, power, Mel matrix product. Notebook 05.

    Per frame (centred STFT, ``1 + num_samples // hop`` frames): window ``n_fft``; a real-input
    radix-2 FFT estimated as ``n_fft * log2(n_fft)`` real MACs; power ``2 * (n_fft/2 + 1)``;
    the dense Mel matrix product ``(n_fft/2 + 1) * n_mels`` (torchaudio multiplies the full
    filterbank matrix, zeros included). The log is not counted.
    """
    frames = 1 + num_samples // hop
    bins = n_fft // 2 + 1
    parts = {
        "window": frames * n_fft,
        "fft": frames * int(n_fft * math.log2(n_fft)),
        "power": frames * 2 * bins,
        "mel_matmul": frames * bins * n_mels,
    }
    parts["total"] = sum(parts.values())
    return parts


def _layer_mac(module: nn.Module, output: torch.Tensor, clips: int) -> int:
    # Per clip of the example, not per leading row of the output: a layer may run on a reshaped
    # batch (the DCASE autoencoder's Dense layers see clips x windows rows).
    per_clip = output.numel() // clips
    if isinstance(module, nn.Linear):
        return per_clip * module.in_features
    kernel = math.prod(module.kernel_size)
    return per_clip * (module.in_channels // module.groups) * kernel


def layer_macs(module: nn.Module, example: torch.Tensor) -> pd.DataFrame:
    """MACs of every Conv1d/Conv2d/Linear that runs when ``module(example)`` is called, per example. Notebook 05.

    One row per call: layer name, type, part (first component of the name), output shape, MACs
    divided by the batch size. Layers built but never run (MobileFaceNet's ``fc_out``) do not
    appear. Runs in eval mode under ``torch.no_grad``; the train/eval mode is restored.
    """
    rows, handles = [], []

    def hook(name):
        def fn(mod, inputs, output):
            rows.append({"layer": name, "type": type(mod).__name__, "part": name.split(".")[0],
                         "output_shape": tuple(output.shape[1:]), "macs": _layer_mac(mod, output, example.shape[0])})
        return fn

    for name, mod in module.named_modules():
        if isinstance(mod, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            handles.append(mod.register_forward_hook(hook(name)))
    was_training = module.training
    try:
        module.eval()
        with torch.no_grad():
            module(example)
    finally:
        for h in handles:
            h.remove()
        module.train(was_training)
    return pd.DataFrame(rows, columns=["layer", "type", "part", "output_shape", "macs"])


def count_macs(model: ASDNet, num_samples: int | None = None) -> dict[str, int]:
    """Multiply-accumulates per clip, per part (wavegram, logmel, attention, classifier, arcface) and total. Notebook 05.

    - wavegram, classifier: hooked convolutions on a silent clip of ``num_samples`` (default:
      the model's clip length; see ``layer_macs``)
    - attention: hooked convolutions plus the elementwise product ``H * X``
    - logmel: the estimate of ``logmel_macs`` (window, FFT, power, Mel matrix product)
    - arcface: the cosine matrix product ``h * classes`` (normalisation not counted)
    Parts a variant lacks count 0.
    """
    num_samples = num_samples or model.config.num_samples
    if not isinstance(model, ASDNet):
        return peer_macs(model, num_samples)
    layers = layer_macs(model, torch.zeros(1, num_samples))
    out = {part: int(layers.loc[layers["part"] == part, "macs"].sum()) for part in PARTS}
    if model.logmel is not None:
        mel = model.logmel.mel
        out["logmel"] = logmel_macs(num_samples, mel.n_fft, mel.hop_length, mel.n_mels)["total"]
    if model.attention is not None:
        with torch.no_grad():
            out["attention"] += model.features(torch.zeros(1, num_samples)).numel()
    out["arcface"] = model.arcface.weight.numel()
    out["total"] = sum(out[p] for p in PARTS)
    return out


def peer_macs(model: nn.Module, num_samples: int | None = None) -> dict[str, int]:
    """MACs per clip of a peer (notebook 07), per top-level part and total, counted as ``count_macs`` counts ours. Notebook 07.

    Hooked Conv1d/Conv2d/Linear layers on a silent clip, plus the ``logmel_macs`` estimate of the
    peer's own log-Mel and the ArcFace cosine product where it has one. For IDNN and the
    autoencoder, one machine type's model (each clip runs through one of them). The
    parameter-free temporal attention gram of TASTgram-MFN (a max, a mean, a sigmoid and a
    product per frame) is not counted.
    """
    num_samples = num_samples or model.config.num_samples
    one = next(iter(model.models.values())) if isinstance(model, PerMachineType) else model
    layers = layer_macs(one, torch.zeros(1, num_samples))
    out = {part: int(m) for part, m in layers.groupby("part", sort=False)["macs"].sum().items()}
    mel = one.logmel.mel
    out["logmel"] = logmel_macs(num_samples, mel.n_fft, mel.hop_length, mel.n_mels)["total"]
    if hasattr(one, "arcface"):
        out["arcface"] = one.arcface.weight.numel()
    out["total"] = sum(out.values())
    return out


def cpu_latency(model: ASDNet, num_samples: int | None = None, threads: int = 1, repeats: int = 10,
                warmup: int = 2) -> dict[str, float]:
    """Seconds to score one clip on the CPU (batch 1, eval mode, no grad, ``threads`` threads). Notebook 04.

    Times the whole scoring path: features, attention, MobileFaceNet and the ArcFace
    cross-entropy at class 0. Returns median/mean/min seconds per clip and the real-time factor
    (median latency / clip duration; below 1 is faster than real time). The thread count and
    the model's train/eval mode are restored afterwards.
    """
    if repeats < 1 or warmup < 0 or threads < 1:
        raise ValueError(f"cpu_latency: repeats={repeats} and threads={threads} must be >= 1, "
                         f"warmup={warmup} >= 0")
    num_samples = num_samples or model.config.num_samples
    device = next(model.parameters()).device
    if device.type != "cpu":
        raise ValueError(f"cpu_latency: model is on {device}; move it to the CPU first")
    wave = torch.randn(1, num_samples, generator=torch.Generator().manual_seed(0))
    target = torch.zeros(1, dtype=torch.long)
    previous_threads, was_training = torch.get_num_threads(), model.training
    times = []
    try:
        torch.set_num_threads(threads)
        model.eval()
        with torch.no_grad():
            for i in range(warmup + repeats):
                start = time.perf_counter()
                if hasattr(model, "arcface"):
                    logits = model.arcface(model(wave), target)
                    torch.nn.functional.cross_entropy(logits, target)
                else:  # IDNN, the autoencoder (notebook 07): the reconstruction-error score
                    model.anomaly_score(wave, target)
                if i >= warmup:
                    times.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(previous_threads)
        model.train(was_training)
    clip_s = num_samples / model.config.sample_rate
    median = statistics.median(times)
    return {"threads": threads, "repeats": repeats, "clip_seconds": clip_s, "median_s": median,
            "mean_s": statistics.fmean(times), "min_s": min(times), "rtf": median / clip_s}


def per_clip_latency(paths: dict, waves, threads: int = 1, warmup: int = 2) -> pd.DataFrame:
    """Milliseconds per clip of several scoring functions, batch 1, alternating clip by clip. Notebook 08.

    ``paths`` maps a name to a function of one (1, samples) waveform tensor; each is called
    ``warmup`` times first (compilation happens there), then once per clip of ``waves``, the
    functions taking turns so that they share the machine's conditions. Returns median and
    minimum ms per clip and the speed-up of each against the first function (median).
    """
    if threads < 1 or len(waves) < 1:
        raise ValueError(f"per_clip_latency: threads={threads} and {len(waves)} clips must be >= 1")
    previous = torch.get_num_threads()
    times: dict[str, list[float]] = {name: [] for name in paths}
    try:
        torch.set_num_threads(threads)
        with torch.no_grad():
            for fn in paths.values():
                for _ in range(warmup):
                    fn(waves[:1])
            for i in range(len(waves)):
                for name, fn in paths.items():
                    start = time.perf_counter()
                    fn(waves[i:i + 1])
                    times[name].append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(previous)
    table = pd.DataFrame({"median_ms": {k: 1e3 * statistics.median(v) for k, v in times.items()},
                          "min_ms": {k: 1e3 * min(v) for k, v in times.items()},
                          "clips": {k: len(v) for k, v in times.items()}})
    table["speed-up"] = table["median_ms"].iloc[0] / table["median_ms"]
    table.index.name = "path"
    return table


def matmul_rate(threads: int = 1, n: int = 1024, repeats: int = 5) -> float:
    """This machine's fp32 multiply-accumulates per second in a large square matrix product (best of ``repeats``). Notebook 08.

    One ``n x n`` by ``n x n`` product is ``n**3`` MACs. BLAS runs it near the cores' peak, so
    ``MACs per clip / matmul_rate`` is a floor for any fp32 scoring path on the same threads.
    """
    if threads < 1 or n < 16 or repeats < 1:
        raise ValueError(f"matmul_rate: threads={threads}, n={n}, repeats={repeats} out of range")
    previous = torch.get_num_threads()
    a, b = torch.randn(n, n), torch.randn(n, n)
    try:
        torch.set_num_threads(threads)
        torch.mm(a, b)  # warm-up
        best = math.inf
        for _ in range(repeats):
            start = time.perf_counter()
            torch.mm(a, b)
            best = min(best, time.perf_counter() - start)
    finally:
        torch.set_num_threads(previous)
    return n ** 3 / best
