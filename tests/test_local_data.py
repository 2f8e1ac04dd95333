"""Data users already have (issue 7, part 4): an extracted DCASE tree is checked, then used without download."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from asdlib.study import preflight as preflight_module
from asdlib.study import runs
from asdlib.cli import main as cli_main
from asdlib.data.dcase import expected_file_counts
from asdlib.data.local_data import (DataTreeError, check_dcase_tree, count_differences,
                               describe_differences, existing_tree)
from asdlib.paths import dcase_dir, resolve_data_root

PAPER = ("development", "additional_training")


def _write_tree(root: Path, table: pd.DataFrame, seconds: float = 0.01) -> int:
    """A tree with exactly the table's counts; every WAV is the same tiny 16-kHz mono int16 file."""
    buf = root / ".tiny.wav"
    root.mkdir(parents=True, exist_ok=True)
    sf.write(buf, np.zeros(int(seconds * 16000), np.int16), 16000, subtype="PCM_16")
    data = buf.read_bytes()
    buf.unlink()
    n = 0
    for g in table.itertuples(index=False):
        folder = root / g.machine_type / g.split
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(int(g.files)):
            (folder / f"{g.label}_id_{g.machine_id}_{i:08d}.wav").write_bytes(data)
            n += 1
    return n


@pytest.fixture(scope="module")
def full_tree(tmp_path_factory):
    """47,151 tiny WAVs: the exact file counts of DCASE 2020 Task 2 (development + additional training)."""
    table = expected_file_counts()
    table = table[table["dataset"].isin(PAPER)]
    root = tmp_path_factory.mktemp("existing") / "dcase"
    n = _write_tree(root, table)
    assert n == 20_119 + 10_868 + 16_164
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a network connection fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"network touched: connect{args[1:]}")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_exact_tree_is_accepted_and_the_content_check_rejects_the_wrong_length(full_tree):
    check = check_dcase_tree(full_tree)
    assert check.ok and check.n_files == 47_151 and not check.content_checked
    assert "accepted" in check.summary()
    with pytest.raises(DataTreeError) as err:
        check_dcase_tree(full_tree, content=True)
    msg = str(err.value)
    assert "47151 file header(s) differ" in msg.replace(",", "")
    assert "ToyCar/test/anomaly_id_01_00000000.wav: 160 samples (0.01 s) instead of 176000 (11 s)" in msg
    check = err.value.check  # the whole check travels with the error (the message lists 20)
    assert not check.ok and check.content_checked and len(check.header_problems) == 47_151
    assert any(p.endswith("fan/train/normal_id_00_00000000.wav: 160 samples (0.01 s) instead of 160000 (10 s)")
               for p in check.header_problems)


def test_missing_file_is_named_by_type_id_split_and_counts(full_tree):
    victim = full_tree / "fan" / "train" / "normal_id_00_00000005.wav"
    saved = victim.read_bytes()
    victim.unlink()
    try:
        with pytest.raises(DataTreeError) as err:
            check_dcase_tree(full_tree)
    finally:
        victim.write_bytes(saved)
    msg = str(err.value)
    assert "fan id_00 train (normal, development): 910 files found, 911 expected (1 missing)" in msg
    assert "1 count group(s)" in msg


def test_extra_file_is_named_by_type_id_split_and_counts(full_tree):
    extra = full_tree / "pump" / "test" / "anomaly_id_02_00009999.wav"
    shutil.copy(full_tree / "pump" / "test" / "anomaly_id_02_00000000.wav", extra)
    try:
        with pytest.raises(DataTreeError) as err:
            check_dcase_tree(full_tree)
    finally:
        extra.unlink()
    assert "pump id_02 test (anomaly, development): 112 files found, 111 expected (1 extra)" in str(err.value)


def test_evaluation_clips_in_the_test_folders_are_named_and_left_out(full_tree):
    """The DCASE evaluation archives extract into the same <type>/test folders: accepted, counted
    apart, and never passed to the development metrics."""
    from asdlib.engine.evaluate import evaluation_clips

    extra = [full_tree / "fan" / "test" / f"id_01_{i:08d}.wav" for i in range(3)]
    for path in extra:
        shutil.copy(full_tree / "fan" / "test" / "normal_id_00_00000000.wav", path)
    try:
        check = check_dcase_tree(full_tree)
        assert check.ok and check.other_clips == {"evaluation": 3}
        assert "also holds 3 evaluation clip(s), left out" in check.summary()
        with pytest.warns(UserWarning, match="3 unlabelled evaluation-set clip"):
            clips = evaluation_clips(full_tree, machine_types=["fan"], labelled_only=True)
        assert len(clips) == 1_875 and clips["anomaly"].isin([0, 1]).all()
        assert len(evaluation_clips(full_tree, machine_types=["fan"])) == 1_878
    finally:
        for path in extra:
            path.unlink()


def test_a_file_outside_the_layout_is_refused_with_its_name(tmp_path):
    table = expected_file_counts()
    sub = table[(table.machine_type == "valve") & (table.machine_id == "00")].assign(files=1)
    _write_tree(tmp_path, sub)
    (tmp_path / "valve" / "train" / "normal_id_08_00000000.wav").write_bytes(b"RIFF")
    with pytest.raises(DataTreeError, match=r"normal_id_08_00000000\.wav: unknown machine ID '08' for valve"):
        check_dcase_tree(tmp_path)


def test_comparison_of_a_sub_table_lists_each_group_once():
    expected = expected_file_counts()
    expected = expected[(expected.machine_type == "slider") & (expected.dataset == "development")]
    found = expected.copy()
    found.loc[found.index[0], "files"] -= 3  # the first group lacks 3 files
    found = pd.concat([found, found.iloc[[0]].assign(machine_id="08", files=2)])  # an unknown group
    diff = count_differences(found, expected)
    lines = describe_differences(diff)
    first = expected.iloc[0]
    assert len(lines) == 2
    assert any(f"slider id_{first.machine_id} {first.split}" in ln and "(3 missing)" in ln for ln in lines)
    assert any("slider id_08" in ln and "2 extra, a group the table does not have" in ln for ln in lines)
    assert count_differences(expected, expected).empty


def test_data_root_is_decided_in_paths(tmp_path, monkeypatch, full_tree):
    from asdlib.engine.config import DataConfig

    monkeypatch.delenv("ASD_DCASE_DIR", raising=False)
    monkeypatch.setenv("ASD_DATA_DIR", str(tmp_path))
    assert dcase_dir() == tmp_path.resolve() / "dcase2020"      # nothing there yet: the download target
    monkeypatch.setenv("ASD_DATA_DIR", str(full_tree))
    assert dcase_dir() == full_tree.resolve()                    # ASD_DATA_DIR is itself a tree
    monkeypatch.setenv("ASD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ASD_DCASE_DIR", str(full_tree))
    assert dcase_dir() == full_tree.resolve()                    # --data-root / ASD_DCASE_DIR
    assert DataConfig(root="dcase2020").root_path() == full_tree.resolve()
    assert resolve_data_root("synthetic") == tmp_path.resolve() / "synthetic"


def test_preflight_accepts_the_tree_without_archives_or_network(full_tree, tmp_path, monkeypatch,
                                                                no_network, capsys):
    monkeypatch.setenv("ASD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ASD_DCASE_DIR", str(full_tree))
    # a rehearsal's clip length (benchmarks/rehearsal.py): the step is timed at it, as the memory
    # plan counts it; the step-time estimate itself (a real training step) is stubbed here
    monkeypatch.setenv("ASD_RUN_OVERRIDES", '{"model.clip_seconds": 1.0}')
    timed = []
    monkeypatch.setattr(preflight_module, "estimate_step_seconds",
                        lambda *a, config, **k: timed.append(config.model.clip_seconds) or 0.5)
    plan = preflight_module.preflight("paper", insist=True)
    out = capsys.readouterr().out
    assert timed == [1.0] and plan["step_seconds"] == pytest.approx(0.5 / 8 * 64)
    assert plan["data"] == {"root": str(full_tree.resolve()), "existing_tree": True, "files": 47_151,
                            "content_checked": False, "counts": "DCASE 2020 Task 2 table"}
    assert "Downloads: 0 of 12 archives still needed" in out and "no download needed" in out
    assert not (full_tree / "archives").exists() and not (tmp_path / "data" / "dcase2020").exists()
    assert existing_tree(full_tree) is not None


def test_preflight_refuses_a_tree_with_a_missing_file(full_tree, tmp_path, monkeypatch, no_network, capsys):
    monkeypatch.setenv("ASD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ASD_DCASE_DIR", str(full_tree))
    monkeypatch.setattr(preflight_module, "estimate_step_seconds", lambda *a, **k: 0.5)
    victim = full_tree / "ToyConveyor" / "test" / "normal_id_03_00000000.wav"
    saved = victim.read_bytes()
    victim.unlink()
    try:
        with pytest.raises(SystemExit) as stop:
            preflight_module.preflight("paper", insist=True)
    finally:
        victim.write_bytes(saved)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "PREFLIGHT STOP" in err and "ToyConveyor id_03 test (normal, development)" in err


def test_download_cli_accepts_an_existing_tree_offline(full_tree, no_network, capsys):
    assert cli_main(["download", "--data-root", str(full_tree)]) == 0
    assert "accepted: 47,151 files" in capsys.readouterr().out
    assert cli_main(["download", "--data-root", str(full_tree), "--check-content"]) == 2
    err = capsys.readouterr().err.replace("\r", "\n")  # the header check's progress bar uses \r
    errors = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(errors) == 1 and errors[0].startswith("python -m asdlib download: error:")
    assert "instead of 176000 (11 s)" in errors[0]


def test_overrides_for_every_run_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("ASD_RUN_OVERRIDES", '{"train.epochs": 2, "train.max_steps_per_epoch": 3}')
    config = runs.run_config("paper", "h64")
    assert (config.train.epochs, config.train.max_steps_per_epoch, config.model.embedding_dim) == (2, 3, 64)
    monkeypatch.setenv("ASD_RUN_OVERRIDES", '{"train.epochs": 2')
    with pytest.raises(ValueError, match="ASD_RUN_OVERRIDES is not valid JSON"):
        runs.run_config("paper", "proposed")
    monkeypatch.setenv("ASD_RUN_OVERRIDES", '{"train.nope": 1}')
    with pytest.raises(ValueError, match="unknown setting 'train.nope'"):
        runs.run_config("paper", "proposed")
