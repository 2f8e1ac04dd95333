"""The monitor (asdlib.deploy.monitor, ``python -m asdlib monitor``): a watched folder with good and bad
files, files arriving while it runs, a long WAV and a stdin stream cut with a hop, the decision
at the threshold, the command's options and errors, and Ctrl-C.

A 1-s untrained network keeps every test fast: the monitor's job is the plumbing, not the score.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from asdlib.data.audio import load_clip, load_wav
from asdlib.cli import main
from asdlib.data.dcase import class_index
from asdlib.deploy.monitor import (Clip, FolderWatcher, Monitor, machine_of, stream_windows, to_json_line,
                            wav_windows)
from asdlib.paths import PROJECT_ROOT, SAMPLE_DIR

RATE, N = 16_000, 16_000  # the test model's sample rate and clip length (1 s)
REAL_CLIP = SAMPLE_DIR / "slider" / "train" / "normal_id_00_00000006.wav"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """An asdlib checkpoint of an untrained 1-s network (what `train` would write, minus the optimiser)."""
    from asdlib.engine.config import RunConfig
    from asdlib.nets.model import build_model
    from asdlib.engine.checkpoints import CHECKPOINT_FORMAT

    torch.manual_seed(0)
    config = RunConfig().with_overrides({"model.clip_seconds": 1.0})
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "config": config.to_dict(), "epoch": 0,
                "model": build_model(config.model).state_dict()}, path)
    return path


@pytest.fixture(scope="module")
def scorer(checkpoint):
    from asdlib.deploy.export import load_scorer

    s = load_scorer(checkpoint, threads=1)
    assert (s.num_samples, s.sample_rate, s.label_map) == (N, RATE, "paper")
    return s


def _wave(seed: int, seconds: float = 1.0, channels: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(round(seconds * RATE))
    t = np.arange(n) / RATE
    wave = 0.2 * np.sin(2 * np.pi * (300 + 50 * seed) * t) + 0.05 * rng.standard_normal(n)
    return np.stack([wave] * channels, axis=1) if channels > 1 else wave


def _write(path: Path, wave: np.ndarray, rate: int = RATE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, wave, rate, subtype="PCM_16")
    return path


def _wav_bytes(wave: np.ndarray, rate: int = RATE) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, wave, rate, subtype="PCM_16", format="WAV")
    return buf.getvalue()


def _expected_score(scorer, path: Path, machine_type: str, machine_id: str) -> float:
    per_class, _ = scorer.scores(load_clip(path, N)[None, :])
    return float(per_class[0, class_index(machine_type, machine_id)])


def _no_sleep(seconds: float) -> None:
    pass


# --------------------------------------------------------------------------- a watched folder

GOOD = {  # relative path -> (machine type, ID)
    "fan/normal_id_00_00000001.wav": ("fan", "00"),
    "pump/test/anomaly_id_02_00000003.wav": ("pump", "02"),  # 1.5 s: its first second is scored
    "slider/normal_id_00_00000006.wav": ("slider", "00"),  # a real DCASE clip, 10 s
}
BAD = {  # relative path -> what its error line must say
    "fan/normal_id_02_00000002.wav": "sample rate is 8000 Hz",
    "fan/normal_id_04_00000003.wav": "2 channels",
    "fan/normal_id_06_00000004.wav": "truncated",
    "valve/normal_id_09_00000001.wav": "unknown machine ID '09' for valve",
    "fan/recording_0001.wav": "cannot tell the machine ID",
    "fan/id_00_00000009.wav": "not a readable WAV",
    "misc/normal_id_00_00000001.wav": "cannot tell the machine type",
    "fan/normal_id_00_00000010.wav": "shorter than the model's 1-s clip",
}


def _good_and_bad_folder(root: Path) -> Path:
    _write(root / "fan/normal_id_00_00000001.wav", _wave(1))
    _write(root / "pump/test/anomaly_id_02_00000003.wav", _wave(2, 1.5))
    (root / "slider").mkdir(parents=True)
    shutil.copy(REAL_CLIP, root / "slider/normal_id_00_00000006.wav")
    _write(root / "fan/normal_id_02_00000002.wav", _wave(3)[::2], rate=8000)
    _write(root / "fan/normal_id_04_00000003.wav", _wave(4, channels=2))
    whole = _wav_bytes(_wave(5))
    (root / "fan/normal_id_06_00000004.wav").write_bytes(whole[: len(whole) // 2])
    _write(root / "valve/normal_id_09_00000001.wav", _wave(6))
    _write(root / "fan/recording_0001.wav", _wave(7))
    (root / "fan/id_00_00000009.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk-not-audio")
    _write(root / "misc/normal_id_00_00000001.wav", _wave(8))
    _write(root / "fan/normal_id_00_00000010.wav", _wave(9, 0.5))
    (root / "fan/notes.txt").write_text("not audio, never read")
    return root


def test_folder_with_good_and_bad_files_reports_each_once_and_scores_the_good(scorer, tmp_path):
    root = _good_and_bad_folder(tmp_path / "incoming")
    watcher = FolderWatcher(root, N, RATE, include_existing=True, poll_seconds=0, max_polls=2,
                            sleep=_no_sleep)
    monitor = Monitor(scorer, {"fan/00": 0.0, "pump/02": 1e6})
    lines = [json.loads(to_json_line(d)) for d in monitor.run(watcher)]

    sources = [d["source"] for d in lines]
    assert sorted(sources) == sorted([*GOOD, *BAD])  # nothing lost, nothing twice
    for d in lines:
        assert d["time"].endswith("Z") and "T" in d["time"]
        if d["source"] in GOOD:
            mt, mid = GOOD[d["source"]]
            assert "error" not in d, d
            assert (d["machine_type"], d["machine_id"]) == (mt, mid)
            assert d["score"] == pytest.approx(_expected_score(scorer, root / d["source"], mt, mid),
                                               abs=1e-4)
        else:
            assert BAD[d["source"]] in d["error"], d
            assert not {"score", "threshold", "decision"} & set(d), d
            assert str(root) not in d["error"]  # the file is named relative to the watched folder
    by_source = {d["source"]: d for d in lines}
    assert by_source["fan/normal_id_00_00000001.wav"]["decision"] == "anomalous"  # score > 0
    assert by_source["pump/test/anomaly_id_02_00000003.wav"]["decision"] == "normal"  # < 1e6
    assert by_source["slider/normal_id_00_00000006.wav"]["threshold"] is None
    assert by_source["slider/normal_id_00_00000006.wav"]["decision"] == "unknown"
    assert monitor.counts == {"anomalous": 1, "normal": 1, "unknown": 1, "error": len(BAD)}
    assert monitor.summary().startswith("3 clip(s) scored: 1 normal, 1 anomalous, 1 without")
    assert watcher.pending == []

    # watching the machine-type folder itself: the type still comes from its name
    (inside,) = FolderWatcher(root / "pump", N, RATE, include_existing=True, max_polls=1)
    assert (inside.source, inside.machine_type, inside.machine_id) == (
        "test/anomaly_id_02_00000003.wav", "pump", "02")


def test_files_arriving_while_watching_are_scored_once_complete(scorer, tmp_path):
    root = tmp_path / "incoming"
    _write(root / "fan/normal_id_00_00000000.wav", _wave(0))  # there before: skipped
    full = _wav_bytes(_wave(11))
    steps = []

    def sleep(seconds):  # what arrives between polls
        steps.append(seconds)
        if len(steps) == 1:
            _write(root / "fan/normal_id_00_00000001.wav", _wave(10))
            (root / "fan/normal_id_02_00000002.wav").write_bytes(full[:5000])  # still being copied
            (root / "fan/normal_id_04_00000003.wav").write_bytes(full[:7000])  # a copy that died
        elif len(steps) == 2:
            (root / "fan/normal_id_02_00000002.wav").write_bytes(full)  # copy finished
        elif len(steps) == 3:
            (root / "fan/normal_id_04_00000003.wav").write_bytes(full)  # the dead copy, redone
        else:
            (root / "fan/normal_id_06_00000004.wav").write_bytes(full[:3000])  # starts at the end

    watcher = FolderWatcher(root, N, RATE, poll_seconds=0.25, max_polls=5, sleep=sleep)
    seen = []
    for clip in watcher:
        seen.append((watcher.polls, clip.source, clip.error is None))
    assert steps == [0.25] * 4
    assert seen == [
        (2, "fan/normal_id_00_00000001.wav", True),  # complete by its header at once
        (3, "fan/normal_id_02_00000002.wav", True),  # scored after the copy finished, not before
        (3, "fan/normal_id_04_00000003.wav", False),  # unchanged over two polls: reported truncated
        (4, "fan/normal_id_04_00000003.wav", True),  # copied again: scored again
    ]
    assert watcher.pending == ["fan/normal_id_06_00000004.wav"]


def test_machine_from_options_file_name_and_folder():
    assert machine_of("x/fan/test/anomaly_id_02_00000001.wav") == ("fan", "02")
    assert machine_of("ToyCar/id_04_00000001.wav") == ("ToyCar", "04")
    assert machine_of("fan/pump/normal_id_00_1.wav") == ("pump", "00")  # the nearest folder
    assert machine_of("a/b.wav") == (None, None)
    assert machine_of("fan/normal_id_00_1.wav", "valve", "06") == ("valve", "06")  # options first


# --------------------------------------------------------------------------- long WAV and stdin

@pytest.mark.parametrize("hop, offsets", [
    (None, [0.0, 1.0, 2.0, 3.0, 4.0]),  # back to back; the last 0.25 s is not a whole clip
    (0.5, [0.5 * k for k in range(9)]),
    (2.0, [0.0, 2.0, 4.0]),  # hop longer than the clip: gaps skipped
    (0.3, [round(0.3 * k, 6) for k in range(15)]),  # 4800-sample hop: 14 hops fit in 68000
])
def test_long_wav_cut_with_a_hop(tmp_path, hop, offsets):
    path = _write(tmp_path / "long.wav", _wave(20, 5.25))
    wave = load_wav(path)
    clips = list(wav_windows(path, N, RATE, hop, machine_type="fan", machine_id="00"))
    assert [c.offset for c in clips] == pytest.approx(offsets)
    for c in clips:
        start = int(round(c.offset * RATE))
        assert np.array_equal(c.wave, wave[start:start + N])
        assert (c.source, c.machine_type, c.machine_id, c.error) == ("long.wav", "fan", "00", None)


def test_long_wav_errors_give_one_line(tmp_path):
    short = list(wav_windows(_write(tmp_path / "short.wav", _wave(1, 0.4)), N, RATE))
    assert len(short) == 1 and "shorter than" in short[0].error
    slow = list(wav_windows(_write(tmp_path / "slow.wav", _wave(1, 3.0)[::2], 8000), N, RATE))
    assert len(slow) == 1 and "8000 Hz" in slow[0].error
    with pytest.raises(ValueError, match="hop"):
        list(wav_windows(tmp_path / "short.wav", N, RATE, 0.0))


class _Trickle:
    """A live stream: every read returns at most ``size`` bytes (odd: samples split across reads)."""

    def __init__(self, data: bytes, size: int = 333):
        self.data, self.size, self.reads = data, size, 0

    def read(self, n: int) -> bytes:
        self.reads += 1
        out, self.data = self.data[: min(n, self.size)], self.data[min(n, self.size):]
        return out


@pytest.mark.parametrize("hop, offsets", [(0.75, [0, .75, 1.5, 2.25, 3.0]), (1.5, [0, 1.5, 3.0])])
def test_stdin_stream_wav_and_raw_give_the_windows_of_the_file(tmp_path, hop, offsets):
    wave = _wave(21, 4.2)
    path = _write(tmp_path / "long.wav", wave)
    want = list(wav_windows(path, N, RATE, hop))
    pcm = (load_wav(path) * 32768).round().astype("<i2").tobytes()
    for data in (path.read_bytes(), pcm):
        stream = _Trickle(data)
        got = list(stream_windows(stream, N, RATE, hop, machine_type="fan", machine_id="00"))
        assert stream.reads > 100  # read as it came, not in one piece
        assert [c.offset for c in got] == [c.offset for c in want] == pytest.approx(offsets)
        for a, b in zip(got, want):
            assert np.array_equal(a.wave, b.wave) and a.source == "<stdin>" and a.error is None


def test_stdin_stream_with_wrong_format_gives_one_error(tmp_path):
    for wave, rate, message in ((_wave(1, 2.0)[::2], 8000, "8000 Hz"),
                                (_wave(1, 2.0, channels=2), RATE, "2 channels")):
        got = list(stream_windows(io.BytesIO(_wav_bytes(wave, rate)), N, RATE))
        assert len(got) == 1 and message in got[0].error and got[0].wave is None
    assert list(stream_windows(io.BytesIO(b""), N, RATE)) == []
    got = list(stream_windows(io.BytesIO(b"RIFF\x00\x00"), N, RATE))
    assert len(got) == 1 and "not a WAV stream" in got[0].error


# --------------------------------------------------------------------------- decisions

def test_the_decision_flips_at_the_threshold(scorer):
    clip = Clip("a.wav", load_clip(REAL_CLIP, N), machine_type="slider", machine_id="00")
    score = Monitor(scorer, {}).decision(clip)["score"]
    assert score == pytest.approx(_expected_score(scorer, REAL_CLIP, "slider", "00"))
    at = Monitor(scorer, {"slider/00": score}).decision(clip)
    below = Monitor(scorer, {"slider/00": float(np.nextafter(score, -np.inf))}).decision(clip)
    other = Monitor(scorer, {"slider/02": -1.0}).decision(clip)
    assert (at["decision"], at["threshold"]) == ("normal", score)
    assert below["decision"] == "anomalous"
    assert (other["decision"], other["threshold"]) == ("unknown", None)
    assert list(at) == ["time", "source", "machine_type", "machine_id", "score", "threshold", "decision"]


# --------------------------------------------------------------------------- the command

def _monitor(*args, stdin: bytes | None = None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(stdin))))
    return main(["monitor", *map(str, args)])


def test_command_on_a_long_wav_and_on_stdin(checkpoint, tmp_path, capsys, monkeypatch):
    path = _write(tmp_path / "fan" / "normal_id_02_00000001.wav", _wave(30, 2.6))
    out = tmp_path / "decisions.jsonl"
    assert _monitor("--model", checkpoint, "--wav", path, "--hop", "0.8", "--out", out,
                    "--threads", 1) == 0
    err = capsys.readouterr().err
    assert "holds no decision thresholds" in err and "finished: 3 clip(s) scored" in err
    lines = [json.loads(ln) for ln in out.read_text().splitlines()]
    assert [d["offset"] for d in lines] == [0.0, 0.8, 1.6]
    assert {(d["source"], d["machine_type"], d["machine_id"], d["decision"]) for d in lines} == {
        ("normal_id_02_00000001.wav", "fan", "02", "unknown")}

    assert _monitor("--model", checkpoint, "--stdin", "--hop", "0.8", "--machine-type", "fan",
                    "--machine-id", "02", stdin=path.read_bytes(), monkeypatch=monkeypatch) == 0
    streamed = [json.loads(ln) for ln in capsys.readouterr().out.splitlines()]
    assert [(d["source"], d["offset"]) for d in streamed] == [("<stdin>", o) for o in (0.0, 0.8, 1.6)]
    assert [d["score"] for d in streamed] == pytest.approx([d["score"] for d in lines], abs=1e-5)


def test_command_fits_thresholds_on_training_clips(checkpoint, tmp_path, capsys):
    from asdlib.deploy.export import load_scorer
    from asdlib.deploy.thresholds import fit_thresholds, training_scores

    want = fit_thresholds(training_scores(load_scorer(checkpoint, threads=1), SAMPLE_DIR,
                                          machine_types=["slider"]), 0.8)
    watched = tmp_path / "w"
    shutil.copytree(SAMPLE_DIR / "slider", watched / "slider")
    assert _monitor("--model", checkpoint, "--watch", watched, "--existing", "--polls", 1,
                    "--train-root", SAMPLE_DIR, "--machine-type", "slider",
                    "--threshold-percentile", 0.8, "--threads", 1) == 0
    captured = capsys.readouterr()
    assert "1 threshold(s) fitted on 8 normal training clips" in captured.err
    lines = [json.loads(ln) for ln in captured.out.splitlines()]
    assert len(lines) == 12 and {d["threshold"] for d in lines} == {want["slider/00"]}
    assert {d["decision"] for d in lines} <= {"normal", "anomalous"}
    assert all((d["score"] > d["threshold"]) == (d["decision"] == "anomalous") for d in lines)


def test_command_errors_are_one_line(checkpoint, tmp_path, capsys):
    cases = [
        (["--stdin"], "pass --machine-type and --machine-id"),
        (["--wav", tmp_path / "recording.wav"], "--wav FILE's name does not tell the machine"),
        (["--wav", tmp_path / "fan" / "id_00_1.wav"], "file not found"),
        (["--watch", tmp_path / "nowhere"], "does not exist"),
        (["--watch", tmp_path, "--machine-type", "drill"], "--machine-type 'drill'"),
        (["--watch", tmp_path, "--machine-type", "fan", "--machine-id", "09"], "unknown machine ID"),
        (["--stdin", "--machine-type", "fan", "--machine-id", "00", "--hop", "0"], "--hop 0.0"),
        (["--watch", tmp_path, "--threshold-percentile", "0.8"], "no gamma parameters"),
        (["--watch", tmp_path, "--train-root", SAMPLE_DIR, "--threshold-percentile", "2"],
         "between 0 and 1"),
    ]
    for args, message in cases:
        assert _monitor("--model", checkpoint, *args) == 2, args
        err = capsys.readouterr().err.strip()
        assert err.startswith("python -m asdlib monitor: error: ") and message in err, (args, err)
        assert "\n" not in err and "Traceback" not in err


def test_exported_thresholds_and_a_new_percentile(checkpoint, tmp_path, capsys):
    from asdlib.deploy.export import export_onnx, load_scorer
    from asdlib.deploy.thresholds import fit_thresholds, threshold_info, thresholds_at, training_scores

    table = training_scores(load_scorer(checkpoint, threads=1), SAMPLE_DIR, machine_types=["slider"])
    info = threshold_info(table, 0.9, "gamma")
    model = export_onnx(checkpoint, tmp_path / "tiny.onnx", thresholds=fit_thresholds(table, 0.9),
                        threshold_info=info)
    path = _write(tmp_path / "slider" / "normal_id_00_00000001.wav", _wave(40, 1.0))
    for extra, want in (([], fit_thresholds(table, 0.9)), (["--threshold-percentile", "0.5"],
                                                            thresholds_at(info, 0.5))):
        assert _monitor("--model", model, "--wav", path, "--threads", 1, *extra) == 0
        (line,) = [json.loads(ln) for ln in capsys.readouterr().out.splitlines()]
        assert line["threshold"] == pytest.approx(want["slider/00"], rel=1e-12)
    assert thresholds_at(info, 0.5)["slider/00"] < fit_thresholds(table, 0.9)["slider/00"]


def test_ctrl_c_ends_the_watch_cleanly(checkpoint, tmp_path, ctrl_c_interrupts):
    watched = tmp_path / "w"
    _write(watched / "fan" / "normal_id_00_00000001.wav", _wave(50))
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(PROJECT_ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "asdlib", "monitor", "--model", str(checkpoint),
                             "--watch", str(watched), "--existing", "--poll", "0.1", "--threads", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        first = json.loads(proc.stdout.readline())  # blocks until the first decision
        assert first["source"] == "fan/normal_id_00_00000001.wav" and "score" in first
        time.sleep(0.3)  # now polling
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert out == ""
    assert err.strip().splitlines()[-1].startswith(
        "python -m asdlib monitor: stopped by Ctrl-C: 1 clip(s) scored")
    assert "Traceback" not in err
