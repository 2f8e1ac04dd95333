"""Loading the authors' Lightning checkpoint: key map, strict checks, pickled extras, fetch and record."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import PurePosixPath

import pytest
import torch

import asdlib.engine.authors_checkpoint as ac
from asdlib.engine.authors_checkpoint import (authors_key_table, convert_authors_state_dict,
                                              load_authors_checkpoint)
from asdlib.engine.checkpoints import CheckpointError, UnsafeCheckpointError, load_checkpoint_file
from asdlib.nets.authors_network import to_authors_state_dict
from asdlib.nets.model import build_model

import checkpoint_helpers as CH


def _dtype(name: str) -> torch.dtype:
    return getattr(torch, name)


def test_key_table_matches_our_faithful_model_exactly():
    table = authors_key_table()
    ours = build_model().state_dict()
    assert len(table) == len(ours) == 220
    assert set(table["our_key"]) == set(ours)
    for row in table.itertuples():
        assert tuple(ours[row.our_key].shape) == row.shape, row.key
        assert ours[row.our_key].dtype == _dtype(row.dtype), row.key
    assert table.set_index("key").loc["model.wavegram.dwconv_normalization.num_batches_tracked", "shape"] == ()


def _authors_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """A state_dict with exactly the listed keys, shapes and dtypes: our fresh weights, perturbed."""
    g = torch.Generator().manual_seed(seed)
    sd = to_authors_state_dict(build_model())
    table = authors_key_table().set_index("key")
    assert set(sd) == set(table.index)
    out = {}
    for k, v in sd.items():
        assert tuple(v.shape) == table.at[k, "shape"] and v.dtype == _dtype(table.at[k, "dtype"])
        if k.endswith("num_batches_tracked"):
            out[k] = torch.tensor(1234, dtype=torch.int64)
        elif k.endswith("running_var"):
            out[k] = 0.5 + torch.rand(v.shape, generator=g)
        elif "transform_tf" in k:
            out[k] = v.clone()  # the Mel filterbank and window are fixed buffers
        else:
            out[k] = v + 0.05 * torch.randn(v.shape, generator=g)
    return out


def _lightning_checkpoint(sd: dict, **extra) -> dict:
    return {"epoch": 5, "global_step": 2_840, "pytorch-lightning_version": "2.0.0",
            "state_dict": sd, "optimizer_states": [], "lr_schedulers": [], **extra}


def test_load_lightning_checkpoint(tmp_path):
    sd = _authors_state_dict()
    path = tmp_path / "MWM_93.44_s40_m0.7.ckpt"
    torch.save(_lightning_checkpoint(sd), path)
    model = load_authors_checkpoint(path)
    assert model.label_map == "paper" and not model.training
    assert model.checkpoint_meta["epoch"] == 5 and model.checkpoint_meta["global_step"] == 2_840
    assert model.checkpoint_meta["mel_fb_max_abs_diff"] == 0.0
    ours = model.state_dict()
    for k, v in sd.items():
        assert torch.equal(ours[ac.our_key(k)], v), k
    with torch.no_grad():
        emb = model(torch.randn(1, 160_000))
        score = model.arcface(emb, torch.tensor([13]))
    assert emb.shape == (1, 128) and torch.isfinite(score).all()


def test_plain_state_dict_file_also_loads(tmp_path):
    sd = _authors_state_dict(1)
    torch.save(sd, tmp_path / "plain.pt")
    model = load_authors_checkpoint(tmp_path / "plain.pt")
    assert torch.equal(model.arcface.weight, sd["model.arcface.weight"])


@pytest.mark.parametrize("generation", ["2.x", "1.x"])
def test_realistic_lightning_checkpoint_loads_safely(tmp_path, generation):
    """A Lightning checkpoint with hyper-parameters (AttributeDict, Namespace, PosixPath), callback,
    loop, optimizer and scheduler states loads with weights_only=True, Lightning not installed."""
    sd = _authors_state_dict(2)
    path = CH.save_lightning_checkpoint(tmp_path / "MWM_93.44_s40_m0.7.ckpt", sd, generation)
    assert "lightning_fabric" not in sys.modules and "pytorch_lightning" not in sys.modules
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback warning: the safe loader reads it all
        model = load_authors_checkpoint(path)
    assert model.checkpoint_meta["epoch"] == 39 and model.checkpoint_meta["global_step"] == 22_680
    assert model.checkpoint_meta["pytorch-lightning_version"] == CH.LIGHTNING_NAMES[generation]["version"]
    assert torch.equal(model.arcface.weight, sd["model.arcface.weight"])
    raw = load_checkpoint_file(path)
    hp = raw["hyper_parameters"]
    assert hp["lr"] == 1e-4 and hp.s == 40.0  # attribute access, as Lightning's AttributeDict
    assert hp["save_dir"] == PurePosixPath("/home/user/runs/MWM")  # a pure path: no file access
    assert hp["args"] == argparse.Namespace(gpus=1, seed=40, data="dcase2020")
    assert raw["optimizer_states"][0]["param_groups"][0]["initial_lr"] == 1e-4
    assert raw["lr_schedulers"][0]["T_max"] == 300


def test_unknown_class_is_refused_naming_it_and_only_loaded_when_asked(tmp_path):
    class ExperimentConfig:
        def __init__(self):
            self.lr = 1e-4

    path = tmp_path / "custom.ckpt"
    with CH.lightning_pickling(), CH.fake_modules(my_project_config=ExperimentConfig):
        torch.save(CH.lightning_checkpoint(_authors_state_dict(), config=ExperimentConfig()), path)
    with pytest.raises(UnsafeCheckpointError) as err:
        load_authors_checkpoint(path)
    msg = str(err.value)
    assert "custom.ckpt" in msg and "my_project_config.ExperimentConfig" in msg and "\n" not in msg
    with pytest.warns(UserWarning, match="RUNS ANY CODE"):
        model = load_authors_checkpoint(path, allow_unsafe_pickle=True)  # explicit opt-in only
    assert model.label_map == "paper"


def test_wrong_shape_is_refused_naming_key_and_shapes(tmp_path):
    sd = _authors_state_dict()
    sd["model.heatmap.3.pwconv.weight"] = torch.zeros(32, 16, 1, 1)
    path = tmp_path / "bad.ckpt"
    torch.save(_lightning_checkpoint(sd), path)
    with pytest.raises(CheckpointError) as err:
        load_authors_checkpoint(path)
    msg = str(err.value)
    assert "bad.ckpt" in msg and "model.heatmap.3.pwconv.weight" in msg
    assert "expected 64x16x1x1" in msg and "got 32x16x1x1" in msg


def test_missing_and_unexpected_keys_are_refused():
    sd = _authors_state_dict()
    del sd["model.classifier.linear7.conv.weight"]
    sd["model.extra.weight"] = torch.zeros(3)
    with pytest.raises(CheckpointError, match="missing key.*model.classifier.linear7.conv.weight"):
        convert_authors_state_dict(sd)
    with pytest.raises(CheckpointError, match="unexpected key.*model.extra.weight"):
        convert_authors_state_dict(sd)


def test_not_a_checkpoint_and_missing_file_are_named(tmp_path):
    lfs = tmp_path / "pointer.ckpt"
    lfs.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 10\n")
    with pytest.raises(CheckpointError, match="pointer.ckpt.*Git LFS"):
        load_authors_checkpoint(lfs)
    with pytest.raises(FileNotFoundError, match="nothere.ckpt"):
        load_authors_checkpoint(tmp_path / "nothere.ckpt")


def test_fetch_records_then_verifies_sha256(tmp_path, monkeypatch):
    download = pytest.importorskip("asdlib.data.download", reason="asdlib.data.download is not importable")
    src = tmp_path / "served" / "MWM_93.44_s40_m0.7.ckpt"
    src.parent.mkdir()
    torch.save({"state_dict": {"x": torch.arange(10)}}, src)
    monkeypatch.setattr(ac, "AUTHORS_CHECKPOINT_URL", src.resolve().as_uri())
    dest_dir = tmp_path / "data"
    path = ac.fetch_authors_checkpoint(dest_dir, progress=False)
    assert path == dest_dir / ac.AUTHORS_CHECKPOINT_NAME and path.read_bytes() == src.read_bytes()
    record = json.loads((dest_dir / (ac.AUTHORS_CHECKPOINT_NAME + ".json")).read_text())
    assert record["size"] == src.stat().st_size and len(record["sha256"]) == 64
    assert record["url"] == src.resolve().as_uri()
    assert ac.fetch_authors_checkpoint(dest_dir, progress=False) == path  # verified against record
    # the local copy changes -> refused
    path.write_bytes(path.read_bytes() + b"x")
    with pytest.raises(CheckpointError, match="differ from the record"):
        ac.fetch_authors_checkpoint(dest_dir, progress=False)
    # the upstream file changes and is downloaded afresh -> refused too
    path.unlink()
    torch.save({"state_dict": {"x": torch.arange(11)}}, src)
    with pytest.raises(CheckpointError, match="sha256"):
        ac.fetch_authors_checkpoint(dest_dir, progress=False)
    # offline: the downloader's error propagates
    def offline(*args, **kwargs):
        raise download.DownloadError("network unreachable")
    monkeypatch.setattr(download, "download_file", offline)
    with pytest.raises(download.DownloadError, match="network unreachable"):
        ac.fetch_authors_checkpoint(tmp_path / "elsewhere", progress=False)
