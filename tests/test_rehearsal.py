"""The dress rehearsal of the paper profile (issue 7, part 5) at a tiny size, end to end.

Runs the real ``benchmarks/rehearsal.py``: a synthetic tree with the DCASE structure (41 IDs,
2-3 clips per group, 1-s clips and ToyCar 1.1 s), the existing-tree check, one run trained with
the step cap and evaluated, then ``run_all.sh --profile paper`` (notebooks 01 and 04 and the
report) through ``--data-root``, with every output labelled a rehearsal. About a minute on 2 CPU cores.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

pytestmark = pytest.mark.slow  # started first (run_tests.sh)

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "benchmarks" / "rehearsal.py"
LABEL = "REHEARSAL: synthetic data at DCASE scale, training capped - numbers are meaningless"


def _run(work: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(SCRIPT), "--root", str(work / "root"), "--scale", "tiny",
           "--steps-per-epoch", "1", "--epochs", "1", "--results", str(work / "results"),
           "--json", str(work / "r.json"), "--md", str(work / "R.md"), *extra]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory):
    work = tmp_path_factory.mktemp("rehearsal")
    real_paper = REPO / "results" / "paper"
    before = sorted(real_paper.rglob("*")) if real_paper.exists() else None
    proc = _run(work, "--runs", "proposed", "--only", "01", "--only", "04")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    yield work, json.loads((work / "r.json").read_text())
    after = sorted(real_paper.rglob("*")) if real_paper.exists() else None
    assert before == after, "the rehearsal touched results/paper/"
    shutil.rmtree(work, ignore_errors=True)


def test_tree_has_the_dcase_structure(rehearsal):
    work, res = rehearsal
    tree = work / "root" / "tree"
    wavs = sorted(tree.glob("*/*/*.wav"))
    assert len(wavs) == res["tree"]["clips"] == 41 * 3 + 23 * 4
    ids = {(p.parent.parent.name, p.name.split("_")[2]) for p in wavs if p.parent.name == "train"}
    assert len(ids) == 41
    tests = {(p.parent.parent.name, p.name.split("_")[2]) for p in wavs if p.parent.name == "test"}
    assert len(tests) == 23
    toycar = sf.info(tree / "ToyCar" / "test" / "anomaly_id_01_00000001.wav")
    fan = sf.info(tree / "fan" / "train" / "normal_id_05_00000002.wav")
    assert (toycar.frames, fan.frames, fan.samplerate, fan.channels, fan.subtype) == (17600, 16000, 16000, 1, "PCM_16")


def test_every_stage_ran_and_was_measured(rehearsal):
    _, res = rehearsal
    assert res["ok"]
    stages = {s["stage"]: s for s in res["stages"]}
    for name in ("data check (part 4: existing tree)", "run proposed (train capped + evaluate)",
                 "preflight (run_all.sh)", "notebook 01_data", "notebook 04_evaluation", "report"):
        assert stages[name]["seconds"] > 0 and stages[name]["peak_pss_mb"] > 10, name
    assert res["data_check"]["files"] == 215
    assert {s["store"].split("-")[0] for s in res["stores"]} == {"train", "test"}
    assert all(s["clips_per_s"] > 0 for s in res["stores"])
    run = res["runs"][0]
    assert run["steps"] == 1 and run["checkpoints_scored"] == 1 and res["scoring_clips_per_s"] > 0
    assert res["projection"] == [] and "no projection" in res["projection_note"]


def test_training_was_capped_and_outputs_say_rehearsal(rehearsal):
    work, res = rehearsal
    out = work / "results" / "paper"
    log = [json.loads(ln) for ln in (out / "runs" / "proposed" / "train_log.jsonl").read_text().splitlines()]
    assert [r["steps"] for r in log] == [1] and log[0]["clips"] == 64  # 117 clips would be 2 batches
    report = (out / "REPORT.md").read_text()
    assert LABEL in report and "train.max_steps_per_epoch" in report
    nb01 = (out / "notebooks" / "01_data.ipynb").read_text()
    assert LABEL in nb01 and "no download needed" in nb01 and "NOT the DCASE table" in nb01
    md = (work / "R.md").read_text()
    assert "<!-- BEGIN GENERATED: benchmarks/rehearsal.py -->" in md and "| notebook 04_evaluation" in md


def test_a_tree_with_a_missing_file_is_refused(rehearsal):
    work, _ = rehearsal
    victim = work / "root" / "tree" / "fan" / "train" / "normal_id_00_00000001.wav"
    saved = victim.read_bytes()
    victim.unlink()
    try:
        proc = _run(work, "--runs", "--only", "none", "--keep-results")
    finally:
        victim.write_bytes(saved)
    assert proc.returncode == 1
    res = json.loads((work / "r.json").read_text())
    assert not res["ok"] and "refused" in res["failure"]
    log = (work / "root" / "rehearsal.log").read_text()
    assert "fan id_00 train (normal, development): 2 files found, 3 expected (1 missing)" in log
