"""Thread count from the cores a process may use: affinity mask, cgroup quota, ASD_THREADS."""

from __future__ import annotations

import os

import pytest
import torch

from asdlib.engine.cpu import cgroup_cpu_limit, configure_threads, default_threads, usable_cores


def _cgroup_v2(tmp_path, text):
    (tmp_path / "cpu.max").write_text(text)
    return tmp_path


def _cgroup_v1(tmp_path, quota, period):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text(f"{quota}\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text(f"{period}\n")
    return tmp_path


def test_cgroup_v2_quota(tmp_path):
    assert cgroup_cpu_limit(_cgroup_v2(tmp_path, "150000 100000\n")) == 1.5
    assert cgroup_cpu_limit(_cgroup_v2(tmp_path, "max 100000\n")) is None


def test_cgroup_v1_quota(tmp_path):
    assert cgroup_cpu_limit(_cgroup_v1(tmp_path, 200000, 100000)) == 2.0
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert cgroup_cpu_limit(tmp_path) is None


def test_no_cgroup_files_means_no_limit(tmp_path):
    assert cgroup_cpu_limit(tmp_path) is None


def test_quota_caps_the_affinity_mask(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)))
    assert usable_cores(tmp_path) == 16
    assert usable_cores(_cgroup_v2(tmp_path, "150000 100000")) == 2   # 1.5 CPUs -> 2 threads
    assert usable_cores(_cgroup_v2(tmp_path, "20000 100000")) == 1    # 0.2 CPUs -> at least 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3})
    assert usable_cores(_cgroup_v2(tmp_path, "800000 100000")) == 1   # taskset -c 3


def test_env_override_and_its_errors(monkeypatch):
    import asdlib.engine.cpu as cpu

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(cpu, "usable_cores", lambda: 8)
    monkeypatch.setenv("ASD_THREADS", "3")
    assert default_threads() == 3
    monkeypatch.setenv("ASD_THREADS", "99999")   # more threads than cores would only stall
    assert default_threads() == 8
    for bad in ("0", "-2", "two", "1.5"):
        monkeypatch.setenv("ASD_THREADS", bad)
        with pytest.raises(ValueError, match=f"ASD_THREADS={bad!r}"):
            default_threads()
    monkeypatch.delenv("ASD_THREADS")
    assert default_threads() == cpu.usable_cores() == 8


def test_configure_threads_sets_torch(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("ASD_THREADS", "1")
        assert configure_threads() == 1 and torch.get_num_threads() == 1
        assert configure_threads(2) == 2 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_explicit_omp_num_threads_is_respected(monkeypatch):
    monkeypatch.delenv("ASD_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert default_threads() == 1
    monkeypatch.setenv("ASD_THREADS", "2")                 # ours wins over OpenMP's
    assert default_threads() == min(2, usable_cores())
    monkeypatch.delenv("ASD_THREADS")
    monkeypatch.setenv("OMP_NUM_THREADS", "4,2")           # an OpenMP list: left to OpenMP
    assert default_threads() == usable_cores()
