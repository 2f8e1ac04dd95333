"""STgram-MFN's released weights (Zenodo record 7194640): key map, strict safe loading and a checksum-recorded fetch.

The weights were posted in October 2022 (original MobileFaceNet bottlenecks: our
``setting="published"``). The code of that time saved ``{"epoch", "clf_state_dict",
"optimizer"}``, where ``clf_state_dict`` holds the 346 names that the later ``net.py``
(``STgramMFN(num_classes=41, use_arcface=True)``, listed in ``resources/stgram-mfn-keys.tsv``)
builds, plus a duplicate ``mobilefacenet.arcface.weight`` equal to ``arcface.weight`` (checked,
then dropped). Its classes are numbered ``ID_factor[type] * 7 + id`` with the types in the order
fan, pump, slider, valve, ToyCar, ToyConveyor and the IDs of ToyCar and ToyConveyor counted from
01 (``released_class_index``); the ArcFace rows are reordered into our ``distinct`` order at
load, so the loaded network scores through the same path as a network trained here. The later
``run.py`` saves ``{"epoch", "optimizer", "model": state_dict}`` (loaded as it is, in our order);
a plain state_dict and a ``model.py``-era pair (``clf_state_dict`` without the ArcFace, and
``arcface_state_dict``, saved through ``DataParallel``) are read too. Their names differ from
ours by prefixes only (``tgramnet.conv_extrctor.`` -> ``tgram.extractor.``, ``mobilefacenet.``
-> ``classifier.``, ...); the log-Mel is computed outside their network, so our ``logmel``
buffers are not in the file and keep their fresh values.

Not verifiable offline: the record's file name, size and checksums (the fetch reads them from
Zenodo's API and records the SHA-256 on first download), and which of the two layouts the file
uses. Explained in notebook 07_peers.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from functools import lru_cache
from pathlib import Path

import torch
import requests

from asdlib.engine.checkpoints import (CheckpointError, shape_text, load_checkpoint_file,
                                       read_key_file)
from asdlib.paths import RESOURCES_DIR
from asdlib.data.dcase import ALL_MACHINES, SAMPLE_RATE
from asdlib.nets.model import ModelConfig
from asdlib.nets.peers.stgram import STgramMFN
from asdlib.data.download import (DownloadError, extract_archive, fetch_with_record,
                                  read_checksum_record)

ZENODO_RECORD = "7194640"
ZENODO_API_URL = f"https://zenodo.org/api/records/{ZENODO_RECORD}"
KEYS_FILE = RESOURCES_DIR / "stgram-mfn-keys.tsv"
RECORD_NAME = f"stgram-mfn-zenodo-{ZENODO_RECORD}.json"

#: Their key prefix -> our ``STgramMFN`` prefix.
KEY_PREFIXES = (
    ("tgramnet.conv_extrctor.", "tgram.extractor."),
    ("tgramnet.conv_encoder.", "tgram.encoder."),
    ("mobilefacenet.", "classifier."),
    ("arcface.", "arcface."),
)
#: Our keys that their file does not hold (the log-Mel is outside their network).
OUR_ONLY_PREFIXES = ("logmel.",)
_WEIGHT_SUFFIXES = (".pth", ".pt", ".tar", ".ckpt", ".bin", ".zip")
#: The released file's copy of the ArcFace weight inside the classifier's names.
DUPLICATE_ARCFACE_KEY = "mobilefacenet.arcface.weight"
#: Machine types in the order of the 2022 code's ``ID_factor`` (its class index is type * 7 + id).
RELEASED_TYPE_ORDER = ("fan", "pump", "slider", "valve", "ToyCar", "ToyConveyor")
#: Types whose IDs that code counts from 01 (id_01 is class offset 0).
RELEASED_FROM_ONE = ("ToyCar", "ToyConveyor")


def released_class_index(machine_type: str, machine_id: str) -> int:
    """The ArcFace row of one machine in the released STgram-MFN weights (the 2022 code's ``ID_factor[type] * 7 + id``). Notebook 07."""
    if (machine_type, machine_id) not in ALL_MACHINES:
        raise ValueError(f"unknown machine {machine_type} id_{machine_id}")
    offset = 1 if machine_type in RELEASED_FROM_ONE else 0
    return RELEASED_TYPE_ORDER.index(machine_type) * 7 + int(machine_id) - offset


def released_row_order() -> list[int]:
    """For each of our ``distinct`` classes (0..40), the released weights' ArcFace row of the same machine. Notebook 07."""
    return [released_class_index(mt, mid) for mt, mid in ALL_MACHINES]


def _rename(key: str, pairs) -> str | None:
    return next((new + key[len(old):] for old, new in pairs if key.startswith(old)), None)


def stgram_key(key: str) -> str:
    """STgram-MFN's key for one of our ``STgramMFN`` keys (KeyError for the log-Mel buffers). Notebook 07."""
    theirs = _rename(key, [(ours, t) for t, ours in KEY_PREFIXES])
    if theirs is None:
        raise KeyError(f"{key!r} has no counterpart in STgram-MFN's state_dict")
    return theirs


def our_stgram_key(key: str) -> str | None:
    """Our ``STgramMFN`` key for one of STgram-MFN's keys (None when no prefix matches). Notebook 07."""
    return _rename(key, KEY_PREFIXES)


@lru_cache(maxsize=1)
def _rows() -> tuple[tuple[str, tuple[int, ...], str], ...]:
    return tuple(read_key_file(KEYS_FILE))


def stgram_key_table() -> list[dict]:
    """Every key of the released STgram-MFN state_dict: key, shape (tuple; () = scalar), dtype, our key. Notebook 07."""
    return [{"key": k, "shape": s, "dtype": d, "our_key": our_stgram_key(k)} for k, s, d in _rows()]


def _their_names(ckpt) -> tuple[dict, str]:
    """The STgram-MFN state_dict inside a checkpoint, under net.py's names, and its class order (``released`` or ``distinct``)."""
    if isinstance(ckpt, dict) and isinstance(ckpt.get("model"), dict):
        sd = ckpt["model"]
    elif isinstance(ckpt, dict) and isinstance(ckpt.get("clf_state_dict"), dict) \
            and "arcface_state_dict" not in ckpt:
        # The released file (October 2022): net.py's names plus a duplicate ArcFace weight.
        sd = _strip_module(ckpt["clf_state_dict"])
        duplicate = sd.pop(DUPLICATE_ARCFACE_KEY, None)
        if duplicate is not None:
            weight = sd.get("arcface.weight")
            if not (isinstance(weight, torch.Tensor) and isinstance(duplicate, torch.Tensor)
                    and weight.shape == duplicate.shape and torch.equal(weight, duplicate)):
                raise CheckpointError(f"{DUPLICATE_ARCFACE_KEY} differs from arcface.weight: not the "
                                      "released STgram-MFN layout")
        return sd, "released"
    elif isinstance(ckpt, dict) and isinstance(ckpt.get("clf_state_dict"), dict):
        # model.py era: MelMobileFacenet (tgramnet.* + the MobileFaceNet layers at top level) and
        # a separate ArcMarginProduct, both saved through DataParallel ("module." prefixes).
        sd = {}
        for k, v in _strip_module(ckpt["clf_state_dict"]).items():
            sd[k if k.startswith("tgramnet.") else "mobilefacenet." + k] = v
        for k, v in _strip_module(ckpt.get("arcface_state_dict") or {}).items():
            sd["arcface." + k] = v
        return sd, "distinct"
    elif isinstance(ckpt, dict) and ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        sd = ckpt
    else:
        what = f"a dict with keys {sorted(map(str, ckpt))[:10]}" if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError("expected an STgram-MFN checkpoint (a dict with 'model' or "
                              f"'clf_state_dict') or a state_dict, got {what}")
    return _strip_module(sd), "distinct"


def _strip_module(sd: dict) -> dict:
    if sd and all(isinstance(k, str) and k.startswith("module.") for k in sd):
        return {k[len("module."):]: v for k, v in sd.items()}
    return dict(sd)


def convert_stgram_state_dict(state_dict: dict, model: STgramMFN | None = None) -> dict[str, torch.Tensor]:
    """Rename STgram-MFN's state_dict to our ``STgramMFN`` names, refusing missing, unexpected or misshapen keys. Notebook 07.

    ``model`` is the target (default: ``STgramMFN("published")`` at 10 s, the released
    weights' model). Raises ``CheckpointError`` listing every offending key.
    """
    model = model if model is not None else STgramMFN("published")
    expected = {stgram_key(k): tuple(v.shape) for k, v in model.state_dict().items()
                if not k.startswith(OUR_ONLY_PREFIXES)}
    problems = {"missing": [k for k in expected if k not in state_dict],
                "unexpected": [k for k in state_dict if k not in expected], "wrong shape": []}
    for k in (k for k in expected if k in state_dict):
        got = getattr(state_dict[k], "shape", None)
        if got is None or tuple(got) != expected[k]:
            got_text = shape_text(got) if got is not None else f"a {type(state_dict[k]).__name__}"
            problems["wrong shape"].append(f"{k}: expected {shape_text(expected[k])}, got {got_text}")
    if any(problems.values()):
        head = (f"the state_dict does not match STgram-MFN ({model.setting} MobileFaceNet setting, "
                f"{model.arcface.weight.shape[0]} classes, {model.num_samples} samples):")
        raise CheckpointError("\n".join([head] + [
            f"{what} key(s) ({len(keys)}): " + ("; " if what == "wrong shape" else ", ").join(keys)
            for what, keys in problems.items() if keys]))
    return {our_stgram_key(k): state_dict[k] for k in expected}


def load_stgram_weights(path_or_state_dict, *, setting: str = "published",
                        num_classes: int = 41, map_location="cpu") -> STgramMFN:
    """STgram-MFN with released weights: a file (loaded with ``weights_only=True``) or a state_dict, loaded strictly, eval mode. Notebook 07.

    A file that pickles anything beyond tensors and plain containers is refused
    (``UnsafeCheckpointError`` naming the global); an unreadable file, a missing, unexpected or
    misshapen key raise ``CheckpointError`` naming the file. The model is 10 s with the peer's
    own log-Mel (``logmel="stgram"``), which the weights were trained on.
    """
    source = None
    if isinstance(path_or_state_dict, (str, Path)):
        source = Path(path_or_state_dict)
        if not source.is_file():
            raise FileNotFoundError(f"STgram-MFN weights not found: {source} "
                                    "(asdlib.study.stgram_weights.fetch_stgram_weights downloads them)")
        ckpt = load_checkpoint_file(source, map_location, allow=())
    else:
        ckpt = path_or_state_dict
    model = STgramMFN(setting, num_classes=num_classes)
    try:
        their, order = _their_names(ckpt)
        converted = convert_stgram_state_dict(their, model)
    except CheckpointError as e:
        raise CheckpointError(f"{source}: {e}" if source else str(e)) from e
    if order == "released":  # their row of each machine -> our distinct row of the same machine
        if num_classes != len(ALL_MACHINES):
            raise CheckpointError(f"{source or 'state_dict'}: the released layout has {len(ALL_MACHINES)} "
                                  f"classes, not {num_classes}")
        converted["arcface.weight"] = converted["arcface.weight"][released_row_order()].clone()
    converted.update({k: v for k, v in model.state_dict().items() if k.startswith(OUR_ONLY_PREFIXES)})
    model.load_state_dict(converted, strict=True)
    if isinstance(map_location, (str, torch.device)):
        model.to(map_location)
    model.eval()
    model.checkpoint_meta = {"file": str(source) if source else None, "class_order": order,
                             "epoch": ckpt.get("epoch") if isinstance(ckpt, dict) else None}
    # what score_clips and the tables read: a 10-s STgram-MFN with its own log-Mel, distinct labels
    model.config = ModelConfig(kind="stgram_mfn", mfn_setting=setting, num_classes=num_classes,
                               clip_seconds=model.num_samples / SAMPLE_RATE, arcface_s=model.arcface.s,
                               arcface_m=model.arcface.m, peer_logmel="own")
    return model


# --------------------------------------------------------------------------- download

def _read_json(url: str, timeout: float = 30) -> dict:
    parsed = urllib.parse.urlparse(url)
    try:
        if parsed.scheme == "file":
            text = Path(urllib.request.url2pathname(parsed.path)).read_text(encoding="utf-8")
        else:
            r = requests.get(url, timeout=timeout, headers={"Accept": "application/json"})
            if r.status_code >= 400:
                raise DownloadError(f"HTTP {r.status_code} {r.reason} for {url}")
            text = r.text
        return json.loads(text)
    except DownloadError:
        raise
    except Exception as e:  # noqa: BLE001 - network, file or JSON: one clear error
        raise DownloadError(f"could not read the Zenodo record {url}: {type(e).__name__}: {e}") from None


def _pick_file(files: list[dict], filename: str | None, api_url: str) -> dict:
    names = [f.get("key") or f.get("filename") for f in files]
    if filename is not None:
        chosen = [f for f, n in zip(files, names) if n == filename]
        if not chosen:
            raise CheckpointError(f"{api_url}: no file {filename!r} in the record (it holds {names})")
        return chosen[0]
    weights = [f for f, n in zip(files, names) if n and n.lower().endswith(_WEIGHT_SUFFIXES)]
    if len(weights) == 1:
        return weights[0]
    raise CheckpointError(f"{api_url}: cannot tell which file holds the weights among {names}; "
                          "pass filename=")


def fetch_stgram_weights(dest_dir: str | Path, *, filename: str | None = None,
                         api_url: str = ZENODO_API_URL, progress: bool = True) -> Path:
    """Download STgram-MFN's weights from Zenodo record 7194640 once; record size and SHA-256, verify later. Notebook 07.

    The file name and MD5 come from the record's API (``api_url``); the download is checked
    against that MD5. The first download writes ``stgram-mfn-zenodo-7194640.json`` (URL, file,
    size, MD5, SHA-256) and every later call must match it, else ``CheckpointError``. A ``.zip``
    is extracted beside it and the single weights file inside is returned. Without a network
    the downloader's ``DownloadError`` propagates.
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    record_path = dest_dir / RECORD_NAME
    record = read_checksum_record(record_path, ("file", "url", "size", "sha256"),
                                  error=CheckpointError, hint="the weights beside it")
    if record is not None:
        url, name, md5 = record["url"], record["file"], record.get("md5")
    else:
        meta = _read_json(api_url)
        files = meta.get("files") or meta.get("entries") or []
        if isinstance(files, dict):  # newer API: {"entries": [...]} under "files"
            files = files.get("entries") or list(files.values())
        if not files:
            raise CheckpointError(f"{api_url}: the record lists no files")
        entry = _pick_file(files, filename, api_url)
        name = entry.get("key") or entry.get("filename")
        links = entry.get("links") or {}
        url = links.get("content") or links.get("self") or links.get("download")
        if not url:
            raise CheckpointError(f"{api_url}: no download link for {name!r}")
        checksum = str(entry.get("checksum", ""))
        md5 = checksum.split(":", 1)[1] if checksum.startswith("md5:") else None
    if Path(name).name != name or name in ("", ".", ".."):
        raise CheckpointError(f"{api_url}: refusing the file name {name!r}")
    dest = fetch_with_record(url, dest_dir / name, record_path, record,
                             what="STgram-MFN's weights", md5=md5, error=CheckpointError,
                             extra={"record": ZENODO_RECORD, "api": api_url, "md5": md5},
                             progress=progress)
    if not name.lower().endswith(".zip"):
        return dest
    out = dest_dir / Path(name).stem
    if not out.is_dir():
        extract_archive(dest, out)
    inner = sorted(p for p in out.rglob("*") if p.is_file()
                   and p.name.lower().endswith(_WEIGHT_SUFFIXES[:-1]))
    if len(inner) != 1:
        raise CheckpointError(f"{dest}: expected one weights file inside, found "
                              f"{[str(p.relative_to(out)) for p in inner]}")
    return inner[0]
