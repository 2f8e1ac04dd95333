"""A run folder belongs to one training at a time and only ever holds a run.

``claim_run_folder`` is what ``train`` does first: it refuses a folder of unrelated files (unless
forced), takes the folder's lock (a second ``train`` on the same folder is refused with a line
naming the process that holds it) and removes the temporary checkpoint files that killed or
failed processes left. Explained in notebook 03_training.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from asdlib.folders import LOCK_NAME, FolderLock, remove_leftovers

__all__ = ["RUN_ENTRIES", "claim_run_folder", "is_run_folder"]

#: What ``train`` itself writes into a run folder.
RUN_ENTRIES = frozenset({"config.json", "train_log.jsonl", "checkpoints", LOCK_NAME})


def _is_run_config(path: Path) -> bool:
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(d, dict) and {"name", "model", "data", "train"} <= set(d)


def is_run_folder(folder: str | os.PathLike) -> bool:
    """True for an empty or missing folder and for an asdlib run (its ``config.json``, or only what ``train`` writes). Notebook 03."""
    folder = Path(folder)
    if not folder.exists():
        return True
    if not folder.is_dir():
        return False
    names = {p.name for p in folder.iterdir()}
    if "config.json" in names:
        return _is_run_config(folder / "config.json")
    return names <= RUN_ENTRIES


def claim_run_folder(folder: str | os.PathLike, *, force: bool = False) -> FolderLock:
    """Take a run folder for one training: refuse unrelated files (unless ``force``), lock it, clear dead temporaries; the held lock. Notebook 03."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"run folder {folder} is a file; choose a folder")
    if not force and not is_run_folder(folder):
        names = sorted(p.name for p in folder.iterdir())
        raise FileExistsError(
            f"{folder} is not an asdlib run folder (it holds {', '.join(names[:4])}"
            f"{', ...' if len(names) > 4 else ''}); training would overwrite its config.json and "
            "train_log.jsonl: choose an empty or new folder, or pass --force")
    lock = FolderLock(folder, "run folder").acquire()
    checkpoints = folder / "checkpoints"
    remove_leftovers(checkpoints)
    for stale in checkpoints.glob("*.pt.tmp") if checkpoints.is_dir() else ():
        stale.unlink(missing_ok=True)  # the fixed name of older asdlib versions; we hold the lock
    return lock
