"""Tests of asdlib.engine.train: logs and checkpoints, determinism, resume after kill -9, refusing a
checkpoint of another configuration, DDP on CPU (gloo) under torchrun."""

from __future__ import annotations

import json
import math
import shutil
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from asdlib.engine.checkpoints import (ConfigMismatchError, list_checkpoints, load_model,
                                       read_checkpoint)
import asdlib.engine.train as train_module
from asdlib.engine.train import epoch_generators, read_log, split_validation, train

import engine_helpers as H

TORCHRUN = Path(H.PYTHON).with_name("torchrun")


from engine_helpers import one_thread_tmp_data  # noqa: E402,F401  (a fixture)

pytestmark = pytest.mark.usefixtures("one_thread_tmp_data")


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every file of a run folder but its lock file (who held it last: bookkeeping, not the run)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ".asdlib.lock"}


# --------------------------------------------------------------------------- helpers of train.py

def test_epoch_generators_are_seeded_by_seed_and_epoch():
    a_np, a_t = epoch_generators(0, 3)
    b_np, b_t = epoch_generators(0, 3)
    assert np.array_equal(a_np.permutation(50), b_np.permutation(50))
    assert torch.equal(torch.randperm(50, generator=a_t), torch.randperm(50, generator=b_t))
    c_np, _ = epoch_generators(0, 4)
    d_np, _ = epoch_generators(1, 3)
    p = epoch_generators(0, 3)[0].permutation(50)
    assert not np.array_equal(p, c_np.permutation(50))
    assert not np.array_equal(p, d_np.permutation(50))


def test_split_validation_is_seeded_and_disjoint():
    tr, va = split_validation(100, 0.05, 0)
    assert len(va) == 5 and len(tr) == 95
    assert not set(tr) & set(va) and set(tr) | set(va) == set(range(100))
    tr2, va2 = split_validation(100, 0.05, 0)
    assert np.array_equal(va, va2)
    assert not np.array_equal(va, split_validation(100, 0.05, 1)[1])
    assert len(split_validation(10, 0.05, 0)[1]) == 1  # at least one clip when asked for some


# --------------------------------------------------------------------------- one run

def test_stgram_schedule_holds_the_lr_then_follows_a_longer_cosine(tmp_path, tmp_path_factory):
    """STgram-MFN: lr constant until scheduler_start_epoch, then cosine with its own T_max."""
    out, data = tmp_path / "stgram-schedule", H.shared_dataset(tmp_path_factory)
    train(H.tiny_config(data, epochs=4, scheduler_start_epoch=2, cosine_t_max=5), out,
          progress=False)
    lr0, eta, T = 1e-3, 1e-4, 5
    cosine = [eta + (lr0 - eta) * (1 + math.cos(math.pi * k / T)) / 2 for k in range(T + 1)]
    np.testing.assert_allclose(read_log(out)["lr"], [lr0, lr0, lr0, cosine[1]], rtol=1e-9)
    assert read_checkpoint(out / "checkpoints" / "last.pt")["scheduler"]["T_max"] == 5
    with pytest.raises(ValueError, match="scheduler_start_epoch"):
        H.tiny_config(data, scheduler_start_epoch=-1)


def test_run_writes_log_and_checkpoints(reference_run):
    log = read_log(reference_run)
    assert log["epoch"].tolist() == [1, 2, 3]
    assert np.isfinite(log[["train_loss", "val_loss", "train_acc", "val_acc"]].to_numpy()).all()
    assert (log["steps"] == H.STEPS_PER_EPOCH).all() and (log["clips"] == 23).all()
    assert ((log["data_wait_fraction"] >= 0) & (log["data_wait_fraction"] <= 1)).all()
    # lr: cosine annealing from 1e-3 towards eta_min = 0.1 * lr, stepped once per epoch
    lr0, T = 1e-3, 3
    want = [1e-4 + (lr0 - 1e-4) * (1 + math.cos(math.pi * e / T)) / 2 for e in range(3)]
    np.testing.assert_allclose(log["lr"], want, rtol=1e-9)
    names = [p.name for p in list_checkpoints(reference_run)]
    assert names == ["epoch_0001.pt", "epoch_0002.pt", "epoch_0003.pt"]
    last = read_checkpoint(reference_run / "checkpoints" / "last.pt")
    assert last["epoch"] == 3 and last["config"]["name"] == "tiny"
    group = last["optimizer"]["param_groups"][0]
    assert group.get("decoupled_weight_decay", True) and group["weight_decay"] == 0.01  # AdamW
    assert last["scheduler"]["T_max"] == 3 and last["scheduler"]["eta_min"] == pytest.approx(1e-4)
    saved = json.loads((reference_run / "config.json").read_text())
    runtime = saved.pop("runtime")  # what the run really trained with, beside its settings
    assert saved == last["config"]
    assert runtime["device"] == "cpu" and runtime["card"] == "CPU" and runtime["precision"] == "fp32"
    assert runtime["world_size"] == 1 and runtime["batchnorm_batch"] == 8
    assert "bit for bit" in runtime["resume"] and last["log"]["world_size"] == 1
    net = load_model(reference_run / "checkpoints" / "epoch_0002.pt")
    assert net.checkpoint_epoch == 2 and not net.training and net.label_map == "paper"


def test_same_seed_same_losses_and_weights(tiny_data, reference_run, tmp_path):
    """Determinism on CPU: a second run with the same seed repeats the first exactly."""
    out = train(H.tiny_config(tiny_data), tmp_path / "again", resume=False, progress=False)
    a, b = read_log(reference_run), read_log(out)
    for col in ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "clips"):
        assert a[col].tolist() == b[col].tolist(), col
    wa = read_checkpoint(reference_run / "checkpoints" / "last.pt")["model"]
    wb = read_checkpoint(out / "checkpoints" / "last.pt")["model"]
    assert H.state_dicts_equal(wa, wb) == []


def test_validating_and_saving_at_the_checkpoints_only_changes_nothing_but_the_log(
        tiny_data, reference_run, tmp_path, monkeypatch):
    """train.validate_every = 3 and save_last_every = 3 with checkpoint_every = 2: the validation
    loss at epochs 2 (a checkpoint) and 3 (the last), none at epoch 1; last.pt written at those
    epochs only, each time with the same bytes as the epoch's own checkpoint; losses and weights
    as the reference run's, which validated and saved every epoch."""
    saved = []
    real_save = train_module.save_checkpoint
    monkeypatch.setattr(train_module, "save_checkpoint", lambda path, *a, copies=(), **k: saved.append(
        (a[4], path.name, [c.name for c in copies])) or real_save(path, *a, copies=copies, **k))
    out = train(H.tiny_config(tiny_data, checkpoint_every=2, validate_every=3, save_last_every=3),
                tmp_path / "val", resume=False, progress=False)
    assert saved == [(2, "last.pt", ["epoch_0002.pt"]), (3, "last.pt", ["epoch_0003.pt"])]
    a, b = read_log(reference_run), read_log(out)
    assert a["train_loss"].tolist() == b["train_loss"].tolist()
    assert b["val_loss"].isna().tolist() == [True, False, False]
    assert b["val_loss"][1:].tolist() == a["val_loss"][1:].tolist()
    assert sorted(p.name for p in (out / "checkpoints").glob("epoch_*.pt")) == ["epoch_0002.pt", "epoch_0003.pt"]
    wa = read_checkpoint(reference_run / "checkpoints" / "last.pt")["model"]
    wb = read_checkpoint(out / "checkpoints" / "last.pt")["model"]
    assert H.state_dicts_equal(wa, wb) == []
    # a checkpoint epoch writes the same bytes to last.pt and to its own file
    assert (out / "checkpoints" / "last.pt").read_bytes() == (out / "checkpoints" / "epoch_0003.pt").read_bytes()


def test_other_seed_gives_other_run(tiny_data, reference_run, tmp_path):
    out = train(H.tiny_config(tiny_data, epochs=1, seed=1), tmp_path / "seed1", resume=False,
                progress=False)
    assert read_log(out)["train_loss"][0] != read_log(reference_run)["train_loss"][0]


@pytest.mark.slow
def test_resume_after_kill_9_matches_uninterrupted_run(tiny_data, reference_run, data_dir,
                                                       tmp_path):
    toml = H.write_toml(tmp_path / "tiny.toml", tiny_data)
    out = tmp_path / "run"
    cmd = [H.PYTHON, "-m", "asdlib", "train", "--config", str(toml), "--out", str(out)]
    kill_at = H.STEPS_PER_EPOCH + 1  # the first step of epoch 2
    killed = subprocess.run(cmd, env=H.subprocess_env(data_dir, ASDLIB_KILL_AFTER_STEPS=str(kill_at)),
                            capture_output=True, text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert read_checkpoint(out / "checkpoints" / "last.pt")["epoch"] == 1
    assert read_log(out)["epoch"].tolist() == [1]

    resumed = subprocess.run(cmd, env=H.subprocess_env(data_dir), capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming" in resumed.stdout and "at epoch 2" in resumed.stdout
    log = read_log(out)
    assert log["epoch"].tolist() == [1, 2, 3]
    ref_log = read_log(reference_run)
    assert log["train_loss"].tolist() == ref_log["train_loss"].tolist()
    assert log["val_loss"].tolist() == ref_log["val_loss"].tolist()
    mine = read_checkpoint(out / "checkpoints" / "last.pt")["model"]
    ref = read_checkpoint(reference_run / "checkpoints" / "last.pt")["model"]
    assert H.state_dicts_equal(mine, ref) == []


@pytest.mark.parametrize("key, value, named", [
    ("model.embedding_dim", 64, "model.embedding_dim"),
    ("train.lr", 5e-4, "train.lr"),
])
def test_checkpoint_of_other_config_is_refused(tiny_data, reference_run, tmp_path, key, value,
                                               named):
    run = tmp_path / "run"
    shutil.copytree(reference_run, run)
    before = _snapshot(run)
    other = H.tiny_config(tiny_data).with_overrides({key: value})
    with pytest.raises(ConfigMismatchError) as err:
        train(other, run, resume=True, progress=False)
    assert named in str(err.value) and "last.pt" in str(err.value)
    # nothing deleted or rewritten: checkpoints, log and the run's config.json are untouched
    assert _snapshot(run) == before


def test_runtime_settings_may_differ_on_resume(tiny_data, reference_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(reference_run, run)
    before = read_checkpoint(run / "checkpoints" / "last.pt")["model"]
    train(H.tiny_config(tiny_data, num_workers=1), run, resume=True, progress=False)  # done already
    after = read_checkpoint(run / "checkpoints" / "last.pt")["model"]
    assert H.state_dicts_equal(before, after) == []
    assert read_log(run)["epoch"].tolist() == [1, 2, 3]


def test_trailing_batch_of_one_clip_does_not_crash(tiny_data, tmp_path):
    """23 training clips in batches of 11 leave a last batch of 1, which BatchNorm cannot train on."""
    out = train(H.tiny_config(tiny_data, epochs=1, batch_size=11), tmp_path / "b11",
                resume=False, progress=False)
    log = read_log(out)
    assert np.isfinite(log["train_loss"]).all() and log["clips"][0] == 22


def test_read_log_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="train_log.jsonl"):
        read_log(tmp_path)


@pytest.mark.slow
def test_ddp_two_processes_on_cpu(tiny_data, data_dir, tmp_path):
    """torchrun with 2 processes, gloo backend on the CPU: one epoch, checkpoint and a finite loss."""
    assert TORCHRUN.is_file(), f"{TORCHRUN} missing"
    toml = H.write_toml(tmp_path / "tiny.toml", tiny_data, epochs=1)
    out = tmp_path / "ddp"
    cmd = [str(TORCHRUN), "--standalone", "--nproc_per_node", "2", "-m", "asdlib", "train",
           "--config", str(toml), "--out", str(out), "--set", "train.device='cpu'", "--quiet"]
    proc = subprocess.run(cmd, env=H.subprocess_env(data_dir), capture_output=True, text=True,
                          timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    ckpt = read_checkpoint(out / "checkpoints" / "last.pt")
    assert ckpt["epoch"] == 1
    assert not any(k.startswith("module.") for k in ckpt["model"])  # the bare network is saved
    log = read_log(out)
    assert log["epoch"].tolist() == [1]
    assert np.isfinite(log["train_loss"][0]) and np.isfinite(log["val_loss"][0])
    assert log["clips"][0] == 22  # 23 clips cut to equal shards of 11 per process
    assert log["steps"][0] == 3   # per-process batch 8 / 2 = 4: 4 + 4 + 3
    runtime = json.loads((out / "config.json").read_text())["runtime"]
    assert runtime["world_size"] == 2 and runtime["per_process_batch"] == 4
    assert runtime["sync_batchnorm"] and runtime["batchnorm_batch"] == 8  # the global batch, as on one GPU
    assert log["world_size"][0] == 2
    net = load_model(out / "checkpoints" / "last.pt")
    with torch.no_grad():
        assert torch.isfinite(net(torch.zeros(2, int(H.CLIP_SECONDS * 16000)))).all()


@pytest.mark.slow
def test_compiled_training_step_gives_the_eager_loss(tiny_data, tmp_path):
    """train.compile: the same fp32 arithmetic through torch.compile; the first step's loss to 1e-4.

    One step only: after it, Adam's first update (about lr * sign(gradient)) turns float-rounding
    differences of near-zero gradients into different weights, so later losses drift apart.
    """
    one_step = dict(epochs=1, max_steps_per_epoch=1)
    eager = train(H.tiny_config(tiny_data, **one_step), tmp_path / "eager", resume=False,
                  progress=False)
    compiled = train(H.tiny_config(tiny_data, compile=True, **one_step), tmp_path / "compiled",
                     resume=False, progress=False)
    a, b = read_log(eager).iloc[0], read_log(compiled).iloc[0]
    assert a["steps"] == b["steps"] == 1 and a["clips"] == b["clips"]
    assert abs(a["train_loss"] - b["train_loss"]) < 1e-4
    assert json.loads((compiled / "config.json").read_text())["train"]["compile"] is True
