"""Build the notebooks in notebooks/ from their reviewable sources in notebooks/src/*.py.

Sources use the "percent" format: a line ``# %% [markdown]`` starts a Markdown cell (its lines
are comments ``# ...``), ``# %%`` starts a code cell, ``# %% tags=["parameters"]`` a code cell
with tags; ``{{run-time:KEY}}`` is replaced by a measured time from docs/run_times.csv
(``asdlib.study.run_times``). Generated notebooks carry no outputs. ``--check`` fails when a notebook is out of date.

Each source gives two editions. The instructor edition (``notebooks/NN_*.ipynb``) is the source
as written. The student edition (``notebooks/student/NN_*.ipynb``) is made from it by the tags:

- ``ex:NN.k``: the solution cell of exercise NN.k becomes ``answer = ...`` and a
  ``check("NN.k", answer)`` call (``asdlib.teaching.checks``), which judges without revealing;
- ``solutions-import``: the import of the solutions becomes the import of the checkers;
- ``task:ID``: a coding task; in the function, the lines after ``# -- solution --`` become
  ``raise NotImplementedError`` (``check_code`` then says "not yet written");
- ``retrain:ID``: the ``prediction = ...`` line is emptied (no training until the student predicts);
- ``answers``: the Markdown cell of answers is left out.

    python scripts/build_notebooks.py          # write both editions
    python scripts/build_notebooks.py --check  # exit 1 if any differs from its source
    python scripts/build_notebooks.py --check --edition instructor   # one edition only
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import nbformat

from asdlib.study.run_times import fill_placeholders, read_run_times

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "notebooks" / "src"
OUT = ROOT / "notebooks"
STUDENT = OUT / "student"
MARKER = "# -- solution --"
STUDENT_INTRO = """## Exercises

Try each task before you run anything. Write your answer into `answer` and run the cell:
`check` says whether it is right, gives a hint if it is not, and never shows the solution.
Coding tasks: write the body of the function; `check_code` runs it against the library on fresh
random inputs. "Change one thing and retrain" tasks: write your `prediction` first; the cell
trains and compares only once it has one."""
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


def _tag(cell, prefix: str) -> str | None:
    for tag in cell.metadata.get("tags", []):
        if tag.startswith(prefix):
            return tag[len(prefix):]
    return None


def _stub_exercise(exercise: str) -> str:
    from asdlib.teaching.checks import EXERCISES  # the registry says what `answer` is

    item = EXERCISES[exercise]
    args = "".join(f", {name}" for name in item.inputs)
    return (f"# Exercise {exercise}: `answer` should be {item.asks}.\n"
            f"answer = ...\n"
            f'check("{exercise}", answer{args})')


def _stub_task(source: str, task: str) -> str:
    lines = source.splitlines()
    starts = [i for i, ln in enumerate(lines) if ln.strip() == MARKER]
    if len(starts) != 1:
        raise SystemExit(f"coding task {task}: expected one line '{MARKER}', found {len(starts)}")
    i = starts[0]
    indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
    j = i + 1
    while j < len(lines) and (not lines[j].strip() or lines[j].startswith(indent)):
        j += 1
    while j > i + 1 and not lines[j - 1].strip():  # keep the blank lines after the function
        j -= 1
    stub = f'{indent}raise NotImplementedError("your code here")'
    return "\n".join(lines[:i] + [stub] + lines[j:])


def _stub_retrain(source: str, task: str) -> str:
    lines = source.splitlines()
    hits = [i for i, ln in enumerate(lines) if ln.startswith("prediction = ")]
    if len(hits) != 1:
        raise SystemExit(f"retrain task {task}: expected one line 'prediction = ...', found {len(hits)}")
    lines[hits[0]] = 'prediction = ...   # "higher", "lower" or "about the same"'
    return "\n".join(lines)


def student_edition(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student edition of an instructor notebook: stubs and checkers instead of solutions and answers."""
    cells = []
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "answers" in tags:
            continue
        cell = nbformat.from_dict(dict(cell))
        if cell.cell_type == "markdown" and cell.source.startswith("## Exercises"):
            cell.source = STUDENT_INTRO
        elif "solutions-import" in tags:
            cell.source = "from asdlib.teaching.checks import check, check_code, retrain_task"
        elif _tag(cell, "ex:"):
            cell.source = _stub_exercise(_tag(cell, "ex:"))
        elif _tag(cell, "task:"):
            cell.source = _stub_task(cell.source, _tag(cell, "task:"))
        elif _tag(cell, "retrain:"):
            cell.source = _stub_retrain(cell.source, _tag(cell, "retrain:"))
        cells.append(cell)
    out = nbformat.v4.new_notebook(cells=cells)
    out.metadata, out.nbformat_minor = nb.metadata, nb.nbformat_minor
    return out


def instructor_edition(src: Path) -> nbformat.NotebookNode:
    """The instructor edition of a source: its cells, with {{run-time:KEY}} filled from docs/run_times.csv."""
    return parse(fill_placeholders(src.read_text(), read_run_times()))


def render(src: Path, student: bool = False) -> str:
    nb = instructor_edition(src)
    return nbformat.writes(student_edition(nb) if student else nb, version=4) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--edition", choices=("both", "instructor", "student"), default="both",
                    help="which edition to write or check (run_all.sh checks the one it runs; the "
                         "student edition imports the checkers, a few seconds more)")
    args = ap.parse_args()
    stale = []
    STUDENT.mkdir(exist_ok=True)
    editions = [(folder, student) for folder, student, name in
                ((OUT, False, "instructor"), (STUDENT, True, "student")) if args.edition in (name, "both")]
    for src in sorted(SRC.glob("[0-9][0-9]_*.py")):
        for folder, student in editions:
            target = folder / (src.stem + ".ipynb")
            text = render(src, student)
            if args.check:
                if not target.is_file() or target.read_text() != text:
                    stale.append(str(target.relative_to(OUT)))
            else:
                target.write_text(text)
                print(f"wrote {target.relative_to(ROOT)}")
    if stale:
        print("out of date (run python scripts/build_notebooks.py): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
