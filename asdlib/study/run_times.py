"""Measured run times: one file, ``docs/run_times.csv``, behind every time the README, the docs and the notebook headers give.

``run_all.sh`` writes ``results/<profile>/run_times.csv`` (seconds per notebook and in all) on
every run. ``scripts/record_run_times.py`` copies a smoke run's times (and, optionally, the test
suite's count and time from a pytest log) into ``docs/run_times.csv`` and rewrites the README,
``docs/installation.md``, ``docs/teaching.md`` and the notebook headers from it;
``--check`` (run by the tests) fails when any of them says something else. No time in those
files is typed by hand. Explained in docs/testing.md, section "Run times".
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path

from asdlib.paths import PROJECT_ROOT

#: The committed source of every measured time the project's texts give.
RUN_TIMES_CSV = PROJECT_ROOT / "docs" / "run_times.csv"
#: Rows of the file besides one per notebook.
TOTAL, TESTS = "total", "tests"
FIELDS = ("item", "seconds", "count", "measured_on")
#: Where a generated phrase sits in Markdown: <!-- run-time:KEY -->phrase<!-- /run-time -->.
MARKER = re.compile(r"<!-- run-time:(?P<key>[\w .-]+) -->(?P<body>.*?)<!-- /run-time -->", re.S)
#: Where it sits in a notebook source: {{run-time:KEY}}.
PLACEHOLDER = re.compile(r"\{\{run-time:(?P<key>[\w .-]+)\}\}")


@dataclass(frozen=True)
class RunTime:
    """One measured time: seconds, an optional count (tests), the date it was measured."""

    seconds: float
    count: int | None
    measured_on: str


def read_run_times(path: str | Path = RUN_TIMES_CSV) -> dict[str, RunTime]:
    """The measured times by item (``01_data`` ... ``08_deployment``, ``total``, ``tests``). Notebook 01 to 08 (each one's Run time line); docs/testing.md."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no measured run times (scripts/record_run_times.py writes it)")
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or set(rows[0]) < {"item", "seconds"}:
        raise ValueError(f"{path}: expected the columns {', '.join(FIELDS)}")
    out = {}
    for row in rows:
        try:
            seconds = float(row["seconds"])
        except ValueError:
            raise ValueError(f"{path}: item {row['item']!r} has seconds {row['seconds']!r}, not a number") from None
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"{path}: item {row['item']!r} has seconds {seconds}")
        count = row.get("count") or ""
        out[row["item"]] = RunTime(seconds, int(count) if count else None, row.get("measured_on", ""))
    return out


def write_run_times(times: dict[str, RunTime], path: str | Path = RUN_TIMES_CSV) -> Path:
    """Write the measured times (the inverse of ``read_run_times``). Notebook 01 to 08 (each one's Run time line); docs/testing.md."""
    path = Path(path)
    lines = [",".join(FIELDS)]
    for item, t in times.items():
        lines.append(f"{item},{t.seconds:.0f},{'' if t.count is None else t.count},{t.measured_on}")
    path.write_text("\n".join(lines) + "\n")
    return path


def about(seconds: float) -> str:
    """A duration as a reader wants it: ``about 25 s``, ``about 3.5 minutes``, ``about 12 minutes``. Notebook 01 to 08 (each one's Run time line); docs/testing.md."""
    if seconds < 90:
        return f"about {max(5, 5 * round(seconds / 5))} s"
    minutes = seconds / 60
    if minutes < 10:
        half = round(minutes * 2) / 2
        return f"about {half:g} minutes"
    return f"about {round(minutes)} minutes"


def phrase(key: str, times: dict[str, RunTime]) -> str:
    """The text a marker or placeholder named ``key`` stands for. Notebook 01 to 08 (each one's Run time line); docs/testing.md.

    ``NN_name``: that notebook's smoke time; ``total``: the whole smoke run;
    ``tests``: the suite's time; ``tests count``: its number of tests; ``measured on``: the date.
    """
    if key == "tests count":
        t = times.get(TESTS)
        if t is None or t.count is None:
            raise KeyError(f"{RUN_TIMES_CSV.name} has no test count (record one with --tests-log)")
        return f"{t.count}"
    if key == "measured on":
        return times[TOTAL].measured_on
    if key not in times:
        raise KeyError(f"no measured time for {key!r}; known: {', '.join(times)}")
    return about(times[key].seconds)


def fill_markers(text: str, times: dict[str, RunTime]) -> str:
    """Markdown with every ``<!-- run-time:KEY -->...<!-- /run-time -->`` body replaced by its phrase. Notebook 01 to 08 (each one's Run time line); docs/testing.md."""
    return MARKER.sub(lambda m: f"<!-- run-time:{m['key']} -->{phrase(m['key'], times)}<!-- /run-time -->",
                      text)


def fill_placeholders(text: str, times: dict[str, RunTime]) -> str:
    """A notebook source with every ``{{run-time:KEY}}`` replaced by its phrase. Notebook 01 to 08 (each one's Run time line); docs/testing.md."""
    return PLACEHOLDER.sub(lambda m: phrase(m["key"], times), text)


__all__ = ["RUN_TIMES_CSV", "RunTime", "about", "fill_markers", "fill_placeholders", "phrase",
           "read_run_times", "write_run_times"]
