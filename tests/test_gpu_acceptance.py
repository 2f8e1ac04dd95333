"""``DRY=1 benchmarks/gpu_acceptance.sh``: the GPU acceptance script end to end on a CPU at tiny sizes
(every stage: the paper networks in fp32 and bf16, short trainings with workers, GPU-vs-CPU-only
scores, kill -9 and resume, two trainings on an empty cache, DDP on gloo), one JSON report."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import engine_helpers as H
from asdlib.engine.config import profile_configs

SCRIPT = H.REPO / "benchmarks" / "gpu_acceptance.sh"


@pytest.mark.slow
def test_the_acceptance_script_passes_dry_on_a_cpu(tmp_path):
    report_path = tmp_path / "report.json"
    env = {**os.environ, "DRY": "1", "PYTHON": sys.executable, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(H.REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("ASDLIB_KILL_AFTER_STEPS", None)
    proc = subprocess.run([str(SCRIPT), str(report_path)], env=env, capture_output=True, text=True,
                          timeout=600, cwd=tmp_path)
    report = json.loads(report_path.read_text())
    failed = {k: v.get("error") for k, v in report["stages"].items() if not v["ok"]}
    assert proc.returncode == 0 and report["ok"] and not failed, (failed, proc.stdout[-3000:], proc.stderr[-3000:])
    stages = report["stages"]
    assert set(stages) == {"cuda", "networks", "training", "scoring", "resume", "store_race", "ddp"}
    nets = stages["networks"]["networks"]
    assert set(nets) == {f"{n}/{p}" for n in profile_configs("paper") for p in ("fp32", "bf16")}
    assert all(row["score_finite"] for row in nets.values())
    assert nets["proposed/fp32"]["inference_form_finite"] and "attention" in nets["proposed/fp32"]["attention_maps"]
    assert set(stages["training"]["runs"]) >= {"proposed", "stgram_mfn", "tastgram_mfn", "idnn", "dcase_ae"}
    assert stages["scoring"]["max_difference_over_spread"] <= report["score_tolerance"]
    assert stages["resume"]["resumed_from_epoch"] == 1
    assert stages["store_race"]["stores"] == 1 and stages["store_race"]["builds"] == 1
    assert stages["ddp"]["runs"]["idnn"]["runtime"]["world_size"] == 2
