"""No single input ends the monitor (issue 20, part 1): every probe fed to one running process.

One ``python -m asdlib monitor --watch`` process, its standard output a strict latin-1 stream,
gets a file named with invalid UTF-8 bytes, one named with an emoji, an empty file, a file that
keeps growing past its declared size while it runs, 24-bit, 8-bit and float WAVs, a float WAV
holding NaN, and a link to a file outside the watched folder; then SIGTERM. It must still be
alive until the signal, give each input exactly one line, and end like Ctrl-C with its summary.
The stream probes (NaN and 1e30 samples, a 48 MB JUNK chunk) and ONNX Runtime's own exceptions
are fed the same way to ``stream_windows`` and ``Monitor``.
"""

from __future__ import annotations

import io
import json
import os
import signal
import struct
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from asdlib.deploy.monitor import Clip, Monitor, stream_windows
from asdlib.paths import PROJECT_ROOT

RATE, N = 16_000, 8_000  # the test model: 0.5-s clips


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """An untrained 0.5-s network saved as `train` saves it (the monitor's plumbing is tested, not the score)."""
    from asdlib.engine.checkpoints import CHECKPOINT_FORMAT
    from asdlib.engine.config import RunConfig
    from asdlib.nets.model import build_model

    torch.manual_seed(0)
    config = RunConfig().with_overrides({"model.clip_seconds": N / RATE})
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "config": config.to_dict(), "epoch": 0,
                "model": build_model(config.model).state_dict()}, path)
    return path


def _wave(seed: int, n: int = N) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.2 * np.sin(2 * np.pi * 440 * np.arange(n) / RATE) + 0.05 * rng.standard_normal(n))


def _write(path: Path | bytes, wave: np.ndarray, subtype: str = "PCM_16") -> None:
    with open(path, "wb") as f:
        sf.write(f, wave, RATE, subtype=subtype, format="WAV")


def _lines(path: Path) -> list[dict]:
    text = path.read_bytes().decode("ascii")  # the lines are ASCII whatever the names
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_one_monitor_process_survives_every_bad_input_with_one_line_each(checkpoint, tmp_path):
    watched, outside = tmp_path / "incoming", tmp_path / "elsewhere"
    fan = watched / "fan"
    fan.mkdir(parents=True)
    outside.mkdir()
    invalid_utf8 = os.fsencode(fan) + b"/caf\xe9"  # a folder named in latin-1 bytes: not UTF-8
    os.mkdir(invalid_utf8)
    _write(invalid_utf8 + b"/normal_id_00_00000001.wav", _wave(1))
    (fan / "\U0001f3b5").mkdir()
    expect = {  # source -> (key the line must hold, text in it)
        os.fsdecode(invalid_utf8)[len(str(watched)) + 1:] + "/normal_id_00_00000001.wav": ("score", None),
        "fan/\U0001f3b5/normal_id_00_00000002.wav": ("score", None),
        "fan/normal_id_00_00000003.wav": ("error", "empty file (0 bytes)"),
        "fan/normal_id_02_00000004.wav": ("score", None),
        "fan/normal_id_04_00000005.wav": ("warning", "encoded as PCM_24"),
        "fan/normal_id_04_00000006.wav": ("warning", "encoded as PCM_U8"),
        "fan/normal_id_04_00000007.wav": ("warning", "encoded as FLOAT"),
        "fan/normal_id_06_00000008.wav": ("error", "non-finite samples"),
        "fan/normal_id_00_00000009.wav": ("error", "links to a file outside the watched folder"),
    }
    _write(fan / "\U0001f3b5/normal_id_00_00000002.wav", _wave(2))
    (fan / "normal_id_00_00000003.wav").write_bytes(b"")
    _write(fan / "normal_id_02_00000004.wav", _wave(3))
    _write(fan / "normal_id_04_00000005.wav", _wave(4), "PCM_24")
    _write(fan / "normal_id_04_00000006.wav", _wave(5), "PCM_U8")
    _write(fan / "normal_id_04_00000007.wav", _wave(6), "FLOAT")
    nan = _wave(7)
    nan[100] = np.nan
    _write(fan / "normal_id_06_00000008.wav", nan, "FLOAT")
    _write(outside / "secret.wav", _wave(8))
    (fan / "normal_id_00_00000009.wav").symlink_to(outside / "secret.wav")

    out = tmp_path / "decisions.jsonl"
    env = dict(os.environ, PYTHONIOENCODING="latin-1:strict", ASD_THREADS="1")
    with open(out, "wb") as stdout:
        proc = subprocess.Popen([sys.executable, "-m", "asdlib", "monitor", "--model", str(checkpoint),
                                 "--watch", str(watched), "--existing", "--poll", "0.1"],
                                stdout=stdout, stderr=subprocess.PIPE, cwd=PROJECT_ROOT, env=env)
        try:
            deadline = time.monotonic() + 120
            while len(_lines(out)) < len(expect) and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            growing = fan / "normal_id_02_00000004.wav"
            for _ in range(15):  # bytes after the declared samples, over many polls
                with open(growing, "ab") as f:
                    f.write(b"\x00" * 4096)
                time.sleep(0.1)
            time.sleep(0.5)
            assert proc.poll() is None, proc.stderr.read().decode()
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    err = err.decode()
    assert proc.returncode == 0, err
    lines = _lines(out)
    counts = Counter(line["source"] for line in lines)
    assert counts == Counter({source: 1 for source in expect}), (counts, err)
    for line in lines:
        key, text = expect[line["source"]]
        assert key in line, line
        if text is not None:
            assert text in line[key], line
        if key != "error":
            assert np.isfinite(line["score"]) and line["decision"] == "unknown", line
    assert "stopped by SIGTERM: 6 clip(s) scored" in err and "3 error(s)" in err, err
    assert "Traceback" not in err


# --------------------------------------------------------------------------- a stream on stdin

def _float_wav_stream(wave: np.ndarray, junk: int = 0) -> bytes:
    """A float32 WAV stream (header + samples), with a JUNK chunk of ``junk`` bytes before its data."""
    data = wave.astype("<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, RATE, RATE * 4, 4, 32)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    if junk:
        chunks += b"JUNK" + struct.pack("<I", junk) + bytes(junk)
    chunks += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


class _Trickle(io.RawIOBase):
    """A pipe-like stream: ``read1`` returns at most 64 KiB at a time."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def readable(self) -> bool:
        return True

    def read1(self, n: int = -1) -> bytes:
        n = min(65536, len(self.data) - self.pos) if n < 0 else min(n, 65536)
        out = self.data[self.pos: self.pos + n]
        self.pos += len(out)
        return out

    read = read1


def test_stream_windows_with_nan_and_huge_samples_each_get_their_line():
    wave = np.concatenate([_wave(1), _wave(2), _wave(3), _wave(4)])
    wave[N + 10] = np.nan
    wave[2 * N + 10] = 1e30
    clips = list(stream_windows(_Trickle(_float_wav_stream(wave)), N, RATE, machine_type="fan",
                                machine_id="00"))
    assert [c.offset for c in clips] == [0.0, 0.5, 1.0, 1.5]
    assert clips[0].error is None and clips[3].error is None
    assert "non-finite samples" in clips[1].error and clips[1].wave is None
    assert clips[2].error is None and np.abs(clips[2].wave).max() == 1.0
    assert "samples beyond +-1 were clipped" in clips[2].warning
    assert all("encoded as FLOAT" in c.warning for c in clips)


def test_a_48_mb_junk_chunk_is_skipped_in_linear_time():
    stream = _Trickle(_float_wav_stream(_wave(1), junk=48 << 20))
    start = time.perf_counter()
    clips = list(stream_windows(stream, N, RATE, machine_type="fan", machine_id="00"))
    elapsed = time.perf_counter() - start
    assert len(clips) == 1 and clips[0].error is None
    assert elapsed < 2.0, f"{elapsed:.1f} s to skip 48 MB (quadratic reading?)"


def test_a_stream_chunk_declaring_gigabytes_of_format_is_refused():
    data = b"RIFF\x00\x00\x00\x00WAVEfmt " + struct.pack("<I", 1 << 31)
    clips = list(stream_windows(io.BytesIO(data), N, RATE, machine_type="fan", machine_id="00"))
    assert len(clips) == 1 and "format chunk declares 2147483648 bytes" in clips[0].error


def test_the_stdin_command_scores_good_windows_around_bad_ones(checkpoint):
    wave = np.concatenate([_wave(1), _wave(2), _wave(3)])
    wave[N + 5] = np.inf
    proc = subprocess.run([sys.executable, "-m", "asdlib", "monitor", "--model", str(checkpoint),
                           "--stdin", "--machine-type", "fan", "--machine-id", "00"],
                          input=_float_wav_stream(wave), capture_output=True, cwd=PROJECT_ROOT,
                          env=dict(os.environ, ASD_THREADS="1"), timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    lines = [json.loads(x) for x in proc.stdout.decode("ascii").splitlines()]
    assert ["error" in x for x in lines] == [False, True, False]
    assert "2 clip(s) scored" in proc.stderr.decode() and "1 error(s)" in proc.stderr.decode()


# --------------------------------------------------------------------------- the scorer fails

def test_onnx_runtime_exceptions_become_the_clips_error_line(tmp_path):
    """A real ONNX Runtime error (a clip of the wrong length reaching the graph) is one error line."""


    from asdlib.deploy.export import export_model, load_scorer
    from asdlib.engine.config import RunConfig
    from asdlib.nets.model import build_model

    torch.manual_seed(0)
    net = build_model(RunConfig().with_overrides({"model.clip_seconds": N / RATE}).model).eval()
    scorer = load_scorer(export_model(net, tmp_path / "m.onnx"), threads=1)
    scorer.num_samples = N // 2  # the scorer's own check passes; the graph refuses
    with pytest.raises(Exception) as raised:
        scorer.scores(np.zeros((1, N // 2), np.float32))
    assert not isinstance(raised.value, (ValueError, RuntimeError))  # ONNX Runtime's own type
    assert type(raised.value).__module__.startswith("onnxruntime")
    monitor = Monitor(scorer)
    good = Clip("a.wav", _wave(1, N // 2).astype(np.float32), machine_type="fan", machine_id="00")
    lines = list(monitor.run([good, good]))
    assert len(lines) == 2 and all("could not be scored" in x["error"] for x in lines)
    assert monitor.counts["error"] == 2


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "high", True])
def test_bad_threshold_values_are_refused_when_the_monitor_starts(checkpoint, value):
    from asdlib.deploy.export import load_scorer

    with pytest.raises(ValueError, match="threshold of 'fan/00'"):
        Monitor(load_scorer(checkpoint, threads=1), {"fan/00": value})
