"""Where everything lives and every setting from the environment: the one place that reads them.

Every notebook and script asks this module for paths, so nothing depends on the working
directory. ``ASD_DATA_DIR`` and ``ASD_RESULTS_DIR`` override the defaults (e.g. a big disk).
Every other ``ASD_*`` variable is read here too, by one function each, and the value is passed
down (``SETTINGS_ENV`` lists them); no other module of asdlib reads the environment for them.

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

import json
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


#: Machine-type folders that mark a DCASE 2020 Task 2 tree (kept here to avoid importing asdlib.data.dcase).
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


# --------------------------------------------------------------------------- settings (environment)

#: The environment variables asdlib reads (all of them, here only), and what each one sets.
SETTINGS_ENV = {
    "ASD_DATA_DIR": "downloads, extracted datasets and caches (data_dir)",
    "ASD_RESULTS_DIR": "the parent of results/<profile>/ (results_dir)",
    "ASD_DCASE_DIR": "a DCASE 2020 Task 2 tree you already have (dcase_dir; run_all.sh --data-root)",
    "ASD_EXPECTED_COUNTS": "another expected-file-count table (expected_counts_path)",
    "ASD_THREADS": "CPU threads (threads_override)",
    "ASD_JOBS": "runs trained at once on a CPU (jobs_override; 1: one after the other)",
    "ASD_RUN_OVERRIDES": "JSON settings applied to every run (run_overrides; run_all.sh --overrides)",
    "ASD_PRECISION": "training precision of every run (precision_override; run_all.sh --precision)",
    "ASD_SEEDS": "seeds per compared method (seeds_override; run_all.sh --seeds)",
    "ASD_REHEARSAL": "marks a dress rehearsal (is_rehearsal; benchmarks/rehearsal.py)",
}
OVERRIDES_ENV = "ASD_RUN_OVERRIDES"
PRECISION_ENV = "ASD_PRECISION"
SEEDS_ENV = "ASD_SEEDS"
THREADS_ENV = "ASD_THREADS"
JOBS_ENV = "ASD_JOBS"
COUNTS_ENV = "ASD_EXPECTED_COUNTS"
REHEARSAL_ENV = "ASD_REHEARSAL"


def run_overrides() -> dict:
    """Dotted-key overrides for every run from ``$ASD_RUN_OVERRIDES`` (JSON object; {} when unset). Notebook 03."""
    text = os.environ.get(OVERRIDES_ENV, "").strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as e:
        raise ValueError(f"{OVERRIDES_ENV} is not valid JSON ({e}): give an object such as "
                         '\'{"train.epochs": 2}\' or unset it') from None
    if not isinstance(value, dict):
        raise ValueError(f"{OVERRIDES_ENV} must be a JSON object of dotted settings, got {text!r}")
    return value


def run_overrides_text() -> str | None:
    """The raw ``$ASD_RUN_OVERRIDES`` (None when unset), as REPORT.md quotes it. Notebook 04."""
    return os.environ.get(OVERRIDES_ENV) or None


def precision_override() -> str | None:
    """The training precision ``run_all.sh --precision`` set for every run (``$ASD_PRECISION``), None when unset. Notebook 03."""
    return os.environ.get(PRECISION_ENV) or None


def _whole_number_env(name: str, expected: str) -> int | None:
    """``$name`` as a whole number >= 1, None when unset; a ValueError saying ``expected`` otherwise."""
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{name}={text!r}: {expected}")
    return int(text)


def seeds_override() -> int | None:
    """Seeds per compared method from ``$ASD_SEEDS`` (``run_all.sh --seeds N``), None when unset. Notebook 07."""
    return _whole_number_env(SEEDS_ENV, "give a whole number of seeds >= 1 (run_all.sh --seeds N)")


def threads_override() -> int | None:
    """Threads fixed by ``$ASD_THREADS``, else by a whole-number ``$OMP_NUM_THREADS``, else None. Notebook 08.

    ``ASD_THREADS`` must be a positive whole number (else ``ValueError``); an ``OMP_NUM_THREADS``
    that is not one (OpenMP also accepts lists) is left to OpenMP.
    """
    env = os.environ.get(THREADS_ENV, "").strip()
    if env:
        try:
            n = int(env)
        except ValueError:
            n = 0
        if n < 1:
            raise ValueError(f"{THREADS_ENV}={env!r}: expected a positive whole number of threads")
        return n
    omp = os.environ.get("OMP_NUM_THREADS", "").strip()
    if omp.isdigit() and int(omp) >= 1:
        return int(omp)
    return None


def jobs_override() -> int | None:
    """Runs to train at once on a CPU fixed by ``$ASD_JOBS`` (1: one after the other), else None. Notebook 05.

    ``ASD_JOBS`` must be a positive whole number (else ``ValueError``).
    """
    return _whole_number_env(JOBS_ENV, "expected a positive whole number of runs at once")


def expected_counts_path() -> str | None:
    """Another expected-file-count table named by ``$ASD_EXPECTED_COUNTS`` (None: the DCASE table). Notebook 01."""
    return os.environ.get(COUNTS_ENV) or None


def is_rehearsal() -> bool:
    """Whether this process runs a dress rehearsal (``$ASD_REHEARSAL`` set by benchmarks/rehearsal.py). Notebook 01."""
    return os.environ.get(REHEARSAL_ENV, "").strip() not in ("", "0")
