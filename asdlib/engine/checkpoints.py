"""Checkpoints, in one place: the asdlib format, saving and reading it, rebuilding the network, and the safe loader.

- ``save_checkpoint`` / ``read_checkpoint``: our format (``CHECKPOINT_FORMAT``): model,
  optimiser, scheduler, epoch, RNG states (``rng_state``) and the run configuration, written
  atomically; ``load_model`` rebuilds the network (an ``ASDNet`` or a peer) from one.
- ``load_checkpoint_file``: every checkpoint file (ours, the authors' Lightning file, STgram-MFN's
  released weights) is read by ``torch.load(weights_only=True)`` with only
  ``LIGHTNING_SAFE_GLOBALS`` allowed: nothing in a file can run code. ``load_unsafe`` is the
  explicit opt-in for a trusted file that needs the full unpickler.
- ``CheckpointError``, ``UnsafeCheckpointError``, ``ConfigMismatchError``: the errors, each naming
  the file.
- ``read_key_file`` / ``shape_text``: the key lists (``key<TAB>shape<TAB>dtype``) that the
  authors' and STgram-MFN's key maps (``asdlib.engine.authors_checkpoint``,
  ``asdlib.study.stgram_weights``) check a foreign state_dict against.

Explained in notebooks 03_training (saving, resuming) and 04_evaluation (loading, safety).
"""

from __future__ import annotations

import argparse
import io
import pickle
import random
import re
import types
import warnings
import zipfile
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np
import torch
from torch import nn

from asdlib.engine.config import RunConfig, run_config_from_dict
from asdlib.folders import write_bytes_atomic
from asdlib.nets.model import build_model

CHECKPOINT_FORMAT = "asdlib-checkpoint-v1"


class ConfigMismatchError(ValueError):
    """A checkpoint was made with another configuration than the run asking to resume from it."""


class CheckpointError(ValueError):
    """A checkpoint that does not fit the faithful model, or a downloaded file that changed. Notebook 04."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint that pickles a class or function outside the allowlist (it could run code). Notebook 04."""


class _AttributeDict(dict):
    """Inert stand-in for Lightning's ``AttributeDict`` (a dict whose items read as attributes)."""

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError as e:
            raise AttributeError(key) from e


class _InertCallbackKey:
    """Inert stand-in for a Lightning callback class used as a dict key (Lightning < 1.5)."""


#: The globals a PyTorch Lightning 1.x/2.x checkpoint pickles beyond tensors and plain containers,
#: each mapped to a harmless data type: hyper-parameters (``AttributeDict``, ``argparse.Namespace``),
#: paths in hyper-parameters or callback states (as *pure* paths: no file-system access), and the
#: callback classes Lightning < 1.5 used as keys of ``callbacks``. ``collections.OrderedDict``,
#: ``torch.Size`` and the tensor rebuild functions are allowed by ``torch.load`` itself.
LIGHTNING_SAFE_GLOBALS: tuple[tuple[type, str], ...] = (
    (_AttributeDict, "lightning_fabric.utilities.data.AttributeDict"),
    (_AttributeDict, "lightning.fabric.utilities.data.AttributeDict"),
    (_AttributeDict, "pytorch_lightning.utilities.parsing.AttributeDict"),
    (argparse.Namespace, "argparse.Namespace"),
    (PurePosixPath, "pathlib.PosixPath"),
    (PurePosixPath, "pathlib._local.PosixPath"),
    (PurePosixPath, "pathlib.PurePosixPath"),
    (PureWindowsPath, "pathlib.WindowsPath"),
    (PureWindowsPath, "pathlib._local.WindowsPath"),
    (PureWindowsPath, "pathlib.PureWindowsPath"),
    (_InertCallbackKey, "pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint"),
    (_InertCallbackKey, "pytorch_lightning.callbacks.early_stopping.EarlyStopping"),
)

_GLOBAL_RE = re.compile(r"GLOBAL ([\w.]+)|unrecognized function (\S+)|got <class '([\w.]+)'>")


def describe_non_checkpoint(path: Path) -> str:
    """Why a file is not a PyTorch checkpoint (empty, an LFS pointer, an HTML page, foreign bytes), or "" when it starts like one. Notebook 04."""
    size = path.stat().st_size
    if not size:
        return "the file is empty"
    with open(path, "rb") as f:
        head = f.read(64)
    if head.startswith(b"version https://git-lfs"):
        return "the file is a Git LFS pointer, not the checkpoint itself"
    if head.lstrip().startswith(b"<"):
        return "the file looks like an HTML/XML page, not a checkpoint"
    if not (head.startswith(b"PK\x03\x04") or head.startswith(b"\x80")):
        return f"the file does not start like a PyTorch checkpoint (starts with {head[:16]!r})"
    return ""


def load_checkpoint_file(path: str | Path, map_location="cpu", *,
                         allow: tuple = LIGHTNING_SAFE_GLOBALS):
    """``torch.load(weights_only=True)`` allowing only ``allow``; any failure is one ``CheckpointError`` naming the file. Notebook 04.

    Nothing in the file can run code: a global outside the allowlist raises
    ``UnsafeCheckpointError`` naming it (and nothing of the file is executed); a truncated,
    empty or foreign file raises ``CheckpointError`` saying what it looks like.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        with torch.serialization.safe_globals(list(allow)):
            return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - every failure becomes one clear error
        text = str(e).strip()
        first = text.splitlines()[0] if text else type(e).__name__
        m = _GLOBAL_RE.search(text) if isinstance(e, pickle.UnpicklingError) else None
        if m:
            name = next(g for g in m.groups() if g)
            hint = (" (asdlib checkpoints written before safe loading held NumPy RNG state: "
                    "delete them and train again)" if name.startswith("numpy") else "")
            raise UnsafeCheckpointError(
                f"{path}: refused to load: it pickles {name!r}, which is not an allowed type "
                "(tensors, numbers, strings, plain containers and Lightning's hyper-parameter "
                f"types are); unpickling it could run code{hint}. Use a checkpoint from a source "
                "you trust, or re-save only its state_dict where you trust it (allow_unsafe_pickle=True, "
                "CLI --allow-unsafe-pickle, loads it anyway and RUNS what it holds)") from None
        why = describe_non_checkpoint(path)
        if not why and _is_damaged_zip(path):
            why = "its zip container is truncated or damaged (incomplete download or copy?)"
        why = why or f"{type(e).__name__}: {first[:200]}"
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint: {why}; download or "
                              "create it again") from None


def _is_damaged_zip(path: Path) -> bool:
    """A file that starts like a zip (PyTorch's format) but whose directory cannot be read."""
    with open(path, "rb") as f:
        if f.read(4) != b"PK\x03\x04":
            return False
    try:
        with zipfile.ZipFile(path) as zf:
            return zf.testzip() is not None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError):
        return True  # also flag bits saying "encrypted" / "unsupported compression": not PyTorch's


def load_unsafe(path: Path, map_location="cpu", allow_unsafe_pickle: bool = False):
    """``load_checkpoint_file``, or with ``allow_unsafe_pickle`` the full unpickler (RUNS code in the file; trusted files only, with a warning). Notebook 04."""
    if not allow_unsafe_pickle:
        return load_checkpoint_file(path, map_location)
    warnings.warn(f"{path}: allow_unsafe_pickle=True: loading with the full unpickler "
                  "(weights_only=False), which RUNS ANY CODE stored in the file; unimportable "
                  "classes such as Lightning's are replaced by stubs", stacklevel=3)
    try:
        return torch.load(path, map_location=map_location, weights_only=False,
                          pickle_module=_lenient_pickle)
    except Exception as e:  # noqa: BLE001
        raise CheckpointError(f"{path}: cannot load as a PyTorch checkpoint: {e}") from None


class _Stub(dict):
    """Stand-in for a class that cannot be imported here (only with ``allow_unsafe_pickle``)."""

    def __init__(self, *args, **kwargs):
        self._args = args

    def __setstate__(self, state):
        self.__dict__["_state"] = state

    def append(self, item):
        self.__dict__.setdefault("_items", []).append(item)

    def extend(self, items):
        self.__dict__.setdefault("_items", []).extend(items)


class _LenientUnpickler(pickle.Unpickler):
    """The FULL unpickler (runs code in the file), stubbing unimportable classes. Opt-in only."""

    def find_class(self, module, name):
        try:
            return super().find_class(module, name)
        except (ImportError, AttributeError):
            return type(name, (_Stub,), {"__module__": module})


_lenient_pickle = types.SimpleNamespace(
    Unpickler=_LenientUnpickler, load=lambda f, **kw: _LenientUnpickler(f, **kw).load(),
    __name__="asdlib_lenient_pickle",
)


def _parse_shape(text: str) -> tuple[int, ...]:
    return () if text == "scalar" else tuple(int(v) for v in text.split("x"))


def shape_text(shape) -> str:
    """A tensor shape as the key lists write it: ``64x2x3x3``, or ``scalar``. Notebook 04."""
    return "x".join(str(int(v)) for v in shape) if len(shape) else "scalar"


def read_key_file(path) -> list[tuple[str, tuple[int, ...], str]]:
    """Rows (key, shape, dtype) of a checkpoint key list: ``key<TAB>shape<TAB>dtype``, ``#`` comments. Notebook 04."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) != 3:
                raise CheckpointError(f"{path}, line {n}: expected key<TAB>shape<TAB>dtype")
            rows.append((parts[0], _parse_shape(parts[1]), parts[2]))
    return rows


# --------------------------------------------------------------------------- our format

def _atomic_save(obj, path: Path, copies=()) -> None:
    """Serialise in memory once, then write it to ``path`` and each of ``copies`` through a unique
    temporary name (removed on failure): a full disk is one ``OutOfSpaceError`` naming the file
    and the bytes it needs, never a partial file."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    for target in (path, *copies):
        write_bytes_atomic(target, buffer.getbuffer())


def save_checkpoint(path: Path, config: RunConfig, net: nn.Module, optimizer, scheduler, epoch: int,
                    log_row: dict | None = None, copies=()) -> None:
    """Write a full checkpoint (model, optimizer, scheduler, epoch, RNG states, config) atomically, to ``path`` and the same bytes to each of ``copies``. Notebook 03."""
    _atomic_save({
        "format": CHECKPOINT_FORMAT,
        "config": config.to_dict(),
        "epoch": epoch,
        "model": net.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": rng_state(),
        "log": log_row or {},
    }, path, copies)


def rng_state() -> dict:
    """Python, NumPy and torch global RNG states as plain lists, numbers and a tensor (loads with weights_only). Notebook 03."""
    version, internal, gauss = random.getstate()
    name, key, pos, has_gauss, cached = np.random.get_state()
    return {"python": {"version": int(version), "state": [int(v) for v in internal],
                       "gauss_next": None if gauss is None else float(gauss)},
            "numpy": {"bit_generator": str(name), "key": [int(v) for v in key], "pos": int(pos),
                      "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
            "torch": torch.get_rng_state()}


def restore_rng_state(state: dict) -> None:
    """Restore the global RNGs from ``rng_state()``'s dict (resuming continues the same streams). Notebook 03."""
    py, npy = state["python"], state["numpy"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss_next"]))
    np.random.set_state((npy["bit_generator"], np.asarray(npy["key"], dtype=np.uint32), npy["pos"],
                         npy["has_gauss"], npy["cached_gaussian"]))
    torch.set_rng_state(state["torch"])


def read_checkpoint(path: str | Path) -> dict:
    """Load one of our checkpoints (on CPU) with ``weights_only=True``; ``CheckpointError`` naming the file when it is not one. Notebook 04."""

    path = Path(path)
    ckpt = load_checkpoint_file(path, "cpu", allow=())
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not an asdlib checkpoint (no format tag "
                              f"{CHECKPOINT_FORMAT!r}); give a checkpoint written by asdlib train")
    return ckpt


def check_same_config(ckpt: dict, config: RunConfig, path: Path) -> None:
    """Refuse a checkpoint made with another configuration, naming the settings that differ. Notebook 03."""

    theirs = run_config_from_dict(ckpt["config"]).identity()
    ours = config.identity()
    diffs = []
    for section in ("model", "data", "train"):
        for k in sorted(set(theirs[section]) | set(ours[section])):
            if theirs[section].get(k) != ours[section].get(k):
                diffs.append(f"{section}.{k}: checkpoint {theirs[section].get(k)!r} vs run {ours[section].get(k)!r}")
    if diffs:
        raise ConfigMismatchError(
            f"{path} was made with another configuration; refusing to resume from it. "
            "Differences: " + "; ".join(diffs))


def load_model(path: str | Path) -> nn.Module:
    """Build the network stored in one of our checkpoints (eval mode, CPU): an ``ASDNet`` or a peer. Notebook 04."""

    ckpt = read_checkpoint(path)
    try:
        config = run_config_from_dict(ckpt["config"], where=f"{path} (its configuration)")
        net = build_model(config.model)
        want = net.state_dict()
        wrong = [f"{k}: expected {tuple(want[k].shape)}, got {tuple(v.shape)}"
                 for k, v in ckpt["model"].items()
                 if k in want and isinstance(v, torch.Tensor) and v.shape != want[k].shape]
        if wrong:  # stricter than torch, which lets e.g. a 1-element BatchNorm counter through
            raise ValueError(f"wrong shape(s) ({len(wrong)}): " + "; ".join(wrong[:5]))
        net.load_state_dict(ckpt["model"])
        epoch = int(ckpt["epoch"])
    except (RuntimeError, KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
        lines = str(e).strip().splitlines() or [type(e).__name__]
        what = (f"it lacks the entry {e}" if isinstance(e, KeyError)
                else "; ".join(ln.strip() for ln in lines)[:400])
        raise CheckpointError(f"{path}: cannot rebuild the network from this asdlib checkpoint "
                              f"({what}); use another checkpoint of the run or train again") from None
    net.label_map = config.data.label_map
    net.checkpoint_epoch = epoch
    net.checkpoint_log = dict(ckpt.get("log") or {})  # the training log row of its epoch
    return net.eval()


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """The epoch checkpoints of a run, ``checkpoints/epoch_XXXX.pt``, in epoch order. Notebook 04."""
    return sorted(Path(run_dir, "checkpoints").glob("epoch_*.pt"))
