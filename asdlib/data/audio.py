"""WAV input/output with soundfile: strict loading, cut/pad to a fixed length, atomic saving.

Every clip of DCASE 2020 Task 2 is 16 kHz, mono, 16-bit PCM; ToyCar clips are 11 s and are cut
to their first 10 s like all others. ``torchaudio.load`` is never used (it needs FFmpeg).
Explained in notebook 01_data.
"""

from __future__ import annotations

import os
import struct
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from asdlib.data.dcase import SAMPLE_RATE

__all__ = ["AudioError", "load_wav", "fit_length", "load_clip", "save_wav"]


class AudioError(ValueError):
    """A WAV file that is missing, unreadable, truncated or not 16 kHz mono audio. Notebook 01."""


def _declared_data_bytes(path: Path) -> tuple[int, int] | None:
    """Declared size and start offset of the ``data`` chunk of a RIFF/WAVE file, or None if not RIFF."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        offset = 12
        while offset + 8 <= size:
            f.seek(offset)
            chunk = f.read(8)
            if len(chunk) < 8:
                return None
            chunk_id, chunk_size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if chunk_id == b"data":
                return chunk_size, offset + 8
            offset += 8 + chunk_size + (chunk_size & 1)
    return None


def _check_not_truncated(path: Path) -> None:
    """Raise AudioError when the WAV header declares more sample bytes than the file holds."""
    declared = _declared_data_bytes(path)
    if declared is None:
        return  # not RIFF (or no data chunk): soundfile reports what is wrong
    data_bytes, start = declared
    if data_bytes == 0xFFFFFFFF:  # size unknown (written as a stream)
        return
    present = path.stat().st_size - start
    if present < data_bytes:
        raise AudioError(
            f"{path}: truncated WAV file: the header declares {data_bytes} bytes of samples "
            f"but only {max(present, 0)} are present (incomplete download or copy?)"
        )


def load_wav(path: str | os.PathLike, sample_rate: int | None = SAMPLE_RATE) -> np.ndarray:
    """Load a mono WAV file as float32 in [-1, 1], checking rate, channels and integrity. Notebook 01."""
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: file not found")
    if not path.is_file():
        raise AudioError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: empty file (0 bytes)")
    _check_not_truncated(path)
    # soundfile gets an open file, not the name: a name that is not valid UTF-8 still loads
    try:
        with open(path, "rb") as f:
            info = sf.info(f)
    except OSError as exc:
        raise AudioError(f"{path}: cannot be opened ({exc.strerror or exc})") from exc
    except Exception as exc:  # soundfile raises LibsndfileError / RuntimeError
        raise AudioError(f"{path}: not a readable WAV file ({exc})") from exc
    if info.format not in ("WAV", "WAVEX"):
        raise AudioError(f"{path}: not a WAV file (format {info.format})")
    if sample_rate is not None and info.samplerate != sample_rate:
        raise AudioError(
            f"{path}: sample rate is {info.samplerate} Hz, expected {sample_rate} Hz"
        )
    if info.channels != 1:
        raise AudioError(f"{path}: has {info.channels} channels, expected mono (1 channel)")
    if info.frames == 0:
        raise AudioError(f"{path}: empty audio (0 samples)")
    try:
        with open(path, "rb") as f:
            wave, _ = sf.read(f, dtype="float32", always_2d=False)
    except Exception as exc:
        raise AudioError(f"{path}: could not read samples ({exc})") from exc
    if wave.ndim != 1:  # defensive: soundfile returns 1-D for mono
        raise AudioError(f"{path}: expected mono audio, got shape {wave.shape}")
    if wave.size == 0:
        raise AudioError(f"{path}: empty audio (0 samples)")
    if wave.size != info.frames:
        raise AudioError(
            f"{path}: truncated WAV file: header says {info.frames} samples, read {wave.size}"
        )
    if not np.all(np.isfinite(wave)):
        raise AudioError(f"{path}: holds non-finite samples (NaN or inf)")
    if np.abs(wave).max() > 1.0:  # only possible for float WAVs
        np.clip(wave, -1.0, 1.0, out=wave)
    return wave


def fit_length(wave: np.ndarray, num_samples: int) -> np.ndarray:
    """Cut a waveform to its first ``num_samples`` or zero-pad it at the end (last axis). Notebook 01."""
    if int(num_samples) <= 0:
        raise ValueError(f"num_samples must be positive, got {num_samples}")
    num_samples = int(num_samples)
    wave = np.asarray(wave)
    n = wave.shape[-1]
    if n >= num_samples:
        return np.ascontiguousarray(wave[..., :num_samples])
    pad = [(0, 0)] * (wave.ndim - 1) + [(0, num_samples - n)]
    return np.pad(wave, pad)


def load_clip(
    path: str | os.PathLike, num_samples: int, sample_rate: int | None = SAMPLE_RATE
) -> np.ndarray:
    """Load a WAV file and cut/pad it to ``num_samples`` (ToyCar 11 s -> first 10 s). Notebook 01."""
    return fit_length(load_wav(path, sample_rate), num_samples)


def save_wav(
    path: str | os.PathLike, wave: np.ndarray, sample_rate: int = SAMPLE_RATE
) -> Path:
    """Write a mono waveform as 16-bit PCM WAV atomically (temp file, then rename). Notebook 01."""
    path = Path(path)
    wave = np.asarray(wave)
    if wave.ndim != 1:
        raise AudioError(f"{path}: can only write mono audio (1-D array), got shape {wave.shape}")
    if wave.size == 0:
        raise AudioError(f"{path}: refusing to write empty audio (0 samples)")
    if not np.all(np.isfinite(wave)):
        raise AudioError(f"{path}: refusing to write non-finite samples (NaN or inf)")
    wave = np.clip(wave.astype(np.float64, copy=False), -1.0, 1.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            sf.write(f, wave, int(sample_rate), subtype="PCM_16", format="WAV")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
