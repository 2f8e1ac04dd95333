"""Build the notebooks in notebooks/ from their reviewable sources in notebooks/src/*.py.

Sources use the "percent" format: a line ``# %% [markdown]`` starts a Markdown cell (its lines
are comments ``# ...``), ``# %%`` starts a code cell, ``# %% tags=["parameters"]`` a code cell
with tags. Generated notebooks carry no outputs. ``--check`` fails when a notebook is out of date.

    python scripts/build_notebooks.py          # write notebooks/NN_*.ipynb
    python scripts/build_notebooks.py --check  # exit 1 if any differs from its source
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "notebooks" / "src"
OUT = ROOT / "notebooks"
HEADER = re.compile(r"^# %%(?P<md> \[markdown\])?(?: tags=(?P<tags>\[.*\]))?\s*$")


def parse(text: str) -> nbformat.NotebookNode:
    """Turn a percent-format source into a notebook without outputs."""
    cells, kind, tags, lines = [], None, [], []

    def flush():
        if kind is None:
            return
        body = "\n".join(lines).strip("\n")
        if kind == "markdown":
            body = "\n".join(re.sub(r"^# ?", "", ln) for ln in body.splitlines())
            cell = nbformat.v4.new_markdown_cell(body)
        else:
            cell = nbformat.v4.new_code_cell(body)
        if tags:
            cell.metadata["tags"] = tags
        cells.append(cell)

    for line in text.splitlines():
        m = HEADER.match(line)
        if m:
            flush()
            kind = "markdown" if m.group("md") else "code"
            tags = json.loads(m.group("tags")) if m.group("tags") else []
            lines = []
        elif kind is not None:
            lines.append(line)
    flush()
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                   "language_info": {"name": "python"}}
    nb.nbformat_minor = 5
    for i, cell in enumerate(nb.cells):  # stable ids (nbformat's own are random): diff-friendly files
        cell["id"] = f"cell-{i:02d}"
    return nb


def render(src: Path) -> str:
    return nbformat.writes(parse(src.read_text()), version=4) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    stale = []
    for src in sorted(SRC.glob("[0-9][0-9]_*.py")):
        target = OUT / (src.stem + ".ipynb")
        text = render(src)
        if args.check:
            if not target.is_file() or target.read_text() != text:
                stale.append(target.name)
        else:
            target.write_text(text)
            print(f"wrote {target.relative_to(ROOT)}")
    if stale:
        print("out of date (run python scripts/build_notebooks.py): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
