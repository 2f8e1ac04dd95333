"""An exported model is checked when loaded (issue 20, part 2) and ONNX Runtime sends nothing (part 5).

Every metadata entry a scorer relies on is damaged in turn in a real exported file; loading it must
fail with one ``ExportError`` naming the file and the key, before any clip is read, and the command
line must say it in one line (exit 2). ``score`` on an ONNX file must write nothing outside its
output folder and the store cache it documents (no ONNX Runtime usage database, no debug log).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from asdlib.deploy.export import ExportError, TELEMETRY_VARIABLE, check_metadata, export_model, load_scorer
from asdlib.engine.config import RunConfig
from asdlib.nets.model import build_model
from asdlib.paths import PROJECT_ROOT, SAMPLE_DIR

SECONDS = 0.5


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    """A real export of an untrained 0.5-s network, with thresholds for two machines."""
    torch.manual_seed(0)
    config = RunConfig().with_overrides({"model.clip_seconds": SECONDS})
    net = build_model(config.model).eval()
    out = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    return export_model(net, out, thresholds={"fan/00": 1.5, "pump/02": 2.0},
                        threshold_info={"method": "quantile", "percentile": 0.9})


def _with_metadata(model_file: Path, out: Path, **changes) -> Path:
    """A copy of the exported file with metadata entries replaced (None: removed)."""
    model = onnx.load(str(model_file))
    meta = {p.key: p.value for p in model.metadata_props}
    for key, value in changes.items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    del model.metadata_props[:]
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(out))
    return out


BAD_METADATA = [  # (key, value, what the error must say)
    ("num_samples", "4000000000", "num_samples=4000000000 is outside 1..9600000"),
    ("num_samples", "0", "num_samples=0 is outside"),
    ("num_samples", "16000", "metadata num_samples=16000 but the graph's input holds 8000 samples"),
    ("num_samples", "eight", "num_samples='eight' is not an integer"),
    ("sample_rate", "-16000", "sample_rate=-16000 is outside 1000..384000"),
    ("sample_rate", None, "'sample_rate' is missing"),
    ("num_classes", "5", "num_classes=5 is outside 41..100000"),
    ("num_classes", "50", "metadata num_classes=50 but the graph scores 41 classes"),
    ("label_map", None, "label_map=None is not one of"),
    ("label_map", "mine", "label_map='mine' is not one of"),
    ("thresholds", "[1.0, 2.0]", "'thresholds' must be a JSON object, got list"),
    ("thresholds", '{"fan/00": NaN}', "gives 'fan/00' the value nan"),
    ("thresholds", '{"fan/00": 1e999}', "gives 'fan/00' the value inf"),
    ("thresholds", '{"fan/00": "high"}', "gives 'fan/00' the value 'high'"),
    ("thresholds", '{"fan/00": true}', "gives 'fan/00' the value True"),
    ("thresholds", '{"fan/99": 1.0}', "names 'fan/99', not a DCASE 2020 machine"),
    ("thresholds", "{not json", "'thresholds' is not valid JSON"),
    ("threshold_info", '"gamma"', "'threshold_info' must be a JSON object"),
    ("model_config", "[]", "'model_config' must be a JSON object"),
]


@pytest.mark.parametrize("key,value,message", BAD_METADATA, ids=[f"{k}={v}" for k, v, _ in BAD_METADATA])
def test_every_metadata_entry_is_checked_at_load(model_file, tmp_path, key, value, message):
    bad = _with_metadata(model_file, tmp_path / "bad.onnx", **{key: value})
    with pytest.raises(ExportError) as info:
        load_scorer(bad, threads=1)
    text = str(info.value)
    assert text.startswith(f"{bad}: ") and message in text and "\n" not in text


def test_the_good_file_loads_with_its_checked_values(model_file):
    scorer = load_scorer(model_file, threads=1)
    assert (scorer.label_map, scorer.sample_rate, scorer.num_samples, scorer.num_classes) == \
        ("paper", 16_000, 8_000, 41)
    assert scorer.thresholds == {"fan/00": 1.5, "pump/02": 2.0}
    assert all(type(v) is float for v in scorer.thresholds.values())
    meta = {p.key: p.value for p in onnx.load(str(model_file)).metadata_props}
    assert check_metadata(model_file, meta)["num_samples"] == 8_000  # without a session: no graph check


def test_the_commands_name_the_file_and_the_key_in_one_line(model_file, tmp_path, monkeypatch):
    """`score` and `monitor` stop before reading a clip: exit 2, one line, no folder or store made
    (through ``asdlib.cli.main`` in this process, as ``python -m asdlib`` runs it)."""
    from test_cli import cli

    bad = _with_metadata(model_file, tmp_path / "huge.onnx", num_samples="4000000000")
    monkeypatch.setenv("ASD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ASD_THREADS", "1")
    for args in (["score", "--checkpoint", bad, "--data-root", SAMPLE_DIR, "--out", tmp_path / "out"],
                 ["monitor", "--model", bad, "--wav", next((SAMPLE_DIR / "fan" / "test").glob("*.wav"))]):
        proc = cli(*args)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and f"{bad}: metadata num_samples=4000000000 is outside" in lines[0], lines
    assert not (tmp_path / "out").exists() and not (tmp_path / "data").exists()


# --------------------------------------------------------------------------- no telemetry (part 5)

def _files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_score_on_onnx_writes_nothing_outside_its_output_and_cache(model_file, tmp_path):
    """A fresh HOME and TMPDIR stay empty; every file written lies under --out or the store cache."""
    home, tmp, data = tmp_path / "home", tmp_path / "tmp", tmp_path / "data"
    for d in (home, tmp):
        d.mkdir()
    env = {k: v for k, v in os.environ.items() if k != TELEMETRY_VARIABLE and not k.startswith("XDG_")}
    env.update(HOME=str(home), TMPDIR=str(tmp), ASD_DATA_DIR=str(data), ASD_THREADS="1",
               MPLCONFIGDIR=str(tmp_path / "mpl"))
    proc = subprocess.run([sys.executable, "-m", "asdlib", "score", "--checkpoint", str(model_file),
                           "--data-root", str(SAMPLE_DIR), "--out", str(tmp_path / "out")],
                          env=env, capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _files_under(tmp_path / "out")
    assert _files_under(home) == set(), "ONNX Runtime (or another library) wrote into HOME"
    assert _files_under(tmp) == set(), "something was left in TMPDIR (ONNX Runtime's mat-debug log?)"
    assert all(p.startswith("cache") for p in _files_under(data)), _files_under(data)
    assert not (tmp_path / "mpl").exists()


def test_telemetry_stays_on_when_the_user_asks_for_it(tmp_path):
    """The switch is a default: ORT_DISABLE_TELEMETRY=0 set by the user is left as it is."""
    code = ("import os; from asdlib.deploy.export import import_onnxruntime; import_onnxruntime(); "
            f"print(os.environ['{TELEMETRY_VARIABLE}'])")
    for given, want in ((None, "1"), ("0", "0")):
        env = {k: v for k, v in os.environ.items() if k != TELEMETRY_VARIABLE}
        env.update(HOME=str(tmp_path), TMPDIR=str(tmp_path))
        if given is not None:
            env[TELEMETRY_VARIABLE] = given
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                             cwd=PROJECT_ROOT, timeout=120)
        assert out.returncode == 0 and out.stdout.strip() == want, out.stderr
