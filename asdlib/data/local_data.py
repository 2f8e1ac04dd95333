"""Data you already have: accept an extracted DCASE 2020 Task 2 tree without its archives.

``check_dcase_tree`` compares the WAV files under a folder with the expected file counts
(``asdlib/resources/dcase2020_task2_file_counts.csv``, one row per machine type, dataset, split,
ID and label) and, when asked, reads every WAV header (16 kHz, mono, 16-bit PCM, the expected
length). A tree that passes needs no download: the preflight and notebook 01 then skip the
network and the archives. A tree with missing or extra files is refused with a message naming
every (type, ID, split, label) group that differs and its counts. Which folder is checked is
decided by ``asdlib.paths.dcase_dir()`` (``ASD_DCASE_DIR`` / ``run_all.sh --data-root``).

``ASD_EXPECTED_COUNTS`` may name another count table with the same columns (a subset, or the
scaled-down tree of ``benchmarks/rehearsal.py``); everything that reports the check says so.
Explained in notebook 01_data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import pandas as pd
import soundfile as sf
from tqdm.auto import tqdm

from asdlib.data.dataset import COUNT_KEYS, compare_counts, count_files, scan_dataset
from asdlib.data.dcase import SAMPLE_RATE, expected_file_counts, paper_archives
from asdlib.data.download import MARKER_PREFIX
from asdlib.paths import COUNTS_ENV, expected_counts_path, looks_like_dcase_tree

__all__ = [
    "DataTreeError",
    "TreeCheck",
    "PAPER_DATASETS",
    "expected_counts_table",
    "count_differences",
    "describe_differences",
    "check_wav_headers",
    "check_dcase_tree",
]

#: The two datasets the paper trains and tests on.
PAPER_DATASETS = ("development", "additional_training")


class DataTreeError(ValueError):
    """An existing data tree that does not match the expected DCASE files (counts or content). Notebook 01.

    ``check`` is the ``TreeCheck`` that found it (every difference and header problem, not only
    the first ones the message lists), or None where no check was made.
    """

    def __init__(self, message: str, check: "TreeCheck | None" = None):
        super().__init__(message)
        self.check = check


@dataclass
class TreeCheck:
    """The result of checking a tree: per-group counts, differences, header problems. Notebook 01."""

    root: Path
    counts: pd.DataFrame
    differences: list[str]
    header_problems: list[str] = field(default_factory=list)
    content_checked: bool = False
    counts_source: str = "DCASE 2020 Task 2 table"
    #: Clips of datasets outside the check (e.g. the unlabelled evaluation set extracted into the
    #: same ``<type>/test`` folders), by dataset: not used for training or the development metrics.
    other_clips: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every count matches and (if checked) every header is right. Notebook 01."""
        return not self.differences and not self.header_problems

    @property
    def n_files(self) -> int:
        """Number of WAV files found in the groups checked. Notebook 01."""
        return int(self.counts["found"].sum())

    def summary(self) -> str:
        """One line saying what was checked and the verdict. Notebook 01."""
        what = "counts and WAV headers" if self.content_checked else "counts"
        others = "".join(f"; it also holds {n:,} {ds} clip(s), left out of training and of the "
                         "development metrics" for ds, n in sorted(self.other_clips.items()))
        if self.ok:
            return (f"existing tree {self.root} accepted: {self.n_files:,} files, {what} match the "
                    f"{self.counts_source}; no download needed{others}")
        return (f"existing tree {self.root} refused: {len(self.differences)} count group(s) and "
                f"{len(self.header_problems)} file header(s) differ from the {self.counts_source}")


def expected_counts_table(path: str | os.PathLike | None = None) -> tuple[pd.DataFrame, str]:
    """The expected file counts and where they come from (``$ASD_EXPECTED_COUNTS`` or the DCASE table). Notebook 01."""
    path = path or expected_counts_path()
    if path is None:
        return expected_file_counts(), "DCASE 2020 Task 2 table"
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"expected-count table {path} (from {COUNTS_ENV} or the argument) "
                                "does not exist; unset it to use the DCASE table")
    table = pd.read_csv(path, dtype={"machine_id": str})
    missing = [c for c in (*COUNT_KEYS, "files", "clip_seconds") if c not in table.columns]
    if missing:
        raise ValueError(f"expected-count table {path} lacks column(s) {missing}; it needs the "
                         "columns of asdlib/resources/dcase2020_task2_file_counts.csv")
    table["machine_id"] = table["machine_id"].str.zfill(2)
    return table, f"count table {path} (NOT the DCASE table)"


def count_differences(found: pd.DataFrame, expected: pd.DataFrame) -> pd.DataFrame:
    """The groups whose found file count differs from the expected one (``compare_counts`` rows, not ok). Notebook 01."""
    merged = compare_counts(found, expected)
    return merged[~merged["ok"]].reset_index(drop=True)


def describe_differences(diff: pd.DataFrame) -> list[str]:
    """One readable line per differing group: type, ID, split, label, dataset, found vs expected. Notebook 01."""
    lines = []
    for r in diff.itertuples(index=False):
        delta = int(r.found) - int(r.expected)
        what = f"{-delta} missing" if delta < 0 else f"{delta} extra"
        if int(r.expected) == 0:
            what = f"{delta} extra, a group the table does not have"
        lines.append(f"{r.machine_type} id_{r.machine_id} {r.split} ({r.label}, {r.dataset}): "
                     f"{int(r.found)} files found, {int(r.expected)} expected ({what})")
    return lines


def check_wav_headers(clips: pd.DataFrame, expected: pd.DataFrame, *, progress: bool = False,
                      sample_rate: int = SAMPLE_RATE) -> list[str]:
    """Read every clip's WAV header: 16 kHz, mono, 16-bit PCM, the group's expected length; one line per problem. Notebook 01."""
    keys = ["machine_type", "dataset", "split", "machine_id", "label"]
    seconds = {tuple(str(v) for v in k): float(s)
               for k, s in zip(expected[keys].itertuples(index=False, name=None), expected["clip_seconds"])}
    problems = []
    for row in tqdm(clips.itertuples(index=False), total=len(clips), disable=not progress,
                    desc="reading WAV headers", unit="file"):
        want_s = seconds.get((row.machine_type, row.dataset, row.split, row.machine_id, row.label))
        try:
            info = sf.info(row.path)
        except Exception as exc:  # noqa: BLE001 - soundfile raises several types; reported by file
            problems.append(f"{row.path}: not a readable WAV ({exc})")
            continue
        bad = []
        if info.samplerate != sample_rate:
            bad.append(f"{info.samplerate} Hz instead of {sample_rate}")
        if info.channels != 1:
            bad.append(f"{info.channels} channels instead of 1")
        if info.subtype != "PCM_16":
            bad.append(f"sample format {info.subtype} instead of PCM_16")
        if want_s is not None and info.frames != int(round(want_s * sample_rate)):
            bad.append(f"{info.frames} samples ({info.frames / max(info.samplerate, 1):g} s) instead of "
                       f"{int(round(want_s * sample_rate))} ({want_s:g} s)")
        if bad:
            problems.append(f"{row.path}: " + ", ".join(bad))
    return problems


def check_dcase_tree(root: str | os.PathLike, *, datasets: Iterable[str] = PAPER_DATASETS,
                     content: bool = False, counts_table: str | os.PathLike | None = None,
                     progress: bool = False, raise_on_error: bool = True) -> TreeCheck:
    """Check an extracted DCASE tree's file counts (and with ``content=True`` every WAV header); raise DataTreeError naming what differs. Notebook 01."""
    root = Path(root).expanduser().resolve()
    datasets = (datasets,) if isinstance(datasets, str) else tuple(datasets)
    expected, source = expected_counts_table(counts_table)
    expected = expected[expected["dataset"].isin(datasets)]
    try:
        clips = scan_dataset(root)
    except ValueError as exc:  # an unknown folder or file name: an extra file the table cannot hold
        raise DataTreeError(f"existing data tree {root} refused: {exc}. Remove the file or point "
                            "ASD_DCASE_DIR / --data-root at the extracted DCASE tree itself") from None
    others = clips.loc[~clips["dataset"].isin(datasets), "dataset"].value_counts().to_dict()
    clips = clips[clips["dataset"].isin(datasets)]
    diff = count_differences(count_files(clips), expected)
    check = TreeCheck(root, compare_counts(count_files(clips), expected), describe_differences(diff),
                      counts_source=source, other_clips={str(k): int(v) for k, v in others.items()})
    if content and not check.differences:
        check.header_problems = check_wav_headers(clips, expected, progress=progress)
        check.content_checked = True
    if raise_on_error and not check.ok:
        raise DataTreeError(_refusal(check), check)
    return check


def _refusal(check: TreeCheck, limit: int = 20) -> str:
    lines = [check.summary() + ":"]
    for what in (check.differences, check.header_problems):
        lines += [f"  - {d}" for d in what[:limit]]
        if len(what) > limit:
            lines.append(f"  ... and {len(what) - limit} more")
    lines.append("Fix the tree (re-extract the archives of the groups named above, remove extra "
                 "files), or unset ASD_DCASE_DIR / drop --data-root to download the data instead.")
    return "\n".join(lines)


def existing_tree(root: str | os.PathLike, *, content: bool = False,
                  progress: bool = False) -> TreeCheck | None:
    """Check the tree at ``root`` if one is there (None: nothing there, or our own download is unfinished); DataTreeError if it differs. Notebook 01."""

    root = Path(root).expanduser().resolve()
    if not looks_like_dcase_tree(root):
        return None
    markers = [root / f"{MARKER_PREFIX}{a.name}.json" for a in paper_archives()]
    done = sum(m.exists() for m in markers)
    if 0 < done < len(markers):
        return None  # a download of ours stopped half-way: download_dcase resumes it
    return check_dcase_tree(root, content=content, progress=progress)
