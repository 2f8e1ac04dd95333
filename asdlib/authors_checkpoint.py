"""The authors' released PyTorch Lightning checkpoint ``MWM_93.44_s40_m0.7.ckpt``: fetch, convert, load.

Their module names differ from ours only by prefixes (``model.heatmap.`` -> ``attention.`` etc.);
the expected keys, shapes and dtypes are listed in ``resources/authors-checkpoint-keys.tsv``.
Loading is strict: a missing key, an unexpected key or a wrong shape is refused.
Explained in notebook 04_evaluation (scoring with the authors' weights) and 06_attention.
"""

from __future__ import annotations

import argparse
import json
import pickle
import re
import types
import warnings
import zipfile
from functools import lru_cache
from pathlib import Path, PurePosixPath, PureWindowsPath

import pandas as pd
import torch

from .model import ASDNet, ModelConfig, build_model
from .paths import RESOURCES_DIR

AUTHORS_CHECKPOINT_NAME = "MWM_93.44_s40_m0.7.ckpt"
AUTHORS_CHECKPOINT_URL = (
    "https://github.com/michaelneri/unsupervised-audio-anomaly-detection/raw/"
    "f8eb19635d2d727c242ed16cf5b01030d885158d/MWM_93.44_s40_m0.7.ckpt"
)
KEYS_FILE = RESOURCES_DIR / "authors-checkpoint-keys.tsv"

#: Authors' key prefix -> our ``ASDNet`` prefix (checked against ``build_model().state_dict()``).
KEY_PREFIXES = (
    ("model.wavegram.", "wavegram.layer."),
    ("model.transform_tf.", "logmel.mel."),
    ("model.heatmap.", "attention."),
    ("model.classifier.", "classifier."),
    ("model.arcface.", "arcface."),
)


class CheckpointError(ValueError):
    """A checkpoint that does not fit the faithful model, or a downloaded file that changed. Notebook 04."""


def _parse_shape(text: str) -> tuple[int, ...]:
    return () if text == "scalar" else tuple(int(v) for v in text.split("x"))


def shape_text(shape) -> str:
    """A tensor shape as the key lists write it: ``64x2x3x3``, or ``scalar``. Notebook 04."""
    return "x".join(str(int(v)) for v in shape) if len(shape) else "scalar"


def authors_key(key: str) -> str:
    """The authors' checkpoint key for one of our ``ASDNet`` state_dict keys. Notebook 04."""
    for theirs, ours in KEY_PREFIXES:
        if key.startswith(ours):
            return theirs + key[len(ours):]
    raise KeyError(f"{key!r} has no counterpart in the authors' checkpoint")


def our_key(key: str) -> str | None:
    """Our ``ASDNet`` state_dict key for one of the authors' keys (None if no prefix matches). Notebook 04."""
    for theirs, ours in KEY_PREFIXES:
        if key.startswith(theirs):
            return ours + key[len(theirs):]
    return None


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


@lru_cache(maxsize=1)
def _key_table() -> pd.DataFrame:
    return pd.DataFrame([{"key": key, "shape": shape, "dtype": dtype, "our_key": our_key(key)}
                         for key, shape, dtype in read_key_file(KEYS_FILE)])


def authors_key_table() -> pd.DataFrame:
    """Every key of the authors' ``state_dict``: key, shape (tuple; () = scalar), dtype, our key. Notebook 04."""
    return _key_table().copy()


def convert_authors_state_dict(state_dict: dict) -> dict[str, torch.Tensor]:
    """Rename the authors' state_dict to our ``ASDNet`` names, refusing missing, unexpected or misshapen keys. Notebook 04.

    Raises ``CheckpointError`` listing every offending key (with expected vs got shapes).
    """
    table = _key_table()
    expected = dict(zip(table["key"], table["shape"]))
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    wrong = []
    for k, want in expected.items():
        if k in state_dict:
            value = state_dict[k]
            got = tuple(value.shape) if isinstance(value, torch.Tensor) else None
            if got != want:
                got_text = shape_text(got) if got is not None else f"a {type(value).__name__}"
                wrong.append(f"{k}: expected {shape_text(want)}, got {got_text}")
    if missing or unexpected or wrong:
        lines = ["the state_dict does not match the authors' model (faithful ASDNet):"]
        if missing:
            lines.append(f"missing key(s) ({len(missing)}): {', '.join(missing)}")
        if unexpected:
            lines.append(f"unexpected key(s) ({len(unexpected)}): {', '.join(unexpected)}")
        if wrong:
            lines.append(f"wrong shape(s) ({len(wrong)}): " + "; ".join(wrong))
        raise CheckpointError("\n".join(lines))
    return {our_key(k): state_dict[k] for k in expected}


def to_authors_state_dict(model: ASDNet) -> dict[str, torch.Tensor]:
    """Our faithful model's weights under the authors' key names (the inverse of the conversion). Notebook 04."""
    return {authors_key(k): v for k, v in model.state_dict().items()}


# --------------------------------------------------------------------------- reading the file

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


def _describe_non_checkpoint(path: Path) -> str:
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
        why = _describe_non_checkpoint(path)
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


def _torch_load(path: Path, map_location, allow_unsafe_pickle: bool = False):
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


def _state_dict_of(ckpt, path: Path) -> dict:
    if isinstance(ckpt, dict) and isinstance(ckpt.get("state_dict"), dict):
        return ckpt["state_dict"]
    if isinstance(ckpt, dict) and ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        return ckpt
    what = f"a dict with keys {sorted(map(str, ckpt))[:10]}" if isinstance(ckpt, dict) else type(ckpt).__name__
    raise CheckpointError(f"{path}: expected a Lightning checkpoint with a 'state_dict' entry or a "
                          f"state_dict itself, got {what}")


def load_authors_checkpoint(path: str | Path, map_location: str | torch.device = "cpu", *,
                            allow_unsafe_pickle: bool = False) -> ASDNet:
    """The authors' trained network: load their checkpoint into the faithful ``ASDNet``, eval mode. Notebook 04.

    Loads with ``torch.load(weights_only=True)`` allowing only ``LIGHTNING_SAFE_GLOBALS``; a
    file pickling anything else is refused (``UnsafeCheckpointError`` naming the global) and
    never unpickled further. ``allow_unsafe_pickle=True`` (CLI ``--allow-unsafe-pickle``) uses
    the full unpickler instead: that RUNS ANY CODE stored in the file, so only use it for a file
    you trust completely. The model is ``ModelConfig()``'s defaults
    (mel+wave, h = 128, separable, faithful attention, 10 s), loaded strictly, with
    ``model.label_map = "paper"`` (it was trained on the authors' map with the pump 06 /
    slider 00 collision) and ``model.checkpoint_meta`` (file, epoch, global step, and how far
    the stored Mel filterbank is from ours).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"authors' checkpoint not found: {path} "
                                "(asdlib.authors_checkpoint.fetch_authors_checkpoint downloads it)")
    ckpt = _torch_load(path, map_location, allow_unsafe_pickle)
    try:
        converted = convert_authors_state_dict(_state_dict_of(ckpt, path))
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from e
    model = build_model(ModelConfig())
    fresh_fb = model.logmel.mel.mel_scale.fb.clone()
    model.load_state_dict(converted, strict=True)
    if isinstance(map_location, (str, torch.device)):
        model.to(map_location)
    model.eval()
    model.label_map = "paper"
    meta = {"file": str(path), "mel_fb_max_abs_diff":
            float((model.logmel.mel.mel_scale.fb.cpu() - fresh_fb).abs().max())}
    if isinstance(ckpt, dict):
        for k in ("epoch", "global_step", "pytorch-lightning_version"):
            if k in ckpt:
                meta[k] = ckpt[k]
    model.checkpoint_meta = meta
    return model


# --------------------------------------------------------------------------- download

def fetch_authors_checkpoint(dest_dir: str | Path, *, progress: bool = True) -> Path:
    """Download the authors' checkpoint into ``dest_dir`` once; record its size and SHA-256, verify later. Notebook 04.

    Its checksum is not published, so the first download writes ``<file>.json`` (URL, size,
    SHA-256) and every later call (or re-download) must match that record, else
    ``CheckpointError``. Without a network the downloader's ``DownloadError`` propagates.
    """
    from .download import fetch_with_record, read_checksum_record

    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / AUTHORS_CHECKPOINT_NAME
    record_path = dest.with_name(dest.name + ".json")
    record = read_checksum_record(record_path, error=CheckpointError, hint=dest.name)

    def validate(path: Path) -> None:
        why = _describe_non_checkpoint(path)
        if why:
            raise CheckpointError(f"{path}: downloaded from {AUTHORS_CHECKPOINT_URL}, but {why}; "
                                  "delete it and retry")

    fetch_with_record(AUTHORS_CHECKPOINT_URL, dest, record_path, record,
                      what="the authors' checkpoint", validate=validate, error=CheckpointError,
                      progress=progress)
    return dest
