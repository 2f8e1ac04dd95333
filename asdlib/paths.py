"""Where everything lives: the one place that knows the project's folders.

Every notebook and script asks this module for paths, so nothing depends on the working
directory. ``ASD_DATA_DIR`` and ``ASD_RESULTS_DIR`` override the defaults (e.g. a big disk).

What "the data root" (the extracted DCASE 2020 Task 2 tree) means is decided here and nowhere
else, by ``dcase_dir()``, in this order:

1. ``$ASD_DCASE_DIR`` (set by ``run_all.sh --data-root DIR``): a tree you already have;
2. ``$ASD_DATA_DIR`` itself when it already is such a tree (it holds ``<type>/train`` or
   ``<type>/test`` folders of a DCASE machine type and no ``dcase2020`` folder);
3. ``<data_dir()>/dcase2020``, where the download extracts the archives.

Caches (decoded clip stores) always go under ``data_dir()``.
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
#: The authors' released test-set score arrays (MIT, from their repository), bundled with the project.
AUTHORS_SCORES_DIR = PROJECT_ROOT / "data" / "authors-score-arrays"


def data_dir() -> Path:
    """Root for downloads, extracted datasets and caches (``$ASD_DATA_DIR`` or ``data/``). Notebook 01."""
    return Path(os.environ.get("ASD_DATA_DIR", PROJECT_ROOT / "data")).resolve()


def results_dir(profile: str) -> Path:
    """Output folder of one profile, ``results/<profile>/`` (``$ASD_RESULTS_DIR`` moves the parent). Notebook 01."""
    if not profile or "/" in profile or profile.startswith("."):
        raise ValueError(f"invalid profile name {profile!r}")
    base = Path(os.environ.get("ASD_RESULTS_DIR", PROJECT_ROOT / "results")).resolve()
    return base / profile


#: Machine-type folders that mark a DCASE 2020 Task 2 tree (kept here to avoid importing asdlib.dcase).
_DCASE_TYPES = ("fan", "pump", "slider", "ToyCar", "ToyConveyor", "valve")


def looks_like_dcase_tree(folder: str | os.PathLike) -> bool:
    """Whether a folder holds ``<type>/train`` or ``<type>/test`` of a DCASE machine type. Notebook 01."""
    folder = Path(folder)
    return any((folder / t / s).is_dir() for t in _DCASE_TYPES for s in ("train", "test"))


def dcase_dir() -> Path:
    """The extracted DCASE 2020 Task 2 tree: ``$ASD_DCASE_DIR``, ``$ASD_DATA_DIR`` if it is one, else ``<data>/dcase2020``. Notebook 01."""
    explicit = os.environ.get("ASD_DCASE_DIR")
    if explicit:
        return Path(explicit).expanduser().resolve()
    data = data_dir()
    if "ASD_DATA_DIR" in os.environ and not (data / "dcase2020").exists() and looks_like_dcase_tree(data):
        return data
    return data / "dcase2020"


def resolve_data_root(root: str | os.PathLike) -> Path:
    """A configuration's ``data.root`` as a folder: ``dcase2020`` is ``dcase_dir()``, other relative paths are under ``data_dir()``. Notebook 03."""
    p = Path(root).expanduser()
    if p.is_absolute():
        return p
    if p == Path("dcase2020"):
        return dcase_dir()
    return data_dir() / p


def synthetic_dir() -> Path:
    """Where the synthetic smoke dataset is generated (``<data>/synthetic``). Notebook 01."""
    return data_dir() / "synthetic"


def cache_dir() -> Path:
    """Where decoded clip stores are kept (``<data>/cache``). Notebook 03."""
    return data_dir() / "cache"
