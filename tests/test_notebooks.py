"""The notebooks: built from their sources, without outputs, each with one parameters cell."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
#: 07 is reserved for the peers' comparison (issue 8), not written yet.
EXPECTED = ["01_data", "02_features", "03_training", "04_evaluation", "05_ablation", "06_attention", "07_peers",
            "08_deployment"]


def test_all_notebooks_exist():
    assert [p.stem for p in NOTEBOOKS] == EXPECTED


def test_notebooks_match_their_sources():
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_notebooks.py"), "--check"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_clean_and_parameterised(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), \
        f"{path.name} holds outputs"
    tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: expected exactly one cell tagged 'parameters'"
    assert "profile" in "".join(tagged[0]["source"])
    first_md = "".join(nb["cells"][0]["source"])
    assert first_md.startswith("#"), f"{path.name} should open with a title"
    text = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    assert "learn" in text.lower(), f"{path.name} should say what the reader will learn"
    src = "".join("".join(c["source"]) for c in code)
    assert "sys.path" not in src, f"{path.name} must import asdlib, not edit sys.path"
    assert "from asdlib" in src


def _notebook(path: Path, cells: list[tuple[str, str, list[str]]]) -> Path:
    """A small notebook: (cell type, source, tags) per cell."""
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}}, "cells": [
        {"cell_type": kind, "metadata": {"tags": tags}, "source": src,
         **({"outputs": [], "execution_count": None} if kind == "code" else {})}
        for kind, src, tags in cells]}
    path.write_text(json.dumps(nb))
    return path


def test_run_notebooks_executes_each_in_a_kernel_with_its_parameters_and_writes_html(tmp_path):
    """scripts/run_notebooks.py (what run_all.sh calls): executed copies, HTML pages and run times;
    a failing notebook stops the run with its copy and page written (exit 1, a FAILED line)."""
    params = ("code", "profile = 'x'\ninsist = False", ["parameters"])
    good = _notebook(tmp_path / "01_good.ipynb", [
        ("markdown", "# Good", []), params,
        ("code", "import sys\nprint(f'profile={profile} insist={insist!r}')\nsecret = 42\n"
                 "print('warm', 'tabnanny' in sys.modules, [n for n in dir() if 'asd' in n])", []),
        ("code", "import tabnanny", [])])
    bad = _notebook(tmp_path / "02_bad.ipynb", [params, ("code", "print('fresh', 'secret' not in dir())\n"
                                                         "raise ValueError('broken on purpose')", [])])
    never = _notebook(tmp_path / "03_never.ipynb", [params])
    out, times = tmp_path / "out", tmp_path / "times.csv"
    times.write_text("item,seconds\n")
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "run_notebooks.py"), "--out", str(out),
                          "--times", str(times), "--profile", "smoke", "-p", "insist", "True",
                          str(good), str(bad), str(never)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 1
    assert f"FAILED: notebook 02_bad.ipynb (profile smoke). Executed copy with the traceback: " \
           f"{out / 'notebooks' / '02_bad.ipynb'}" in res.stderr
    executed = json.loads((out / "notebooks" / "01_good.ipynb").read_text())
    printed = "".join("".join(o.get("text", "")) for c in executed["cells"] for o in c.get("outputs", []))
    assert "profile=smoke insist=True" in printed  # typed as papermill's -p types it
    # its kernel started early and loaded the modules it imports, with nothing left in its namespace
    assert "warm True []" in printed
    failed = (out / "notebooks" / "02_bad.ipynb").read_text()
    assert "broken on purpose" in failed
    assert "fresh True" in failed  # a fresh kernel: nothing of the notebook before it
    assert sorted(p.name for p in (out / "html").iterdir()) == ["01_good.html", "02_bad.html"]
    assert "<html" in (out / "html" / "01_good.html").read_text()
    assert not (out / "notebooks" / "03_never.ipynb").exists()
    rows = times.read_text().splitlines()
    assert rows[0] == "item,seconds" and len(rows) == 2 and rows[1].startswith("01_good,")
    script = (ROOT / "run_all.sh").read_text()
    assert "scripts/run_notebooks.py" in script and '"${SELECTED[@]}"' in script

