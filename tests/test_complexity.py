"""Parameter table, MAC counting by hooks, CPU latency."""

from __future__ import annotations

import torch
from torch import nn

from asdlib.engine.complexity import (count_macs, cpu_latency, human_count, layer_macs, logmel_macs,
                               parameter_table)
from asdlib.nets.model import build_model


def test_mac_count_of_toy_layers_matches_hand_formula():
    toy = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1),     # out 8 x 5 x 6
        nn.Conv2d(8, 8, 3, padding=1, groups=4),     # out 8 x 5 x 6, 2 input channels per group
        nn.Flatten(),
        nn.Linear(8 * 5 * 6, 10),
    )
    table = layer_macs(toy, torch.zeros(2, 3, 10, 12))
    assert table["macs"].tolist() == [8 * 5 * 6 * 3 * 9, 8 * 5 * 6 * 2 * 9, 10 * 240]
    conv1d = layer_macs(nn.Conv1d(1, 4, 16, stride=8), torch.zeros(1, 1, 64))
    assert conv1d["macs"].tolist() == [4 * 7 * 16]


def test_proposed_model_macs_and_no_attention_has_fewer():
    proposed = count_macs(build_model(clip_seconds=1.0))
    no_att = count_macs(build_model(clip_seconds=1.0, attention=False))
    assert all(proposed[p] > 0 for p in ("wavegram", "logmel", "attention", "classifier", "arcface"))
    assert proposed["total"] == sum(proposed[p] for p in
                                    ("wavegram", "logmel", "attention", "classifier", "arcface"))
    assert no_att["attention"] == 0 and no_att["total"] < proposed["total"]
    frames = 1 + 16_000 // 512
    assert proposed["wavegram"] == frames * 1024 + frames * 128  # depthwise 1024 taps + pointwise
    assert proposed["logmel"] == logmel_macs(16_000)["total"]
    assert proposed["arcface"] == 41 * 128
    mel_only = count_macs(build_model(clip_seconds=1.0, features="mel"))
    assert mel_only["wavegram"] == 0


def test_parameter_table_and_human_strings():
    table = parameter_table({"proposed": build_model(),
                             "no_attention": build_model(attention=False)})
    assert table.loc["proposed", "total"] == 884_376
    assert table.loc["proposed", "parameters"] == "884 k"
    assert table.loc["no_attention", "parameters"] == "882 k"
    assert human_count(1_021_867) == "1.02 M"


def test_cpu_latency_is_positive_and_restores_state():
    model = build_model(clip_seconds=1.0).train()
    before = torch.get_num_threads()
    res = cpu_latency(model, threads=1, repeats=2, warmup=1)
    assert res["median_s"] > 0 and res["mean_s"] > 0 and res["rtf"] > 0
    assert res["clip_seconds"] == 1.0
    assert torch.get_num_threads() == before and model.training
