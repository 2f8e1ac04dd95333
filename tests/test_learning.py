"""A real training run at smoke scale: the proposed model must learn to detect synthetic anomalies.

No mocks: synthetic machine sounds are generated, decoded into a clip store, the proposed network
(features, attention, MobileFaceNet, ArcFace) is trained with mixup and Noisy-ArcMix on the CPU
within a 2-minute budget, and the test clips are scored with the anomaly score.
"""

from __future__ import annotations

import time

import pytest

from asdlib.engine.config import run_config_from_dict
from asdlib.engine.evaluate import evaluation_clips, metric_tables, score_clips
from asdlib.data.synthetic import generate_synthetic_dataset
from asdlib.engine.checkpoints import load_model
from asdlib.engine.train import read_log, train

#: Measured on 2 CPU cores: the official mean AUC of this run was about 80 % (see the note in
#: the closing report); chance is 50 %. The threshold leaves a wide margin for noise.
MIN_MEAN_AUC = 65.0
TRAIN_BUDGET_S = 120.0


@pytest.mark.slow
def test_proposed_model_learns_synthetic_anomalies(tmp_path, monkeypatch):
    monkeypatch.setenv("ASD_DATA_DIR", str(tmp_path / "data"))
    root = tmp_path / "data" / "synthetic"
    generate_synthetic_dataset(root, clip_seconds=1.0, seed=0)
    config = run_config_from_dict({
        "name": "learning-test",
        "model": {"clip_seconds": 1.0},
        "data": {"root": str(root), "label_map": "paper"},
        # the smoke profile's recipe (configs/smoke/proposed.toml): 15 epochs of 6 steps of 8 clips
        "train": {"epochs": 15, "batch_size": 8, "max_steps_per_epoch": 6, "lr": 6e-3,
                  "checkpoint_every": 15, "validate_every": 15, "seed": 0, "num_workers": 0,
                  "device": "cpu"},  # validation at the last epoch, the only one read below
    })
    t0 = time.perf_counter()
    run = train(config, tmp_path / "run", progress=False)
    seconds = time.perf_counter() - t0
    # 90 steps of 8 clips take about 12 s on 2 idle cores; twice the budget flags a real slowdown.
    assert seconds < 2 * TRAIN_BUDGET_S, f"training took {seconds:.0f} s"
    log = read_log(run)
    assert log["train_loss"].iloc[-1] < log["train_loss"].iloc[0]

    net = load_model(run / "checkpoints" / "last.pt")
    scores = score_clips(net, evaluation_clips(root, "paper"), device="cpu", progress=False)
    official = metric_tables(scores, "paper")["per_type"].set_index("machine_type")
    mean_auc = official.loc["average", "auc"]
    print(f"trained {seconds:.0f} s; official mean AUC {mean_auc:.1f} %, "
          f"val acc {log['val_acc'].iloc[-1]:.2f}")
    assert mean_auc > MIN_MEAN_AUC, official
