"""Run configurations: every setting of a training run, with the paper's values as defaults.

A configuration is a TOML file with three tables, ``[model]`` (``asdlib.nets.model.ModelConfig``),
``[data]`` and ``[train]``; anything left out takes the paper's value. The eight paper runs and
their smoke counterparts live in ``configs/paper/`` and ``configs/smoke/``.
Explained in notebook 03_training.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from asdlib.data.dcase import LABEL_MAPS, MACHINE_TYPES
from asdlib.nets.model import ModelConfig
from asdlib.paths import CONFIGS_DIR, resolve_data_root
from asdlib.validate import check_number, check_whole


#: The training sets a run may use (``data.training_sets``).
TRAINING_SETS = ("development+additional", "development")
#: What one training batch counts (``train.batch_unit``): clips, or the five-frame windows of the
#: per-machine-type models (IDNN, the DCASE autoencoder), as the DCASE baseline batches them.
BATCH_UNITS = ("clips", "windows")


@dataclass(frozen=True)
class DataConfig:
    """Which clips a run trains and is tested on. Notebook 03.

    ``root`` is a folder in the DCASE layout; ``"dcase2020"`` means ``asdlib.paths.dcase_dir()``
    (``ASD_DCASE_DIR`` / ``run_all.sh --data-root``, else ``data/dcase2020``) and any other
    relative path is taken under the data folder (``asdlib.paths.data_dir()``).
    """

    root: str = "dcase2020"
    label_map: str = "paper"
    machine_types: tuple[str, ...] | None = None
    val_fraction: float = 0.05
    max_train_clips: int | None = None
    #: Which training clips: the development and additional training sets (41 machines, as the
    #: authors and most peers) or the development set only (23 machines, the DCASE 2020
    #: baseline's development mode).
    training_sets: str = "development+additional"

    def __post_init__(self):
        if not isinstance(self.root, str) or not self.root.strip():
            raise ValueError(f"data.root = {self.root!r}: expected a folder name or path")
        if self.label_map not in LABEL_MAPS:
            raise ValueError(f"data.label_map = {self.label_map!r}: expected one of {list(LABEL_MAPS)}")
        if self.machine_types is not None:
            types = self.machine_types
            if not isinstance(types, (tuple, list)) or not types or not all(isinstance(t, str) for t in types):
                raise ValueError(f"data.machine_types = {types!r}: expected a list of machine types, "
                                 f"e.g. [\"fan\"], from {list(MACHINE_TYPES)}")
            unknown = [t for t in types if t not in MACHINE_TYPES]
            if unknown:
                raise ValueError(f"data.machine_types: unknown {unknown}; known: {list(MACHINE_TYPES)}")
        if self.training_sets not in TRAINING_SETS:
            raise ValueError(f"data.training_sets = {self.training_sets!r}: expected one of {list(TRAINING_SETS)}")
        check_number("data.val_fraction", self.val_fraction, 0.0, 1.0, high_open=True)
        check_whole("data.max_train_clips", self.max_train_clips, 1, optional=True)

    def root_path(self) -> Path:
        """Absolute dataset folder (``asdlib.paths.resolve_data_root``: ``dcase2020`` follows ``ASD_DCASE_DIR``)."""
        return resolve_data_root(self.root)


#: Training precisions: "fp32" as the authors trained, "bf16" autocast as an opt-in.
PRECISIONS = ("fp32", "bf16")
#: Optimisers and learning-rate schedules a run may use (the peers' own choices, notebook 07).
OPTIMIZERS = ("adamw", "adam")
SCHEDULERS = ("cosine", "constant")


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation and bookkeeping settings (paper values as defaults). Notebook 03."""

    epochs: int = 300
    batch_size: int = 64
    lr: float = 1e-4
    weight_decay: float = 0.01
    eta_min_ratio: float = 0.1
    mixup_alpha: float = 0.2
    seed: int = 0
    checkpoint_every: int = 20
    num_workers: int = 4
    device: str = "auto"
    #: Cap on training steps per epoch (None: every batch): each epoch then trains on the first
    #: N batches of its fresh random order. Used by rehearsals, tests and the smoke profile (short
    #: epochs, so more checkpoints for the selection rules); the validation split is unchanged.
    max_steps_per_epoch: int | None = None
    #: "fp32" (the authors' precision: Lightning's default 32-bit training) or "bf16" (autocast
    #: of the network to bfloat16, features and loss in fp32; an explicit opt-in, faster on GPUs).
    precision: str = "fp32"
    #: Run the training step through ``torch.compile`` (same fp32 arithmetic, fused kernels):
    #: measured 2.1x faster per step than the authors' eager network on a 2-core CPU
    #: (benchmarks/REPORT.md, section 7). An opt-in; the first steps pay the compilation.
    compile: bool = False
    #: "adamw" (the authors', Noisy-ArcMix) or "adam" (STgram-MFN, the DCASE baseline, IDNN).
    optimizer: str = "adamw"
    #: Per-epoch learning-rate schedule: "cosine" (the authors', down to lr * eta_min_ratio) or "constant".
    scheduler: str = "cosine"
    #: The schedule steps only after this many epochs; the lr is constant until then (STgram-MFN's
    #: ``start_scheduler_epoch: 20``; 0: from the first epoch, as the authors).
    scheduler_start_epoch: int = 0
    #: "clips" (every method) or "windows" (IDNN and the DCASE autoencoder only): batches of
    #: ``batch_size`` five-frame windows of one machine type, drawn from all its training clips,
    #: one epoch a pass over every window of every type (``max_steps_per_epoch`` caps the batches
    #: per type), as the DCASE baseline trains.
    batch_unit: str = "clips"
    #: T_max of the cosine schedule in epochs (0: the number of epochs). STgram-MFN trains 301
    #: epochs (its loop runs 0..300) with T_max = 300.
    cosine_t_max: int = 0
    #: On Ampere and later GPUs, "fp32" convolutions run in TF32 (PyTorch's default, and so the
    #: authors' under Lightning): true keeps that; false gives strict fp32 (slower). No effect on a CPU.
    tf32: bool = True
    #: Under DDP (torchrun), BatchNorm computes its statistics over the global batch, as on one
    #: GPU (false: each process's own batch / world clips, the faster opt-out).
    sync_batchnorm: bool = True
    #: Gradient accumulation: each batch of ``batch_size`` clips runs as this many micro-batches
    #: (one optimiser step, the same effective batch and mixup draw); BatchNorm then sees
    #: ``batch_size / accumulate`` clips (stated in the run's config.json). For cards too small
    #: for the batch (``python -m asdlib preflight`` says when).
    accumulate: int = 1
    #: Batches each data loader worker prepares ahead (in /dev/shm): workers x this x batch clips.
    prefetch_factor: int = 4
    #: The validation loss is computed every this many epochs and at every epoch that saves a
    #: checkpoint (the validation selection needs it there); 1: every epoch. It never changes
    #: the weights, only which rows of the training log have ``val_loss``.
    validate_every: int = 1
    #: ``checkpoints/last.pt`` (what an interrupted run resumes from) is written every this many
    #: epochs and at every epoch that saves a checkpoint; 1: every epoch. A run interrupted in
    #: between redoes the epochs since; it never changes the weights.
    save_last_every: int = 1

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ValueError(f"train.precision = {self.precision!r}: expected one of {list(PRECISIONS)}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"train.optimizer = {self.optimizer!r}: expected one of {list(OPTIMIZERS)}")
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"train.scheduler = {self.scheduler!r}: expected one of {list(SCHEDULERS)}")
        if self.batch_unit not in BATCH_UNITS:
            raise ValueError(f"train.batch_unit = {self.batch_unit!r}: expected one of {list(BATCH_UNITS)}")
        for key, minimum in (("epochs", 1), ("batch_size", 1), ("seed", 0), ("checkpoint_every", 1),
                             ("num_workers", 0), ("scheduler_start_epoch", 0), ("cosine_t_max", 0),
                             ("accumulate", 1), ("prefetch_factor", 1), ("validate_every", 1),
                             ("save_last_every", 1)):
            check_whole(f"train.{key}", getattr(self, key), minimum)
        check_whole("train.max_steps_per_epoch", self.max_steps_per_epoch, 1, optional=True)
        check_number("train.lr", self.lr, 0.0, low_open=True)
        check_number("train.weight_decay", self.weight_decay, 0.0)
        check_number("train.eta_min_ratio", self.eta_min_ratio, 0.0, 1.0)
        check_number("train.mixup_alpha", self.mixup_alpha, 0.0)
        for key in ("compile", "tf32", "sync_batchnorm"):
            if not isinstance(getattr(self, key), bool):
                raise ValueError(f"train.{key} = {getattr(self, key)!r}: expected true or false")
        if self.batch_size % self.accumulate:
            raise ValueError(f"train.accumulate = {self.accumulate} does not divide train.batch_size = "
                             f"{self.batch_size}: the micro-batches must make up the batch exactly")
        if not isinstance(self.device, str):
            raise ValueError(f"train.device = {self.device!r}: expected \"auto\", \"cpu\" or \"cuda[:N]\"")


#: Settings that may differ between a checkpoint and the run resuming it.
RUNTIME_KEYS = {"num_workers", "device", "compile", "prefetch_factor", "validate_every",
                "save_last_every"}


#: A run name: one plain folder name (no path separators, no "..", not hidden).
RUN_NAME_RE = re.compile(r"^[A-Za-z0-9_+][A-Za-z0-9._+-]{0,99}$")


def check_run_name(name, where: str = "") -> str:
    """A run name that is one plain folder name under ``results/<profile>/runs/``, else a ValueError naming it. Notebook 03."""
    if not isinstance(name, str) or not RUN_NAME_RE.match(name):
        raise ValueError(f"{where + ': ' if where else ''}run name {name!r}: it names the run's folder "
                         "under results/<profile>/runs/, so it must be letters, digits, '.', '_', '+' "
                         "or '-' (at most 100, not starting with '.' or '-'), without '/'")
    return name


@dataclass(frozen=True)
class RunConfig:
    """One training run: a name, the model, the data and the training settings. Notebook 03."""

    name: str = "proposed"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainSettings = field(default_factory=TrainSettings)

    def __post_init__(self):
        check_run_name(self.name)

    def to_dict(self) -> dict:
        """Plain nested dictionary (saved in checkpoints and run folders)."""
        d = asdict(self)
        d["data"]["machine_types"] = (list(self.data.machine_types)
                                      if self.data.machine_types else None)
        return d

    def identity(self) -> dict:
        """The settings that define the run's result (runtime-only settings removed)."""
        d = self.to_dict()
        d["train"] = {k: v for k, v in d["train"].items() if k not in RUNTIME_KEYS}
        return d

    def with_overrides(self, overrides: dict[str, object]) -> "RunConfig":
        """Copy with dotted-key overrides, e.g. ``{"train.epochs": 2, "model.embedding_dim": 64}``."""
        d = self.to_dict()
        for key, value in overrides.items():
            section, _, name = key.partition(".")
            if section == "name" and not name:
                d["name"] = value
                continue
            if section not in ("model", "data", "train") or name not in d[section]:
                raise ValueError(f"unknown setting {key!r}")
            d[section][name] = value
        return run_config_from_dict(d)


def _build(cls, d: dict | None, where: str):
    d = dict(d or {})
    if cls is TrainSettings and "amp" in d:  # written before `precision` existed
        raise ValueError(
            f"{where}: setting 'amp' was replaced by 'precision' (\"fp32\", the authors' and the "
            f"default, or \"bf16\" as an opt-in); amp = {d['amp']!r} meant bf16 autocast on CUDA "
            "and fp32 elsewhere: write the precision the run really used, or train it again")
    known = {f.name for f in fields(cls)}
    unknown = set(d) - known
    if unknown:
        raise ValueError(f"{where}: unknown setting(s) {sorted(unknown)}; known: {sorted(known)}")
    if isinstance(d.get("machine_types"), list):
        d["machine_types"] = tuple(d["machine_types"])
    try:
        return cls(**d)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None


def run_config_from_dict(d: dict, where: str = "configuration") -> RunConfig:
    """Build a ``RunConfig`` from a nested dictionary; unknown keys raise an error naming them. Notebook 03."""
    unknown = set(d) - {"name", "model", "data", "train"}
    if unknown:
        raise ValueError(f"{where}: unknown section(s) {sorted(unknown)}")
    try:
        model = ModelConfig.from_dict(dict(d.get("model") or {}))
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where}: [model] {e}") from None
    return RunConfig(
        name=check_run_name(d.get("name", "proposed"), where),
        model=model,
        data=_build(DataConfig, d.get("data"), f"{where}: [data]"),
        train=_build(TrainSettings, d.get("train"), f"{where}: [train]"),
    )


def load_config(path: str | Path) -> RunConfig:
    """Read a run configuration from a TOML file (errors name the file). Notebook 03."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"configuration file not found: {path}")
    try:
        d = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path}: not valid TOML: {e}") from None
    d.setdefault("name", path.stem)
    return run_config_from_dict(d, where=str(path))


def profile_configs(profile: str) -> dict[str, Path]:
    """The configuration files of a profile (``configs/<profile>/*.toml``) by run name. Notebook 05."""
    folder = CONFIGS_DIR / profile
    if not folder.is_dir():
        raise FileNotFoundError(f"no configurations for profile {profile!r}: {folder} missing")
    return {p.stem: p for p in sorted(folder.glob("*.toml"))}


__all__ = ["BATCH_UNITS", "DataConfig", "TrainSettings", "TRAINING_SETS", "RunConfig", "PRECISIONS", "load_config", "run_config_from_dict",
           "profile_configs", "replace"]
