"""Record a smoke run's measured times in docs/run_times.csv and rewrite every text that quotes them.

    python scripts/record_run_times.py --from results/smoke/run_times.csv [--tests-log pytest.log]
    python scripts/record_run_times.py --check    # exit 1 if a text differs from docs/run_times.csv

``run_all.sh --profile smoke`` writes ``results/smoke/run_times.csv``; ``--tests-log`` takes a
file with pytest's closing line (``N passed ... in S s``) for the test suite's count and time.
The texts rewritten: README.md, docs/installation.md and docs/teaching.md (between
``<!-- run-time:KEY -->`` and ``<!-- /run-time -->``) and the notebooks (``{{run-time:KEY}}`` in
notebooks/src, filled by scripts/build_notebooks.py). See docs/testing.md, "Run times".
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

from asdlib.study.run_times import (RUN_TIMES_CSV, TESTS, TOTAL, RunTime, fill_markers, read_run_times,
                                    write_run_times)

ROOT = Path(__file__).resolve().parent.parent
TEXTS = [ROOT / "README.md", ROOT / "docs" / "installation.md", ROOT / "docs" / "teaching.md"]
NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks" / "src").glob("[0-9][0-9]_*.py"))
PYTEST_LINE = re.compile(r"(?P<passed>\d+) passed.* in (?P<seconds>[\d.]+)s")


def measured(run_csv: Path, tests_log: Path | None, old: dict[str, RunTime]) -> dict[str, RunTime]:
    """The new table: the smoke run's notebook and total times, the tests' from the log or as before."""
    today = dt.date.today().isoformat()
    run = read_run_times(run_csv)
    missing = [nb for nb in (*NOTEBOOKS, TOTAL) if nb not in run]
    if missing:
        raise SystemExit(f"{run_csv}: no time for {', '.join(missing)}: record a whole smoke run "
                         "(./run_all.sh --profile smoke, without --only)")
    times = {nb: RunTime(run[nb].seconds, None, today) for nb in (*NOTEBOOKS, TOTAL)}
    if tests_log is not None:
        hits = PYTEST_LINE.findall(Path(tests_log).read_text())
        if not hits:
            raise SystemExit(f"{tests_log}: no pytest closing line ('N passed ... in S s')")
        passed, seconds = hits[-1]
        times[TESTS] = RunTime(float(seconds), int(passed), today)
    elif TESTS in old:
        times[TESTS] = old[TESTS]
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--from", dest="run_csv", type=Path, help="a smoke run's run_times.csv")
    ap.add_argument("--tests-log", type=Path, help="a file holding pytest's closing line")
    ap.add_argument("--check", action="store_true", help="only check that the texts match")
    args = ap.parse_args()
    if args.check == bool(args.run_csv):
        ap.error("give --from RUN_CSV or --check")
    if args.run_csv:
        old = read_run_times() if RUN_TIMES_CSV.is_file() else {}
        write_run_times(measured(args.run_csv, args.tests_log, old))
        print(f"wrote {RUN_TIMES_CSV.relative_to(ROOT)}")
    times = read_run_times()
    stale = []
    for path in TEXTS:
        text = path.read_text()
        new = fill_markers(text, times)
        if new != text:
            if args.check:
                stale.append(str(path.relative_to(ROOT)))
            else:
                path.write_text(new)
                print(f"rewrote {path.relative_to(ROOT)}")
    if args.check:
        if stale:
            print("out of date (run python scripts/record_run_times.py --from ...): " + ", ".join(stale))
            return 1
        return 0
    return subprocess.call([sys.executable, str(ROOT / "scripts" / "build_notebooks.py")])


if __name__ == "__main__":
    sys.exit(main())
