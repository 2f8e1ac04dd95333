"""A monitor that scores clips as they arrive and writes one JSON decision per clip.

Three sources of clips, each an iterable of ``Clip`` (a waveform, or the error that stopped it):

- ``FolderWatcher``: a folder polled for new WAV files (in sub-folders too). A file is scored once
  it is complete: at once when its WAV header's data length is all there, else when its size has
  stayed the same over two polls (a truncated file is then reported, not waited for forever).
  Files present at the start are skipped unless ``include_existing``.
- ``wav_windows``: a long WAV file cut into clips of the model's length every ``hop`` seconds.
- ``stream_windows``: the same for a byte stream (stdin): a WAV stream, or raw 16-bit
  little-endian mono PCM at the model's sample rate.

``Monitor.run(clips)`` yields one decision (a dict) per clip: ``time`` (ISO 8601 UTC), ``source``
(file name, relative to the watched folder), ``offset`` (seconds, for windows of a long WAV or a
stream), ``machine_type``, ``machine_id``, then ``score``, ``threshold`` and ``decision``
(``normal``, ``anomalous``, or ``unknown`` without a threshold), or, for bad input (wrong sample
rate, channels, truncated, empty or undecodable file, non-finite samples, unknown machine, a link
out of the watched folder, a scorer that fails), ``error`` instead of those three. A clip scored
with a caveat (not 16-bit PCM, as the model's training clips were; samples beyond +-1 clipped)
carries a ``warning``. No single clip ends the monitor: every failure becomes its clip's line.
``python -m asdlib monitor`` writes these as ASCII JSON lines (any file name survives any terminal).

The machine of a clip comes from ``machine_type``/``machine_id`` when given, else from the
DCASE file name (``normal_id_00_...``, ``anomaly_id_02_...``, ``id_04_...``) and the nearest
folder named after a machine type (``fan/...``).

Explained in notebook 08_deployment.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator

import numpy as np
import soundfile as sf

from asdlib.data.audio import AudioError, _declared_data_bytes, load_wav
from asdlib.data.dataset import _NAME_RE, _UNLABELLED_RE
from asdlib.data.dcase import MACHINE_TYPES, class_index
from asdlib.deploy.thresholds import decide, machine_key

__all__ = ["Clip", "machine_of", "FolderWatcher", "wav_windows", "stream_windows", "Monitor",
           "to_json_line", "STDIN_SOURCE"]

#: ``source`` of the clips read from standard input.
STDIN_SOURCE = "<stdin>"


@dataclass
class Clip:
    """One clip to score: where it comes from, its machine, and its waveform or the error that stopped it. Notebook 08."""

    source: str
    wave: np.ndarray | None = None
    offset: float | None = None
    machine_type: str | None = None
    machine_id: str | None = None
    error: str | None = None
    warning: str | None = None


def machine_of(path: str | os.PathLike, machine_type: str | None = None,
               machine_id: str | None = None) -> tuple[str | None, str | None]:
    """Machine type and ID of a clip: the given ones, else its DCASE file name and nearest machine-type folder. Notebook 08.

    Returns None for what cannot be told; whether the machine is known is checked when scoring.
    """
    p = Path(path)
    if machine_type is None:
        machine_type = next((part for part in reversed(p.parent.parts) if part in MACHINE_TYPES), None)
    if machine_id is None:
        m = _NAME_RE.match(p.name) or _UNLABELLED_RE.match(p.name)
        if m is not None:
            machine_id = m.group(2) if m.re is _NAME_RE else m.group(1)
    return machine_type, machine_id


#: The sample encoding of every DCASE 2020 clip, which the models were trained on.
TRAINED_ENCODING = "PCM_16"


def _encoding_warning(encoding: str) -> str | None:
    """The caveat for a clip not encoded as the training clips were (16-bit PCM), else None."""
    if encoding == TRAINED_ENCODING:
        return None
    return (f"encoded as {encoding}, not 16-bit PCM like the model's training clips: its score "
            "may not be comparable with the threshold")


def _read_file_clip(path: Path, source: str, num_samples: int, sample_rate: int,
                    machine: tuple[str | None, str | None]) -> Clip:
    """A WAV file as one clip: its first ``num_samples`` (as ``audio.load_clip``), or the error."""
    mt, mid = machine_of(path.absolute(), *machine)  # the folder watched may be <type>/ itself
    clip = Clip(source, machine_type=mt, machine_id=mid)
    try:
        wave = load_wav(path, sample_rate)
        with open(path, "rb") as f:
            clip.warning = _encoding_warning(sf.info(f).subtype)
    except AudioError as e:
        clip.error = str(e).replace(str(path), source)
        return clip
    except Exception as e:  # noqa: BLE001 - unreadable (permissions, removed meanwhile): its line
        clip.error = f"{source}: could not be read ({_message(e)})"
        return clip
    if wave.size < num_samples:
        clip.error = (f"{source}: holds {wave.size / sample_rate:.3g} s of audio, shorter than the "
                      f"model's {num_samples / sample_rate:.3g}-s clip")
        return clip
    clip.wave = np.ascontiguousarray(wave[:num_samples])
    return clip


def _message(e: BaseException) -> str:
    """An exception as one line (its type when it has no message)."""
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _audio_digest(path: Path) -> str | None:
    """SHA-256 of a WAV file's header and the samples it declares (None: no declared length).

    Bytes appended after the declared samples do not change it, so a file that keeps growing past
    its declared size is not scored again and again.
    """
    declared = _declared_data_bytes(path)
    if declared is None or declared[0] in (0, 0xFFFFFFFF):
        return None
    data_bytes, start = declared
    end = start + data_bytes
    if path.stat().st_size < end:
        return None
    h = hashlib.sha256()
    with open(path, "rb") as f:
        left = end
        while left:
            block = f.read(min(left, 1 << 20))
            if not block:
                return None
            h.update(block)
            left -= len(block)
    return h.hexdigest()


class FolderWatcher:
    """Poll a folder for new WAV files and yield each as a ``Clip`` once it is complete. Notebook 08.

    ``poll_seconds`` is the pause between polls (``sleep`` makes it, replaceable in tests);
    ``max_polls`` stops after that many polls (None: until interrupted). Each file is scored once
    per content: a file that changes afterwards (a copy that resumed after being reported
    truncated, a clip written again under the same name) is scored again once complete; bytes
    appended after the samples its header declares do not count as a change. An empty file that
    stays empty over two polls gets an error line; a link to a file outside the folder is not
    read (its line says so). ``pending`` lists the files still being written when it stopped.
    """

    def __init__(self, folder: str | os.PathLike, num_samples: int, sample_rate: int, *,
                 machine_type: str | None = None, machine_id: str | None = None,
                 include_existing: bool = False, poll_seconds: float = 1.0,
                 max_polls: int | None = None, sleep: Callable[[float], None] = time.sleep):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise FileNotFoundError(f"watched folder {self.folder} does not exist or is not a folder")
        if poll_seconds < 0:
            raise ValueError(f"poll interval {poll_seconds} s: must be >= 0")
        if max_polls is not None and max_polls < 1:
            raise ValueError(f"max_polls={max_polls}: must be at least 1")
        self.num_samples, self.sample_rate = int(num_samples), int(sample_rate)
        self.machine = (machine_type, machine_id)
        self.poll_seconds, self.max_polls, self.sleep = poll_seconds, max_polls, sleep
        self.polls = 0
        # files waiting to be complete -> (size, mtime) at the last poll; scored files -> the same
        self._seen: dict[Path, tuple[int, int]] = {}
        self._done: dict[Path, tuple[int, int]] = {}
        self._digest: dict[Path, str | None] = {}  # scored files -> their audio's digest
        self._root = self.folder.resolve()
        if not include_existing:
            for path in self._wav_files():
                if (sig := self._signature(path)) is not None:
                    self._done[path] = sig  # not hashed: one that changes later is scored once

    @property
    def pending(self) -> list[str]:
        """Files seen but not yet complete (relative to the folder)."""
        return sorted(str(p.relative_to(self.folder)) for p in self._seen)

    def _wav_files(self) -> list[Path]:
        try:
            return sorted(p for p in self.folder.rglob("*") if p.suffix.lower() == ".wav"
                          and not p.name.startswith(".") and p.is_file())
        except OSError:  # a sub-folder removed or unreadable during the walk: look again next poll
            return []

    @staticmethod
    def _safe_digest(path: Path) -> str | None:
        try:
            return _audio_digest(path)
        except OSError:
            return None

    def _outside(self, path: Path) -> bool:
        """True when the file resolves (through links) to a place outside the watched folder."""
        try:
            path.resolve().relative_to(self._root)
        except (ValueError, OSError, RuntimeError):
            return True
        return False

    @staticmethod
    def _signature(path: Path) -> tuple[int, int] | None:
        try:
            st = path.stat()
        except OSError:  # removed between the listing and now
            return None
        return st.st_size, st.st_mtime_ns

    def _complete(self, path: Path, sig: tuple[int, int]) -> bool:
        """All samples its header declares are there, or it has not changed since the last poll."""
        try:
            declared = _declared_data_bytes(path)
        except OSError:
            declared = None
        if declared is not None and declared[0] not in (0, 0xFFFFFFFF):
            data_bytes, start = declared
            if sig[0] >= start + data_bytes:
                return True
        return self._seen.get(path) == sig

    def poll(self) -> list[Clip]:
        """One look at the folder: the clips of the files that became complete since the last one."""
        self.polls += 1
        ready = []
        for path in self._wav_files():
            try:
                clip = self._check(path)
            except Exception as e:  # noqa: BLE001 - one file never stops the watch
                clip = Clip(str(path.relative_to(self.folder)),
                            error=f"{path.relative_to(self.folder)}: could not be read ({_message(e)})")
            if clip is not None:
                ready.append(clip)
        for gone in [p for p in self._seen if not p.exists()]:
            del self._seen[gone]
        return ready

    def _check(self, path: Path) -> Clip | None:
        """The clip of one file when it became complete (or changed) since the last poll, else None."""
        sig = self._signature(path)
        if sig is None or self._done.get(path) == sig:
            return None
        source = str(path.relative_to(self.folder))
        if self._outside(path):  # checked before any byte of it is read
            self._done[path] = sig
            mt, mid = machine_of(path.absolute(), *self.machine)
            return Clip(source, machine_type=mt, machine_id=mid,
                        error=f"{source}: links to a file outside the watched folder; not read")
        if path in self._done and path not in self._seen and self._digest.get(path) is not None \
                and self._safe_digest(path) == self._digest[path]:
            self._done[path] = sig  # only bytes after its declared samples changed: nothing new
            return None
        if not self._complete(path, sig):
            self._seen[path] = sig
            return None
        self._seen.pop(path, None)
        self._done[path] = sig
        self._digest[path] = self._safe_digest(path)
        return _read_file_clip(path, source, self.num_samples, self.sample_rate, self.machine)

    def __iter__(self) -> Iterator[Clip]:
        while True:
            yield from self.poll()
            if self.max_polls is not None and self.polls >= self.max_polls:
                return
            self.sleep(self.poll_seconds)


def _hop_samples(hop_seconds: float | None, num_samples: int, sample_rate: int) -> int:
    if hop_seconds is None:
        return num_samples
    hop = int(round(float(hop_seconds) * sample_rate))
    if hop < 1:
        raise ValueError(f"hop {hop_seconds} s: must be positive (at least one sample)")
    return hop


def _windows(blocks: Iterable[np.ndarray], num_samples: int, hop: int
             ) -> Iterator[tuple[int, np.ndarray]]:
    """(start sample, window) of every full window of ``num_samples`` every ``hop`` samples of a block stream."""
    buf = np.empty(0, dtype=np.float32)
    start, skip = 0, 0  # absolute index of buf[0]; samples still to drop (hop > window)
    for block in blocks:
        if skip:
            drop = min(skip, len(block))
            block, skip, start = block[drop:], skip - drop, start + drop
        buf = np.concatenate([buf, block]) if len(buf) else np.asarray(block, dtype=np.float32)
        while len(buf) >= num_samples:
            yield start, buf[:num_samples].copy()
            if hop <= len(buf):
                buf, start = buf[hop:], start + hop
            else:
                skip, start, buf = hop - len(buf), start + len(buf), buf[:0]


def wav_windows(path: str | os.PathLike, num_samples: int, sample_rate: int, hop_seconds: float | None = None,
                *, machine_type: str | None = None, machine_id: str | None = None) -> Iterator[Clip]:
    """A long WAV file as clips of ``num_samples`` every ``hop_seconds`` (default: back to back), with their offsets. Notebook 08.

    A file that cannot be read, or is shorter than one clip, gives one clip with its error; the
    tail shorter than a clip is not scored.
    """
    path = Path(path)
    hop = _hop_samples(hop_seconds, num_samples, sample_rate)
    mt, mid = machine_of(path, machine_type, machine_id)
    try:
        wave = load_wav(path, sample_rate)
    except AudioError as e:
        yield Clip(path.name, machine_type=mt, machine_id=mid, error=str(e))
        return
    if wave.size < num_samples:
        yield Clip(path.name, machine_type=mt, machine_id=mid,
                   error=(f"{path}: holds {wave.size / sample_rate:.3g} s of audio, shorter than the "
                          f"model's {num_samples / sample_rate:.3g}-s clip"))
        return
    for start, window in _windows([wave], num_samples, hop):
        yield Clip(path.name, window, start / sample_rate, mt, mid)


class _StreamError(ValueError):
    pass


def _read_exact(read: Callable[[int], bytes], n: int) -> bytes:
    """``n`` bytes of a stream (fewer at its end), in linear time however small its reads."""
    parts, got = [], 0
    while got < n:
        chunk = read(n - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _skip(read: Callable[[int], bytes], n: int) -> int:
    """Read and drop ``n`` bytes of a stream without keeping them; the number dropped."""
    dropped = 0
    while dropped < n:
        chunk = read(min(n - dropped, 1 << 20))
        if not chunk:
            break
        dropped += len(chunk)
    return dropped


#: Largest WAV ``fmt `` chunk read (WAVE_FORMAT_EXTENSIBLE's is 40 bytes).
_MAX_FMT_BYTES = 1024


#: WAV format codes of the sample encodings a stream may use: (code, bits) -> numpy dtype, scale.
_STREAM_FORMATS = {(1, 16): ("<i2", 32768.0), (1, 32): ("<i4", 2147483648.0), (3, 32): ("<f4", 1.0)}
#: soundfile's names of those encodings (for the warning on clips not in 16-bit PCM).
_STREAM_ENCODING = {"<i2": "PCM_16", "<i4": "PCM_32", "<f4": "FLOAT"}


def _wav_stream_header(read: Callable[[int], bytes], sample_rate: int) -> tuple[str, float, int | None]:
    """Read a WAV stream's header up to its samples: (dtype, scale, data bytes or None if unknown)."""
    riff = _read_exact(read, 12)
    if len(riff) < 12 or riff[8:12] != b"WAVE":
        raise _StreamError("not a WAV stream (no RIFF/WAVE header)")
    fmt = None
    while True:
        head = _read_exact(read, 8)
        if len(head) < 8:
            raise _StreamError("the WAV stream ended before its audio data")
        chunk_id, size = head[:4], struct.unpack("<I", head[4:])[0]
        if chunk_id == b"data":
            break
        if chunk_id != b"fmt ":  # LIST, JUNK, ...: dropped as it passes, however large
            if _skip(read, size + (size & 1)) < size:
                raise _StreamError("the WAV stream ended before its audio data")
            continue
        if size > _MAX_FMT_BYTES:
            raise _StreamError(f"the WAV stream's format chunk declares {size} bytes; it is damaged")
        body = _read_exact(read, size + (size & 1))
        if len(body) < 16:
            raise _StreamError("the WAV stream's format chunk is damaged")
        code, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
        if code == 0xFFFE and len(body) >= 26:  # WAVE_FORMAT_EXTENSIBLE: code in the sub-format
            code = struct.unpack("<H", body[24:26])[0]
        fmt = (code, channels, rate, bits)
    if fmt is None:
        raise _StreamError("the WAV stream has no format chunk before its data")
    code, channels, rate, bits = fmt
    if rate != sample_rate:
        raise _StreamError(f"sample rate is {rate} Hz, expected {sample_rate} Hz")
    if channels != 1:
        raise _StreamError(f"has {channels} channels, expected mono (1 channel)")
    if (code, bits) not in _STREAM_FORMATS:
        raise _StreamError(f"sample format {code} with {bits} bits is not supported "
                           "(16/32-bit PCM or 32-bit float)")
    dtype, scale = _STREAM_FORMATS[(code, bits)]
    return dtype, scale, None if size in (0, 0xFFFFFFFF) else size


class _Reader:
    """``read(n)`` of a stream with bytes pushed back in front (to peek at its first bytes)."""

    def __init__(self, stream: BinaryIO):
        self._read = getattr(stream, "read1", stream.read)  # read1: return as soon as bytes arrive
        self.head = b""

    def __call__(self, n: int) -> bytes:
        if self.head:
            out, self.head = self.head[:n], self.head[n:]
            return out
        return self._read(n)


def stream_windows(stream: BinaryIO, num_samples: int, sample_rate: int, hop_seconds: float | None = None,
                   *, machine_type: str | None = None, machine_id: str | None = None,
                   source: str = STDIN_SOURCE, block_seconds: float = 0.1) -> Iterator[Clip]:
    """A byte stream (a WAV stream, or raw 16-bit little-endian mono PCM) as clips every ``hop_seconds``. Notebook 08.

    A WAV stream is recognised by its ``RIFF`` header; one with the wrong rate, channels or
    encoding gives one clip with its error and ends. Reading returns as soon as bytes arrive, so a
    live stream's windows are scored as they complete. An incomplete last sample and the tail
    shorter than a clip are not scored. As in ``load_wav``, a window holding a non-finite sample
    (a float stream's NaN or inf) gets an error instead of a score, and samples beyond +-1 are
    clipped (with a warning); a stream not in 16-bit PCM warns on every clip.
    """
    hop = _hop_samples(hop_seconds, num_samples, sample_rate)
    read = _Reader(stream)
    read.head = _read_exact(read, 4)
    remaining = None  # bytes of audio left (a WAV stream that declares its length)
    dtype, scale = "<i2", 32768.0
    if read.head == b"RIFF":
        try:
            dtype, scale, remaining = _wav_stream_header(read, sample_rate)
        except _StreamError as e:
            yield Clip(source, machine_type=machine_type, machine_id=machine_id, error=f"{source}: {e}")
            return
    width = np.dtype(dtype).itemsize
    block_bytes = max(1, int(block_seconds * sample_rate)) * width

    def blocks() -> Iterator[np.ndarray]:
        nonlocal remaining
        carry = b""
        while remaining is None or remaining > 0:
            chunk = read(block_bytes if remaining is None else min(block_bytes, remaining))
            if not chunk:
                return
            if remaining is not None:
                remaining -= len(chunk)
            data = carry + chunk
            usable = len(data) - len(data) % width
            carry = data[usable:]
            if usable:
                yield np.frombuffer(data[:usable], dtype=dtype).astype(np.float32) / np.float32(scale)

    encoding = _encoding_warning(_STREAM_ENCODING[dtype])
    for start, window in _windows(blocks(), num_samples, hop):
        clip = Clip(source, window, start / sample_rate, machine_type, machine_id, warning=encoding)
        if not np.isfinite(window).all():
            clip.wave, clip.error = None, (f"{source}: the clip at {start / sample_rate:g} s holds "
                                           "non-finite samples (NaN or inf); not scored")
        elif np.abs(window).max() > 1.0:
            np.clip(window, -1.0, 1.0, out=window)
            clip.warning = "; ".join(filter(None, [encoding, "samples beyond +-1 were clipped"]))
        yield clip


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Monitor:
    """Score clips and decide normal/anomalous against per-machine thresholds, one decision dict per clip. Notebook 08.

    ``scorer`` is a model of ``export.load_scorer``; ``thresholds`` ({"<type>/<id>": value})
    defaults to the scorer's own (None: every decision is ``unknown``). ``counts`` tallies the
    decisions and errors; ``clock`` gives the ``time`` field (replaceable in tests).
    """

    def __init__(self, scorer, thresholds: dict[str, float] | None = None, *,
                 clock: Callable[[], str] = _utc_now):
        self.scorer = scorer
        self.thresholds = _checked_thresholds(scorer.thresholds if thresholds is None else thresholds)
        self.clock = clock
        self.counts: Counter = Counter()

    def decision(self, clip: Clip) -> dict:
        """The decision on one clip (or its error) as a dict in the order of the JSON line."""
        out = {"time": self.clock(), "source": clip.source}
        if clip.offset is not None:
            out["offset"] = round(float(clip.offset), 6)
        out["machine_type"], out["machine_id"] = clip.machine_type, clip.machine_id
        error = clip.error or self._machine_error(clip)
        if error is None:
            try:
                k = class_index(clip.machine_type, clip.machine_id, self.scorer.label_map)
                wave = np.asarray(clip.wave, dtype=np.float32)[None, :]
                score = float(self.scorer.scores(wave)[0][0, k])
                if not np.isfinite(score):
                    error = f"{clip.source}: its score is not finite ({score}); no decision"
            except Exception as e:  # noqa: BLE001 - any scorer failure (ONNX Runtime's own types too)
                error = f"{clip.source}: could not be scored ({_message(e)})"
        if clip.warning is not None:
            out["warning"] = clip.warning
        if error is not None:
            out["error"] = error
            self.counts["error"] += 1
            return out
        threshold = (self.thresholds or {}).get(machine_key(clip.machine_type, clip.machine_id))
        out["score"] = score
        out["threshold"] = threshold
        out["decision"] = decide(score, threshold)
        self.counts[out["decision"]] += 1
        return out

    def _machine_error(self, clip: Clip) -> str | None:
        if clip.machine_type is None:
            return (f"{clip.source}: cannot tell the machine type; put the file in a folder named "
                    f"after it ({', '.join(MACHINE_TYPES)}) or pass --machine-type")
        if clip.machine_id is None:
            return (f"{clip.source}: cannot tell the machine ID from the file name; name it "
                    "like normal_id_00_*.wav or id_00_*.wav, or pass --machine-id")
        try:
            class_index(clip.machine_type, clip.machine_id, "distinct")
        except ValueError as e:
            return f"{clip.source}: {e}"
        return None

    def run(self, clips: Iterable[Clip]) -> Iterator[dict]:
        """The decision on every clip of a source, as the clips arrive; no clip ends it."""
        for clip in clips:
            try:
                yield self.decision(clip)
            except GeneratorExit:
                raise
            except Exception as e:  # noqa: BLE001 - the last guard: the clip's line says what failed
                self.counts["error"] += 1
                yield {"time": self.clock(), "source": str(clip.source),
                       "error": f"{clip.source}: could not be decided ({_message(e)})"}

    def summary(self) -> str:
        """One line: how many clips were scored, with which decisions, and how many errors."""
        c = self.counts
        scored = c["normal"] + c["anomalous"] + c["unknown"]
        return (f"{scored} clip(s) scored: {c['normal']} normal, {c['anomalous']} anomalous, "
                f"{c['unknown']} without a threshold; {c['error']} error(s)")


def _checked_thresholds(thresholds) -> dict[str, float] | None:
    """Decision thresholds as {"<type>/<id>": finite float}; a ValueError names the bad entry."""
    if thresholds is None:
        return None
    if not isinstance(thresholds, dict):
        raise ValueError(f"thresholds must map '<type>/<id>' to numbers, got {type(thresholds).__name__}")
    out = {}
    for key, value in thresholds.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
                or not np.isfinite(value):
            raise ValueError(f"threshold of {key!r} is {value!r}: expected a finite number")
        out[str(key)] = float(value)
    return out


def to_json_line(decision: dict) -> str:
    """One decision as an ASCII JSON line (no trailing newline): any file name, any terminal. Notebook 08."""
    return json.dumps(decision, ensure_ascii=True, allow_nan=False)
