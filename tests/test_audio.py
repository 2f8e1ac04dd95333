"""Tests of asdlib.data.audio: the bundled real clips load and cut to 10 s; bad files give clear errors."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from asdlib.data.audio import AudioError, fit_length, load_clip, load_wav, save_wav
from asdlib.data.dcase import CLIP_SECONDS, SAMPLE_RATE
from asdlib.paths import SAMPLE_DIR

NUM_SAMPLES = int(CLIP_SECONDS * SAMPLE_RATE)
MANIFEST = pd.read_csv(SAMPLE_DIR / "MANIFEST.tsv", sep="\t", dtype={"machine_id": str})


def test_manifest_lists_31_clips():
    assert len(MANIFEST) == 31


@pytest.mark.parametrize("rel", list(MANIFEST["path"]))
def test_sample_clip_loads_and_cuts_to_10_s(rel):
    row = MANIFEST.set_index("path").loc[rel]
    path = SAMPLE_DIR / rel
    assert hashlib.sha256(path.read_bytes()).hexdigest() == row["sha256"]
    wave = load_wav(path)
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert np.abs(wave).max() <= 1.0
    assert wave.size == int(round(row["duration_s"] * SAMPLE_RATE))
    clip = load_clip(path, NUM_SAMPLES)
    assert clip.shape == (NUM_SAMPLES,)
    np.testing.assert_array_equal(clip, wave[:NUM_SAMPLES])
    if row["machine_type"] == "ToyCar":
        assert wave.size == 176_000


def test_fit_length_cuts_and_pads():
    x = np.arange(10, dtype=np.float32)
    np.testing.assert_array_equal(fit_length(x, 4), x[:4])
    padded = fit_length(x, 13)
    assert padded.shape == (13,) and padded.dtype == np.float32
    np.testing.assert_array_equal(padded[:10], x)
    assert not padded[10:].any()
    np.testing.assert_array_equal(fit_length(x, 10), x)
    with pytest.raises(ValueError):
        fit_length(x, 0)


def test_save_wav_round_trip_is_16_bit_and_atomic(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(-0.5, 0.5, 1600)
    path = save_wav(tmp_path / "sub" / "a.wav", x)
    info = sf.info(str(path))
    assert (info.samplerate, info.channels, info.subtype, info.frames) == (16000, 1, "PCM_16", 1600)
    np.testing.assert_allclose(load_wav(path), x, atol=1 / 32768 + 1e-7)
    assert sorted(os.listdir(tmp_path / "sub")) == ["a.wav"]  # no temp file left
    before = path.read_bytes()
    with pytest.raises(AudioError, match="a.wav"):
        save_wav(path, np.array([0.0, np.nan]))
    assert path.read_bytes() == before  # a failed write loses nothing
    assert sorted(os.listdir(tmp_path / "sub")) == ["a.wav"]


# --------------------------------------------------------------------------- bad inputs


def _write(path, data, rate=16000, subtype="PCM_16"):
    sf.write(str(path), data, rate, subtype=subtype)
    return path


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="nope.wav.*not found"):
        load_wav(tmp_path / "nope.wav")


def test_truncated_wav(tmp_path):
    good = _write(tmp_path / "good.wav", np.zeros(16000))
    bad = tmp_path / "truncated.wav"
    bad.write_bytes(good.read_bytes()[:20_000])
    with pytest.raises(AudioError, match="truncated.wav.*truncated"):
        load_wav(bad)


def test_header_only_wav_is_truncated(tmp_path):
    good = _write(tmp_path / "good.wav", np.zeros(100))
    bad = tmp_path / "header_only.wav"
    bad.write_bytes(good.read_bytes()[:44])
    with pytest.raises(AudioError, match="header_only.wav.*truncated"):
        load_wav(bad)


def test_wrong_sample_rate(tmp_path):
    path = _write(tmp_path / "rate8k.wav", np.zeros(8000), rate=8000)
    with pytest.raises(AudioError, match="rate8k.wav.*8000 Hz.*16000 Hz"):
        load_wav(path)
    assert load_wav(path, sample_rate=None).size == 8000


def test_stereo(tmp_path):
    path = _write(tmp_path / "stereo.wav", np.zeros((1600, 2)))
    with pytest.raises(AudioError, match="stereo.wav.*2 channels"):
        load_wav(path)


def test_empty(tmp_path):
    path = _write(tmp_path / "empty.wav", np.zeros(0))
    with pytest.raises(AudioError, match="empty.wav.*empty"):
        load_wav(path)


def test_text_file_renamed_wav(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("this is not audio\n" * 10)
    with pytest.raises(AudioError, match="notes.wav.*not a readable WAV"):
        load_wav(path)


def test_folder_instead_of_file(tmp_path):
    with pytest.raises(AudioError, match="not a file"):
        load_wav(tmp_path)


def test_save_wav_rejects_stereo_and_empty(tmp_path):
    with pytest.raises(AudioError, match="x.wav.*mono"):
        save_wav(tmp_path / "x.wav", np.zeros((10, 2)))
    with pytest.raises(AudioError, match="x.wav.*empty"):
        save_wav(tmp_path / "x.wav", np.zeros(0))
    assert not list(tmp_path.iterdir())
