"""Which device a run trains on, and what it says about it, before days of training start.

- ``resolve_device``: ``auto`` is CUDA when usable, else the CPU; ``cuda_unavailable_reason``
  says why CUDA is not usable (a CPU-only PyTorch, ``CUDA_VISIBLE_DEVICES`` hiding every GPU,
  no driver or one too old for the wheels), so a CPU fallback is never silent.
- ``gpu_assignment``: ``train-many --gpus`` numbers index into an inherited
  ``CUDA_VISIBLE_DEVICES`` (a SLURM job's GPUs), never past it, and imply CUDA.
- ``check_precision`` and ``apply_precision``: bf16 refused on cards without native bf16
  (compute capability < 8); TF32 convolutions on by default, as under the authors' Lightning
  (``train.tf32 = false`` for strict fp32); ``cudnn.benchmark`` on for CUDA.
- ``runtime_info`` / ``describe_runtime``: what a run logs at start and writes into its
  ``config.json`` (device, card, precision, TF32, world size, the batch BatchNorm sees).
- ``shm_needed`` / ``shm_problem``: the data loader workers' shared memory against /dev/shm
  (a Docker container's default 64 MB crashes the paper profile's first epoch).

Explained in notebook 03_training (and docs/gpu.md).
"""

from __future__ import annotations

import os
import shutil

import torch

#: What a resumed run promises, per device (written into every run's config.json).
RESUME_NOTE = {
    "cpu": "a resumed run continues exactly as the uninterrupted one (bit for bit)",
    "cuda": "a resumed run continues closely but not bit for bit: cuDNN's backward (and "
            "cudnn.benchmark's choice of algorithms) is not deterministic on a GPU",
}


def cuda_unavailable_reason() -> str:
    """Why CUDA is not usable here, in one line (empty when it is). Notebook 03."""
    if torch.cuda.is_available():
        return ""
    if torch.version.cuda is None:
        return (f"this PyTorch ({torch.__version__}) is a CPU-only build; install the CUDA build "
                "(docs/installation.md)")
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return f"CUDA_VISIBLE_DEVICES={visible!r} hides every GPU"
    try:
        torch.cuda.init()
        detail = "no CUDA GPU found"
    except Exception as e:  # noqa: BLE001 - the driver's own words are the reason
        detail = (str(e).strip().splitlines() or ["no CUDA GPU found"])[0]
    return (f"no usable CUDA GPU ({detail}; this PyTorch is built for CUDA {torch.version.cuda} "
            "and needs a driver at least that new; `nvidia-smi` shows the driver's version)")


def resolve_device(name: str = "auto") -> torch.device:
    """The device to train on: CUDA when usable (``auto``), else CPU; a CUDA device that is not usable is refused. Notebook 03."""
    if not isinstance(name, str):
        raise ValueError(f"train.device = {name!r}: expected \"auto\", \"cpu\" or \"cuda[:N]\"")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ValueError(f"train.device = {name!r}: expected \"auto\", \"cpu\" or \"cuda[:N]\"") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"train.device = {name!r} but {cuda_unavailable_reason()}")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"train.device = {name!r} but only {torch.cuda.device_count()} CUDA "
                             "GPU(s) are visible to this process (numbered from 0)")
    return dev


def gpu_assignment(gpus: str, inherited: str | None, count: int) -> list[str]:
    """The ``CUDA_VISIBLE_DEVICES`` value of each ``--gpus`` number: an index into an inherited ``CUDA_VISIBLE_DEVICES``, else a physical id below ``count``. Notebook 03.

    ``count`` is the number of GPUs this process sees (0 when CUDA is not usable, which is
    refused: ``--gpus`` means CUDA). Raises ``ValueError`` with one line naming ``--gpus``.
    """
    items = [g.strip() for g in str(gpus).split(",") if g.strip()]
    if not items or not all(g.isdigit() for g in items):
        raise ValueError(f"--gpus {gpus!r}: expected comma-separated GPU numbers such as 0,1")
    ids = [int(g) for g in items]
    if len(set(ids)) != len(ids):
        raise ValueError(f"--gpus {gpus!r}: a GPU is named twice")
    if count <= 0:
        raise ValueError(f"--gpus {gpus} asks for CUDA GPUs but {cuda_unavailable_reason() or 'none is visible'}")
    visible = None
    if inherited is not None and inherited.strip() not in ("",):
        visible = [v.strip() for v in inherited.split(",") if v.strip()]
    if visible is not None:
        bad = [i for i in ids if i >= len(visible)]
        if bad:
            raise ValueError(f"--gpus {gpus}: this job may use {len(visible)} GPU(s) "
                             f"(CUDA_VISIBLE_DEVICES={inherited}), numbered 0..{len(visible) - 1} "
                             "by --gpus; it never reaches GPUs outside them")
        return [visible[i] for i in ids]
    bad = [i for i in ids if i >= count]
    if bad:
        raise ValueError(f"--gpus {gpus}: only {count} GPU(s) here, numbered 0..{count - 1} "
                         "(see nvidia-smi)")
    return [str(i) for i in ids]


def _capability(device: torch.device) -> tuple[int, int] | None:
    if device.type != "cuda":
        return None
    return tuple(torch.cuda.get_device_capability(device))


def check_precision(device: torch.device, precision: str) -> None:
    """Refuse ``train.precision = "bf16"`` on a CUDA card without native bf16 (compute capability below 8). Notebook 03."""
    cap = _capability(device)
    if precision == "bf16" and cap is not None and cap[0] < 8:
        raise ValueError(
            f"train.precision = \"bf16\": {torch.cuda.get_device_name(device)} (compute capability "
            f"{cap[0]}.{cap[1]}) has no native bf16, so it would be emulated and slower than fp32; "
            "train in fp32 (the authors' precision) or on an Ampere or later card")


def apply_precision(device: torch.device, tf32: bool) -> None:
    """Set the CUDA math of a run: TF32 convolutions (``tf32``, PyTorch's and Lightning's default) or strict fp32; ``cudnn.benchmark`` on. Notebook 03.

    Matrix products stay fp32 either way (PyTorch's default since 1.12, also under Lightning).
    Nothing changes on a CPU.
    """
    if device.type != "cuda":
        return
    torch.backends.cudnn.allow_tf32 = bool(tf32)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark = True


def runtime_info(device: torch.device, precision: str, tf32: bool, *, world: int = 1,
                 batch_size: int = 64, accumulate: int = 1, sync_batchnorm: bool = True) -> dict:
    """What a run really trains with (device, card, precision, TF32, processes, the batch BatchNorm sees), for its log and ``config.json``. Notebook 03."""
    cap = _capability(device)
    cuda = device.type == "cuda"
    tf32_on = bool(cuda and tf32 and cap is not None and cap[0] >= 8)
    per_process = batch_size // max(world, 1)
    micro = per_process // max(accumulate, 1)
    sync = bool(sync_batchnorm and world > 1)
    return {
        "device": str(device),
        "card": torch.cuda.get_device_name(device) if cuda else "CPU",
        "compute_capability": f"{cap[0]}.{cap[1]}" if cap else None,
        "precision": precision,
        "tf32_convolutions": tf32_on,
        "bf16_native": bool(cap is not None and cap[0] >= 8) if cuda else None,
        "world_size": world,
        "global_batch": batch_size,
        "per_process_batch": per_process,
        "accumulate": accumulate,
        "sync_batchnorm": sync,
        "batchnorm_batch": micro * world if sync else micro,
        "cpu_threads": None if cuda else torch.get_num_threads(),  # the last digits can follow it
        "resume": RESUME_NOTE["cuda" if cuda else "cpu"],
        "torch": torch.__version__,
        "cuda_build": torch.version.cuda,
    }


def describe_runtime(name: str, info: dict) -> str:
    """The one line a run prints at start: device, card, precision and batch. Notebook 03."""
    where = info["device"] if info["card"] == "CPU" else (
        f"{info['device']} ({info['card']}, compute capability {info['compute_capability']})")
    math = info["precision"]
    if info["card"] != "CPU" and info["precision"] == "fp32":
        math += (" with TF32 convolutions (as the authors' Lightning; train.tf32 = false for strict fp32)"
                 if info["tf32_convolutions"] else " (strict, no TF32)")
    batch = f"batch {info['global_batch']}"
    if info["world_size"] > 1:
        batch += f" over {info['world_size']} processes"
    if info["accumulate"] > 1:
        batch += f" in {info['accumulate']} accumulated micro-batches"
    return f"{name}: training on {where}, {math}, {batch} (BatchNorm sees {info['batchnorm_batch']} clips)"


def shm_needed(workers: int, prefetch_factor: int, batch_size: int, num_samples: int) -> int:
    """Bytes of shared memory the data loader's workers hold at once: workers x prefetched batches x clips x samples x 4 bytes. Notebook 03."""
    if workers <= 0:
        return 0
    return workers * prefetch_factor * batch_size * (num_samples * 4 + 8)


def shm_problem(workers: int, prefetch_factor: int, batch_size: int, num_samples: int,
                path: str = "/dev/shm") -> str | None:
    """One line saying what to do when /dev/shm is too small for the data loader workers (None when it is big enough). Notebook 03."""
    need = shm_needed(workers, prefetch_factor, batch_size, num_samples)
    if need == 0:
        return None
    try:
        usage = shutil.disk_usage(path)
    except OSError:
        return None  # no /dev/shm (not Linux): torch uses another mechanism
    if usage.free >= need * 1.25:
        return None
    return (f"{path} has {usage.free / 2**20:.0f} MiB free but the data loader needs about "
            f"{need / 2**20:.0f} MiB ({workers} workers x {prefetch_factor} prefetched batches of "
            f"{batch_size} clips); in Docker start the container with --shm-size=2g or --ipc=host, "
            "or lower train.prefetch_factor / train.num_workers (e.g. --set train.prefetch_factor=1)")
