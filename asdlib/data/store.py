"""A decoded clip store: every clip of a file list decoded once into one flat int16 file.

Decoding 36,283 WAVs on every access (what the authors' loader does) costs more than the
network on a GPU. The store decodes each clip once, in parallel, into
``<cache>/<name>-<key>/clips.int16`` (clips x samples, 16-bit), reused across epochs, runs and
notebooks. Reads use ``os.pread`` of one clip at a time, so memory stays proportional to the
batch, not to the 11.6 GB store. A store whose files changed (size or modification time) is
detected and rebuilt; a build that fails leaves any earlier store untouched.

One build at a time: a lock file beside the store (removed when the build ends) makes a second
process (``train-many`` on several GPUs, DDP ranks on nodes without a shared cache) wait for the
first and reuse its store instead of decoding the 11.6 GB again and racing on the final rename. Each build writes into a
uniquely named ``.building-<host>-<pid>-<random>`` folder, removed when the build fails; one left
by a killed process (gigabytes at full scale) is removed by the next build on that host.
Explained in notebook 03_training.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
import sys
import time
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from asdlib.data.dcase import SAMPLE_RATE
from asdlib.folders import pid_alive
from asdlib.paths import cache_dir
from asdlib.data.audio import load_clip

FORMAT_VERSION = 1


class StoreBuildError(RuntimeError):
    """A clip could not be decoded while building a store (the message names the file)."""


def _fingerprint(paths: list[str], num_samples: int, sample_rate: int) -> tuple[str, str]:
    """(key of the file list and length, fingerprint that also covers sizes and mtimes)."""
    names = hashlib.sha256()
    full = hashlib.sha256()
    for p in paths:
        st = os.stat(p)
        names.update(p.encode() + b"\0")
        full.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    tail = f"|{num_samples}|{sample_rate}|v{FORMAT_VERSION}".encode()
    names.update(tail)
    full.update(tail)
    return names.hexdigest()[:16], full.hexdigest()


@dataclass
class ClipStore:
    """An opened store: its clip table (``table``, one row per clip) and fast per-clip reads. Notebook 03."""

    folder: Path
    table: pd.DataFrame
    num_samples: int
    sample_rate: int

    def __post_init__(self):
        self._fd: int | None = None
        self._pid: int | None = None
        self._rows = self.table["row"].to_numpy()
        self._clip_bytes = self.num_samples * 2

    def __len__(self) -> int:
        return len(self.table)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_fd"], state["_pid"] = None, None
        return state

    def _handle(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self.folder / "clips.int16", os.O_RDONLY)
            self._pid = os.getpid()
        return self._fd

    def read_int16(self, i: int) -> np.ndarray:
        """Clip ``i`` (position in ``table``) as int16 samples."""
        buf = os.pread(self._handle(), self._clip_bytes, int(self._rows[i]) * self._clip_bytes)
        if len(buf) != self._clip_bytes:
            raise StoreBuildError(f"{self.folder}: clips.int16 is truncated at clip {i}")
        return np.frombuffer(buf, dtype=np.int16)

    def read(self, i: int) -> np.ndarray:
        """Clip ``i`` as float32 in [-1, 1)."""
        return self.read_int16(i).astype(np.float32) / 32768.0

    def memmap(self) -> np.memmap:
        """A read-only (clips, samples) int16 memory map of the whole store, for analysis."""
        rows = int(self.table["row"].max()) + 1 if len(self.table) else 0
        return np.memmap(self.folder / "clips.int16", dtype=np.int16, mode="r",
                         shape=(rows, self.num_samples))

    def __del__(self):
        if getattr(self, "_fd", None) is not None and self._pid == os.getpid():
            try:
                os.close(self._fd)
            except OSError:
                pass


def open_store(folder: str | Path) -> ClipStore:
    """Open an existing store folder (``meta.json``, ``index.csv``, ``clips.int16``). Notebook 03."""
    folder = Path(folder)
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"{folder} is not a clip store (no meta.json)")
    meta = json.loads(meta_path.read_text())
    table = pd.read_csv(folder / "index.csv", dtype={"machine_id": str}, keep_default_na=False)
    return ClipStore(folder, table, int(meta["num_samples"]), int(meta["sample_rate"]))


def _with_table(store: ClipStore, clips: pd.DataFrame, paths: list[str]) -> ClipStore:
    """A reused store with the caller's clip table: its columns (e.g. class indices under another
    label map) replace those saved by whoever built the store; the rows follow the paths."""
    rows = dict(zip(store.table["path"], store.table["row"]))
    table = clips.copy()
    table["path"] = paths
    table = table[table["path"].isin(rows)].reset_index(drop=True)  # clips skipped when built
    table["row"] = table["path"].map(rows).astype(np.int64)
    return ClipStore(store.folder, table, store.num_samples, store.sample_rate)


def remove_leftovers(root: str | Path) -> list[Path]:
    """Remove the temporary folders (``.building-*``, ``.old-*``) that killed store builds on this host left under ``root``; returns them. Notebook 03."""
    host, removed = socket.gethostname(), []
    for tmp in Path(root).glob(".*"):
        match = re.match(r"^\..+\.(?:building|old)-(.+)$", tmp.name)
        if not match or not tmp.is_dir():
            continue
        parts = match.group(1).split("-")
        if len(parts) == 1 and parts[0].isdigit():  # written before host names were in it: -<pid>
            their_host, pid = host, int(parts[0])
        elif len(parts) >= 3 and parts[-2].isdigit():
            their_host, pid = "-".join(parts[:-2]), int(parts[-2])
        else:
            continue
        if their_host == host and not pid_alive(pid):
            shutil.rmtree(tmp, ignore_errors=True)
            removed.append(tmp)
    return removed


@contextlib.contextmanager
def _build_lock(path: Path, what: str, progress: bool):
    """Hold an exclusive lock on the file ``path`` (waiting, with one line, while another process
    builds); the file is removed on release, so a lock that was released and removed while this
    process waited is taken again on a fresh file."""
    said = False
    while True:
        handle = open(path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            if progress and not said:
                print(f"waiting for {holder} to finish building clip store {what}", file=sys.stderr,
                      flush=True)
                said = True
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            same = os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        handle.close()  # the holder removed it on release: lock the current file
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}")
        handle.flush()
        yield
    finally:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def _fresh(folder: Path, fingerprint: str, skip_bad: bool, clips: pd.DataFrame,
           paths: list[str], *, warn: bool) -> ClipStore | None:
    """The store at ``folder`` when it was built from these very files, else None."""
    if not (folder / "meta.json").is_file():
        return None
    meta = json.loads((folder / "meta.json").read_text())
    if meta.get("fingerprint") != fingerprint:
        if warn:
            warnings.warn(f"clip store {folder} is stale (files changed since it was built); rebuilding")
        return None
    if meta.get("skipped") and not skip_bad:  # built earlier with skip_bad=True
        raise StoreBuildError(f"cannot decode {meta['skipped'][0]} (clip store {folder} "
                              f"left out {len(meta['skipped'])} undecodable clip(s))")
    return _with_table(open_store(folder), clips, paths)


def _decode(path: str, num_samples: int, sample_rate: int) -> np.ndarray:
    wave = load_clip(path, num_samples, sample_rate=sample_rate)
    return np.clip(np.round(wave * 32768.0), -32768, 32767).astype(np.int16)


def build_store(clips: pd.DataFrame, num_samples: int, *, name: str = "clips",
                root: str | Path | None = None, sample_rate: int = SAMPLE_RATE,
                workers: int | None = None, skip_bad: bool = False,
                progress: bool = True) -> ClipStore:
    """Decode the clips of a table (column ``path``) once into an int16 store, or reuse a fresh one. Notebook 03.

    The store is keyed by the exact file list and ``num_samples``; if any file's size or
    modification time changed since it was built, it is rebuilt. A WAV that fails to decode
    stops the build with its name (``skip_bad=True``: skipped with a warning and left out of
    the table). The new store is written beside the old one and swapped in only when complete.
    One process builds at a time (a lock beside the store); the others wait and reuse it.
    """
    if "path" not in clips.columns:
        raise ValueError("build_store needs a clip table with a 'path' column")
    clips = clips.reset_index(drop=True)
    paths = [str(Path(p).resolve()) for p in clips["path"]]
    root = Path(root) if root is not None else cache_dir()
    key, fingerprint = _fingerprint(paths, num_samples, sample_rate)
    folder = root / f"{name}-{key}"
    store = _fresh(folder, fingerprint, skip_bad, clips, paths, warn=False)
    if store is not None:
        return store
    root.mkdir(parents=True, exist_ok=True)
    with _build_lock(root / f".{name}-{key}.lock", folder.name, progress):
        store = _fresh(folder, fingerprint, skip_bad, clips, paths, warn=True)  # built meanwhile?
        if store is not None:
            return store
        remove_leftovers(root)
        return _build(clips, paths, folder, root, name, key, fingerprint, num_samples,
                      sample_rate, workers, skip_bad, progress)


def _build(clips, paths, folder: Path, root: Path, name: str, key: str, fingerprint: str,
           num_samples: int, sample_rate: int, workers, skip_bad: bool, progress: bool) -> ClipStore:
    """Decode every clip into a fresh temporary folder and swap it in as ``folder`` (under the lock)."""
    unique = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp = root / f".{name}-{key}.building-{unique}"
    t_start = time.perf_counter()
    tmp.mkdir(parents=True)
    try:
        mm = np.memmap(tmp / "clips.int16", dtype=np.int16, mode="w+",
                       shape=(max(len(paths), 1), num_samples))
        bad: list[tuple[int, str]] = []
        workers = workers or min(16, os.cpu_count() or 1)

        def work(i: int):
            try:
                mm[i] = _decode(paths[i], num_samples, sample_rate)
                return None
            except Exception as e:  # noqa: BLE001 - reported with the file name below
                return (i, str(e) if str(e).startswith(paths[i]) else f"{paths[i]}: {e}")

        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = pool.map(work, range(len(paths)))
            for res in tqdm(results, total=len(paths), desc=f"decoding {name}", disable=not progress,
                            unit="clip"):
                if res is None:
                    continue
                if not skip_bad:
                    raise StoreBuildError(f"cannot decode {res[1]}")
                warnings.warn(f"skipping undecodable clip {res[1]}")
                bad.append(res)
        mm.flush()
        del mm
        table = clips.copy()
        table["path"] = paths
        table["row"] = np.arange(len(table))
        if bad:
            table = table.drop(index=[i for i, _ in bad]).reset_index(drop=True)
        table.to_csv(tmp / "index.csv", index=False)
        meta = {"key": key, "fingerprint": fingerprint, "num_samples": num_samples,
                "sample_rate": sample_rate, "clips": len(table), "skipped": [m for _, m in bad],
                "format_version": FORMAT_VERSION, "built_by": unique,
                "build_seconds": round(time.perf_counter() - t_start, 3)}  # for benchmarks/rehearsal.py
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if folder.exists():
        old = root / f".{name}-{key}.old-{unique}"
        folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(folder)
    return _with_table(open_store(folder), clips, paths)  # the caller's columns and dtypes


def load_batch(clips: pd.DataFrame, indices, num_samples: int, store: ClipStore | None = None) -> np.ndarray:
    """Clips ``indices`` of a table as one float32 batch: read from ``store`` when given, else decoded from ``path``. Notebook 04."""
    if store is not None:
        return np.stack([store.read(int(i)) for i in indices])

    return np.stack([load_clip(clips["path"].iloc[int(i)], num_samples) for i in indices])


class StoreDataset(torch.utils.data.Dataset):
    """Torch dataset over (a subset of) a store: yields ``(waveform float32, target int)``. Notebook 03."""

    def __init__(self, store: ClipStore, indices=None, targets=None):
        self.store = store
        self.indices = np.arange(len(store)) if indices is None else np.asarray(indices)
        if targets is None:
            targets = store.table["class_index"].to_numpy()[self.indices]
        self.targets = np.asarray(targets, dtype=np.int64)
        if len(self.targets) != len(self.indices):
            raise ValueError("targets and indices differ in length")

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k: int):
        wave = torch.from_numpy(self.store.read(int(self.indices[k])))
        return wave, int(self.targets[k])
