"""Measured run times come from one file: docs/run_times.csv, filled into the README, the docs and the notebooks."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from asdlib.study import run_times as rt

ROOT = Path(__file__).resolve().parent.parent


def _script():
    spec = importlib.util.spec_from_file_location("record_run_times", ROOT / "scripts" / "record_run_times.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_about_rounds_as_a_reader_wants():
    assert rt.about(3) == "about 5 s"
    assert rt.about(23) == "about 25 s"
    assert rt.about(89) == "about 90 s"
    assert rt.about(200) == "about 3.5 minutes"
    assert rt.about(614) == "about 10 minutes"
    assert rt.about(3600) == "about 60 minutes"


def test_the_file_round_trips_and_bad_rows_name_the_file(tmp_path):
    times = {"01_data": rt.RunTime(14, None, "2026-12-06"), "total": rt.RunTime(500, None, "2026-12-06"),
             "tests": rt.RunTime(400, 520, "2026-12-06")}
    path = rt.write_run_times(times, tmp_path / "t.csv")
    assert rt.read_run_times(path) == times
    path.write_text("item,seconds,count,measured_on\n01_data,fast,,2026-12-06\n")
    with pytest.raises(ValueError, match=r"t\.csv.*01_data.*fast"):
        rt.read_run_times(path)
    with pytest.raises(FileNotFoundError, match="record_run_times"):
        rt.read_run_times(tmp_path / "missing.csv")


def test_markers_and_placeholders_are_filled_from_the_file():
    times = {"04_evaluation": rt.RunTime(26, None, "2026-12-06"), "total": rt.RunTime(512, None, "2026-12-06"),
             "tests": rt.RunTime(401, 527, "2026-12-06")}
    text = ("took <!-- run-time:total -->about 1 minute<!-- /run-time --> and "
            "<!-- run-time:tests count -->3<!-- /run-time --> tests")
    assert rt.fill_markers(text, times) == ("took <!-- run-time:total -->about 8.5 minutes<!-- /run-time --> "
                                            "and <!-- run-time:tests count -->527<!-- /run-time --> tests")
    assert rt.fill_placeholders("# smoke {{run-time:04_evaluation}} ({{run-time:measured on}})", times) == \
        "# smoke about 25 s (2026-12-06)"
    with pytest.raises(KeyError, match="05_ablation"):
        rt.fill_placeholders("{{run-time:05_ablation}}", times)


def test_every_text_says_what_the_file_says():
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "record_run_times.py"), "--check"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    times = rt.read_run_times()
    readme = (ROOT / "README.md").read_text()
    assert f"<!-- run-time:total -->{rt.about(times['total'].seconds)}<!-- /run-time -->" in readme
    for src in sorted((ROOT / "notebooks" / "src").glob("[0-9][0-9]_*.py")):
        assert f"{{{{run-time:{src.stem}}}}}" in src.read_text(), f"{src.name}: its run time is typed by hand"
        built = (ROOT / "notebooks" / f"{src.stem}.ipynb").read_text()
        assert rt.about(times[src.stem].seconds) in built and "{{run-time" not in built, src.stem


def test_a_time_edited_in_one_text_only_is_caught():
    times = rt.read_run_times()
    readme = (ROOT / "README.md").read_text()
    edited = readme.replace(f"<!-- run-time:total -->{rt.about(times['total'].seconds)}",
                            "<!-- run-time:total -->about 1 minute", 1)
    assert edited != readme and rt.fill_markers(edited, times) == readme


def test_recording_needs_a_whole_smoke_run_and_reads_the_pytest_line(tmp_path):
    script = _script()
    partial = tmp_path / "run_times.csv"
    partial.write_text("item,seconds\n01_data,14\n")
    with pytest.raises(SystemExit, match="02_features"):
        script.measured(partial, None, {})
    whole = tmp_path / "whole.csv"
    whole.write_text("item,seconds\n" + "".join(f"{nb},{10 + i}\n" for i, nb in enumerate(script.NOTEBOOKS))
                     + "total,300\n")
    log = tmp_path / "pytest.log"
    log.write_text("....\n527 passed, 3 warnings in 401.52s (0:06:41)\n")
    times = script.measured(whole, log, {})
    assert times["tests"].count == 527 and times["tests"].seconds == pytest.approx(401.52)
    assert times["total"].seconds == 300 and times[script.NOTEBOOKS[0]].seconds == 10
    log.write_text("nothing here\n")
    with pytest.raises(SystemExit, match="pytest"):
        script.measured(whole, log, {})
