"""Tests of asdlib.data.dataset: clip names, scanning the DCASE layout, class indices and file counts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from asdlib.data.audio import save_wav
from asdlib.data.dataset import (
    COLUMNS,
    ClipName,
    DatasetLayoutError,
    add_class_index,
    compare_counts,
    count_files,
    parse_clip_path,
    scan_dataset,
)
from asdlib.data.dcase import expected_file_counts
from asdlib.paths import SAMPLE_DIR

MANIFEST = pd.read_csv(SAMPLE_DIR / "MANIFEST.tsv", sep="\t", dtype={"machine_id": str})


def test_parse_clip_path():
    c = parse_clip_path("/x/fan/test/anomaly_id_06_00000129.wav")
    assert c == ClipName("fan", "test", "anomaly", "06", 129)
    assert c.anomaly == 1 and c.dataset == "development"
    c = parse_clip_path("d/ToyCar/train/normal_id_05_00000999.wav")
    assert c.dataset == "additional_training" and c.anomaly == 0
    with pytest.raises(Exception):
        c.index = 3  # frozen


def test_scan_sample_agrees_with_manifest():
    df = scan_dataset(SAMPLE_DIR)
    assert len(df) == 31
    assert tuple(df.columns) == COLUMNS
    assert df["path"].is_monotonic_increasing
    assert all(Path(p).is_absolute() for p in df["path"])
    rel = [str(Path(p).relative_to(SAMPLE_DIR.resolve())) for p in df["path"]]
    m = MANIFEST.set_index("path").loc[rel]
    for col in ("machine_type", "split", "label", "machine_id"):
        assert list(df[col]) == list(m[col]), col
    assert set(df["dataset"]) == {"development"}
    assert list(df["anomaly"]) == [int(lab == "anomaly") for lab in m["label"]]
    assert df["index"].dtype.kind == "i" and df["anomaly"].dtype.kind == "i"


def test_scan_filters():
    df = scan_dataset(SAMPLE_DIR, machine_types=["slider"], splits=["train"])
    assert len(df) == 8 and set(df["machine_type"]) == {"slider"} and set(df["split"]) == {"train"}
    with pytest.raises(ValueError, match="unknown machine types"):
        scan_dataset(SAMPLE_DIR, machine_types=["drill"])
    with pytest.raises(DatasetLayoutError, match="train"):
        scan_dataset(SAMPLE_DIR, machine_types=["fan"], splits=["train"])  # the sample has none


def test_add_class_index_paper_collision():
    df = pd.DataFrame({"machine_type": ["pump", "slider", "fan"], "machine_id": ["06", "00", "06"]})
    paper = add_class_index(df)
    assert list(paper["class_index"]) == [13, 13, 6]
    assert "class_index" not in df.columns  # a copy
    distinct = add_class_index(df, "distinct")
    assert distinct["class_index"].nunique() == 3


def test_count_and_compare():
    df = scan_dataset(SAMPLE_DIR)
    counts = count_files(df)
    assert list(counts.columns) == ["machine_type", "dataset", "split", "machine_id", "label", "files"]
    assert counts["files"].sum() == 31
    row = counts[(counts.machine_type == "slider") & (counts.split == "train")]
    assert row["files"].tolist() == [8]
    expected = expected_file_counts()
    cmp = compare_counts(counts, expected[expected.dataset == "development"])
    assert list(cmp.columns) == [
        "machine_type", "dataset", "split", "machine_id", "label", "expected", "found", "ok"
    ]
    assert not cmp["ok"].any()  # a sample is not a full download
    assert cmp["found"].sum() == 31
    assert cmp["expected"].sum() == 20_119 + 10_868
    assert compare_counts(expected, expected)["ok"].all()


# --------------------------------------------------------------------------- bad layouts


def _clip(path: Path) -> Path:
    return save_wav(path, np.zeros(160))


def test_bad_file_name_names_the_file(tmp_path):
    _clip(tmp_path / "fan" / "train" / "normal_id_00_00000000.wav")
    _clip(tmp_path / "fan" / "train" / "recording_7.wav")
    with pytest.raises(ValueError, match="recording_7.wav.*does not match"):
        scan_dataset(tmp_path)


def test_unknown_machine_type_lists_known_ones(tmp_path):
    _clip(tmp_path / "drill" / "train" / "normal_id_00_00000000.wav")
    with pytest.raises(ValueError, match=r"drill.*normal_id_00_00000000.wav.*known machine types: fan, pump"):
        scan_dataset(tmp_path)


def test_unknown_split(tmp_path):
    with pytest.raises(ValueError, match="validation.*unknown split"):
        parse_clip_path(tmp_path / "fan" / "validation" / "normal_id_00_00000000.wav")


def test_unknown_machine_id(tmp_path):
    with pytest.raises(ValueError, match="normal_id_09_00000000.wav.*unknown machine ID '09'"):
        parse_clip_path(tmp_path / "fan" / "train" / "normal_id_09_00000000.wav")


def test_anomaly_in_train_folder(tmp_path):
    with pytest.raises(ValueError, match="anomaly_id_00_00000000.wav.*train"):
        parse_clip_path(tmp_path / "fan" / "train" / "anomaly_id_00_00000000.wav")


def test_missing_folder(tmp_path):
    with pytest.raises(DatasetLayoutError, match="nowhere.*does not exist"):
        scan_dataset(tmp_path / "nowhere")


def test_wrong_layout_folder(tmp_path):
    _clip(tmp_path / "dev_data" / "fan" / "train" / "normal_id_00_00000000.wav")  # one level too deep
    _clip(tmp_path / "normal_id_00_00000001.wav")  # loose
    with pytest.raises(DatasetLayoutError) as err:
        scan_dataset(tmp_path)
    msg = str(err.value)
    assert str(tmp_path.resolve()) in msg and "holds no clips" in msg
    assert "<machine_type>/<train|test>/" in msg  # says what layout is expected
    assert "dev_data" in msg  # and where WAVs were found instead


def test_empty_folder(tmp_path):
    with pytest.raises(DatasetLayoutError, match="holds no clips"):
        scan_dataset(tmp_path)


def test_unlabelled_evaluation_clips(tmp_path):
    from asdlib.data.audio import save_wav
    from asdlib.data.dataset import UNLABELLED, parse_clip_path, scan_dataset

    c = parse_clip_path("x/fan/test/id_05_00000123.wav")
    assert (c.label, c.anomaly, c.machine_id, c.index, c.dataset) == (UNLABELLED, None, "05", 123, "evaluation")
    assert parse_clip_path("x/fan/test/id_00_00000001.wav").dataset == "development"
    with pytest.raises(ValueError, match="id_05_00000123.wav.*rename or remove"):
        parse_clip_path("x/fan/train/id_05_00000123.wav")  # training clips always carry a label
    for name in ("fan/test/id_01_00000000.wav", "fan/test/normal_id_00_00000000.wav"):
        save_wav(tmp_path / name, np.zeros(160))
    table = scan_dataset(tmp_path)
    assert str(table["anomaly"].dtype) == "Int64"
    assert table["label"].tolist() == [UNLABELLED, "normal"] and table["anomaly"].isna().tolist() == [True, False]
