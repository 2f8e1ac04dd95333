"""Training precision: fp32 by default (as the authors trained), bf16 autocast only as an opt-in."""

from __future__ import annotations

import json

import pytest
import torch

from asdlib.engine.config import PRECISIONS, load_config, profile_configs, run_config_from_dict
from asdlib.paths import (PRECISION_ENV)
from asdlib.study.runs import (run_config)

import engine_helpers as H


@pytest.mark.parametrize("profile", ["paper", "smoke"])
def test_every_configuration_trains_in_fp32(profile):
    for name, path in profile_configs(profile).items():
        assert load_config(path).train.precision == "fp32", name


def test_precision_is_checked_and_the_old_amp_key_is_explained():
    assert PRECISIONS == ("fp32", "bf16")
    with pytest.raises(ValueError, match=r"\[train\]: train.precision = 'fp16'"):
        run_config_from_dict({"train": {"precision": "fp16"}})
    # amp = true meant bf16 on CUDA but fp32 on a CPU: no silent guess, a message instead
    with pytest.raises(ValueError, match="'amp' was replaced by 'precision'.*CUDA and fp32 elsewhere"):
        run_config_from_dict({"train": {"amp": True}})


def test_run_all_switch_reaches_every_run(monkeypatch):
    monkeypatch.setenv(PRECISION_ENV, "bf16")
    assert run_config("paper", "proposed").train.precision == "bf16"
    assert run_config("smoke", "no_attention").train.precision == "bf16"
    monkeypatch.delenv(PRECISION_ENV)
    assert run_config("paper", "proposed").train.precision == "fp32"


def test_bf16_is_really_used_and_recorded(tiny_data, reference_run, tmp_path):
    """Same seed, same data: the bf16 run's weights differ from the fp32 reference run's, and its
    config.json says bf16; an fp32 rerun is bit-identical to the reference (precision matters)."""
    from asdlib.engine.checkpoints import read_checkpoint
    from asdlib.engine.train import train

    with H.one_thread(), H.data_dir_env(reference_run.parent.parent / "data"):
        out = train(H.tiny_config(tiny_data, epochs=1, precision="bf16"), tmp_path / "bf16",
                    resume=False, progress=False)
        ref = train(H.tiny_config(tiny_data, epochs=1), tmp_path / "fp32", resume=False,
                    progress=False)
    assert json.loads((out / "config.json").read_text())["train"]["precision"] == "bf16"
    bf16 = read_checkpoint(out / "checkpoints" / "epoch_0001.pt")["model"]
    fp32 = read_checkpoint(ref / "checkpoints" / "epoch_0001.pt")["model"]
    first = read_checkpoint(reference_run / "checkpoints" / "epoch_0001.pt")["model"]
    assert H.state_dicts_equal(fp32, first) == []
    differ = H.state_dicts_equal(bf16, fp32)
    assert differ and all(torch.isfinite(bf16[k].float()).all() for k in differ)
