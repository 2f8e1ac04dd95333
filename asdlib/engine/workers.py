"""Independent jobs (e.g. the training runs of an ablation) in worker processes, each with its share of the CPU cores.

A small network's training step uses several cores poorly: its convolutions on a batch of a
few clips are too small to split well between threads. Two runs side by side, one thread each,
then finish sooner than the same runs one after the other with two threads each
(``benchmarks/REPORT.md``, section 10, measures it on this project's machine).
``map_in_workers`` runs a module-level function over a list of arguments in ``jobs`` fresh
(spawned) processes, each with ``threads`` torch threads, and yields the results as they come.

A worker that fails stops the map: the other workers are ended, and the error names the job.
What the jobs wrote stays (a run interrupted this way resumes from its last epoch).

Explained in notebook 05_ablation.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Callable, Iterable, Iterator

from asdlib.engine.cpu import configure_threads, default_threads


class WorkerError(RuntimeError):
    """A job failed in a worker process; the message names the job and carries the worker's traceback."""


def _init(threads: int, quiet: bool) -> None:
    configure_threads(threads)
    if quiet:  # what a job prints would interleave with the others' (its errors come back raised)
        sys.stdout = sys.stderr = open(os.devnull, "w")


def _call(fn: Callable, args: tuple) -> tuple[tuple, object]:
    return args, fn(*args)


def available_memory_bytes() -> int | None:
    """Memory the system can still give (``MemAvailable`` of ``/proc/meminfo``), None where unknown. Notebook 05."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def worker_layout(jobs_wanted: int, tasks: int, *, cores: int | None = None,
                  bytes_per_job: int | None = None, available: int | None = None) -> tuple[int, int]:
    """(jobs, threads per job) for ``tasks`` jobs on ``cores`` (default ``default_threads()``): at most one job per core and per task, fewer when ``bytes_per_job`` of memory is not ``available``. Notebook 05."""
    cores = cores or default_threads()
    jobs = max(1, min(jobs_wanted, tasks, cores))
    if bytes_per_job and available:
        jobs = max(1, min(jobs, available // bytes_per_job))
    return jobs, max(1, cores // jobs)


def map_in_workers(fn: Callable, arguments: Iterable[tuple], jobs: int, threads: int, *,
                   quiet: bool = False) -> Iterator[tuple[tuple, object]]:
    """Run ``fn(*args)`` for every ``args`` in ``jobs`` spawned processes of ``threads`` torch threads each; yields ``(args, result)`` as each job ends. Notebook 05.

    ``fn`` must be importable by name (a module-level function of an installed package). The
    workers inherit the environment (``ASD_RESULTS_DIR``, run overrides, ``GOMP_SPINCOUNT``);
    ``quiet`` silences what they print. A job that raises, or a worker that dies (killed, out of
    memory), ends the others and raises ``WorkerError`` naming the job; an interrupt (Ctrl-C, a
    notebook's stop button) ends the workers too.
    """
    arguments = list(arguments)
    if not arguments:
        return
    before = set(multiprocessing.active_children())
    # spawn, not fork: a fresh interpreter per worker, never a copy of a process whose OpenMP
    # threads (or a Jupyter kernel's sockets) are already running
    pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init, initargs=(threads, quiet))
    try:
        futures = {pool.submit(_call, fn, args): args for args in arguments}
        for future in as_completed(futures):
            try:
                done = future.result()
            except BrokenProcessPool:
                raise WorkerError(f"{fn.__name__}{futures[future]}: a worker process died (killed, "
                                  "or out of memory?)") from None
            except Exception as e:  # noqa: BLE001 - re-raised with the job named
                raise WorkerError(f"{fn.__name__}{futures[future]} failed in a worker process: "
                                  f"{type(e).__name__}: {e}") from e
            yield done
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        # the workers still running a job, in passes until none is left: after one pass a
        # worker was once still alive (one interrupt in five, on a loaded machine)
        deadline = time.monotonic() + 30
        while (left := set(multiprocessing.active_children()) - before) and time.monotonic() < deadline:
            for worker in left:
                worker.terminate()
                worker.join(timeout=5)
