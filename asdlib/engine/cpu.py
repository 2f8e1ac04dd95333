"""How many CPU threads to use: the cores this process may really run on, and an override.

PyTorch starts one thread per core it sees. In a container, a cgroup CPU quota (e.g. 2 CPUs on a
16-core host) or an affinity mask (``taskset``) gives a process fewer cores than it sees, and a
teaching lab's shared JupyterHub runs several kernels on the same cores. Too many threads, each
spinning while it waits for work (OpenMP's default), then slow every process down far more than
sharing alone would. ``usable_cores`` reads the affinity mask and the cgroup quota;
``default_threads`` adds the ``ASD_THREADS`` override (and respects an explicit
``OMP_NUM_THREADS``); ``configure_threads`` applies it to torch.
``run_all.sh`` and ``run_tests.sh`` also set ``GOMP_SPINCOUNT=3000`` (waiting threads spin
briefly, then sleep; unless ``OMP_WAIT_POLICY`` is set), which OpenMP reads only when the
process starts.

Explained in notebook 08_deployment.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch

from asdlib.paths import threads_override



def cgroup_cpu_limit(root: str | os.PathLike = "/sys/fs/cgroup") -> float | None:
    """CPUs allowed by the cgroup quota (v2 ``cpu.max`` or v1 ``cpu.cfs_quota_us``), None when unlimited. Notebook 08."""
    root = Path(root)
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return None if quota <= 0 or period <= 0 else quota / period
    except (OSError, ValueError):
        return None


def usable_cores(cgroup_root: str | os.PathLike = "/sys/fs/cgroup") -> int:
    """Cores this process may use: its affinity mask, capped by the cgroup CPU quota (at least 1). Notebook 08."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    limit = cgroup_cpu_limit(cgroup_root)
    if limit is not None:
        cores = min(cores, max(1, math.ceil(limit)))
    return max(1, cores)


def default_threads() -> int:
    """Threads to use: ``$ASD_THREADS``, else an explicit ``$OMP_NUM_THREADS``, else ``usable_cores()``, never more than ``usable_cores()``. Notebook 08.

    The environment is read by ``asdlib.paths.threads_override`` (``ValueError`` for an
    ``ASD_THREADS`` that is not a positive whole number). More threads than usable cores only
    make them wait for each other (ASD_THREADS=99999 would stall), so the count is capped.
    """
    cores = usable_cores()
    return min(threads_override() or cores, cores)


def configure_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads to ``threads`` (default ``default_threads()``); returns the count. Notebook 08."""
    n = threads or default_threads()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n
