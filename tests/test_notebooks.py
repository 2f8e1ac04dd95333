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


def test_run_all_writes_an_html_page_per_executed_notebook(tmp_path):
    """run_all.sh converts every executed notebook (also a failed one) to results/<profile>/html/."""
    script = (ROOT / "run_all.sh").read_text()
    assert 'mkdir -p "$OUT/notebooks" "$OUT/html"' in script
    assert script.count('to_html "$OUT/notebooks/$base"') == 2          # after success and failure
    assert '-m nbconvert --to html' in script and '--output-dir "$OUT/html"' in script
    # nbconvert, as run_all.sh calls it, turns a notebook into one self-contained page.
    nb = ROOT / "notebooks" / "02_features.ipynb"
    res = subprocess.run([sys.executable, "-m", "nbconvert", "--to", "html", "--log-level", "ERROR",
                          "--output-dir", str(tmp_path), str(nb)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    page = (tmp_path / "02_features.html").read_text()
    assert "<html" in page and "separable Wavegram" in page
