"""Tests of asdlib.data.store: the int16 clip store (build once, reuse, stale detection, bad files)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch

import asdlib.data.store as store_mod
from asdlib.data.audio import load_clip, save_wav
from asdlib.data.dataset import add_class_index, scan_dataset
from asdlib.data.store import ClipStore, StoreBuildError, StoreDataset, build_store, open_store

import engine_helpers as H

N = int(H.CLIP_SECONDS * 16000)


@pytest.fixture(autouse=True)
def _tmp_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("ASD_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture
def clips(tiny_data, tmp_path):
    """A private copy of a few tiny clips (tests below modify files), with class indices."""
    table = add_class_index(scan_dataset(tiny_data, splits=("test",)), "paper")
    table = table.groupby("machine_type").head(3).reset_index(drop=True)
    folder = tmp_path / "wavs"
    folder.mkdir()
    paths = []
    for p in table["path"]:
        dst = folder / os.path.basename(os.path.dirname(os.path.dirname(p))) / os.path.basename(p)
        dst.parent.mkdir(exist_ok=True)
        shutil.copy2(p, dst)
        paths.append(str(dst))
    table["path"] = paths
    return table


def _folders(root):
    return sorted(p.name for p in root.iterdir())


def test_build_then_reuse_without_decoding(clips, tmp_path, monkeypatch):
    root = tmp_path / "cache"
    first = build_store(clips, N, name="t", root=root, progress=False)
    assert isinstance(first, ClipStore) and len(first) == len(clips)
    meta_mtime = (first.folder / "meta.json").stat().st_mtime_ns
    data_mtime = (first.folder / "clips.int16").stat().st_mtime_ns

    def no_decoding(*a, **k):
        raise AssertionError("a fresh store was decoded again")

    monkeypatch.setattr(store_mod, "_decode", no_decoding)
    second = build_store(clips, N, name="t", root=root, progress=False)
    assert second.folder == first.folder
    assert (second.folder / "meta.json").stat().st_mtime_ns == meta_mtime
    assert (second.folder / "clips.int16").stat().st_mtime_ns == data_mtime
    assert _folders(root) == [first.folder.name]  # no temporary folders left behind
    assert second.table["path"].tolist() == first.table["path"].tolist()


def test_reused_store_keeps_the_callers_columns(clips, tmp_path):
    """A store built for one label map, reused for another, must carry the new class indices."""
    root = tmp_path / "cache"
    first = build_store(clips.assign(class_index=0), N, name="t", root=root, progress=False)
    second = build_store(clips.assign(class_index=7), N, name="t", root=root, progress=False)
    assert second.folder == first.folder
    assert (first.table["class_index"] == 0).all() and (second.table["class_index"] == 7).all()
    for i in range(len(second)):
        np.testing.assert_array_equal(second.read_int16(i), first.read_int16(i))


def test_default_root_is_cache_under_data_dir(clips, tmp_path):
    store = build_store(clips, N, name="t", progress=False)
    assert store.folder.parent == (tmp_path / "data" / "cache").resolve()


@pytest.mark.parametrize("num_samples", [N, N // 2, N + 1234])  # exact, cut, zero-padded
def test_reads_equal_load_clip(clips, tmp_path, num_samples):
    store = build_store(clips, num_samples, name="t", root=tmp_path / "cache", progress=False)
    assert store.num_samples == num_samples
    for i, path in enumerate(store.table["path"]):
        want = load_clip(path, num_samples)
        quantised = np.clip(np.round(want * 32768.0), -32768, 32767).astype(np.int16)
        got16 = store.read_int16(i)
        assert got16.dtype == np.int16 and got16.shape == (num_samples,)
        np.testing.assert_array_equal(got16, quantised)
        got = store.read(i)
        assert got.dtype == np.float32
        # the WAVs are 16-bit PCM, so decoding then quantising loses nothing
        np.testing.assert_array_equal(got, want)
    mm = store.memmap()
    np.testing.assert_array_equal(mm[store.table["row"].to_numpy()[1]], store.read_int16(1))


def test_open_store_reads_the_same(clips, tmp_path):
    store = build_store(clips, N, name="t", root=tmp_path / "cache", progress=False)
    again = open_store(store.folder)
    assert len(again) == len(store) and again.num_samples == N
    for i in range(len(store)):
        np.testing.assert_array_equal(again.read_int16(i), store.read_int16(i))
    with pytest.raises(FileNotFoundError, match="not a clip store"):
        open_store(tmp_path)


def test_changed_file_makes_store_stale_and_rebuilt(clips, tmp_path):
    root = tmp_path / "cache"
    store = build_store(clips, N, name="t", root=root, progress=False)
    old_fingerprint = json.loads((store.folder / "meta.json").read_text())["fingerprint"]
    victim = clips["path"].iloc[1]
    new_wave = np.full(N, 0.25, dtype=np.float32)
    save_wav(victim, new_wave)
    st = os.stat(victim)
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    with pytest.warns(UserWarning, match="stale"):
        rebuilt = build_store(clips, N, name="t", root=root, progress=False)
    assert rebuilt.folder == store.folder
    assert json.loads((rebuilt.folder / "meta.json").read_text())["fingerprint"] != old_fingerprint
    np.testing.assert_array_equal(rebuilt.read(1), load_clip(victim, N))
    assert np.all(rebuilt.read_int16(1) == 8192)
    np.testing.assert_array_equal(rebuilt.read(0), load_clip(clips["path"].iloc[0], N))
    assert _folders(root) == [store.folder.name]


def test_touch_alone_makes_store_stale(clips, tmp_path):
    root = tmp_path / "cache"
    build_store(clips, N, name="t", root=root, progress=False)
    victim = clips["path"].iloc[0]
    st = os.stat(victim)
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    with pytest.warns(UserWarning, match="stale"):
        build_store(clips, N, name="t", root=root, progress=False)


def test_corrupt_wav_names_file_and_keeps_old_store(clips, tmp_path):
    root = tmp_path / "cache"
    store = build_store(clips, N, name="t", root=root, progress=False)
    before = {p.name: p.read_bytes() for p in store.folder.iterdir()}
    victim = clips["path"].iloc[2]
    with open(victim, "r+b") as f:  # keep the size, destroy the RIFF header
        f.write(b"JUNKJUNKJUNKJUNK")
    with pytest.warns(UserWarning, match="stale"), pytest.raises(StoreBuildError) as err:
        build_store(clips, N, name="t", root=root, progress=False)
    assert os.path.basename(victim) in str(err.value)
    # the earlier store is still there, byte for byte, and no half-built folder is left
    assert _folders(root) == [store.folder.name]
    assert {p.name: p.read_bytes() for p in store.folder.iterdir()} == before
    old = open_store(store.folder)
    assert len(old) == len(clips)


def test_corrupt_wav_first_build_leaves_nothing(clips, tmp_path):
    root = tmp_path / "cache"
    victim = clips["path"].iloc[0]
    with open(victim, "wb") as f:
        f.write(b"not a wav file at all")
    with pytest.raises(StoreBuildError, match=os.path.basename(victim)):
        build_store(clips, N, name="t", root=root, progress=False)
    assert _folders(root) == []


def test_skip_bad_leaves_clip_out_with_warning(clips, tmp_path):
    victim = clips["path"].iloc[1]
    with open(victim, "wb") as f:
        f.write(b"RIFF garbage")
    with pytest.warns(UserWarning, match=os.path.basename(victim)):
        store = build_store(clips, N, name="t", root=tmp_path / "cache", skip_bad=True,
                            progress=False)
    assert len(store) == len(clips) - 1
    assert victim not in set(store.table["path"])
    meta = json.loads((store.folder / "meta.json").read_text())
    assert meta["clips"] == len(clips) - 1 and len(meta["skipped"]) == 1
    for i, path in enumerate(store.table["path"]):
        np.testing.assert_array_equal(store.read(i), load_clip(path, N))


def test_build_store_needs_path_column(tmp_path):
    with pytest.raises(ValueError, match="path"):
        build_store(pd.DataFrame({"x": [1]}), N, root=tmp_path, progress=False)


def test_store_dataset_items_and_loader(clips, tmp_path):
    store = build_store(clips, N, name="t", root=tmp_path / "cache", progress=False)
    ds = StoreDataset(store)
    assert len(ds) == len(clips)
    wave, target = ds[0]
    assert isinstance(wave, torch.Tensor) and wave.dtype == torch.float32 and wave.shape == (N,)
    assert type(target) is int and target == int(store.table["class_index"].iloc[0])
    sub = StoreDataset(store, indices=[3, 1], targets=[5, 6])
    assert len(sub) == 2
    w, t = sub[0]
    assert t == 5 and torch.equal(w, torch.from_numpy(store.read(3)))
    with pytest.raises(ValueError, match="length"):
        StoreDataset(store, indices=[0, 1], targets=[0])
    # through a DataLoader with worker processes: each worker opens its own file handle
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2)
    batches = list(loader)
    waves = torch.cat([b[0] for b in batches])
    targets = torch.cat([b[1] for b in batches])
    assert waves.shape == (len(clips), N) and waves.dtype == torch.float32
    assert targets.dtype == torch.int64
    for i in range(len(clips)):
        assert torch.equal(waves[i], torch.from_numpy(store.read(i)))


# --------------------------------------------------------------------------- one build at a time

_BUILDER = """
import json, os, sys, time
import pandas as pd
import asdlib.data.store as store_mod
real = store_mod._decode
def slow(*a, **k):  # each clip takes 0.2 s, so the two builds surely overlap
    time.sleep(0.2)
    return real(*a, **k)
store_mod._decode = slow
clips = pd.read_csv(sys.argv[1], dtype={"machine_id": str})
# both processes start building together, however long each took to start (a busy machine)
ready = sys.argv[3]
open(os.path.join(ready, str(os.getpid())), "w").close()
deadline = time.time() + 60
while len(os.listdir(ready)) < 2 and time.time() < deadline:
    time.sleep(0.01)
store = store_mod.build_store(clips, int(sys.argv[4]), name="t", root=sys.argv[2], workers=1)
meta = json.loads((store.folder / "meta.json").read_text())
print(json.dumps({"built_by": meta["built_by"], "inode": os.stat(store.folder / "clips.int16").st_ino,
                  "clips": len(store)}))
"""


def test_two_processes_started_together_build_the_store_once(clips, tmp_path):
    """Two trainings on an empty cache: one decodes, the other waits for it and reuses its store."""
    table = tmp_path / "clips.csv"
    clips.to_csv(table, index=False)
    root = tmp_path / "cache"
    ready = tmp_path / "ready"
    ready.mkdir()
    env = {**os.environ, "PYTHONPATH": str(H.REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    procs = [subprocess.Popen([sys.executable, "-c", _BUILDER, str(table), str(root), str(ready), str(N)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e[-2000:] for _, e in outs]
    reports = [json.loads(o.strip().splitlines()[-1]) for o, _ in outs]
    assert reports[0]["built_by"] == reports[1]["built_by"]  # one build
    assert reports[0]["inode"] == reports[1]["inode"]        # the same file, never replaced
    assert reports[0]["clips"] == reports[1]["clips"] == len(clips)
    assert sum("waiting for pid" in e for _, e in outs) == 1  # the second said it waited
    assert len(_folders(root)) == 1  # the store: no temporary folder, no lock file left


def test_leftovers_of_killed_builds_are_removed_at_the_next_build(clips, tmp_path):
    root = tmp_path / "cache"
    root.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    leftovers = [root / f".t-0123456789abcdef.building-{dead.pid}",               # the old naming
                 root / f".train-x-0123456789abcdef.building-{host}-{dead.pid}-deadbeef",
                 root / f".t-0123456789abcdef.old-{host}-{dead.pid}-cafecafe"]
    alive = root / f".t-0123456789abcdef.building-{host}-{os.getpid()}-0badf00d"  # a build under way
    other_host = root / f".t-0123456789abcdef.building-elsewhere-{dead.pid}-12345678"
    for folder in [*leftovers, alive, other_host]:
        folder.mkdir()
        (folder / "clips.int16").write_bytes(b"\0" * 64)
    build_store(clips, N, name="t", root=root, progress=False)
    assert not any(p.exists() for p in leftovers)
    assert alive.exists() and other_host.exists()  # a live process's, another host's: kept
