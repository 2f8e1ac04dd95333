"""Scan a folder in the DCASE 2020 Task 2 layout into a clip table, and count its files.

Layout: ``<root>/<machine_type>/<train|test>/<normal|anomaly>_id_<XX>_<NNNNNNNN>.wav``.
The same layout is used by the full download, the bundled sample and the synthetic data.
Explained in notebook 01_data.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import pandas as pd

from asdlib.data.dcase import ADDITIONAL_IDS, DEV_IDS, MACHINE_TYPES, class_index

__all__ = [
    "DatasetLayoutError",
    "ClipName",
    "SPLITS",
    "LABELS",
    "COLUMNS",
    "COUNT_KEYS",
    "parse_clip_path",
    "scan_dataset",
    "add_class_index",
    "count_files",
    "compare_counts",
]

SPLITS = ("train", "test")
LABELS = ("normal", "anomaly")
#: Columns of the table ``scan_dataset`` returns, in order.
COLUMNS = (
    "path",
    "file_name",
    "machine_type",
    "machine_id",
    "split",
    "label",
    "anomaly",
    "index",
    "dataset",
)
#: The keys of a file-count table (as in ``asdlib.data.dcase.expected_file_counts``).
COUNT_KEYS = ("machine_type", "dataset", "split", "machine_id", "label")

LAYOUT = "<root>/<machine_type>/<train|test>/<normal|anomaly>_id_<XX>_<NNNNNNNN>.wav"
_NAME_RE = re.compile(r"^(normal|anomaly)_id_(\d{2})_(\d+)\.wav$")
#: Evaluation-set test clips carry no label in their name: ``id_<XX>_<NNNNNNNN>.wav``.
_UNLABELLED_RE = re.compile(r"^id_(\d{2})_(\d+)\.wav$")
#: The ``label`` of an evaluation-set test clip (its ``anomaly`` is missing, ``<NA>``).
UNLABELLED = "unlabelled"


class DatasetLayoutError(ValueError):
    """A dataset folder that is missing or does not hold clips in the DCASE layout. Notebook 01."""


@dataclass(frozen=True)
class ClipName:
    """What a clip's path says: machine type, split, label, machine ID and index. Notebook 01."""

    machine_type: str
    split: str
    label: str
    machine_id: str
    index: int

    @property
    def anomaly(self) -> int | None:
        """1 for an anomalous clip, 0 for a normal one, None for an unlabelled (evaluation-set) clip. Notebook 01."""
        return None if self.label == UNLABELLED else int(self.label == "anomaly")

    @property
    def dataset(self) -> str:
        """``development`` for a development ID, else ``evaluation`` (test clips) or ``additional_training``. Notebook 01."""
        if self.machine_id in DEV_IDS[self.machine_type]:
            return "development"
        return "evaluation" if self.split == "test" else "additional_training"


def parse_clip_path(path: str | os.PathLike) -> ClipName:
    """Parse ``.../<type>/<split>/[<label>_]id_<XX>_<NNNNNNNN>.wav`` into a ClipName (no label: ``unlabelled``). Notebook 01.

    Test clips named ``id_<XX>_<NNNNNNNN>.wav`` (the DCASE evaluation set) are unlabelled.
    """
    p = Path(path)
    split, machine_type = p.parent.name, p.parent.parent.name
    m = _NAME_RE.match(p.name)
    if m is not None:
        label, machine_id, index = m.group(1), m.group(2), int(m.group(3))
    elif (u := _UNLABELLED_RE.match(p.name)) is not None and split == "test":
        label, machine_id, index = UNLABELLED, u.group(1), int(u.group(2))
    else:
        raise ValueError(
            f"{p}: file name does not match '<normal|anomaly>_id_<XX>_<NNNNNNNN>.wav' "
            f"(or 'id_<XX>_<NNNNNNNN>.wav' for unlabelled test clips; expected layout {LAYOUT}); "
            "rename or remove the file"
        )
    if machine_type not in MACHINE_TYPES:
        raise ValueError(
            f"{p}: unknown machine type folder {machine_type!r}; known machine types: "
            f"{', '.join(MACHINE_TYPES)} (expected layout {LAYOUT})"
        )
    if split not in SPLITS:
        raise ValueError(
            f"{p}: unknown split folder {split!r}; expected one of {', '.join(SPLITS)} "
            f"(expected layout {LAYOUT})"
        )
    known_ids = DEV_IDS[machine_type] + ADDITIONAL_IDS[machine_type]
    if machine_id not in known_ids:
        raise ValueError(
            f"{p}: unknown machine ID {machine_id!r} for {machine_type}; known IDs: "
            f"{', '.join(sorted(known_ids))}"
        )
    if split == "train" and label != "normal":
        raise ValueError(f"{p}: an anomalous clip in a train folder (training data are all normal)")
    return ClipName(machine_type, split, label, machine_id, index)


def _check_choices(name: str, values: Iterable[str] | None, known: tuple[str, ...]) -> tuple[str, ...]:
    if values is None:
        return known
    if isinstance(values, str):
        values = (values,)
    values = tuple(values)
    bad = [v for v in values if v not in known]
    if bad:
        raise ValueError(f"unknown {name} {bad}; expected some of {', '.join(known)}")
    return values


def scan_dataset(
    root: str | os.PathLike,
    machine_types: Iterable[str] | None = None,
    splits: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Table of every clip under ``root`` in the DCASE layout, one row per WAV, sorted by path. Notebook 01."""
    root = Path(root).expanduser().resolve()
    if not root.exists():
        raise DatasetLayoutError(f"dataset folder {root} does not exist")
    if not root.is_dir():
        raise DatasetLayoutError(f"dataset folder {root} is not a folder")
    wanted_types = _check_choices("machine types", machine_types, MACHINE_TYPES)
    wanted_splits = _check_choices("splits", splits, SPLITS)

    if machine_types is None and splits is None:
        files = list(root.glob("*/*/*.wav"))  # unknown folders are reported by the parser
    else:
        files = [f for mt in wanted_types for sp in wanted_splits for f in (root / mt / sp).glob("*.wav")]
    if not files:
        elsewhere = [p for p in root.rglob("*.wav")][:3]
        hint = ""
        if elsewhere:
            hint = " WAV files were found at other depths, e.g. " + ", ".join(
                str(p.relative_to(root)) for p in elsewhere
            ) + "."
        what = ""
        if machine_types is not None or splits is not None:
            what = f" for machine types {list(wanted_types)} and splits {list(wanted_splits)}"
        raise DatasetLayoutError(
            f"dataset folder {root} holds no clips{what} in the expected layout {LAYOUT}.{hint}"
        )

    rows = []
    for f in files:
        c = parse_clip_path(f)
        rows.append(
            {
                "path": str(f),
                "file_name": f.name,
                "machine_type": c.machine_type,
                "machine_id": c.machine_id,
                "split": c.split,
                "label": c.label,
                "anomaly": c.anomaly,
                "index": c.index,
                "dataset": c.dataset,
            }
        )
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    unlabelled = df["anomaly"].isna().any()  # evaluation-set clips: nullable labels
    df = df.astype({"anomaly": "Int64" if unlabelled else int, "index": int})
    return df.sort_values("path", kind="stable").reset_index(drop=True)


def add_class_index(df: pd.DataFrame, label_map: str = "paper") -> pd.DataFrame:
    """Copy of a clip table with a ``class_index`` column under the ``paper`` or ``distinct`` map. Notebook 04."""
    out = df.copy()
    out["class_index"] = [
        class_index(mt, mid, label_map) for mt, mid in zip(out["machine_type"], out["machine_id"])
    ]
    out["class_index"] = out["class_index"].astype(int)
    return out


def count_files(df: pd.DataFrame) -> pd.DataFrame:
    """Files per machine type, dataset, split, ID and label, shaped like ``expected_file_counts()``. Notebook 01."""
    keys = list(COUNT_KEYS)
    if len(df) == 0:
        return pd.DataFrame({**{k: pd.Series(dtype=object) for k in keys}, "files": pd.Series(dtype=int)})
    counts = df.groupby(keys, sort=True).size().rename("files").reset_index()
    counts["files"] = counts["files"].astype(int)
    return counts.sort_values(keys).reset_index(drop=True)


def compare_counts(found: pd.DataFrame, expected: pd.DataFrame) -> pd.DataFrame:
    """Merge found and expected file counts into ``expected``, ``found``, ``ok`` columns. Notebook 01."""
    keys = list(COUNT_KEYS)
    f = found[keys + ["files"]].rename(columns={"files": "found"})
    e = expected[keys + ["files"]].rename(columns={"files": "expected"})
    f = f.astype({k: str for k in keys})
    e = e.astype({k: str for k in keys})
    merged = e.merge(f, on=keys, how="outer")
    merged[["expected", "found"]] = merged[["expected", "found"]].fillna(0).astype(int)
    merged["ok"] = merged["expected"] == merged["found"]
    return merged[keys + ["expected", "found", "ok"]].sort_values(keys).reset_index(drop=True)
