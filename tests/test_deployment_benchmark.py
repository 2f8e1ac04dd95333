"""The pieces of ``benchmarks/deployment.py`` that decide its verdicts (issue 21, part 4): the
machine's matrix-multiply floor and the int8 trial, on a small real export.

The benchmark itself runs for minutes on an idle machine (benchmarks/REPORT.md, section 7); these
tests check that its floor is a real rate, that the int8 file scores like the fp32 one and that the
report states each verdict from the numbers.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from asdlib.deploy.export import export_model, load_scorer
from asdlib.engine.config import RunConfig
from asdlib.nets.model import build_model
from asdlib.paths import PROJECT_ROOT

_spec = importlib.util.spec_from_file_location("deployment", PROJECT_ROOT / "benchmarks" / "deployment.py")
deployment = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(deployment)


def test_the_floor_is_a_plausible_one_thread_sgemm_rate():
    threads = torch.get_num_threads()
    try:
        rate = deployment.matmul_rate(n=512, repeats=3)
    finally:
        torch.set_num_threads(threads)
    assert 1e8 < rate < 1e12  # 0.1 to 1000 G MAC/s for one core


def test_int8_quantisation_scores_close_to_fp32(tmp_path):
    torch.manual_seed(0)
    net = build_model(RunConfig().with_overrides({"model.clip_seconds": 0.5}).model).eval()
    fp32 = export_model(net, tmp_path / "m.onnx")
    rng = np.random.default_rng(0)
    t = np.arange(8000) / 16000
    waves = np.stack([0.2 * np.sin(2 * np.pi * (200 + 40 * i) * t) + 0.05 * rng.standard_normal(8000)
                      for i in range(12)]).astype(np.float32)
    int8 = deployment.quantize_int8(fp32, waves[:8], tmp_path / "m_int8.onnx")
    a = load_scorer(fp32, threads=1).scores(waves[8:])[0]
    b = deployment.Int8Scorer(int8, 1, 8000).scores(waves[8:])[0]
    assert a.shape == b.shape == (4, 41)
    assert np.isfinite(b).all() and 0 < np.abs(a - b).max() < 0.05 * np.abs(a).max()
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.99


def _result(onnx_ms: float, int8_ms: float, int8_auc: float) -> dict:
    lat = {k: {"median_ms": ms, "min_ms": ms, "clips": 31} for k, ms in
           (("authors_eager", 60.0), ("onnx", onnx_ms), ("bf16_compiled", 20.0), ("onnx_int8", int8_ms))}
    return {"date": "d", "minutes": 1.0, "cpu": {"model": "cpu", "usable_cores": 2, "flags": [], "torch": "t",
                                                   "onnxruntime": "o"},
            "loadavg_before": "0", "loadavg_after": "0", "latency": lat,
            "throughput": {k: {"clips_per_s": 1.0, "batch": 16, "threads": 2} for k in lat},
            "deviation": {k: 0.0 for k in lat}, "paths": {k: k for k in lat},
            "first_call_seconds": {"inference_compiled": 1.0, "bf16_compiled": 1.0},
            "floor": {"macs_per_clip": 780e6, "rate_before_gmacs": 78.0, "rate_after_gmacs": 70.0,
                      "floor_ms": 10.0},
            "smoke_auc": {"clips": 288, "checkpoint": "c", "int8_calibration_clips": 64,
                          "onnx": {"global_auc": 80.0, "official_mean_auc": 80.0, "max_score_deviation": 0.0},
                          "onnx_int8": {"global_auc": int8_auc, "official_mean_auc": 80.0,
                                        "max_score_deviation": 0.1}},
            "train_step": {"batch": 16, "threads": 2, "steps": 3, **{
                k: {"median_s": 1.0, "speedup_vs_authors": 1.0, "loss_difference": 0.0, "first_step_s": 1.0}
                for k in ("authors_eager", "ours_eager", "ours_compiled")}}}


@pytest.mark.parametrize("onnx_ms, int8_ms, int8_auc, floor_verdict, int8_verdict", [
    (40.0, 39.0, 79.5, "4.00x the floor: the target of <= 1.5x is **not reached**", "does not meet"),
    (14.0, 9.0, 80.1, "1.40x the floor: the target of <= 1.5x is **reached**", "meets both conditions"),
    (14.0, 9.0, 79.5, "**reached**", "does not meet"),  # fast enough, but 0.5 AUC points off
])
def test_the_report_states_each_verdict_from_the_numbers(onnx_ms, int8_ms, int8_auc, floor_verdict,
                                                         int8_verdict):
    text = deployment.markdown(_result(onnx_ms, int8_ms, int8_auc))
    assert floor_verdict in text and int8_verdict in text
    assert "| onnx | " in text and f"{onnx_ms / 10.0:.2f}x |" in text


def test_a_regenerated_benchmark_report_keeps_its_hand_written_sections(tmp_path):
    """benchmarks/benchmark.py rewrites REPORT.md; the sections written by hand (mutation testing,
    where the smoke run and the suite spend their time) come back word for word."""
    spec = importlib.util.spec_from_file_location("benchmark_report", PROJECT_ROOT / "benchmarks" / "benchmark.py")
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    report = tmp_path / "REPORT.md"
    assert benchmark.hand_written_sections(report) == []
    speed = "<!-- speed:start -->\n## 10. Speed\n| a | b |\n<!-- speed:end -->"
    mutation = "<!-- mutation:start -->\n## 9. Mutants\n94 %\n<!-- mutation:end -->"
    report.write_text(f"# Report\n\n## 1. Data\n{speed}\nbetween\n{mutation}\nRaw numbers.\n")
    assert benchmark.hand_written_sections(report) == [mutation, speed]
    assert all(s in (PROJECT_ROOT / "benchmarks" / "REPORT.md").read_text()
               for s in ("<!-- speed:start -->", "<!-- speed:end -->", "<!-- mutation:end -->"))
