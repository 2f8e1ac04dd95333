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
from pathlib import Path
from typing import Callable, Iterable, Iterator

from asdlib.engine.cpu import configure_threads, default_threads


class WorkerError(RuntimeError):
    """A job failed in a worker process; the message names the job and carries the worker's traceback."""


def _init(threads: int) -> None:
    configure_threads(threads)


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


def map_in_workers(fn: Callable, arguments: Iterable[tuple], jobs: int, threads: int) -> Iterator[tuple[tuple, object]]:
    """Run ``fn(*args)`` for every ``args`` in ``jobs`` spawned processes of ``threads`` torch threads each; yields ``(args, result)`` as each job ends. Notebook 05.

    ``fn`` must be importable by name (a module-level function of an installed package). The
    workers inherit the environment (``ASD_RESULTS_DIR``, run overrides, ``GOMP_SPINCOUNT``).
    A job that raises ends the others and raises ``WorkerError`` naming its arguments;
    an interrupt (Ctrl-C, a notebook's stop button) ends the workers too.
    """
    arguments = list(arguments)
    if not arguments:
        return
    # spawn, not fork: a fresh interpreter per worker, never a copy of a process whose OpenMP
    # threads (or a Jupyter kernel's sockets) are already running
    pool = multiprocessing.get_context("spawn").Pool(jobs, initializer=_init, initargs=(threads,))
    try:
        pending = [(args, pool.apply_async(_call, (fn, args))) for args in arguments]
        while pending:
            for k, (args, result) in enumerate(pending):
                if result.ready():
                    del pending[k]
                    try:
                        done = result.get()
                    except Exception as e:  # noqa: BLE001 - re-raised with the job named
                        raise WorkerError(f"{fn.__name__}{args} failed in a worker process: "
                                          f"{type(e).__name__}: {e}") from e
                    yield done
                    break
            else:
                pending[0][1].wait(0.2)
        pool.close()
    finally:
        pool.terminate()
        pool.join()
