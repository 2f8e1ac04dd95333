"""Runs trained at once in worker processes (asdlib.engine.workers, study.runs.ensure_runs): the
layout, errors that name the job, and the same weights as training one run after the other."""

from __future__ import annotations

import math
import multiprocessing
import os
import signal
import threading
import time

import pytest
import torch

import engine_helpers as H
from asdlib.engine.checkpoints import read_checkpoint
from asdlib.engine.workers import WorkerError, map_in_workers, worker_layout
from asdlib.paths import jobs_override


def test_layout_one_job_per_core_and_task_and_the_cores_shared():
    assert worker_layout(8, 9, cores=2) == (2, 1)
    assert worker_layout(8, 9, cores=16) == (8, 2)
    assert worker_layout(8, 3, cores=16) == (3, 5)
    assert worker_layout(1, 9, cores=2) == (1, 2)
    assert worker_layout(4, 1, cores=4) == (1, 4)


def test_layout_fewer_jobs_when_memory_is_short():
    gib = 1 << 30
    assert worker_layout(4, 9, cores=4, bytes_per_job=3 * gib, available=7 * gib) == (2, 2)
    assert worker_layout(4, 9, cores=4, bytes_per_job=9 * gib, available=7 * gib) == (1, 4)
    assert worker_layout(4, 9, cores=4, bytes_per_job=gib, available=None) == (4, 1)


def test_jobs_override(monkeypatch):
    monkeypatch.delenv("ASD_JOBS", raising=False)
    assert jobs_override() is None
    monkeypatch.setenv("ASD_JOBS", "3")
    assert jobs_override() == 3
    for bad in ("0", "-1", "two", "1.5"):
        monkeypatch.setenv("ASD_JOBS", bad)
        with pytest.raises(ValueError, match="ASD_JOBS"):
            jobs_override()


def test_workers_get_their_threads_and_every_result_comes_back():
    got = list(map_in_workers(torch.get_num_threads, [(), (), ()], jobs=2, threads=1))
    assert [r for _, r in got] == [1, 1, 1]
    got = dict(map_in_workers(math.factorial, [(k,) for k in range(6)], jobs=2, threads=1))
    assert got == {(k,): math.factorial(k) for k in range(6)}


def test_a_failing_job_is_named_and_ends_the_map():
    with pytest.raises(WorkerError, match=r"sqrt\(-1\.0,\) failed in a worker process: ValueError"):
        list(map_in_workers(math.sqrt, [(4.0,), (-1.0,), (9.0,)], jobs=1, threads=1))


def test_a_worker_that_dies_is_named_instead_of_waited_for():
    """A worker killed mid-job (here it exits at once, as the out-of-memory killer would end it):
    a WorkerError naming the job, not a map that waits for ever."""
    before = set(multiprocessing.active_children())  # children of earlier tests in this process
    with pytest.raises(WorkerError, match=r"_exit\(3,\): a worker process died"):
        list(map_in_workers(os._exit, [(3,)], jobs=1, threads=1))
    assert set(multiprocessing.active_children()) <= before


def test_an_interrupt_ends_the_workers_at_once(ctrl_c_interrupts):
    """Ctrl-C (SIGINT) while two workers sleep for a minute: KeyboardInterrupt within seconds, and
    no worker process left."""
    before = set(multiprocessing.active_children())  # children of earlier tests in this process
    timer = threading.Timer(2.0, os.kill, (os.getpid(), signal.SIGINT))
    started = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            list(map_in_workers(time.sleep, [(60,), (60,), (60,)], jobs=2, threads=1))
    finally:
        timer.cancel()
    assert time.perf_counter() - started < 20
    assert set(multiprocessing.active_children()) <= before


@pytest.mark.slow
def test_runs_trained_at_once_equal_the_runs_trained_one_after_the_other(tmp_path, monkeypatch):
    """Two smoke-profile runs through ensure_runs in two worker processes of one thread, then the
    same two one after the other on one thread (ASD_JOBS=1): the same weights, bit for bit."""
    from asdlib.data.synthetic import generate_synthetic_dataset
    from asdlib.study.runs import ensure_runs, run_dir

    synthetic = tmp_path / "data"
    generate_synthetic_dataset(synthetic / "synthetic", machine_ids=H.TINY_IDS, n_train=8,
                               n_test_normal=2, n_test_anomaly=2, clip_seconds=1.0)
    monkeypatch.setenv("ASD_DATA_DIR", str(synthetic))
    monkeypatch.setenv("ASD_RUN_OVERRIDES", '{"train.epochs": 2, "train.max_steps_per_epoch": 1, '
                       '"train.checkpoint_every": 1, "data.machine_types": ["fan", "pump"]}')
    weights = {}
    for jobs in ("2", "1"):
        monkeypatch.setenv("ASD_RESULTS_DIR", str(tmp_path / f"results-{jobs}"))
        monkeypatch.setenv("ASD_JOBS", jobs)
        with H.one_thread():
            table = ensure_runs("smoke", ["h64", "no_attention"], progress=False)
        assert list(table["run"]) == ["h64", "no_attention"] and table["trained_now"].all()
        assert (table["epochs"] == 2).all()
        for name in ("h64", "no_attention"):
            folder = run_dir("smoke", name)
            assert (folder / "evaluation" / "selection.csv").is_file()
            weights[jobs, name] = read_checkpoint(folder / "checkpoints" / "last.pt")["model"]
    for name in ("h64", "no_attention"):
        a, b = weights["2", name], weights["1", name]
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), name
