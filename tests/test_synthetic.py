"""Tests of asdlib.data.synthetic: layout, counts, determinism, idempotence, and that the task is not trivial."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from asdlib.data.audio import load_wav, save_wav
from asdlib.data.dataset import add_class_index
from asdlib.data.synthetic import (
    SMOKE_IDS,
    SyntheticDatasetError,
    energy_baseline_auc,
    generate_synthetic_dataset,
    synthesize_clip,
)

SMALL = dict(n_train=2, n_test_normal=1, n_test_anomaly=2)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """The default synthetic dataset (1-s clips), generated once for this module."""
    root = tmp_path_factory.mktemp("synthetic")
    return root, generate_synthetic_dataset(root)


def _bytes(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.wav"))}


def test_default_counts_and_ids(smoke):
    root, df = smoke
    assert len(df) == 12 * (40 + 12 + 12)
    for mt, ids in SMOKE_IDS.items():
        sub = df[df.machine_type == mt]
        assert sorted(sub.machine_id.unique()) == sorted(ids)
        for mid in ids:
            s = sub[sub.machine_id == mid]
            assert (s.split == "train").sum() == 40
            assert ((s.split == "test") & (s.anomaly == 0)).sum() == 12
            assert ((s.split == "test") & (s.anomaly == 1)).sum() == 12
    assert set(df.dataset) == {"development"}
    assert (root / "synthetic.json").exists()
    assert not (root / ".synthetic.partial.json").exists()
    wave = load_wav(df.path[0])
    assert wave.shape == (16000,) and 0 < np.abs(wave).max() < 1


def test_paper_label_map_collides_as_in_the_paper(smoke):
    _, df = smoke
    cls = add_class_index(df, "paper").groupby(["machine_type", "machine_id"])["class_index"].first()
    assert cls["pump", "06"] == cls["slider", "00"] == 13
    assert cls.nunique() == 11


def test_deterministic_byte_identical(tmp_path):
    a = generate_synthetic_dataset(tmp_path / "a", **SMALL)
    b = generate_synthetic_dataset(tmp_path / "b", **SMALL)
    assert len(a) == len(b) == 12 * 5
    ba, bb = _bytes(tmp_path / "a"), _bytes(tmp_path / "b")
    assert ba == bb
    c = generate_synthetic_dataset(tmp_path / "c", seed=1, **SMALL)
    bc = _bytes(tmp_path / "c")
    assert bc.keys() == ba.keys() and all(bc[k] != ba[k] for k in ba)
    np.testing.assert_array_equal(synthesize_clip("fan", "00", "test", "anomaly", 3),
                                  synthesize_clip("fan", "00", "test", "anomaly", 3))


def test_idempotent_and_parameter_mismatch(tmp_path):
    root = tmp_path / "syn"
    generate_synthetic_dataset(root, **SMALL)
    stamps = {p: p.stat().st_mtime_ns for p in root.rglob("*.wav")}
    df = generate_synthetic_dataset(root, **SMALL)  # same parameters: skipped
    assert len(df) == 60
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*.wav")} == stamps
    with pytest.raises(SyntheticDatasetError, match=r"syn.*other parameters.*n_train: 2 -> 3"):
        generate_synthetic_dataset(root, n_train=3, n_test_normal=1, n_test_anomaly=2)
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*.wav")} == stamps  # nothing lost
    df = generate_synthetic_dataset(root, n_train=1, n_test_normal=1, n_test_anomaly=1, overwrite=True)
    assert len(df) == 12 * 3 and len(list(root.rglob("*.wav"))) == 36  # no leftovers
    assert json.loads((root / "synthetic.json").read_text())["n_train"] == 1


def test_missing_clip_is_regenerated(tmp_path):
    root = tmp_path / "syn"
    df = generate_synthetic_dataset(root, **SMALL)
    first = df.path[0]
    content = open(first, "rb").read()
    os.unlink(first)
    df2 = generate_synthetic_dataset(root, **SMALL)
    assert len(df2) == 60 and open(first, "rb").read() == content


def test_interrupted_generation_is_resumed(tmp_path):
    root = tmp_path / "syn"
    generate_synthetic_dataset(root, **SMALL)
    ref = _bytes(root)
    meta = root / "synthetic.json"
    meta.rename(root / ".synthetic.partial.json")  # as if stopped before the end
    next(iter(root.rglob("*.wav"))).unlink()
    generate_synthetic_dataset(root, **SMALL)
    assert _bytes(root) == ref and meta.exists()


def test_refuses_folder_with_foreign_wavs(tmp_path):
    save_wav(tmp_path / "fan" / "train" / "normal_id_00_00000000.wav", np.zeros(100))
    with pytest.raises(SyntheticDatasetError, match=f"{tmp_path.name}.*did not write"):
        generate_synthetic_dataset(tmp_path, **SMALL)


def test_additional_ids_get_train_clips_only(tmp_path):
    df = generate_synthetic_dataset(
        tmp_path, machine_ids={"fan": ["00", "01"]}, n_train=2, n_test_normal=1, n_test_anomaly=1
    )
    assert set(df.machine_type) == {"fan"}
    add = df[df.machine_id == "01"]
    assert set(add.split) == {"train"} and set(add.dataset) == {"additional_training"}
    with pytest.raises(ValueError, match="machine_ids.*fan"):
        generate_synthetic_dataset(tmp_path / "x", machine_ids={"fan": ["09"]})


def test_energy_alone_does_not_detect_anomalies(smoke):
    _, df = smoke
    auc = energy_baseline_auc(df)
    assert list(auc.machine_type) == ["fan", "pump", "slider", "ToyCar", "ToyConveyor", "valve"]
    assert (auc.n_normal == 24).all() and (auc.n_anomaly == 24).all()
    # measured (seed 0): fan 0.61, pump 0.58, slider 0.55, ToyCar 0.30, ToyConveyor 0.52,
    # valve 0.42; mean 0.50
    assert auc.auc.mean() < 0.7
    assert auc.auc.max() < 0.8


def _mean_log_spectrum(path):
    x = load_wav(path).astype(np.float64)
    frames = np.lib.stride_tricks.sliding_window_view(x, 1024)[::512] * np.hanning(1024)
    s = np.log(np.mean(np.abs(np.fft.rfft(frames, axis=1)) ** 2, axis=0) + 1e-10)
    return s - s.mean()  # loudness removed


def test_ids_separable_and_anomalies_change_the_spectrum(smoke):
    _, df = smoke
    feats = np.stack([_mean_log_spectrum(p) for p in df.path])
    machine = (df.machine_type + "/" + df.machine_id).to_numpy()
    train = (df.split == "train").to_numpy()
    classes = sorted(set(machine))
    centroids = np.stack([feats[train & (machine == c)].mean(0) for c in classes])
    dist = ((feats[:, None, :] - centroids[None]) ** 2).sum(-1)
    pred = np.array(classes)[dist.argmin(1)]
    normal_test = ((df.split == "test") & (df.anomaly == 0)).to_numpy()
    # measured: 1.00 on normal test clips
    assert (pred[normal_test] == machine[normal_test]).mean() >= 0.95
    # distance to its own machine's centroid as a crude anomaly score: anomalies are there
    test = (df.split == "test").to_numpy()
    own = dist[np.arange(len(df)), [classes.index(c) for c in machine]]
    aucs = [roc_auc_score(df.anomaly[test & (df.machine_type == mt).to_numpy()],
                          own[test & (df.machine_type == mt).to_numpy()]) for mt in SMOKE_IDS]
    # measured: 0.76 - 0.96, mean 0.87
    assert np.mean(aucs) > 0.75 and min(aucs) > 0.65
