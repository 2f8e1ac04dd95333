"""The authors' released PyTorch Lightning checkpoint ``MWM_93.44_s40_m0.7.ckpt``: fetch, convert, load.

Their module names differ from ours only by prefixes (``model.heatmap.`` -> ``attention.`` etc.;
the names live beside their network, ``asdlib.nets.authors_network.KEY_PREFIXES``); the file is
read by the safe loader of ``asdlib.engine.checkpoints``; the expected keys, shapes and dtypes are listed in ``resources/authors-checkpoint-keys.tsv``.
Loading is strict: a missing key, an unexpected key or a wrong shape is refused.
Explained in notebook 04_evaluation (scoring with the authors' weights) and 06_attention.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd
import torch

from asdlib.data.download import fetch_with_record, read_checksum_record
from asdlib.engine.checkpoints import (CheckpointError, describe_non_checkpoint, load_unsafe,
                                       read_key_file, shape_text)
from asdlib.nets.authors_network import our_key
from asdlib.nets.model import ASDNet, ModelConfig, build_model
from asdlib.paths import RESOURCES_DIR

AUTHORS_CHECKPOINT_NAME = "MWM_93.44_s40_m0.7.ckpt"
AUTHORS_CHECKPOINT_URL = (
    "https://github.com/michaelneri/unsupervised-audio-anomaly-detection/raw/"
    "f8eb19635d2d727c242ed16cf5b01030d885158d/MWM_93.44_s40_m0.7.ckpt"
)
KEYS_FILE = RESOURCES_DIR / "authors-checkpoint-keys.tsv"


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
                                "(asdlib.engine.authors_checkpoint.fetch_authors_checkpoint downloads it)")
    ckpt = load_unsafe(path, map_location, allow_unsafe_pickle)
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
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / AUTHORS_CHECKPOINT_NAME
    record_path = dest.with_name(dest.name + ".json")
    record = read_checksum_record(record_path, error=CheckpointError, hint=dest.name)

    def validate(path: Path) -> None:
        why = describe_non_checkpoint(path)
        if why:
            raise CheckpointError(f"{path}: downloaded from {AUTHORS_CHECKPOINT_URL}, but {why}; "
                                  "delete it and retry")

    fetch_with_record(AUTHORS_CHECKPOINT_URL, dest, record_path, record,
                      what="the authors' checkpoint", validate=validate, error=CheckpointError,
                      progress=progress)
    return dest
