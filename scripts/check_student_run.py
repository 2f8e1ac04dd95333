"""Check an executed student edition: every checker said "not yet", none judged an answer.

    python scripts/check_student_run.py results/smoke/student/notebooks

``run_all.sh --student`` runs it after executing ``notebooks/student/`` as handed out. For each
notebook, the number of "not yet" messages must equal the number of ``check``, ``check_code``
and ``retrain_task`` calls in its cells, and no output may say right or wrong. Exit 1 otherwise,
naming the notebook.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

CALL = re.compile(r"^\s*(?:\w+ = )?(check|check_code|retrain_task)\(", re.M)
NOT_YET = re.compile(r": not yet (answered|written|predicted)\.")
JUDGED = re.compile(r": (right\.|right on \d+|not quite\.|differs from the library|your function raised)"
                    r"|prediction \(.*\) (held|did not hold)")


def problems(path: Path) -> list[str]:
    """What is wrong with one executed student notebook (empty when every checker said "not yet")."""
    nb = nbformat.read(path, as_version=4)
    calls, said, judged = 0, 0, []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        calls += len(CALL.findall(cell.source))
        for out in cell.get("outputs", []):
            text = "".join(out.get("text", "")) if out.get("output_type") == "stream" else ""
            said += len(NOT_YET.findall(text))
            judged += [m.group(0) for m in JUDGED.finditer(text)]
    found = []
    if said != calls:
        found.append(f"{calls} checker call(s) but {said} 'not yet' message(s)")
    if judged:
        found.append(f"an answer was judged: {judged[0]!r}")
    return found


def main() -> int:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("results/smoke/student/notebooks")
    notebooks = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        print(f"check_student_run: no executed notebooks in {folder}", file=sys.stderr)
        return 1
    bad = 0
    for path in notebooks:
        found = problems(path)
        status = "; ".join(found) if found else "every checker said 'not yet'"
        print(f"{path.name}: {status}")
        bad += bool(found)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
