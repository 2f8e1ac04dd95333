"""Shared pieces of the engine tests (store, train, evaluate, CLI): a tiny synthetic dataset and
one tiny trained run, each made once per test session and reused by every test module.

Not a test module (no ``test_`` prefix). The session fixtures of each module call the cached
helpers here, so the dataset and the reference run are built once however many modules use them.

Everything runs on one CPU thread: on a small, shared machine several PyTorch threads per process
are much slower than one (and one thread makes CPU results bit-for-bit repeatable).
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import pytest
import torch

from asdlib.engine.config import RunConfig

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
#: Two machines (fan 00 -> class 0, pump 00 -> class 7 under the paper map).
TINY_IDS = {"fan": ("00",), "pump": ("00",)}
CLIP_SECONDS = 0.5
N_TRAIN, N_TEST_NORMAL, N_TEST_ANOMALY = 12, 3, 3
#: 24 training clips: 1 held out for validation, 23 trained on = 3 steps of batch 8 per epoch.
STEPS_PER_EPOCH = 3
TINY_TRAIN = {"epochs": 3, "batch_size": 8, "lr": 1e-3, "checkpoint_every": 1, "num_workers": 0,
              "device": "cpu", "seed": 0}

_CACHE: dict[str, object] = {}


@contextlib.contextmanager
def one_thread():
    """Run the block with one PyTorch thread, restoring the previous count afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture
def one_thread_tmp_data(monkeypatch, data_dir):
    """Fixture of the engine test modules: one thread, ``ASD_DATA_DIR`` at the session's tmp data
    folder, no kill hook (use it with ``pytestmark = pytest.mark.usefixtures(...)``)."""
    monkeypatch.setenv("ASD_DATA_DIR", str(data_dir))
    monkeypatch.delenv("ASDLIB_KILL_AFTER_STEPS", raising=False)
    with one_thread():
        yield


@contextlib.contextmanager
def data_dir_env(path: Path):
    """Point ``ASD_DATA_DIR`` at ``path`` for the block (caches then go to ``path/cache``)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ASD_DATA_DIR", str(path))
        yield


def subprocess_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """Environment of a child ``python -m asdlib`` / ``torchrun``: one thread, tmp data folder."""
    env = dict(os.environ)
    env.pop("ASDLIB_KILL_AFTER_STEPS", None)
    env.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "ASD_DATA_DIR": str(data_dir),
                "PYTHONPATH": str(REPO) + os.pathsep + env.get("PYTHONPATH", "")})
    env.update(extra)
    return env


def session_base(tmp_path_factory) -> Path:
    """One folder for the shared objects of this session."""
    if "base" not in _CACHE:
        _CACHE["base"] = tmp_path_factory.mktemp("engine")
    return _CACHE["base"]


def shared_dataset(tmp_path_factory) -> Path:
    """The tiny synthetic dataset (0.5-s clips, fan 00 and pump 00), generated once per session."""
    if "dataset" not in _CACHE:
        from asdlib.data.synthetic import generate_synthetic_dataset

        root = session_base(tmp_path_factory) / "tiny"
        generate_synthetic_dataset(root, clip_seconds=CLIP_SECONDS, machine_ids=TINY_IDS,
                                   n_train=N_TRAIN, n_test_normal=N_TEST_NORMAL,
                                   n_test_anomaly=N_TEST_ANOMALY, seed=0)
        _CACHE["dataset"] = root
    return _CACHE["dataset"]


def tiny_config(data_root: Path, **train_overrides) -> RunConfig:
    """The tiny run configuration: the proposed model on 0.5-s clips, 3 epochs of batch 8."""
    overrides = {"name": "tiny", "model.clip_seconds": CLIP_SECONDS, "data.root": str(data_root)}
    overrides.update({f"train.{k}": v for k, v in {**TINY_TRAIN, **train_overrides}.items()})
    return RunConfig().with_overrides(overrides)


def write_toml(path: Path, data_root: Path, **train_overrides) -> Path:
    """The tiny configuration as a TOML file (what the CLI reads)."""
    train = {**TINY_TRAIN, **train_overrides}
    lines = ['name = "tiny"', "", "[model]", f"clip_seconds = {CLIP_SECONDS}", "", "[data]",
             f'root = "{data_root}"', "", "[train]"]
    for k, v in train.items():
        lines.append(f'{k} = "{v}"' if isinstance(v, str) else f"{k} = {v!r}")
    path.write_text("\n".join(lines) + "\n")
    return path


def shared_run(tmp_path_factory) -> Path:
    """The reference run: the tiny configuration trained once in this process (3 epochs)."""
    if "run" not in _CACHE:
        from asdlib.engine.train import train

        base = session_base(tmp_path_factory)
        data = shared_dataset(tmp_path_factory)
        out = base / "runs" / "reference"
        with one_thread(), data_dir_env(base / "data"):
            train(tiny_config(data), out, resume=False, progress=False)
        _CACHE["run"] = out
    return _CACHE["run"]


def shared_evaluation(tmp_path_factory):
    """``evaluate_run`` of the reference run, once per session: (summary, evaluation folder)."""
    if "evaluation" not in _CACHE:
        from asdlib.engine.evaluate import evaluate_run

        base = session_base(tmp_path_factory)
        run = shared_run(tmp_path_factory)
        out = base / "evaluation"
        with one_thread(), data_dir_env(base / "data"):
            summary = evaluate_run(run, out_dir=out, batch_size=8, device="cpu", progress=False)
        _CACHE["evaluation"] = (summary, out)
    return _CACHE["evaluation"]


def state_dicts_equal(a: dict, b: dict) -> list[str]:
    """Names of the tensors that differ between two state dicts (empty: identical)."""
    assert set(a) == set(b), f"different keys: {sorted(set(a) ^ set(b))}"
    return [k for k in a if not torch.equal(a[k], b[k])]
