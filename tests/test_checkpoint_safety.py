"""No code runs from a checkpoint: every loader refuses a file whose unpickling would run a command,
and the command does not run. Our own checkpoints load with ``weights_only=True`` and keep the RNG
state that resuming restores."""

from __future__ import annotations

import builtins
import random
import shutil
import subprocess

import numpy as np
import pytest
import torch

from asdlib.engine.authors_checkpoint import load_authors_checkpoint
from asdlib.engine.checkpoints import CheckpointError, UnsafeCheckpointError, load_checkpoint_file
from asdlib.engine.evaluate import evaluate_run, load_any_checkpoint, score_checkpoint
from asdlib.engine.checkpoints import load_model, read_checkpoint, restore_rng_state, rng_state

import checkpoint_helpers as CH


def _payloads(sentinel):
    """Three ways a pickle can run code: a shell command, Python source, a process."""
    return {
        "os.system": CH.RunsCommand(CH.touch_command(sentinel)),
        "builtins.exec": CH.RunsCommand(f"open({str(sentinel)!r}, 'w').close()", func=builtins.exec),
        "subprocess.check_call": CH.RunsCommand(["touch", str(sentinel)], func=subprocess.check_call),
    }


def _hostile_files(tmp_path, reference_run):
    """(name, path, payload) of checkpoints shaped like ours and like Lightning's, each with a payload."""
    sentinel = tmp_path / "SENTINEL"
    ours = torch.load(reference_run / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)
    files = []
    for kind, payload in _payloads(sentinel).items():
        p_ours = tmp_path / f"ours_{kind}.pt"
        torch.save({**ours, "log": payload}, p_ours)  # a real asdlib checkpoint, one entry poisoned
        p_light = tmp_path / f"lightning_{kind}.ckpt"
        CH.save_lightning_checkpoint(p_light, {"model.x": torch.zeros(2)}, "2.x",
                                     hyper_parameters=payload)
        p_bare = tmp_path / f"bare_{kind}.pt"
        torch.save(payload, p_bare)  # the payload as the whole file
        files += [(kind, p_ours), (kind, p_light), (kind, p_bare)]
    return sentinel, files


def test_payloads_really_run_under_plain_pickle(tmp_path):
    """The control: the hostile files do run their command when unpickled without protection."""
    for kind, payload in _payloads(tmp_path / "SENTINEL").items():
        path = tmp_path / f"{kind}.pt"
        torch.save(payload, path)
        torch.load(path, weights_only=False)
        assert (tmp_path / "SENTINEL").exists(), kind
        (tmp_path / "SENTINEL").unlink()


def test_every_loader_refuses_a_checkpoint_that_would_run_code(tmp_path, reference_run, tiny_data,
                                                               data_dir, monkeypatch):
    monkeypatch.setenv("ASD_DATA_DIR", str(data_dir))
    sentinel, files = _hostile_files(tmp_path, reference_run)
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    loaders = {
        "load_checkpoint_file": load_checkpoint_file,
        "load_authors_checkpoint": load_authors_checkpoint,
        "load_any_checkpoint": load_any_checkpoint,
        "read_checkpoint": read_checkpoint,
        "load_model": load_model,
        "score_checkpoint": lambda p: score_checkpoint(p, tiny_data, tmp_path / "out", progress=False),
        "evaluate_run": lambda p: (shutil.copy(p, run_dir / "checkpoints" / "epoch_0001.pt"),
                                   evaluate_run(run_dir, tiny_data, progress=False)),
    }
    for kind, path in files:
        for name, load in loaders.items():
            with pytest.raises(UnsafeCheckpointError) as err:
                load(path)
            msg = str(err.value)
            named = run_dir / "checkpoints" / "epoch_0001.pt" if name == "evaluate_run" else path
            assert str(named) in msg and "refused" in msg and "\n" not in msg, (name, msg)
            assert kind.split(".")[-1] in msg or "posix.system" in msg, (name, msg)
            assert not sentinel.exists(), f"{name} ran the command of {path.name}"
    assert not (tmp_path / "out").exists()  # nothing written for a refused checkpoint


def test_cli_refuses_a_checkpoint_that_would_run_code(tmp_path, reference_run, tiny_data, data_dir,
                                                      monkeypatch):
    """``score`` through ``asdlib.cli.main`` in this process: had the file's code run, the sentinel
    would exist."""
    from test_cli import cli

    sentinel, files = _hostile_files(tmp_path, reference_run)
    path = next(p for k, p in files if k == "os.system" and p.suffix == ".ckpt")
    monkeypatch.setenv("ASD_DATA_DIR", str(data_dir))
    proc = cli("score", "--checkpoint", path, "--data-root", tiny_data, "--out", tmp_path / "o")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert str(path) in proc.stderr and "posix.system" in proc.stderr
    assert not sentinel.exists() and not (tmp_path / "o").exists()


def test_our_checkpoints_load_with_weights_only(reference_run):
    ckpt = torch.load(reference_run / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)
    assert ckpt["format"] == "asdlib-checkpoint-v1" and ckpt["epoch"] == 3
    rng = ckpt["rng"]
    assert isinstance(rng["python"]["state"], list) and isinstance(rng["numpy"]["key"], list)
    assert isinstance(rng["torch"], torch.Tensor)


def test_rng_state_round_trip_restores_every_stream(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    np.random.standard_normal()  # leaves a cached Gaussian in NumPy's legacy state
    random.gauss(0, 1)
    path = tmp_path / "rng.pt"
    torch.save(rng_state(), path)
    want = (random.random(), random.gauss(0, 1), np.random.standard_normal(3).tolist(),
            torch.rand(3).tolist())
    random.seed(99), np.random.seed(99), torch.manual_seed(99)
    restore_rng_state(torch.load(path, weights_only=True))
    got = (random.random(), random.gauss(0, 1), np.random.standard_normal(3).tolist(),
           torch.rand(3).tolist())
    assert got == want


def test_damaged_checkpoints_name_the_file(tmp_path, reference_run):
    good = (reference_run / "checkpoints" / "last.pt").read_bytes()
    cases = {"empty.pt": (b"", "empty"), "trunc.pt": (good[: len(good) // 2], "truncated or damaged"),
             "page.pt": (b"<html>Not Found</html>", "HTML"),
             "junk.pt": (b"\x80\x02junk that is no pickle", "not a readable PyTorch checkpoint")}
    for name, (data, words) in cases.items():
        (tmp_path / name).write_bytes(data)
        for load in (read_checkpoint, load_any_checkpoint, load_authors_checkpoint):
            with pytest.raises(CheckpointError, match=words) as err:
                load(tmp_path / name)
            assert str(tmp_path / name) in str(err.value) and "\n" not in str(err.value)
    other = tmp_path / "plain.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(CheckpointError, match="not an asdlib checkpoint"):
        read_checkpoint(other)
