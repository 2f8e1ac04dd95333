"""Property-based fuzzing (hypothesis) of the readers: WAV files (``load_wav``, store building) and
checkpoints (ours and the authors'). Whatever the bytes, each reader returns valid data or raises
its own error type naming the file; nothing else escapes, and nothing is left half-written.

Example counts are modest (``FUZZ``) so that the suite stays fast; hypothesis keeps no example
database and writes its files to a temporary folder, never into the repository.
"""

from __future__ import annotations

import io
import struct
import tempfile
from pathlib import Path

import hypothesis.configuration
import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asdlib.data.audio import AudioError, load_wav
from asdlib.engine.authors_checkpoint import load_authors_checkpoint
from asdlib.engine.checkpoints import CheckpointError, load_checkpoint_file
from asdlib.nets.authors_network import to_authors_state_dict
from asdlib.engine.config import RunConfig, load_config
from asdlib.engine.evaluate import load_any_checkpoint
from asdlib.nets.model import build_model
from asdlib.data.store import StoreBuildError, build_store
from asdlib.engine.checkpoints import CHECKPOINT_FORMAT, load_model, read_checkpoint

_HOME = tempfile.TemporaryDirectory(prefix="asdlib-hypothesis-")
hypothesis.configuration.set_hypothesis_home_dir(_HOME.name)
FUZZ = settings(max_examples=60, deadline=None, database=None, derandomize=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

SUBTYPES = {"PCM_U8": np.uint8, "PCM_16": np.int16, "PCM_24": None, "PCM_32": np.int32,
            "FLOAT": np.float32, "DOUBLE": np.float64}


_SCRATCH = tempfile.TemporaryDirectory(prefix="asdlib-fuzz-")  # removed when the session ends


def _tmp() -> Path:
    return Path(tempfile.mkdtemp(dir=_SCRATCH.name))


def _wav_bytes(frames: int, rate: int = 16_000, channels: int = 1, subtype: str = "PCM_16",
               seed: int = 0) -> bytes:
    wave = np.random.default_rng(seed).uniform(-0.9, 0.9, (frames, channels))
    buf = io.BytesIO()
    sf.write(buf, wave if channels > 1 else wave[:, 0], rate, subtype=subtype, format="WAV")
    return buf.getvalue()


def _load_or_audio_error(path: Path):
    """load_wav's outcome: a valid waveform, or AudioError naming the file (anything else fails)."""
    try:
        wave = load_wav(path)
    except AudioError as e:
        assert str(path) in str(e), str(e)
        return None
    assert wave.dtype == np.float32 and wave.ndim == 1 and wave.size > 0
    assert np.isfinite(wave).all() and np.abs(wave).max() <= 1.0
    return wave


# --------------------------------------------------------------------------- WAV files

@FUZZ
@given(data=st.binary(max_size=3000), riff=st.booleans())
def test_random_bytes_never_escape_audio_error(data, riff):
    path = _tmp() / "clip.wav"
    if riff:  # a plausible RIFF/WAVE start, then junk
        data = b"RIFF" + struct.pack("<I", len(data) + 4) + b"WAVE" + data
    path.write_bytes(data)
    _load_or_audio_error(path)


@FUZZ
@given(frames=st.integers(0, 400), rate=st.sampled_from([8_000, 16_000, 22_050, 44_100]),
       channels=st.integers(1, 2), subtype=st.sampled_from(sorted(SUBTYPES)))
def test_every_wav_format_is_loaded_or_refused_for_its_reason(frames, rate, channels, subtype):
    path = _tmp() / "clip.wav"
    path.write_bytes(_wav_bytes(frames, rate, channels, subtype))
    wave = _load_or_audio_error(path)
    if rate != 16_000 or channels != 1 or frames == 0:
        assert wave is None
    else:  # 8/24/32-bit integer and float mono 16 kHz WAVs all load, at their resolution
        assert wave is not None and wave.size == frames
        want = sf.read(str(path), dtype="float64")[0]
        np.testing.assert_allclose(wave, want, atol=1 / 64)
    if wave is None:
        with pytest.raises(AudioError, match="sample rate|channels|empty") as err:
            load_wav(path)
        assert str(path) in str(err.value)


def test_truncation_at_every_byte_boundary_is_refused():
    data = _wav_bytes(60)  # 44-byte header + 120 bytes of samples
    folder = _tmp()
    for cut in range(len(data)):
        path = folder / f"cut_{cut:03d}.wav"
        path.write_bytes(data[:cut])
        with pytest.raises(AudioError) as err:
            load_wav(path)
        assert str(path) in str(err.value)
    (folder / "whole.wav").write_bytes(data)
    assert load_wav(folder / "whole.wav").size == 60


@FUZZ
@given(field=st.sampled_from(["riff_size", "fmt_size", "format", "channels", "rate", "byte_rate",
                              "block_align", "bits", "data_size"]),
       value=st.one_of(st.integers(0, 2**32 - 1), st.sampled_from([0, 1, 2**31, 0xFFFFFFF0])))
def test_header_fields_with_any_value(field, value):
    """Any value in any header field (including a data chunk claiming gigabytes) is handled."""
    offsets = {"riff_size": (4, "<I"), "fmt_size": (16, "<I"), "format": (20, "<H"),
               "channels": (22, "<H"), "rate": (24, "<I"), "byte_rate": (28, "<I"),
               "block_align": (32, "<H"), "bits": (34, "<H"), "data_size": (40, "<I")}
    data = bytearray(_wav_bytes(50))
    offset, fmt = offsets[field]
    struct.pack_into(fmt, data, offset, value % (2 ** (8 * struct.calcsize(fmt))))
    path = _tmp() / "clip.wav"
    path.write_bytes(bytes(data))
    wave = _load_or_audio_error(path)
    if field == "data_size" and 100 < value < 0xFFFFFFFF:  # more than the 100 bytes present
        assert wave is None
        with pytest.raises(AudioError, match="truncated"):
            load_wav(path)


@settings(max_examples=25, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(kinds=st.lists(st.sampled_from(["good", "junk", "truncated", "stereo", "rate", "empty"]),
                      min_size=1, max_size=5),
       skip=st.booleans())
def test_store_build_is_all_or_nothing(kinds, skip):
    """A store over fuzzed clips: fails naming the first bad file and leaves nothing, or skips them."""
    import pandas as pd

    folder = _tmp()
    paths = []
    for i, kind in enumerate(kinds):
        data = {"good": lambda: _wav_bytes(80, seed=i), "junk": lambda: bytes(range(i, 200 + i)),
                "truncated": lambda: _wav_bytes(80)[:100], "stereo": lambda: _wav_bytes(80, channels=2),
                "rate": lambda: _wav_bytes(80, rate=8_000), "empty": lambda: b""}[kind]()
        path = folder / "clips" / f"clip_{i}.wav"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        paths.append(str(path))
    table = pd.DataFrame({"path": paths, "kind": kinds})
    root = folder / "cache"
    bad = [p for p, k in zip(paths, kinds) if k != "good"]
    if bad and not skip:
        with pytest.raises(StoreBuildError) as err:
            build_store(table, 100, root=root, workers=1, progress=False)
        assert any(p in str(err.value) for p in bad)
        assert not root.exists() or not any(root.iterdir())  # no store, no half-built folder
        return
    with pytest.warns(UserWarning) if bad else _nothing():
        store = build_store(table, 100, root=root, workers=1, skip_bad=skip, progress=False)
    assert store.table["kind"].tolist() == ["good"] * kinds.count("good")
    assert [p.name for p in root.iterdir()] == [store.folder.name]
    for i in range(len(store)):
        assert store.read(i).shape == (100,)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# --------------------------------------------------------------------------- checkpoints

def _our_checkpoint_bytes(model_weights: dict | None = None) -> bytes:
    """A small file in our checkpoint format (a real config, a tiny 'model' unless given)."""
    buf = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, "config": RunConfig().to_dict(), "epoch": 1,
                "model": model_weights or {"w": torch.arange(6.0)}, "log": {}}, buf)
    return buf.getvalue()


_OURS = _our_checkpoint_bytes()
LOADERS = {"load_checkpoint_file": load_checkpoint_file, "read_checkpoint": read_checkpoint,
           "load_model": load_model, "load_any_checkpoint": load_any_checkpoint,
           "load_authors_checkpoint": load_authors_checkpoint}


def _every_loader_gives_checkpoint_error(path: Path, allow_success=("load_checkpoint_file",)):
    for name, load in LOADERS.items():
        try:
            load(path)
        except CheckpointError as e:
            assert str(path) in str(e), (name, str(e))
        else:
            assert name in allow_success, f"{name} accepted {path.name}"


@FUZZ
@given(cut=st.integers(0, len(_OURS) - 1))
def test_truncated_checkpoint(cut):
    path = _tmp() / "trunc.pt"
    path.write_bytes(_OURS[:cut])
    _every_loader_gives_checkpoint_error(path, allow_success=())


@FUZZ
@given(data=st.binary(max_size=4000), prefix=st.sampled_from([b"", b"PK\x03\x04", b"\x80\x02"]))
def test_random_bytes_as_checkpoint(data, prefix):
    path = _tmp() / "junk.ckpt"
    path.write_bytes(prefix + data)
    _every_loader_gives_checkpoint_error(path, allow_success=())


@FUZZ
@given(flips=st.lists(st.tuples(st.integers(0, len(_OURS) - 1), st.integers(1, 255)),
                      min_size=1, max_size=8))
def test_corrupted_checkpoint_bytes(flips):
    """Bytes changed anywhere (container, pickle, tensor data): loaded as data or refused clearly."""
    data = bytearray(_OURS)
    for pos, x in flips:
        data[pos] ^= x
    path = _tmp() / "flipped.pt"
    path.write_bytes(bytes(data))
    _every_loader_gives_checkpoint_error(path, allow_success=("load_checkpoint_file", "read_checkpoint"))


@settings(max_examples=30, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(which=st.integers(0, 219), delta=st.integers(-3, 3).filter(lambda d: d != 0),
       ours=st.booleans())
def test_wrong_shapes_are_refused_naming_the_key(which, delta, ours):
    net = build_model()
    sd = to_authors_state_dict(net) if not ours else dict(net.state_dict())
    key = sorted(sd)[which]
    shape = list(sd[key].shape) or [1]
    shape[0] = max(0, shape[0] + delta)
    sd[key] = torch.zeros(shape, dtype=sd[key].dtype)
    path = _tmp() / "shapes.pt"
    if ours:
        path.write_bytes(_our_checkpoint_bytes(sd))
        loaders = (load_model, load_any_checkpoint)
    else:
        torch.save({"epoch": 1, "state_dict": sd}, path)
        loaders = (load_authors_checkpoint, load_any_checkpoint)
    for load in loaders:
        with pytest.raises(CheckpointError) as err:
            load(path)
        assert str(path) in str(err.value) and key.split(".")[-1] in str(err.value)


# --------------------------------------------------------------------------- the TOML loader

_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
                    st.lists(st.text(max_size=5), max_size=3))
_KEYS = {"train": ["epochs", "batch_size", "lr", "seed", "checkpoint_every", "weight_decay", "eta_min_ratio",
                   "mixup_alpha", "max_steps_per_epoch", "num_workers", "scheduler_start_epoch",
                   "cosine_t_max", "compile", "precision", "optimizer", "scheduler", "device"],
         "data": ["root", "label_map", "machine_types", "val_fraction", "max_train_clips"],
         "model": ["features", "embedding_dim", "clip_seconds", "arcface_s", "arcface_m", "kind"]}


def _toml_value(v) -> str:
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if v != v else ("inf" if v == float("inf") else "-inf" if v == float("-inf") else repr(v))
    if isinstance(v, (int,)):
        return str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return "[" + ", ".join(_toml_value(x) for x in v) + "]"


@FUZZ
@given(section=st.sampled_from(sorted(_KEYS)), data=st.data())
def test_the_toml_loader_accepts_a_valid_setting_or_names_the_bad_one(section, data):
    """Any value of any setting: a configuration whose settings hold what training needs, or a
    ValueError naming the file (never another exception, never a silently nonsensical run)."""
    import math
    import tomllib

    key = data.draw(st.sampled_from(_KEYS[section]))
    value = data.draw(_VALUES)
    text = _toml_value(value)
    if text is None:
        return
    path = Path(_SCRATCH.name) / "fuzz.toml"
    path.write_text(f"[{section}]\n{key} = {text}\n")
    try:
        tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError:
        return  # not TOML (e.g. a control character): the loader's own message, tested elsewhere
    try:
        cfg = load_config(path)
    except ValueError as e:
        assert str(path) in str(e)
        return
    t, d = cfg.train, cfg.data
    assert isinstance(t.epochs, int) and t.epochs >= 1 and isinstance(t.batch_size, int) and t.batch_size >= 1
    assert math.isfinite(t.lr) and t.lr > 0 and isinstance(t.seed, int) and t.seed >= 0
    assert isinstance(t.checkpoint_every, int) and t.checkpoint_every >= 1
    assert 0 <= d.val_fraction < 1 and (d.machine_types is None or all(isinstance(m, str) for m in d.machine_types))
    assert cfg.model.num_samples > 0
