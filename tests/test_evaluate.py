"""Tests of asdlib.engine.evaluate: scoring, DCASE score files, metric tables, the three selection protocols,
and scoring with our checkpoint or the authors' (Lightning) checkpoint."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score

from asdlib.nets.authors_network import to_authors_state_dict
from asdlib.engine.evaluate import (PROTOCOLS, evaluate_run, load_any_checkpoint, score_checkpoint,
                             score_clips, evaluation_clips, write_dcase_scores)
from asdlib.data.audio import load_clip
from asdlib.nets.model import build_model
from asdlib.engine.checkpoints import load_model

import engine_helpers as H

N_TEST = H.N_TEST_NORMAL + H.N_TEST_ANOMALY  # test clips per machine ID


@pytest.fixture(autouse=True)
def _one_thread_tmp_data(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("ASD_DATA_DIR", str(H.session_base(tmp_path_factory) / "data"))
    with H.one_thread():
        yield


def _score_files(folder) -> pd.DataFrame:
    """The DCASE score files of one protocol folder as one table; the label read from each file name."""
    rows = []
    for path in sorted((folder / "scores").glob("anomaly_score_*_id_*.csv")):
        mt = path.stem[len("anomaly_score_"):].rsplit("_id_", 1)[0]
        for name, score in _read_score_file(path).items():
            rows.append({"machine_type": mt, "file_name": name, "score": score,
                         "anomaly": int(name.startswith("anomaly_"))})
    table = pd.DataFrame(rows)
    assert set(table["file_name"].str.split("_").str[0]) == {"normal", "anomaly"}
    return table


def _read_score_file(path):
    lines = path.read_text().splitlines()
    rows = [ln.split(",") for ln in lines]
    assert all(len(r) == 2 for r in rows), f"{path}: expected file_name,score lines"
    return {name: float(score) for name, score in rows}


def test_selection_has_three_protocols(evaluation):
    summary, out = evaluation
    assert summary["protocol"].tolist() == list(PROTOCOLS) == ["paper", "validation", "last"]
    on_disk = pd.read_csv(out / "selection.csv")
    assert on_disk["protocol"].tolist() == list(PROTOCOLS)
    assert on_disk["epoch"].tolist() == summary["epoch"].tolist()
    for col in ("selected_on", "global_auc", "global_pauc", "official_auc", "official_pauc",
                "pooled_auc", "pooled_pauc"):
        assert col in on_disk.columns, col
    assert "global test AUC" in on_disk.set_index("protocol").loc["paper", "selected_on"]


def test_paper_picks_best_test_auc_and_last_picks_last_epoch(evaluation):
    summary, out = evaluation
    per_ckpt = pd.read_csv(out / "checkpoints.csv")
    assert per_ckpt["epoch"].tolist() == [1, 2, 3]
    assert per_ckpt["checkpoint"].tolist() == ["epoch_0001.pt", "epoch_0002.pt", "epoch_0003.pt"]
    chosen = summary.set_index("protocol")["epoch"]
    best = per_ckpt["global_auc"].max()
    assert per_ckpt.set_index("epoch").loc[chosen["paper"], "global_auc"] == best
    # the global AUC is the pooled table's one ROC over every clip
    for protocol, row in summary.set_index("protocol").iterrows():
        pooled = pd.read_csv(out / protocol / "metrics_pooled.csv").set_index("machine_type")
        assert row["global_auc"] == pytest.approx(pooled.loc["all_clips", "auc"])
    assert chosen["last"] == 3
    assert chosen["validation"] == per_ckpt.loc[per_ckpt["val_loss"].idxmin(), "epoch"]
    # what each protocol reports is the scoring of the checkpoint it chose
    for protocol, row in summary.set_index("protocol").iterrows():
        ckpt_row = per_ckpt.set_index("epoch").loc[row["epoch"]]
        assert row["pooled_auc"] == pytest.approx(ckpt_row["pooled_auc"])
        assert row["global_auc"] == pytest.approx(ckpt_row["global_auc"])
        assert row["official_auc"] == pytest.approx(ckpt_row["official_auc"])


def test_dcase_score_files_one_line_per_clip_no_header(evaluation, tiny_data):
    _, out = evaluation
    tests = evaluation_clips(tiny_data)
    for protocol in PROTOCOLS:
        files = sorted(p.name for p in (out / protocol / "scores").iterdir())
        assert files == ["anomaly_score_fan_id_00.csv", "anomaly_score_pump_id_00.csv"]
        for mt in ("fan", "pump"):
            scores = _read_score_file(out / protocol / "scores" / f"anomaly_score_{mt}_id_00.csv")
            want = set(tests.loc[tests["machine_type"] == mt, "file_name"])
            assert set(scores) == want and len(scores) == N_TEST
            assert all(np.isfinite(v) for v in scores.values())
            assert "file_name" not in scores  # no header line


def test_metric_csvs(evaluation):
    _, out = evaluation
    for protocol in PROTOCOLS:
        folder = out / protocol
        per_id = pd.read_csv(folder / "metrics_per_id.csv", dtype={"machine_id": str})
        assert sorted(zip(per_id["machine_type"], per_id["machine_id"])) == [("fan", "00"),
                                                                            ("pump", "00")]
        per_type = pd.read_csv(folder / "metrics_per_type.csv")
        assert "average" in set(per_type["machine_type"])
        pooled = pd.read_csv(folder / "metrics_pooled.csv")
        assert {"average", "all_clips"} <= set(pooled["machine_type"])
        clips = pd.read_csv(folder / "clip_scores.csv")
        assert len(clips) == 2 * N_TEST and np.isfinite(clips["score"]).all()
        # every AUC recomputed from the written DCASE score files with scikit-learn directly
        files = _score_files(folder)
        want = {mt: 100 * roc_auc_score(g["anomaly"], g["score"]) for mt, g in files.groupby("machine_type")}
        got = dict(zip(per_id["machine_type"], per_id["auc"]))
        assert got == pytest.approx(want, abs=1e-9)
        avg = per_type.set_index("machine_type").loc["average", "auc"]
        assert avg == pytest.approx(np.mean(list(want.values())), abs=1e-9)
        pooled = pooled.set_index("machine_type")
        assert pooled.loc["all_clips", "auc"] == pytest.approx(
            100 * roc_auc_score(files["anomaly"], files["score"]), abs=1e-9)
        assert pooled.loc["all_clips", "pauc"] == pytest.approx(
            100 * roc_auc_score(files["anomaly"], files["score"], max_fpr=0.1), abs=1e-9)


def test_scores_from_store_equal_scores_from_wavs(evaluation, reference_run, tiny_data):
    """The DCASE files of the ``last`` protocol are reproduced by decoding the WAVs directly."""
    _, out = evaluation
    net = load_model(reference_run / "checkpoints" / "epoch_0003.pt")
    fresh = score_clips(net, evaluation_clips(tiny_data), batch_size=5, device="cpu",
                        progress=False)
    for mt, group in fresh.groupby("machine_type"):
        written = _read_score_file(out / "last" / "scores" / f"anomaly_score_{mt}_id_00.csv")
        for name, score in zip(group["file_name"], group["score"]):
            assert written[name] == pytest.approx(score, rel=1e-5, abs=1e-5)


def test_score_clips_needs_matching_store(reference_run, tiny_data, tmp_path):
    from asdlib.data.store import build_store

    net = load_model(reference_run / "checkpoints" / "last.pt")
    clips = evaluation_clips(tiny_data)
    store = build_store(clips.iloc[:3], net.config.num_samples, root=tmp_path, progress=False)
    with pytest.raises(ValueError, match="differ in length"):
        score_clips(net, clips, store=store, progress=False)


def test_write_dcase_scores_format(tmp_path):
    scores = pd.DataFrame({
        "machine_type": ["valve", "valve", "fan"], "machine_id": ["02", "02", "04"],
        "file_name": ["normal_id_02_00000000.wav", "anomaly_id_02_00000001.wav",
                      "normal_id_04_00000007.wav"],
        "score": [0.5, 12.25, -1.0],
    })
    written = write_dcase_scores(scores, tmp_path)
    assert sorted(p.name for p in written) == ["anomaly_score_fan_id_04.csv",
                                               "anomaly_score_valve_id_02.csv"]
    assert (tmp_path / "anomaly_score_valve_id_02.csv").read_text() == (
        "normal_id_02_00000000.wav,0.5\nanomaly_id_02_00000001.wav,12.25\n")
    assert (tmp_path / "anomaly_score_fan_id_04.csv").read_text() == "normal_id_04_00000007.wav,-1.0\n"
    assert not list(tmp_path.glob("*.tmp"))


def test_score_checkpoint_ours_with_and_without_store(reference_run, tiny_data, tmp_path):
    ckpt = reference_run / "checkpoints" / "epoch_0002.pt"
    a = score_checkpoint(ckpt, tiny_data, tmp_path / "a", device="cpu", progress=False)
    b = score_checkpoint(ckpt, tiny_data, tmp_path / "b", device="cpu", use_store=False,
                         progress=False)
    for key in ("per_id", "per_type", "pooled"):
        pd.testing.assert_frame_equal(a[key], b[key], rtol=1e-5)
    for name in ("anomaly_score_fan_id_00.csv", "anomaly_score_pump_id_00.csv"):
        sa = _read_score_file(tmp_path / "a" / "scores" / name)
        sb = _read_score_file(tmp_path / "b" / "scores" / name)
        assert sa.keys() == sb.keys() and len(sa) == N_TEST
        assert all(sa[k] == pytest.approx(sb[k], rel=1e-5, abs=1e-5) for k in sa)
    assert (tmp_path / "a" / "metrics_per_id.csv").is_file()


@pytest.mark.slow
def test_score_checkpoint_authors_lightning_file(tiny_data, tmp_path):
    """The authors' checkpoint format is scored too (10-s model: the 0.5-s clips are zero-padded)."""
    torch.manual_seed(0)
    net = build_model()
    path = tmp_path / "authors.ckpt"
    torch.save({"epoch": 1, "global_step": 10, "state_dict": to_authors_state_dict(net)}, path)
    loaded = load_any_checkpoint(path)
    assert loaded.label_map == "paper"
    tables = score_checkpoint(path, tiny_data, tmp_path / "out", device="cpu", progress=False)
    assert set(tables) >= {"per_id", "per_type", "pooled"}
    net.eval()
    want = score_clips(net, evaluation_clips(tiny_data), device="cpu", progress=False)
    for mt, group in want.groupby("machine_type"):  # file names repeat across machine types
        got = _read_score_file(tmp_path / "out" / "scores" / f"anomaly_score_{mt}_id_00.csv")
        assert set(got) == set(group["file_name"])
        for name, score in zip(group["file_name"], group["score"]):
            assert got[name] == pytest.approx(score, rel=1e-4, abs=1e-4)


def test_evaluate_run_without_checkpoints(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoints"):
        evaluate_run(tmp_path, progress=False)


def test_score_checkpoints_reads_each_batch_once_and_equals_the_training_form(reference_run, tiny_data,
                                                                              monkeypatch):
    """The engine's fast path: three checkpoints scored in one pass (the log-Mel, which has no
    weights, computed once per batch for all three) give each checkpoint's training-form scores
    (``ASDNet`` forward + ``loss.anomaly_score``, as the engine scored before) within 1e-4."""
    import asdlib.engine.evaluate as evaluate
    from asdlib.engine.evaluate import score_checkpoints
    from asdlib.nets.features import LogMel
    from asdlib.nets.inference import ENGINE_SCORE_TOLERANCE
    from asdlib.nets.loss import anomaly_score

    clips = evaluation_clips(tiny_data)
    nets = [load_model(p) for p in sorted((reference_run / "checkpoints").glob("epoch_*.pt"))]
    assert len(nets) == 3
    with torch.no_grad():
        wave = torch.from_numpy(np.stack([load_clip(p, nets[0].config.num_samples) for p in clips["path"]]))
        target = torch.as_tensor(clips["class_index"].to_numpy())
        want = [anomaly_score(n.arcface, n(wave), target).numpy() for n in nets]
        predicted = [n.arcface.cosine(n(wave)).argmax(1).numpy() for n in nets]
    calls = []
    forward = LogMel.forward
    monkeypatch.setattr(LogMel, "forward", lambda self, x: calls.append(len(x)) or forward(self, x))
    slices = []
    net_forward = evaluate.InferenceNet.forward
    monkeypatch.setattr(evaluate.InferenceNet, "forward",
                        lambda self, x, logmel=None: slices.append(len(x)) or net_forward(self, x, logmel))
    # slices of 8 clips of 0.5 s: 4 s of audio, per thread 4 s / threads
    monkeypatch.setattr(evaluate, "CPU_SLICE_SECONDS_PER_THREAD", 4.0 / torch.get_num_threads())
    got = score_checkpoints(nets, clips, batch_size=10, device="cpu", progress=False)
    # 12 clips in two batches, each log-Mel computed once for all checkpoints, the batch of 10
    # scored in CPU slices of 8 and 2 by each checkpoint
    assert calls == [10, 2]
    assert slices == [8, 2] * 3 + [2] * 3
    assert len(got) == 3
    for table, w, pred in zip(got, want, predicted):
        assert list(table["file_name"]) == list(clips["file_name"])
        assert np.abs(table["score"].to_numpy() - w).max() <= ENGINE_SCORE_TOLERANCE
        assert (table["predicted"].to_numpy() == pred).all()
    # the checkpoints differ, so sharing the log-Mel did not share their scores
    assert np.abs(got[0]["score"].to_numpy() - got[2]["score"].to_numpy()).max() > 1e-3


def test_protocols_disagree_and_each_reports_its_own_checkpoint(reference_run, tiny_data, tmp_path):
    """Checkpoints whose choices disagree: the logged validation losses are rewritten so that the
    lowest one is at epoch 2, which is neither the best-global-AUC checkpoint (epoch 1 of the shared
    run) nor the last. Each protocol must then pick its own epoch, and its folder must hold that
    checkpoint's scores (recomputed here from the training form) and AUCs (recomputed with
    scikit-learn from the written score files)."""
    from asdlib.engine.checkpoints import read_checkpoint
    from asdlib.nets.inference import ENGINE_SCORE_TOLERANCE
    from asdlib.nets.loss import anomaly_score

    clips = evaluation_clips(tiny_data)
    paths = sorted((reference_run / "checkpoints").glob("epoch_*.pt"))
    fresh, global_auc = {}, {}
    with torch.no_grad():
        for path in paths:
            net = load_model(path)
            wave = torch.from_numpy(np.stack([load_clip(p, net.config.num_samples) for p in clips["path"]]))
            score = anomaly_score(net.arcface, net(wave), torch.as_tensor(clips["class_index"].to_numpy()))
            fresh[net.checkpoint_epoch] = dict(zip(zip(clips["machine_type"], clips["file_name"]), score.numpy()))
            global_auc[net.checkpoint_epoch] = 100 * roc_auc_score(clips["anomaly"], score.numpy())
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    for path in paths:
        ckpt = read_checkpoint(path)
        ckpt["log"] = {**ckpt.get("log", {}), "val_loss": 1.0 if ckpt["epoch"] == 2 else 5.0 + ckpt["epoch"]}
        torch.save(ckpt, run / "checkpoints" / path.name)
    summary = evaluate_run(run, tiny_data, out_dir=tmp_path / "ev", batch_size=4, device="cpu",
                           progress=False).set_index("protocol")
    per_ckpt = pd.read_csv(tmp_path / "ev" / "checkpoints.csv").set_index("epoch")
    # the untrained shared run scores many clips almost alike: a score difference within the
    # 1e-4 tolerance can reorder a near-tie, i.e. move the AUC by at most one pair in 36
    one_pair = 100 / (N_TEST_PAIRS := (2 * H.N_TEST_NORMAL) * (2 * H.N_TEST_ANOMALY))
    assert N_TEST_PAIRS == 36
    for epoch, auc in global_auc.items():
        assert abs(per_ckpt.loc[epoch, "global_auc"] - auc) <= one_pair + 1e-9, epoch
    paper = int(per_ckpt["global_auc"].idxmax())
    assert summary["epoch"].to_dict() == {"paper": paper, "validation": 2, "last": 3}
    assert paper == 1, "the three protocols no longer pick three different checkpoints"
    for protocol, epoch in summary["epoch"].items():
        files = _score_files(tmp_path / "ev" / protocol)
        assert len(files) == len(clips)
        assert max(abs(s - fresh[epoch][(mt, f)]) for mt, f, s in
                   zip(files["machine_type"], files["file_name"], files["score"])) <= ENGINE_SCORE_TOLERANCE
        recomputed = 100 * roc_auc_score(files["anomaly"], files["score"])
        assert summary.loc[protocol, "global_auc"] == pytest.approx(recomputed, abs=1e-9)
        assert per_ckpt.loc[epoch, "global_auc"] == pytest.approx(recomputed, abs=1e-9)


def test_the_cpu_slice_grows_with_the_threads():
    """Each torch thread scores its share of a slice: 8 s of audio per thread (one 10-s clip or
    8 one-second clips with one thread, 16 with two)."""
    import asdlib.engine.evaluate as evaluate

    before = torch.get_num_threads()
    try:
        for threads, seconds in ((1, 8.0), (2, 16.0), (4, 32.0)):
            torch.set_num_threads(threads)
            assert evaluate.cpu_slice_seconds() == seconds
    finally:
        torch.set_num_threads(before)
