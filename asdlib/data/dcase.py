"""DCASE 2020 Task 2 facts as code: machine types, IDs, the two label maps, archives, file counts.

Explained in notebook 01_data (archives, counts) and 04_evaluation (label maps, pooled masks).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import pandas as pd

from asdlib.paths import RESOURCES_DIR

#: The six machine types, in the order the authors' label offsets use.
MACHINE_TYPES = ("fan", "pump", "slider", "ToyCar", "ToyConveyor", "valve")

#: Machine IDs of the development set (train and test).
DEV_IDS = {
    "fan": ("00", "02", "04", "06"),
    "pump": ("00", "02", "04", "06"),
    "slider": ("00", "02", "04", "06"),
    "valve": ("00", "02", "04", "06"),
    "ToyCar": ("01", "02", "03", "04"),
    "ToyConveyor": ("01", "02", "03"),
}
#: Machine IDs of the additional training set (train only).
ADDITIONAL_IDS = {
    "fan": ("01", "03", "05"),
    "pump": ("01", "03", "05"),
    "slider": ("01", "03", "05"),
    "valve": ("01", "03", "05"),
    "ToyCar": ("05", "06", "07"),
    "ToyConveyor": ("04", "05", "06"),
}
#: All 41 (machine type, ID) pairs the paper trains on, type by type, IDs sorted.
ALL_MACHINES = tuple(
    (mt, mid) for mt in MACHINE_TYPES for mid in sorted(DEV_IDS[mt] + ADDITIONAL_IDS[mt])
)
NUM_CLASSES = 41

SAMPLE_RATE = 16_000
#: Every clip is cut to its first 10 s (ToyCar clips are 11 s long).
CLIP_SECONDS = 10.0

#: The authors' class offsets: class = offset[type] + int(id).
PAPER_OFFSETS = {"fan": 0, "pump": 7, "slider": 13, "ToyCar": 20, "ToyConveyor": 27, "valve": 34}
#: The authors' pooled per-type masks on the class index (inclusive ranges).
PAPER_TYPE_MASKS = {
    "fan": (0, 6),
    "pump": (7, 12),
    "slider": (13, 19),
    "ToyCar": (20, 26),
    "ToyConveyor": (27, 33),
    "valve": (34, 40),
}

LABEL_MAPS = ("paper", "distinct")


def _check_machine(machine_type: str, machine_id: str) -> None:
    if machine_type not in MACHINE_TYPES:
        raise ValueError(f"unknown machine type {machine_type!r}; expected one of {MACHINE_TYPES}")
    if (machine_type, machine_id) not in ALL_MACHINES:
        raise ValueError(f"unknown machine ID {machine_id!r} for {machine_type}")


def class_index(machine_type: str, machine_id: str, label_map: str = "paper") -> int:
    """Class index of one machine under the ``paper`` (authors', with a collision) or ``distinct`` map. Notebook 04."""
    _check_machine(machine_type, machine_id)
    if label_map == "paper":
        return PAPER_OFFSETS[machine_type] + int(machine_id)
    if label_map == "distinct":
        return ALL_MACHINES.index((machine_type, machine_id))
    raise ValueError(f"unknown label map {label_map!r}; expected one of {LABEL_MAPS}")


def label_map_table(label_map: str = "paper") -> pd.DataFrame:
    """All 41 machines with their class index under one label map. Notebook 04."""
    rows = [
        {"machine_type": mt, "machine_id": mid, "class_index": class_index(mt, mid, label_map)}
        for mt, mid in ALL_MACHINES
    ]
    return pd.DataFrame(rows)


def paper_mask_type(class_idx: int) -> str:
    """Machine type the authors' pooled masks assign to a class index (``paper`` map). Notebook 04."""
    for mt, (lo, hi) in PAPER_TYPE_MASKS.items():
        if lo <= class_idx <= hi:
            return mt
    raise ValueError(f"class index {class_idx} is outside 0..40")


# --------------------------------------------------------------------------- archives

ZENODO_RECORDS = {"development": 3678171, "additional_training": 3727685, "evaluation": 3841772}
ARCHIVE_PREFIX = {
    "development": "dev_data",
    "additional_training": "eval_data_train",
    "evaluation": "eval_data_test",
}
ARCHIVE_MD5 = {
    "dev_data_fan.zip": "649bdfc06263ae7a838963f43b6641e6",
    "dev_data_pump.zip": "90e7091ef722b7238a7f1009365779cd",
    "dev_data_slider.zip": "da24a757719f0d94d5aa2d646bbfdc86",
    "dev_data_ToyCar.zip": "4dec75ca8d9f666aa9e4c1894a740501",
    "dev_data_ToyConveyor.zip": "03b6aa1bfd09a39d53af0ba39f71fa91",
    "dev_data_valve.zip": "34d2672f55bb041589ef79c10dc89934",
    "eval_data_train_fan.zip": "567798854130c8019df8b664c095ed1e",
    "eval_data_train_pump.zip": "4e33ae9c0db5cc88437675f5e317caee",
    "eval_data_train_slider.zip": "f84f186f4295fc23754abcdd1b0580a7",
    "eval_data_train_ToyCar.zip": "a5d4ccd498af70b04dd74b644b820006",
    "eval_data_train_ToyConveyor.zip": "0e808ac0b761e9fb13d5e0c65caff00d",
    "eval_data_train_valve.zip": "057cdd560caffb8305449541afd28c6d",
    "eval_data_test_fan.zip": "1eb9356a768cadfd0f2e59a5c57e578b",
    "eval_data_test_pump.zip": "23a8f8f924be218c69df67fe07360348",
    "eval_data_test_slider.zip": "0193c769073840332ce3aad84b1ccaa2",
    "eval_data_test_ToyCar.zip": "bea2bdd612f616be8f2b8eb087b32c7c",
    "eval_data_test_ToyConveyor.zip": "ccfcc9847c7d3404d7ee9d6d9e0b2ba2",
    "eval_data_test_valve.zip": "f69c551d2088691050d20cccca9d631c",
}
#: Rough archive sizes in bytes, for the paper profile's disk preflight (two are known exactly).
APPROX_ARCHIVE_BYTES = 15_000_000_000 // 12


@dataclass(frozen=True)
class Archive:
    """One DCASE archive: file name, dataset, machine type, download URL and MD5."""

    name: str
    dataset: str
    machine_type: str
    url: str
    md5: str


def archive(dataset: str, machine_type: str) -> Archive:
    """The archive of one machine type in one dataset, with its Zenodo URL and MD5. Notebook 01."""
    if dataset not in ZENODO_RECORDS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {tuple(ZENODO_RECORDS)}")
    if machine_type not in MACHINE_TYPES:
        raise ValueError(f"unknown machine type {machine_type!r}")
    name = f"{ARCHIVE_PREFIX[dataset]}_{machine_type}.zip"
    url = f"https://zenodo.org/record/{ZENODO_RECORDS[dataset]}/files/{name}?download=1"
    return Archive(name, dataset, machine_type, url, ARCHIVE_MD5[name])


def paper_archives() -> list[Archive]:
    """The 12 archives the paper needs: development and additional training, six types each. Notebook 01."""
    return [archive(ds, mt) for ds in ("development", "additional_training") for mt in MACHINE_TYPES]


def evaluation_archives() -> list[Archive]:
    """The 6 evaluation-set archives (unlabelled test clips of the additional-training IDs); not needed by the paper. Notebook 01."""
    return [archive("evaluation", mt) for mt in MACHINE_TYPES]


#: The evaluation set's ground truth (Zenodo record 3951620); its checksum is not published.
GROUND_TRUTH_NAME = "eval_data_list.csv"
GROUND_TRUTH_RECORD = 3951620
GROUND_TRUTH_URL = f"https://zenodo.org/record/{GROUND_TRUTH_RECORD}/files/{GROUND_TRUTH_NAME}?download=1"


class GroundTruthError(ValueError):
    """An evaluation ground-truth file (``eval_data_list.csv``) that cannot be read. Notebook 04."""


def read_ground_truth(path) -> pd.DataFrame:
    """Parse ``eval_data_list.csv``: columns machine_type, machine_id, file_name, original_name, anomaly. Notebook 04.

    The file has blocks: a line holding only a machine type, then rows
    ``id_01_00000000.wav,normal_id_01_00000098.wav,0`` (evaluation name, original name,
    label 1 = anomaly). Any other line raises ``GroundTruthError`` naming the file and line.
    """
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise GroundTruthError(f"{path}: ground-truth file not found (python -m asdlib download "
                               "--evaluation fetches eval_data_list.csv)")
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise GroundTruthError(f"{path}: cannot read it as text ({e}); download it again") from None
    rows, current = [], None
    for n, line in enumerate(lines, 1):
        cells = [c.strip() for c in line.split(",")]
        if not any(cells):
            continue
        where = f"{path}, line {n}"
        if len([c for c in cells if c]) == 1 and cells[0] in MACHINE_TYPES:
            current = cells[0]
            continue
        if len(cells) != 3 or cells[2] not in ("0", "1"):
            raise GroundTruthError(f"{where}: expected a machine type or 'id_XX_NNNNNNNN.wav,"
                                   f"<original name>.wav,0|1', got {line[:80]!r}; is it eval_data_list.csv?")
        if current is None:
            raise GroundTruthError(f"{where}: a clip row before any machine-type line ({line[:80]!r})")
        parts = cells[0].split("_")
        if len(parts) != 3 or parts[0] != "id" or not cells[0].endswith(".wav"):
            raise GroundTruthError(f"{where}: evaluation clip name {cells[0]!r} is not "
                                   "'id_XX_NNNNNNNN.wav'")
        rows.append({"machine_type": current, "machine_id": parts[1], "file_name": cells[0],
                     "original_name": cells[1], "anomaly": int(cells[2])})
    if not rows:
        raise GroundTruthError(f"{path}: holds no clip rows; is it eval_data_list.csv?")
    table = pd.DataFrame(rows)
    dup = table.duplicated(["machine_type", "file_name"])
    if dup.any():
        first = table[dup].iloc[0]
        raise GroundTruthError(f"{path}: {first['machine_type']} {first['file_name']} is listed twice")
    return table


@lru_cache(maxsize=1)
def expected_file_counts() -> pd.DataFrame:
    """Expected files per machine type, dataset, split, ID and label (DCASE 2020 Task 2). Notebook 01."""
    return pd.read_csv(
        RESOURCES_DIR / "dcase2020_task2_file_counts.csv", dtype={"machine_id": str}
    )
