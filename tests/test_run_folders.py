"""Run and output folders are safe (issue 20, part 3): one training per run folder, no foreign folder
overwritten, no run name escaping the results folder, a score folder never mixing two scorings, a
full disk reported in one line with nothing partial left, and leftovers of killed processes cleared.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import engine_helpers as H
from asdlib.engine.config import RunConfig
from asdlib.engine.run_folder import claim_run_folder, is_run_folder
from asdlib.folders import (LOCK_NAME, MANIFEST, FolderBusyError, FolderLock, _host, pid_alive,
                            remove_leftovers)
from test_cli import cli


@pytest.fixture(autouse=True)
def _tmp_data(monkeypatch, data_dir):
    """Commands run in this process (``cli``) find the session's tiny store under ASD_DATA_DIR."""
    monkeypatch.setenv("ASD_DATA_DIR", str(data_dir))


def _holder(folder: Path) -> subprocess.Popen:
    """Another process that holds a run folder (as a running `train` does) until killed."""
    code = textwrap.dedent(f"""
        import sys, time
        from asdlib.engine.run_folder import claim_run_folder
        lock = claim_run_folder({str(folder)!r})
        print("held", flush=True)
        time.sleep(600)
    """)
    proc = subprocess.Popen([H.PYTHON, "-c", code], stdout=subprocess.PIPE, text=True,
                            env=H.subprocess_env(folder.parent))
    assert proc.stdout.readline().strip() == "held"
    return proc


# --------------------------------------------------------------------------- run folders

def test_a_second_train_on_a_held_run_folder_is_refused_naming_the_holder(tiny_data, data_dir, tmp_path):
    run = tmp_path / "run"
    holder = _holder(run)
    try:
        cfg = H.write_toml(tmp_path / "tiny.toml", tiny_data)
        proc = cli("train", "--config", cfg, "--out", run, "--quiet")
        assert proc.returncode == 2, proc.stderr[-2000:]
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and f"run folder {run} is in use by process {holder.pid} on " in lines[0]
        assert not (run / "config.json").exists() and not (run / "train_log.jsonl").exists()
    finally:
        holder.kill()
        holder.wait()
    # the kernel released the killed holder's lock: the folder can be claimed again at once
    claim_run_folder(run).release()


def test_the_lock_is_per_process_and_reusable_in_one(tmp_path):
    with FolderLock(tmp_path / "f"):
        with pytest.raises(FolderBusyError, match="in use by process"):
            FolderLock(tmp_path / "f").acquire()  # a second holder, even in the same process
    with FolderLock(tmp_path / "f"):  # released: taken again
        pass


_HOLD_FORK_AND_DIE = """
import os, signal, sys, time
from asdlib.folders import FolderLock
FolderLock(sys.argv[1]).acquire()
ready_r, ready_w = os.pipe()
child = os.fork()  # as a DataLoader worker is forked: it inherits the lock's descriptor
if child == 0:  # os.fork() returns here after the fork handlers ran in this child
    os.write(ready_w, b"1")
    time.sleep(60)
    os._exit(0)
os.read(ready_r, 1)  # the child runs (on a busy machine it may not have been scheduled yet)
print(child, flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # killed with a live child, as by the OOM killer
"""


def test_a_killed_holders_forked_children_do_not_keep_its_lock(tmp_path):
    """The folder can be claimed as soon as its holder is killed, although a child it forked
    (a DataLoader worker) still runs; before, the child kept the lock until it ended."""
    folder = tmp_path / "run"
    with open(tmp_path / "out.txt", "w+") as out:
        proc = subprocess.run([H.PYTHON, "-c", _HOLD_FORK_AND_DIE, str(folder)], stdout=out,
                              stderr=subprocess.STDOUT, env=H.subprocess_env(tmp_path / "data"), timeout=60)
        out.seek(0)
        child = int(out.read().split()[0])
    try:
        assert proc.returncode == -signal.SIGKILL and pid_alive(child)
        FolderLock(folder).acquire().release()
    finally:
        os.kill(child, signal.SIGKILL)


def test_a_folder_of_unrelated_files_is_not_trained_into(tiny_data, data_dir, tmp_path):
    mine = tmp_path / "thesis"
    mine.mkdir()
    (mine / "config.json").write_text('{"my": "settings"}')
    (mine / "train_log.jsonl").write_text("my notes\n")
    cfg = H.write_toml(tmp_path / "tiny.toml", tiny_data)
    proc = cli("train", "--config", cfg, "--out", mine, "--quiet")
    assert proc.returncode == 2 and "is not an asdlib run folder" in proc.stderr and "--force" in proc.stderr
    assert (mine / "config.json").read_text() == '{"my": "settings"}'
    assert (mine / "train_log.jsonl").read_text() == "my notes\n"
    assert sorted(p.name for p in mine.iterdir()) == ["config.json", "train_log.jsonl"]
    claim_run_folder(mine, force=True).release()  # --force: the user's explicit choice


def test_what_counts_as_a_run_folder(tmp_path, reference_run):
    assert is_run_folder(tmp_path / "new") and is_run_folder(reference_run)
    half = tmp_path / "killed-during-data-preparation"
    (half / "checkpoints").mkdir(parents=True)
    (half / LOCK_NAME).write_text("")
    assert is_run_folder(half)
    (half / "photo.jpg").write_bytes(b"\xff\xd8")
    assert not is_run_folder(half)


@pytest.mark.parametrize("name", ["../../x", "/tmp/x", "a/b", "..", ".hidden", "", "x" * 101, 7])
def test_run_names_that_leave_the_runs_folder_are_refused(name):
    with pytest.raises(ValueError, match="run name"):
        RunConfig().with_overrides({"name": name})


def test_the_command_refuses_a_run_name_that_escapes(tiny_data, tmp_path, monkeypatch):
    cfg = H.write_toml(tmp_path / "tiny.toml", tiny_data)
    results = tmp_path / "a" / "b" / "results"
    monkeypatch.setenv("ASD_RESULTS_DIR", str(results))
    proc = cli("train", "--config", cfg, "--set", "name=../../escaped", "--quiet")
    assert proc.returncode == 2 and "run name '../../escaped'" in proc.stderr, proc.stderr[-2000:]
    assert not list(tmp_path.rglob("escaped")) and not results.exists()


def test_leftovers_of_dead_processes_are_removed_when_the_folder_is_claimed(tmp_path):
    ckpts = tmp_path / "run" / "checkpoints"
    ckpts.mkdir(parents=True)
    dead = subprocess.run([H.PYTHON, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    host = _host()
    stale = [ckpts / f".last.pt.{host}-{dead}.0123456789ab.tmp", ckpts / "last.pt.tmp"]
    live = ckpts / f".epoch_0001.pt.{host}-{os.getpid()}.0123456789ab.tmp"
    elsewhere = ckpts / f".epoch_0002.pt.otherhost-{dead}.0123456789ab.tmp"  # maybe alive there
    for p in [*stale, live, elsewhere]:
        p.write_bytes(b"partial")
    (ckpts / "last.pt").write_bytes(b"kept")
    claim_run_folder(tmp_path / "run").release()
    assert not any(p.exists() for p in stale)
    assert live.exists() and elsewhere.exists() and (ckpts / "last.pt").read_bytes() == b"kept"


# --------------------------------------------------------------------------- a full disk

def _limit_file_size(limit: int):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_a_full_disk_while_saving_a_checkpoint_is_one_line_and_leaves_nothing_partial(
        tiny_data, data_dir, reference_run, tmp_path):
    """A file-size limit below a checkpoint's size (the store is already cached) stands in for a full disk."""
    cfg = H.write_toml(tmp_path / "tiny.toml", tiny_data)
    run = tmp_path / "run"
    size = (reference_run / "checkpoints" / "last.pt").stat().st_size
    proc = subprocess.run([H.PYTHON, "-m", "asdlib", "train", "--config", str(cfg), "--out", str(run),
                           "--quiet"], env=H.subprocess_env(data_dir), capture_output=True, text=True,
                          timeout=300, preexec_fn=_limit_file_size(size // 2))
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "no space left to write it" in lines[0] and "MB needed" in lines[0], lines[0]
    assert str(run / "checkpoints") in lines[0]
    assert [p.name for p in (run / "checkpoints").iterdir()] == [], "a partial checkpoint was left"


# --------------------------------------------------------------------------- score --out

def _score(model, data_root, out, data_dir, *extra):
    return cli("score", "--checkpoint", model, "--data-root", data_root, "--out", out,
               "--batch-size", 8, *extra)


def _one_type(tiny_data: Path, tmp_path: Path) -> Path:
    root = tmp_path / "fan-only"
    (root / "fan").mkdir(parents=True)
    os.symlink(tiny_data / "fan" / "test", root / "fan" / "test")
    return root


def test_a_rescore_on_other_types_replaces_the_folder_whole(reference_run, tiny_data, data_dir, tmp_path):
    out, model = tmp_path / "out", reference_run / "checkpoints" / "last.pt"
    assert _score(model, tiny_data, out, data_dir).returncode == 0
    first = json.loads((out / MANIFEST).read_text())
    scored = [f["path"] for f in first["files"] if f["path"].startswith("scores/")]
    assert any("fan" in f for f in scored) and any("pump" in f for f in scored), scored
    proc = _score(model, _one_type(tiny_data, tmp_path), out, data_dir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    manifest = json.loads((out / MANIFEST).read_text())
    on_disk = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and p.name != MANIFEST)
    assert on_disk == sorted(f["path"] for f in manifest["files"])
    assert not any("pump" in p for p in on_disk), "files of the earlier scoring were left"
    assert set(pd.read_csv(out / "clip_scores.csv")["machine_type"]) == {"fan"}
    assert manifest["model_sha256"] == first["model_sha256"] and len(manifest["model_sha256"]) == 64
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]


def test_a_killed_scoring_leaves_the_earlier_folder_and_its_leftovers_go(reference_run, tiny_data,
                                                                       data_dir, tmp_path):
    out, model = tmp_path / "out", reference_run / "checkpoints" / "last.pt"
    assert _score(model, tiny_data, out, data_dir).returncode == 0
    before = (out / MANIFEST).read_text()
    proc = subprocess.Popen([H.PYTHON, "-m", "asdlib", "score", "--checkpoint", str(model), "--data-root",
                             str(tiny_data), "--out", str(out), "--no-store"],
                            env=H.subprocess_env(data_dir), stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".out.*.partial")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (out / MANIFEST).read_text() == before  # the complete earlier folder, untouched
    assert _score(model, tiny_data, out, data_dir).returncode == 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]


def test_score_refuses_a_foreign_or_unwritable_out_before_scoring(reference_run, tiny_data, data_dir, tmp_path):
    model = reference_run / "checkpoints" / "last.pt"
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    proc = _score(model, tiny_data, mine, data_dir)
    assert proc.returncode == 2 and "not an asdlib score folder" in proc.stderr
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    parent = tmp_path / "read-only"
    parent.mkdir()
    (parent / "blocker").write_text("a file where a folder is needed")
    proc = _score(model, tiny_data, parent / "blocker" / "out", data_dir)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_non_finite_scores_are_never_written(reference_run, tiny_data, data_dir, tmp_path):
    ckpt = torch.load(reference_run / "checkpoints" / "last.pt", weights_only=True)
    ckpt["model"]["arcface.weight"][:] = float("nan")
    damaged = tmp_path / "damaged.pt"
    torch.save(ckpt, damaged)
    proc = _score(damaged, tiny_data, tmp_path / "out", data_dir)
    assert proc.returncode == 2 and "clip score(s) are not finite" in proc.stderr, proc.stderr[-2000:]
    assert not (tmp_path / "out").exists() and not [p for p in tmp_path.iterdir() if ".partial" in p.name]


def test_remove_leftovers_keeps_what_is_not_ours(tmp_path):
    dead = f".x.{_host()}-999999999.0123456789ab.partial"
    (tmp_path / dead).mkdir()
    (tmp_path / dead / "f").write_text("")
    (tmp_path / "x.partial").mkdir()
    (tmp_path / ".notes.txt").write_text("")
    removed = remove_leftovers(tmp_path)
    assert [p.name for p in removed] == [dead]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".notes.txt", "x.partial"]
