"""A deterministic generator of synthetic machine sounds in the DCASE 2020 Task 2 layout.

The real data hold too few anomalies to train or test at smoke scale without the 15 GB download,
so the smoke runs and the tests train on these sounds. Each machine type has its own character,
each machine ID differs from the others of its type in a stable way (fundamental, harmonic
weights, resonance, spectral tilt, rhythm), and every clip varies at random (phase, pitch jitter,
background level, gain). Anomalies change the spectral or temporal pattern (an extra tone, a
shifted resonance, amplitude modulation, transient impacts, pitch drift); loudness is normalised
per clip with a random gain, so energy alone does not tell anomalies apart.
Explained in notebook 01_data.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
from scipy.signal import fftconvolve
from sklearn.metrics import roc_auc_score

from asdlib.data.audio import load_wav, save_wav
from asdlib.data.dataset import SPLITS, scan_dataset
from asdlib.data.dcase import ADDITIONAL_IDS, DEV_IDS, MACHINE_TYPES, SAMPLE_RATE

__all__ = [
    "SMOKE_IDS",
    "ANOMALY_KINDS",
    "SyntheticDatasetError",
    "anomaly_kind",
    "synthesize_clip",
    "generate_synthetic_dataset",
    "energy_baseline_auc",
]

#: Default machine IDs: two real development IDs per type, so the paper's label map applies
#: (pump id_06 and slider id_00 share class 13, as in the paper).
SMOKE_IDS: dict[str, tuple[str, ...]] = {
    "fan": ("00", "06"),
    "pump": ("00", "06"),
    "slider": ("00", "06"),
    "valve": ("00", "06"),
    "ToyCar": ("01", "04"),
    "ToyConveyor": ("01", "03"),
}
#: The kinds of synthetic anomaly; an anomalous clip with index i has kind ``i % 5``.
ANOMALY_KINDS = ("extra_tone", "resonance_shift", "modulation", "impacts", "pitch_drift")

DEFAULT_N_TRAIN = 40
DEFAULT_N_TEST_NORMAL = 12
DEFAULT_N_TEST_ANOMALY = 12
#: Per-clip loudness (RMS, dBFS) is drawn uniformly from this range, for normal and anomalous clips alike.
RMS_DBFS_RANGE = (-36.0, -24.0)
META_FILE = "synthetic.json"
PARTIAL_FILE = ".synthetic.partial.json"
FORMAT_VERSION = 1


class SyntheticDatasetError(ValueError):
    """A synthetic-data folder that holds other data or a dataset made with other parameters. Notebook 01."""


# --------------------------------------------------------------------------- signal design


@dataclass(frozen=True)
class _Recipe:
    """The character of one machine type (levels are relative RMS of each component)."""

    f0: float  # fundamental of the tonal part, Hz
    n_harmonics: int
    harmonic_decay: float  # harmonic k has weight ~ k**-decay
    tonal: float  # level of the harmonic series (0: none)
    second_ratio: float = 0.0  # a second series at f0 * ratio (gear mesh), 0: none
    second: float = 0.0
    sweep: tuple[float, float, float] | None = None  # (low ratio, high ratio, period s): slider
    noise: float = 1.0
    noise_tilt: float = 1.0  # noise power ~ f**-tilt
    resonance: float = 1500.0  # Hz, centre of a resonant bump in the noise
    resonance_width: float = 400.0  # Hz
    resonance_gain: float = 4.0
    events: float = 0.0  # level of impacts/clicks (0: none)
    event_period: float = 0.25  # s between events (periodic) or mean gap (random)
    event_periodic: bool = True
    event_freq: float = 2500.0  # Hz, ring frequency of an impact
    event_decay: float = 0.004  # s
    am_rate: float = 0.0  # Hz, natural pulsation (0: none)
    am_depth: float = 0.0


_RECIPES: dict[str, _Recipe] = {
    # broadband airflow noise with a resonance + blade-pass harmonics
    "fan": _Recipe(f0=95.0, n_harmonics=8, harmonic_decay=0.8, tonal=0.6, noise=1.0,
                   noise_tilt=0.8, resonance=1200.0, resonance_width=500.0),
    # low harmonic hum with a pulsation, some flow noise
    "pump": _Recipe(f0=50.0, n_harmonics=14, harmonic_decay=0.6, tonal=1.0, noise=0.35,
                    noise_tilt=1.2, resonance=700.0, resonance_width=250.0, am_rate=3.0,
                    am_depth=0.35),
    # a sliding rail: a tone sweeping up and down, an impact at every turn
    "slider": _Recipe(f0=300.0, n_harmonics=4, harmonic_decay=1.0, tonal=0.7,
                      sweep=(0.7, 1.5, 0.5), noise=0.45, noise_tilt=1.0, resonance=2500.0,
                      resonance_width=700.0, events=0.6, event_period=0.25, event_freq=1800.0,
                      event_decay=0.006),
    # a solenoid valve: periodic clicks on a quiet background
    "valve": _Recipe(f0=0.0, n_harmonics=0, harmonic_decay=1.0, tonal=0.0, noise=0.3,
                     noise_tilt=1.5, resonance=3000.0, resonance_width=800.0, events=1.0,
                     event_period=0.22, event_freq=3200.0, event_decay=0.003),
    # a toy car: motor whine with gear-mesh harmonics
    "ToyCar": _Recipe(f0=380.0, n_harmonics=6, harmonic_decay=0.9, tonal=1.0,
                      second_ratio=2.6, second=0.5, noise=0.4, noise_tilt=1.4,
                      resonance=1800.0, resonance_width=600.0),
    # a toy conveyor: belt hum + random small rattles
    "ToyConveyor": _Recipe(f0=70.0, n_harmonics=10, harmonic_decay=0.7, tonal=0.8, noise=0.5,
                           noise_tilt=1.0, resonance=900.0, resonance_width=300.0, events=0.35,
                           event_period=0.06, event_periodic=False, event_freq=4200.0,
                           event_decay=0.002),
}


def _id_rng(machine_type: str, machine_id: str) -> np.random.Generator:
    """Random numbers fixed for one machine (the same whatever the seed: the machine is the machine)."""
    return np.random.default_rng([7919, MACHINE_TYPES.index(machine_type), int(machine_id)])


def _clip_rng(seed: int, machine_type: str, machine_id: str, split: str, label: str, index: int) -> np.random.Generator:
    """Random numbers of one clip, seeded from (seed, type, id, split, label, index)."""
    key = [
        int(seed),
        MACHINE_TYPES.index(machine_type),
        int(machine_id),
        SPLITS.index(split),
        int(label == "anomaly"),
        int(index),
    ]
    return np.random.default_rng(key)


@dataclass(frozen=True)
class _Machine:
    """The stable parameters of one machine ID (derived from its type's recipe)."""

    recipe: _Recipe
    f0: float
    weights: np.ndarray
    second_weights: np.ndarray
    noise_tilt: float
    resonance: float
    event_period: float
    event_freq: float
    am_rate: float


def _machine(machine_type: str, machine_id: str) -> _Machine:
    r = _RECIPES[machine_type]
    n = int(machine_id)
    rng = _id_rng(machine_type, machine_id)
    k = np.arange(1, max(r.n_harmonics, 1) + 1)
    weights = k ** -(r.harmonic_decay + 0.15 * (n % 3)) * rng.uniform(0.3, 1.0, k.size)
    second_weights = np.array([1.0, 0.5, 0.25]) * rng.uniform(0.5, 1.0, 3)
    return _Machine(
        recipe=r,
        f0=r.f0 * (1.0 + 0.12 * n),
        weights=weights,
        second_weights=second_weights,
        noise_tilt=r.noise_tilt + 0.12 * (n % 4),
        resonance=r.resonance * (1.0 + 0.11 * n),
        event_period=r.event_period * (1.0 + 0.09 * n),
        event_freq=r.event_freq * (1.0 + 0.1 * n),
        am_rate=r.am_rate * (1.0 + 0.15 * n),
    )


def _unit(x: np.ndarray) -> np.ndarray:
    rms = np.sqrt(np.mean(x**2))
    return x / rms if rms > 0 else x


def _harmonics(
    rng: np.random.Generator, inst_freq: np.ndarray, weights: np.ndarray, sr: int
) -> np.ndarray:
    """A harmonic series following an instantaneous fundamental (Hz per sample), below 0.45 sr."""
    phase = 2 * np.pi * np.cumsum(inst_freq) / sr
    out = np.zeros_like(inst_freq)
    fmax = inst_freq.max()
    for h, w in enumerate(weights, start=1):
        if h * fmax >= 0.45 * sr:
            break
        out += w * np.sin(h * phase + rng.uniform(0, 2 * np.pi))
    return out


def _coloured_noise(
    rng: np.random.Generator, n: int, sr: int, tilt: float, resonance: float, width: float, gain: float
) -> np.ndarray:
    """White noise shaped to power ~ f**-tilt with a Gaussian resonant bump."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / sr)
    shape = (np.maximum(f, 30.0) / 1000.0) ** (-tilt / 2)
    shape *= 1.0 + gain * np.exp(-0.5 * ((f - resonance) / width) ** 2)
    return _unit(np.fft.irfft(spec * shape, n))


def _impacts(
    rng: np.random.Generator, times: np.ndarray, n: int, sr: int, freq: float, decay: float
) -> np.ndarray:
    """Damped sinusoids ('clicks') starting at the given times (s), random amplitudes."""
    pulses = np.zeros(n)
    idx = (np.asarray(times) * sr).astype(int)
    idx = idx[(idx >= 0) & (idx < n)]
    pulses[idx] = rng.uniform(0.6, 1.0, idx.size)
    t = np.arange(int(6 * decay * sr) + 1) / sr
    kernel = np.exp(-t / decay) * np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi))
    return fftconvolve(pulses, kernel)[:n]


def _event_times(rng: np.random.Generator, seconds: float, period: float, periodic: bool, jitter: float = 0.02) -> np.ndarray:
    if periodic:
        start = rng.uniform(0, period)
        times = np.arange(start, seconds, period)
        return times + rng.normal(0, jitter * period, times.size)
    count = rng.poisson(seconds / period)
    return np.sort(rng.uniform(0, seconds, count))


def anomaly_kind(index: int) -> str:
    """The kind of synthetic anomaly an anomalous clip with this index carries. Notebook 01."""
    return ANOMALY_KINDS[int(index) % len(ANOMALY_KINDS)]


def synthesize_clip(
    machine_type: str,
    machine_id: str,
    split: str = "train",
    label: str = "normal",
    index: int = 0,
    *,
    seed: int = 0,
    clip_seconds: float = 1.0,
    sample_rate: int = SAMPLE_RATE,
) -> np.ndarray:
    """One synthetic clip (float64 in [-1, 1]), fully determined by its arguments. Notebook 01."""
    if machine_type not in MACHINE_TYPES:
        raise ValueError(f"unknown machine type {machine_type!r}; known: {', '.join(MACHINE_TYPES)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    if label not in ("normal", "anomaly"):
        raise ValueError(f"unknown label {label!r}; expected 'normal' or 'anomaly'")
    sr = int(sample_rate)
    n = int(round(clip_seconds * sr))
    if n <= 0:
        raise ValueError(f"clip_seconds must be positive, got {clip_seconds}")
    seconds = n / sr
    m = _machine(machine_type, machine_id)
    r = m.recipe
    rng = _clip_rng(seed, machine_type, machine_id, split, label, index)
    kind = anomaly_kind(index) if label == "anomaly" else None
    t = np.arange(n) / sr

    # per-clip variation
    f0 = m.f0 * (1.0 + rng.normal(0, 0.008))
    resonance = m.resonance * (1.0 + rng.normal(0, 0.02))
    event_freq = m.event_freq * (1.0 + rng.normal(0, 0.02))
    noise_level = r.noise * np.exp(rng.uniform(np.log(0.75), np.log(1.33)))
    tonal_level = r.tonal * rng.uniform(0.85, 1.15)
    event_level = r.events * rng.uniform(0.85, 1.15)
    drift = 0.0
    period_jitter = 0.02
    if kind == "resonance_shift":
        factor = rng.choice([0.6, 1.6])
        resonance *= factor
        event_freq *= factor
    elif kind == "pitch_drift":
        drift = rng.choice([-1.0, 1.0]) * rng.uniform(0.08, 0.15)
        period_jitter = 0.25  # irregular rhythm for the event-driven machines

    inst_f0 = f0 * (1.0 + drift * t / seconds)
    x = np.zeros(n)
    if r.tonal > 0:
        if r.sweep is not None:
            lo, hi, period = r.sweep
            phase0 = rng.uniform(0, 1)
            tri = 1.0 - np.abs(2.0 * (((t / (period * (1 + drift))) + phase0) % 1.0) - 1.0)
            inst = inst_f0 * (lo + (hi - lo) * tri)
        else:
            inst = inst_f0
        x += tonal_level * _unit(_harmonics(rng, inst, m.weights, sr))
        if r.second > 0:
            x += r.second * _unit(_harmonics(rng, inst_f0 * r.second_ratio, m.second_weights, sr))
    x += noise_level * _coloured_noise(rng, n, sr, m.noise_tilt, resonance, r.resonance_width, r.resonance_gain)
    if r.events > 0:
        times = _event_times(rng, seconds, m.event_period, r.event_periodic, period_jitter)
        if times.size:
            x += event_level * _unit(_impacts(rng, times, n, sr, event_freq, r.event_decay))
    if m.am_rate > 0:
        x *= 1.0 + r.am_depth * np.sin(2 * np.pi * m.am_rate * t + rng.uniform(0, 2 * np.pi))

    # anomalies that add to the normal sound
    if kind == "extra_tone":
        base = f0 if f0 > 0 else 300.0 * (1 + 0.1 * int(machine_id))
        ratio = rng.uniform(1.3, 1.7) if rng.random() < 0.5 else rng.uniform(2.3, 2.7)
        tone = _unit(_harmonics(rng, np.full(n, base * ratio), np.array([1.0, 0.4]), sr))
        x += rng.uniform(0.5, 0.8) * np.sqrt(np.mean(x**2)) * tone
    elif kind == "modulation":
        rate, depth = rng.uniform(6.0, 20.0), rng.uniform(0.6, 0.9)
        x *= 1.0 + depth * np.sin(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi))
    elif kind == "impacts":
        times = np.sort(rng.uniform(0, seconds, max(1, rng.poisson(8 * seconds))))
        hits = _unit(_impacts(rng, times, n, sr, rng.uniform(800, 4000), rng.uniform(0.003, 0.01)))
        x += rng.uniform(0.5, 0.8) * np.sqrt(np.mean(x**2)) * hits

    # loudness: the same random distribution for normal and anomalous clips
    target = 10 ** (rng.uniform(*RMS_DBFS_RANGE) / 20)
    x = _unit(x) * target
    peak = np.abs(x).max()
    if peak > 0.98:
        x *= 0.98 / peak
    return x


# --------------------------------------------------------------------------- dataset on disk


def _normalise_ids(machine_ids: Mapping[str, tuple[str, ...] | list[str]] | None) -> dict[str, list[str]]:
    machine_ids = SMOKE_IDS if machine_ids is None else machine_ids
    out: dict[str, list[str]] = {}
    for mt, ids in machine_ids.items():
        if mt not in MACHINE_TYPES:
            raise ValueError(f"unknown machine type {mt!r} in machine_ids; known: {', '.join(MACHINE_TYPES)}")
        ids = [ids] if isinstance(ids, str) else list(ids)
        known = DEV_IDS[mt] + ADDITIONAL_IDS[mt]
        bad = [i for i in ids if i not in known]
        if bad or not ids:
            raise ValueError(
                f"machine_ids[{mt!r}] = {ids}: each ID must be one of {', '.join(sorted(known))}"
            )
        out[mt] = sorted(set(ids))
    if not out:
        raise ValueError("machine_ids is empty")
    return out


def _planned_clips(params: dict) -> list[tuple[str, str, str, str, int]]:
    """(type, id, split, label, index) of every clip; additional-training IDs get train clips only."""
    clips = []
    for mt, ids in params["machine_ids"].items():
        for mid in ids:
            clips += [(mt, mid, "train", "normal", i) for i in range(params["n_train"])]
            if mid in DEV_IDS[mt]:
                clips += [(mt, mid, "test", "normal", i) for i in range(params["n_test_normal"])]
                clips += [(mt, mid, "test", "anomaly", i) for i in range(params["n_test_anomaly"])]
    return clips


def _clip_path(root: Path, mt: str, mid: str, split: str, label: str, index: int) -> Path:
    return root / mt / split / f"{label}_id_{mid}_{index:08d}.wav"


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SyntheticDatasetError(f"{path}: unreadable synthetic-dataset record ({exc})") from exc


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def _layout_wavs(root: Path) -> list[Path]:
    return [p for p in root.glob("*/*/*.wav")]


def _remove_clips(root: Path) -> None:
    """Remove the clips of a previous synthetic dataset (only inside the known type/split folders)."""
    for mt in MACHINE_TYPES:
        for split in SPLITS:
            folder = root / mt / split
            for p in folder.glob("*.wav"):
                p.unlink()
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        if (root / mt).is_dir() and not any((root / mt).iterdir()):
            (root / mt).rmdir()


def _differences(old: dict, new: dict) -> str:
    keys = sorted(set(old) | set(new))
    return ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k))


def generate_synthetic_dataset(
    root: str | os.PathLike,
    *,
    clip_seconds: float = 1.0,
    machine_ids: Mapping[str, tuple[str, ...] | list[str]] | None = None,
    n_train: int = DEFAULT_N_TRAIN,
    n_test_normal: int = DEFAULT_N_TEST_NORMAL,
    n_test_anomaly: int = DEFAULT_N_TEST_ANOMALY,
    seed: int = 0,
    sample_rate: int = SAMPLE_RATE,
    overwrite: bool = False,
) -> pd.DataFrame:
    """Write (or reuse) a deterministic synthetic dataset in the DCASE layout; return its clip table. Notebook 01."""
    root = Path(root).expanduser().resolve()
    for name, value in (("n_train", n_train), ("n_test_normal", n_test_normal), ("n_test_anomaly", n_test_anomaly)):
        if int(value) < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    if clip_seconds <= 0:
        raise ValueError(f"clip_seconds must be positive, got {clip_seconds}")
    params = {
        "generator": "asdlib.data.synthetic",
        "version": FORMAT_VERSION,
        "clip_seconds": float(clip_seconds),
        "machine_ids": _normalise_ids(machine_ids),
        "n_train": int(n_train),
        "n_test_normal": int(n_test_normal),
        "n_test_anomaly": int(n_test_anomaly),
        "seed": int(seed),
        "sample_rate": int(sample_rate),
    }
    params = json.loads(json.dumps(params))  # the form it has once read back from disk
    clips = _planned_clips(params)
    meta, partial = root / META_FILE, root / PARTIAL_FILE

    if root.exists() and not root.is_dir():
        raise SyntheticDatasetError(f"{root} exists and is not a folder")
    old = None
    if meta.exists():
        old = _read_json(meta)
        if old == params and all(_clip_path(root, *c).exists() for c in clips):
            return scan_dataset(root)
    elif partial.exists():
        old = _read_json(partial)  # an interrupted generation
    elif root.exists() and _layout_wavs(root):
        raise SyntheticDatasetError(
            f"folder {root} already holds WAV files that asdlib.data.synthetic did not write "
            f"(no {META_FILE}); refusing to write synthetic clips there: choose an empty folder"
        )
    if old is not None and old != params:
        if not overwrite:
            raise SyntheticDatasetError(
                f"folder {root} holds a synthetic dataset made with other parameters "
                f"({_differences(old, params)}); pass overwrite=True to replace it "
                f"or choose another folder"
            )
        _remove_clips(root)

    root.mkdir(parents=True, exist_ok=True)
    _write_json(partial, params)  # first: marks the folder as ours while it is incomplete
    if meta.exists():
        meta.unlink()
    for mt, mid, split, label, index in clips:
        wave = synthesize_clip(
            mt, mid, split, label, index, seed=params["seed"],
            clip_seconds=params["clip_seconds"], sample_rate=params["sample_rate"],
        )
        save_wav(_clip_path(root, mt, mid, split, label, index), wave, params["sample_rate"])
    _write_json(meta, params)  # last: the dataset is complete
    partial.unlink()
    return scan_dataset(root)


def energy_baseline_auc(df: pd.DataFrame) -> pd.DataFrame:
    """Per-type AUC of clip RMS energy as anomaly score on the test split (0.5 = uninformative). Notebook 01."""
    test = df[df["split"] == "test"]
    if test.empty:
        raise ValueError("the clip table has no test clips")
    rows = []
    for mt, group in test.groupby("machine_type", sort=False):
        rms = [float(np.sqrt(np.mean(load_wav(p, None).astype(np.float64) ** 2))) for p in group["path"]]
        y = group["anomaly"].to_numpy()
        auc = float(roc_auc_score(y, rms)) if 0 < y.sum() < len(y) else float("nan")
        rows.append({"machine_type": mt, "n_normal": int((y == 0).sum()), "n_anomaly": int(y.sum()), "auc": auc})
    order = [mt for mt in MACHINE_TYPES if mt in {r["machine_type"] for r in rows}]
    return pd.DataFrame(rows).set_index("machine_type").loc[order].reset_index()
