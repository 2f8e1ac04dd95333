"""Where everything lives: the one place that knows the project's folders.

Every notebook and script asks this module for paths, so nothing depends on the working
directory. ``ASD_DATA_DIR`` and ``ASD_RESULTS_DIR`` override the defaults (e.g. a big disk).
Explained in notebook 01_data.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Repository root (the folder holding ``asdlib/``, ``notebooks/``, ``data/``, ``results/``).
PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: Files shipped inside the package (expected file counts, checkpoint key list).
RESOURCES_DIR = Path(__file__).resolve().parent / "resources"
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
CONFIGS_DIR = PROJECT_ROOT / "configs"
#: The 31 real DCASE 2020 Task 2 clips bundled with the project.
SAMPLE_DIR = PROJECT_ROOT / "data" / "sample"


def data_dir() -> Path:
    """Root for downloads, extracted datasets and caches (``$ASD_DATA_DIR`` or ``data/``). Notebook 01."""
    return Path(os.environ.get("ASD_DATA_DIR", PROJECT_ROOT / "data")).resolve()


def results_dir(profile: str) -> Path:
    """Output folder of one profile, ``results/<profile>/`` (``$ASD_RESULTS_DIR`` moves the parent). Notebook 01."""
    if not profile or "/" in profile or profile.startswith("."):
        raise ValueError(f"invalid profile name {profile!r}")
    base = Path(os.environ.get("ASD_RESULTS_DIR", PROJECT_ROOT / "results")).resolve()
    return base / profile


def dcase_dir() -> Path:
    """Where the full DCASE 2020 Task 2 data are extracted (``<data>/dcase2020``). Notebook 01."""
    return data_dir() / "dcase2020"


def synthetic_dir() -> Path:
    """Where the synthetic smoke dataset is generated (``<data>/synthetic``). Notebook 01."""
    return data_dir() / "synthetic"


def cache_dir() -> Path:
    """Where decoded clip stores are kept (``<data>/cache``). Notebook 03."""
    return data_dir() / "cache"
