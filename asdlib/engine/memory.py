"""How much memory one training step needs, before days of GPU time are spent finding out.

``step_memory`` estimates the peak of a run's training step at its batch: the weights, their
gradients and the optimiser's state (AdamW/Adam: two more copies), and the activations the
forward pass saves for the backward pass, counted exactly (``saved_activation_bytes``, through
``torch.autograd.graph.saved_tensors_hooks`` on the ``meta`` device, which runs the forward pass
at any batch in a fraction of a second without memory), plus the backward pass's transient
gradients (``TRANSIENT``). The network is built at the run's own clip length. On a GPU
``measured_step_peak`` measures it instead (``torch.cuda.max_memory_allocated``); on a CPU it
reads the process's peak resident memory (``VmHWM``), which the tests compare with the estimate.
``memory_advice`` compares the peak with a card and says what to do when it does not fit:
gradient accumulation with the same effective batch (``train.accumulate``, BatchNorm then sees
the micro-batch) or a bigger card.
Explained in notebook 03_training (and docs/gpu.md).
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from asdlib.engine.config import RunConfig
from asdlib.nets.loss import draw_mix
from asdlib.nets.methods import step_output
from asdlib.nets.model import build_model

GiB = 2**30
#: The backward pass holds gradients of activations while the saved ones are freed: its peak
#: comes to about this fraction of the saved activations on top of them (fitted on the CPU
#: peaks of the proposed network, 10-s clips at batches 2 and 8: +13 % and +4 %;
#: tests/test_gpu_ready.py checks the estimate against measured peaks within 25 %).
TRANSIENT = 0.10
#: Memory a CUDA process holds besides tensors (context, cuDNN and cuBLAS workspaces).
CUDA_OVERHEAD_BYTES = int(1.0 * GiB)
_ESTIMATES: dict[str, dict] = {}  # step_memory by network and batch (the preflight asks per seed)


def _training_step(net, optimizer, config: RunConfig, batch: int, device: torch.device,
                   precision: str = "fp32", step: bool = True):
    """One training step of ``net`` as the trainer takes it (clips with mixup, or windows), on random data."""
    amp = (torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
           if device.type in ("cpu", "cuda") else contextlib.nullcontext())
    if config.train.batch_unit == "windows":
        model = next(iter(net.models.values()))
        windows = torch.randn(batch, model.frames, model.logmel.n_mels if hasattr(model.logmel, "n_mels")
                              else 128, device=device)
        with amp:
            loss = model.window_loss(windows).float()
    else:
        wave = torch.randn(batch, net.config.num_samples, device=device)
        target = torch.randint(0, 41, (batch,), device=device)
        if hasattr(net, "models"):  # a per-machine-type model: one type's classes
            target = torch.zeros(batch, dtype=torch.int64, device=device)
        rng, gen = np.random.default_rng(0), torch.Generator().manual_seed(0)
        lam, perm = draw_mix(batch, config.train.mixup_alpha, rng, gen, device)
        with amp:
            out = step_output(net, wave, target, perm, lam)
        loss = out.float() if out.dim() == 0 else (
            lam * F.cross_entropy(out.float(), target) + (1 - lam) * F.cross_entropy(out.float(), target[perm]))
    if step:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return loss


def _meta_network(config: RunConfig):
    """The run's network on the ``meta`` device: shapes without memory (built there directly when its
    construction allows, else built on the CPU and moved)."""
    try:
        with torch.device("meta"):
            net = build_model(config.model)
    except (RuntimeError, NotImplementedError, TypeError, ValueError):
        net = build_model(config.model)
    return net.to("meta")


def saved_activation_bytes(config: RunConfig, batch: int) -> int:
    """Bytes of the tensors one training step's forward pass saves for its backward pass (weights excluded), at ``batch``, counted on the ``meta`` device (no memory, no arithmetic). Notebook 03.

    Every saved tensor's storage is counted once (views share one). The count is that of fp32
    training; under bf16 autocast the activations are smaller, so it is an upper bound.
    """
    device = torch.device("meta")
    net = _meta_network(config).train()
    params = {p.untyped_storage()._cdata for p in net.parameters()}
    seen: dict[int, int] = {}

    def pack(t):
        storage = t.untyped_storage()
        if storage._cdata not in params:
            seen[storage._cdata] = max(seen.get(storage._cdata, 0), storage.nbytes())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        _training_step(net, None, config, batch, device, step=False)
    return int(sum(seen.values()))


def state_bytes(config: RunConfig) -> dict[str, int]:
    """Bytes of a run's weights, gradients and optimiser state (Adam and AdamW keep two moments). Notebook 03."""
    net = _meta_network(config)
    weights = sum(p.numel() * p.element_size() for p in net.parameters())
    buffers = sum(b.numel() * b.element_size() for b in net.buffers())
    return {"weights": weights + buffers, "gradients": weights, "optimizer": 2 * weights}


def step_memory(config: RunConfig, batch: int | None = None) -> dict:
    """Estimated peak bytes of one training step of a run at ``batch`` (default: its micro-batch, ``batch_size / accumulate``), without running it. Notebook 03.

    Returns the parts (weights, gradients, optimizer, activations saved for the backward pass,
    the backward pass's transient) and ``peak``, their sum. Device memory outside tensors (the
    CUDA context, cuDNN workspaces) is not included: ``memory_advice`` adds it.
    """
    s = config.train
    if batch is None:
        batch = s.batch_size // s.accumulate
    key = json.dumps([config.model.to_dict(), s.batch_unit, batch], sort_keys=True, default=str)
    if key in _ESTIMATES:
        return dict(_ESTIMATES[key])
    parts = state_bytes(config)
    activations = saved_activation_bytes(config, batch)
    parts.update({"activations": activations, "transient": int(TRANSIENT * activations)})
    parts["peak"] = int(sum(parts.values()))
    parts["batch"] = batch
    _ESTIMATES[key] = dict(parts)
    return parts


def _rss_peak_reset() -> int | None:
    """Reset this process's peak resident memory (Linux ``clear_refs`` 5) and return the current resident bytes."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return _status_bytes("VmRSS")
    except OSError:
        return None


def _status_bytes(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise OSError(f"/proc/self/status has no {key}")


def measured_step_peak(config: RunConfig, batch: int, device: str | torch.device = "cpu",
                       precision: str = "fp32", steps: int = 2) -> int:
    """Measured peak bytes of a run's training step at ``batch``: ``max_memory_allocated`` on a GPU; on a CPU the rise of peak resident memory over the built network plus its weights. Notebook 03.

    Raises ``torch.cuda.OutOfMemoryError`` when the step does not fit the card. On a CPU the
    reading is meaningful in a fresh process only (memory freed earlier is reused).
    """
    device = torch.device(device)
    net = build_model(config.model).to(device)
    opt_cls = {"adamw": torch.optim.AdamW, "adam": torch.optim.Adam}[config.train.optimizer]
    optimizer = opt_cls(net.parameters(), lr=config.train.lr)
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        for _ in range(steps):
            _training_step(net, optimizer, config, batch, device, precision)
        torch.cuda.synchronize(device)
        return int(torch.cuda.max_memory_allocated(device))
    before = _rss_peak_reset()
    if before is None:
        raise OSError("measuring a CPU peak needs Linux /proc/self/clear_refs")
    for _ in range(steps):
        _training_step(net, optimizer, config, batch, device, precision)
    return int(_status_bytes("VmHWM") - before + state_bytes(config)["weights"])


def usable_bytes(card_bytes: int) -> float:
    """Bytes of a card a training step may plan on: 90 % of it, less the CUDA context and workspaces. Notebook 03."""
    return card_bytes * 0.9 - CUDA_OVERHEAD_BYTES


def fitting_accumulate(config: RunConfig, peak: int, card_bytes: int) -> int | None:
    """The smallest ``train.accumulate`` (a divisor of the batch) whose micro-batch fits the card, from a step's peak at the run's micro-batch; 0 when nothing fits, None when the run fits as it is. Notebook 03."""
    usable = usable_bytes(card_bytes)
    if peak <= usable:
        return None
    s = config.train
    micro = s.batch_size // s.accumulate
    fixed = sum(state_bytes(config).values())
    per_item = max(peak - fixed, 1) / micro
    for k in range(s.accumulate + 1, s.batch_size + 1):
        if s.batch_size % k == 0 and fixed + per_item * (s.batch_size // k) <= usable:
            return k
    return 0


def memory_advice(name: str, config: RunConfig, peak: int, card_bytes: int, card: str,
                  measured: bool = False) -> str | None:
    """One line saying what to do when a run's step needs more memory than the card has (None when it fits with a 10 % margin and 1 GiB for CUDA). Notebook 03.

    Proposes the smallest ``train.accumulate`` whose micro-batch fits (same effective batch and
    mixup; BatchNorm then sees the micro-batch), or a card of the size needed.
    """
    k = fitting_accumulate(config, peak, card_bytes)
    if k is None:
        return None
    s = config.train
    micro = s.batch_size // s.accumulate
    unit = "windows" if s.batch_unit == "windows" else "clips"
    line = (f"{name}: a training step at batch {micro} needs ~{peak / GiB:.1f} GiB "
            f"({'measured' if measured else 'estimated'}), more than the ~{usable_bytes(card_bytes) / GiB:.1f} "
            f"GiB usable of {card}" + ("" if "GiB" in card else f" ({card_bytes / GiB:.0f} GiB)"))
    bigger = f"a card with at least {math.ceil((peak + CUDA_OVERHEAD_BYTES) / 0.9 / GiB)} GiB"
    if k == 0:
        return f"{line}; even one {unit[:-1]} at a time does not fit: use {bigger}"
    return (f"{line}: either --set train.accumulate={k} (micro-batches of {s.batch_size // k} {unit}, "
            f"the same effective batch of {s.batch_size} and the same mixup, one optimiser step; "
            f"BatchNorm then sees {s.batch_size // k} {unit} instead of {micro}; run_all.sh: "
            f"--overrides '{{\"train.accumulate\": {k}}}' sets it for every run), or {bigger}")
