"""The peers in the engine (issue 8): training, resuming, DDP, scoring and selection of every peer
through the same trainer and evaluation as the proposed model; seeds; the comparison tables;
the preflight plan; the peers' configurations."""

from __future__ import annotations

import shutil
from pathlib import Path
import subprocess

import numpy as np
import pandas as pd
import pytest
import torch

import engine_helpers as H
from asdlib.study import preflight as preflight_module
from asdlib.study import runs
from sklearn.metrics import roc_auc_score

from asdlib.nets.methods import PEERS
from asdlib.study.comparison import (mean_pm_std, own_epoch, own_protocol_table, own_reading, protocol_effects, seed_summary,
                               table1_with_peers, table2_with_peers)
from asdlib.engine.config import RunConfig, load_config
from asdlib.engine.evaluate import evaluate_run
from asdlib.nets.loss import mixup
from asdlib.nets.methods import step_output
from asdlib.nets.peers.build import PerMachineType, build_peer, type_of_class
from asdlib.nets.model import ModelConfig, build_model, parameter_counts
from asdlib.paths import CONFIGS_DIR
from asdlib.engine.checkpoints import list_checkpoints, load_model, read_checkpoint
from asdlib.engine.train import read_log, train

PEER_KINDS = ("stgram_mfn", "tastgram_mfn", "idnn", "dcase_ae")
TORCHRUN = Path(H.PYTHON).with_name("torchrun")


from engine_helpers import one_thread_tmp_data  # noqa: E402,F401  (a fixture)

pytestmark = pytest.mark.usefixtures("one_thread_tmp_data")


def peer_config(kind: str, data_root, **train) -> RunConfig:
    """A tiny run of one peer on the tiny dataset (0.5-s clips, fan 00 and pump 00)."""
    alpha = {"tastgram_mfn": 0.5}.get(kind, 0.0)
    return RunConfig().with_overrides({
        "name": f"tiny-{kind}", "model.kind": kind, "model.clip_seconds": H.CLIP_SECONDS,
        "model.arcface_s": 30.0, "data.root": str(data_root), "data.label_map": "distinct",
        "train.mixup_alpha": alpha, "train.optimizer": "adam" if kind != "tastgram_mfn" else "adamw",
        **{f"train.{k}": v for k, v in {**H.TINY_TRAIN, "epochs": 2, **train}.items()}})


@pytest.mark.parametrize("kind", PEER_KINDS)
def test_every_peer_trains_and_is_evaluated_under_all_protocols(kind, tiny_data, tmp_path):
    out = train(peer_config(kind, tiny_data), tmp_path / kind, progress=False)
    log = read_log(out)
    assert log["epoch"].tolist() == [1, 2]
    assert np.isfinite(log["train_loss"]).all() and np.isfinite(log["val_loss"]).all()
    assert log["train_acc"].isna().all() == (kind in ("idnn", "dcase_ae"))  # no classes there
    net = load_model(out / "checkpoints" / "last.pt")
    assert net.config.kind == kind
    summary = evaluate_run(out, batch_size=8, device="cpu", progress=False)
    assert summary["protocol"].tolist() == ["paper", "validation", "last"]
    for protocol, row in summary.set_index("protocol").iterrows():
        # each number recomputed with scikit-learn from the protocol's written clip scores
        written = pd.read_csv(out / "evaluation" / protocol / "clip_scores.csv")
        assert row["global_auc"] == pytest.approx(100 * roc_auc_score(written["anomaly"], written["score"]))
        per_id = [100 * roc_auc_score(g["anomaly"], g["score"]) for _, g in written.groupby("machine_type")]
        assert row["official_auc"] == pytest.approx(np.mean(per_id))  # one ID per type here
        assert row["pooled_auc"] == pytest.approx(np.mean(per_id))  # the authors' grouping: by type
    scores = pd.read_csv(out / "evaluation" / "last" / "clip_scores.csv")
    assert np.isfinite(scores["score"]).all() and len(scores) == 12
    # read the way the peer's own code reads it, recomputed here from the written files
    info = PEERS[kind]
    own = own_reading(out / "evaluation", info)
    ckpts = pd.read_csv(out / "evaluation" / "checkpoints.csv").set_index("epoch")
    picked = summary.set_index("protocol")["epoch"]
    if info.own_rule == "best_official_sum_test":
        total = ckpts["official_auc"] + ckpts["official_pauc"]
        assert own["epoch"] == max(e for e in ckpts.index if total[e] == total.max())
    else:
        assert own["epoch"] == picked[info.own_rule]
    if info.own_metric == "pooled_by_type":  # one ROC per machine type (IDs pooled), mean over types
        kept = pd.read_csv(out / "evaluation" / info.own_rule / "clip_scores.csv")
        want = np.mean([100 * roc_auc_score(g["anomaly"], g["score"]) for _, g in kept.groupby("machine_type")])
        assert own["auc"] == pytest.approx(want)
    else:
        assert own["auc"] == pytest.approx(ckpts.at[own["epoch"], "official_auc"])


def test_a_peer_resumed_from_an_epoch_checkpoint_ends_bit_identical(tiny_data, tmp_path):
    """TASTgram-MFN (mixup of waveform and log-Mel from the trainer's seeded draws)."""
    config = peer_config("tastgram_mfn", tiny_data, epochs=2)
    full = train(config, tmp_path / "full", progress=False)
    part = tmp_path / "part"
    (part / "checkpoints").mkdir(parents=True)
    shutil.copy(full / "checkpoints" / "epoch_0001.pt", part / "checkpoints" / "last.pt")
    train(config, part, progress=False)
    a = read_checkpoint(full / "checkpoints" / "last.pt")["model"]
    b = read_checkpoint(part / "checkpoints" / "last.pt")["model"]
    assert H.state_dicts_equal(a, b) == []


def test_step_output_of_the_proposed_model_is_the_old_mixup_path():
    torch.manual_seed(0)
    net = build_model(clip_seconds=0.5).eval()
    wave, target = torch.randn(4, 8000), torch.tensor([0, 7, 7, 0])
    rng, gen = np.random.default_rng(3), torch.Generator().manual_seed(3)
    mixed, y_a, _, lam = mixup(wave, target, 0.2, rng=rng, generator=gen)
    old = net.logits(mixed, y_a)
    rng, gen = np.random.default_rng(3), torch.Generator().manual_seed(3)
    lam2 = float(rng.beta(0.2, 0.2))
    perm = torch.randperm(4, generator=gen)
    assert lam2 == lam
    assert torch.equal(step_output(net, wave, target, perm, lam2), old)


def test_per_machine_type_routes_each_clip_to_its_types_model():
    torch.manual_seed(0)
    net = build_peer(ModelConfig(kind="idnn", clip_seconds=0.5)).eval()
    wave = torch.randn(4, 8000)
    classes = torch.tensor([type_of_class().index("fan"), type_of_class().index("pump")] * 2)
    before = net.anomaly_score(wave, classes)
    with torch.no_grad():
        for p in net.models["fan"].parameters():
            p.add_(0.5)
    after = net.anomaly_score(wave, classes)
    assert not torch.allclose(before[0::2], after[0::2])  # fan clips changed
    assert torch.equal(before[1::2], after[1::2])          # pump clips did not
    alone = net.models["pump"].anomaly_score(wave[1::2])
    assert torch.allclose(after[1::2], alone)


def test_a_type_absent_from_the_batch_gets_no_update():
    torch.manual_seed(0)
    net = build_peer(ModelConfig(kind="dcase_ae", clip_seconds=0.5))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    valve = {k: v.clone() for k, v in net.models["valve"].state_dict().items()}
    classes = torch.tensor([type_of_class().index("fan")] * 3)
    for _ in range(2):
        opt.zero_grad(set_to_none=True)
        net.training_loss(torch.randn(3, 8000), classes).backward()
        opt.step()
    assert H.state_dicts_equal(valve, net.models["valve"].state_dict()) == []


def test_per_type_peers_refuse_the_paper_label_map(tiny_data, tmp_path):
    config = peer_config("idnn", tiny_data).with_overrides({"data.label_map": "paper"})
    with pytest.raises(ValueError, match="label_map = 'distinct'"):
        train(config, tmp_path / "x", progress=False)
    assert not (tmp_path / "x" / "config.json").exists()


def test_parameter_counts_of_the_peers_at_10_s():
    counts = {k: parameter_counts(build_model(ModelConfig(kind=k))) for k in PEER_KINDS}
    assert counts["stgram_mfn"]["total"] == 1_350_335          # published setting (the default)
    assert parameter_counts(build_model(ModelConfig(kind="stgram_mfn", mfn_setting="later")))["total"] == 1_161_279
    assert counts["tastgram_mfn"]["total"] == 1_161_855
    assert counts["idnn"]["total"] == 46_416 and counts["idnn"]["models"] == 6
    assert counts["dcase_ae"]["total"] == 267_928
    assert counts["dcase_ae"]["all_models"] == 6 * 267_928


def test_model_config_rejects_unknown_kinds_and_settings():
    with pytest.raises(ValueError, match="kind="):
        ModelConfig(kind="wavenet")
    with pytest.raises(ValueError, match="mfn_setting"):
        ModelConfig(kind="stgram_mfn", mfn_setting="newest")
    with pytest.raises(ValueError, match="optimizer"):
        RunConfig().with_overrides({"train.optimizer": "sgd"})


def test_ddp_trains_a_per_type_peer_on_two_cpu_processes(tiny_data, data_dir, tmp_path):
    assert TORCHRUN.is_file(), f"{TORCHRUN} missing"
    toml = tmp_path / "idnn.toml"
    toml.write_text("\n".join([
        'name = "ddp-idnn"', "[model]", 'kind = "idnn"', f"clip_seconds = {H.CLIP_SECONDS}",
        "[data]", f'root = "{tiny_data}"', 'label_map = "distinct"', "[train]", "epochs = 1",
        "batch_size = 8", 'optimizer = "adam"', "mixup_alpha = 0.0", "num_workers = 0",
        'device = "cpu"']) + "\n")
    out = tmp_path / "ddp"
    cmd = [str(TORCHRUN), "--standalone", "--nproc_per_node", "2", "-m", "asdlib", "train",
           "--config", str(toml), "--out", str(out), "--quiet"]
    proc = subprocess.run(cmd, env=H.subprocess_env(data_dir), capture_output=True, text=True,
                          timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    log = read_log(out)
    assert log["clips"][0] == 22 and np.isfinite(log["val_loss"][0])
    assert load_model(out / "checkpoints" / "last.pt").config.kind == "idnn"


# --------------------------------------------------------------------------- seeds

def test_seed_run_names_round_trip_and_shift_the_seed(monkeypatch):
    assert runs.seed_run_name("idnn", 0) == "idnn"
    assert runs.split_seed_name("idnn-seed2") == ("idnn", 2)
    assert runs.split_seed_name("no_separable") == ("no_separable", 0)
    assert runs.split_seed_name("x-seed0") == ("x-seed0", 0)
    base = runs.run_config("smoke", "stgram_mfn")
    third = runs.run_config("smoke", "stgram_mfn-seed2")
    assert third.train.seed == base.train.seed + 2 and third.name == "stgram_mfn-seed2"
    assert third.model == base.model and third.data == base.data
    monkeypatch.delenv("ASD_SEEDS", raising=False)
    assert runs.seed_count("smoke") == 2 and runs.seed_count("paper") == 1
    monkeypatch.setenv("ASD_SEEDS", "3")
    assert runs.seed_runs("paper", "idnn") == ["idnn", "idnn-seed1", "idnn-seed2"]
    monkeypatch.setenv("ASD_SEEDS", "zero")
    with pytest.raises(ValueError, match="ASD_SEEDS"):
        runs.seed_count("paper")


def test_seeded_runs_differ_and_a_rerun_of_one_seed_does_not(tiny_data, tmp_path):
    a = train(peer_config("idnn", tiny_data, epochs=1), tmp_path / "a", progress=False)
    b = train(peer_config("idnn", tiny_data, epochs=1, seed=1), tmp_path / "b", progress=False)
    a2 = train(peer_config("idnn", tiny_data, epochs=1), tmp_path / "a2", progress=False)
    sa, sb, sa2 = (read_checkpoint(p / "checkpoints" / "last.pt")["model"] for p in (a, b, a2))
    assert H.state_dicts_equal(sa, sa2) == []
    assert H.state_dicts_equal(sa, sb) != []


# --------------------------------------------------------------------------- comparison tables

def _long(values: dict[str, list[float]]) -> pd.DataFrame:
    rows = []
    for method, aucs in values.items():
        for seed, auc in enumerate(aucs):
            for metric, selection, mt in (("global", "paper", "global"), ("global", "validation", "global"),
                                          ("pooled", "paper", "average"), ("official", "validation", "average"),
                                          ("pooled", "paper", "fan"), ("official", "validation", "fan")):
                shift = {"paper": 2.0, "validation": 0.0}[selection]
                rows.append({"method": method, "run": f"{method}-{seed}", "seed": seed,
                             "metric": metric, "selection": selection, "machine_type": mt,
                             "auc": auc + shift, "pauc": auc - 10})
    return pd.DataFrame(rows)


def test_seed_summary_gives_mean_sample_std_and_the_runs():
    s = seed_summary(_long({"A": [80.0, 84.0], "B": [70.0]}))
    a = s[(s.method == "A") & (s.metric == "global") & (s.selection == "validation")].iloc[0]
    assert a["auc_mean"] == 82.0 and a["auc_std"] == pytest.approx(np.sqrt(8.0))
    assert a["auc_runs"] == "80.00 / 84.00" and a["seeds"] == 2
    b = s[(s.method == "B") & (s.metric == "global") & (s.selection == "validation")].iloc[0]
    assert np.isnan(b["auc_std"]) and b["seeds"] == 1
    assert mean_pm_std(82.0, np.sqrt(8.0), 2) == "82.00 ± 2.83"
    assert mean_pm_std(70.0, float("nan"), 1) == "70.00"


def test_tables_keep_quoted_rows_labelled_and_add_measured_ones():
    s = seed_summary(_long({"STgram-MFN": [80.0, 84.0]}))
    t1 = table1_with_peers(s, "authors")
    quoted = t1[t1.row == "quoted (paper)"]
    assert len(quoted) == 8 and "STgram-MFN" in set(quoted.method)
    assert quoted.set_index("method").at["STgram-MFN", "fan AUC"] == "94.04"
    measured = t1[t1.row == "measured: authors"].iloc[0]
    assert measured["fan AUC"] == "84.00 ± 2.83" and measured["mean AUC"] == "84.00 ± 2.83"
    t2 = table2_with_peers(s)
    m = t2[t2.row == "measured: honest"].iloc[0]
    assert m["AUC"] == "82.00 ± 2.83" and m["official mean AUC"] == "82.00 ± 2.83"
    assert (t2.row == "quoted (paper)").sum() == 8
    effects = protocol_effects(s).set_index("method")
    assert effects.at["STgram-MFN", "spread"] == pytest.approx(2.0)
    readings = pd.DataFrame({"method": ["Proposed approach"] * 2 + ["IDNN"], "epoch": [14, 15, 3],
                             "auc": [80.0, 84.0, 60.0], "pauc": [70.0, 70.0, 55.0]})
    own = own_protocol_table(readings, {"proposed": "Proposed approach", "idnn": "IDNN"}).set_index("method")
    assert own.at["Proposed approach", "measured AUC"] == "82.00 ± 2.83"
    assert own.at["Proposed approach", "epochs kept"] == "14 / 15"
    assert own.at["Proposed approach", "its own metric"] == "global"
    assert own.at["Proposed approach", "quoted AUC (paper, Table 2)"] == "93.44"
    assert own.at["IDNN", "measured AUC"] == "60.00" and own.at["IDNN", "its own metric"] == "official"


def test_stgram_own_rule_sums_auc_and_pauc_and_keeps_the_later_tie():
    ckpts = pd.DataFrame({"epoch": [10, 20, 30, 40], "official_auc": [80.0, 85.0, 83.0, 84.0],
                          "official_pauc": [70.0, 66.0, 70.0, 69.0]})
    # AUC alone would keep epoch 20; AUC + pAUC is 150, 151, 153, 153: the tie goes to 40
    assert own_epoch(ckpts, "best_official_sum_test") == 40
    selection = pd.DataFrame({"protocol": ["paper", "validation", "last"], "epoch": [20, 30, 40]})
    assert own_epoch(ckpts, "validation", selection) == 30 and own_epoch(ckpts, "best_global_test", selection) == 20
    with pytest.raises(ValueError, match="selection.csv"):
        own_epoch(ckpts, "last")


def test_training_plan_counts_seeds_for_the_compared_methods_only():
    plan = preflight_module.training_plan("paper", ["proposed", "h64", "idnn"], 3, lambda c: 0.01)
    p = plan.set_index("run")
    assert p["repeats"].to_dict() == {"proposed": 3, "h64": 1, "idnn": 3}
    steps = -(-int(36283 * 0.95) // 64)
    assert p.at["h64", "hours"] == pytest.approx(0.01 * steps * 300 / 3600)
    assert p.at["idnn", "epochs"] == 100 and p.at["idnn", "batch_size"] == 512
    # IDNN: batches of 512 windows over the development clips (309 windows each), each timed as
    # the same work in clips (512 / 309 -> 2 clips)
    timed = []
    plan = preflight_module.training_plan("paper", ["idnn"], 1, lambda c: timed.append(c.train.batch_size) or 0.01)
    windows_steps = -(-int(20119 * 0.95) * 309 // 512)
    assert timed == [2] and plan.iloc[0]["hours"] == pytest.approx(0.01 * windows_steps * 100 / 3600)


def test_peer_paper_configs_use_their_published_hyperparameters():
    c = {k: load_config(CONFIGS_DIR / "paper" / f"{k}.toml") for k in PEER_KINDS}
    st, ta, ae, idnn = c["stgram_mfn"], c["tastgram_mfn"], c["dcase_ae"], c["idnn"]
    assert (st.train.optimizer, st.train.lr, st.train.batch_size, st.train.epochs) == ("adam", 1e-4, 128, 301)
    assert (st.train.scheduler_start_epoch, st.train.cosine_t_max, st.train.seed) == (20, 300, 42)
    assert st.train.checkpoint_every == 10  # its trainer tests every 10 epochs
    assert (st.model.arcface_s, st.model.arcface_m, st.model.mfn_setting) == (30.0, 0.7, "published")
    assert st.train.mixup_alpha == 0.0 and st.train.weight_decay == 0.0
    assert (ta.train.optimizer, ta.train.lr, ta.train.batch_size, ta.train.epochs) == ("adamw", 1e-4, 64, 300)
    assert ta.train.mixup_alpha == 0.5 and (ta.model.arcface_s, ta.model.arcface_m) == (30.0, 0.7)
    for cfg in (ae, idnn):
        assert (cfg.train.optimizer, cfg.train.lr, cfg.train.epochs, cfg.train.scheduler) == ("adam", 1e-3, 100, "constant")
        assert (cfg.train.batch_unit, cfg.train.batch_size, cfg.data.training_sets) == ("windows", 512, "development")
    assert all(x.data.label_map == "distinct" and x.data.val_fraction == 0.05 for x in c.values())
    for k in PEER_KINDS:  # smoke: the proposed model's smoke budget; the window models its epochs
        smoke, proposed = load_config(CONFIGS_DIR / "smoke" / f"{k}.toml"), load_config(CONFIGS_DIR / "smoke" / "proposed.toml")
        if k in ("idnn", "dcase_ae"):
            assert smoke.train.epochs == proposed.train.epochs and smoke.train.batch_unit == "windows"
            assert (smoke.train.batch_size, smoke.train.lr, smoke.data.training_sets) == (512, 1e-3, "development")
            continue
        assert (smoke.train.epochs, smoke.train.max_steps_per_epoch, smoke.train.batch_size, smoke.train.lr) == \
            (proposed.train.epochs, proposed.train.max_steps_per_epoch, proposed.train.batch_size, proposed.train.lr)


def test_peer_macs_and_latency_are_measured():
    from asdlib.engine.complexity import count_macs, cpu_latency

    for kind in ("stgram_mfn", "idnn"):
        net = build_model(ModelConfig(kind=kind, clip_seconds=1.0))
        macs = count_macs(net)
        assert macs["total"] > macs["logmel"] > 0
        assert cpu_latency(net, repeats=1, warmup=0)["median_s"] > 0


def test_window_models_count_every_window_of_a_clip():
    """A Dense layer run on clips x windows rows costs its weights once per window, per clip."""
    from asdlib.engine.complexity import count_macs
    from asdlib.nets.features import num_frames

    for kind in ("dcase_ae", "idnn"):
        cfg = ModelConfig(kind=kind, clip_seconds=1.0)
        net = build_model(cfg)
        model = next(iter(net.models.values()))  # one of the six per-type models
        dense = sum(m.in_features * m.out_features for m in model.modules() if isinstance(m, torch.nn.Linear))
        windows = num_frames(cfg.num_samples) - 4  # five-frame windows, one per step
        assert count_macs(net)["net"] == dense * windows, kind


# --------------------------------------------------------------------------- window batches (DCASE baseline)

def test_window_batches_hold_one_type_from_many_clips_and_visit_every_window_once():
    from asdlib.engine.train import window_batches

    g = torch.Generator().manual_seed(0)
    frames = {"fan": torch.randn(20, 32, 4, generator=g), "pump": torch.randn(7, 12, 4, generator=g)}
    seen = {t: [] for t in frames}
    for kind, w, clips in window_batches(frames, 64, 5, np.random.default_rng(0)):
        assert w.shape[1:] == (5, 4) and len(w) <= 64
        mels = frames[kind]
        per_clip = mels.shape[1] - 4
        for row, clip in zip(w, clips.tolist()):  # each row is 5 consecutive frames of one clip of this type
            hits = [s for s in range(per_clip) if torch.equal(mels[clip, s:s + 5], row)]
            assert len(hits) == 1
            seen[kind].append((clip, hits[0]))
        if kind == "fan":
            assert len(set(clips.tolist())) >= 10  # shuffled over all the type's clips, not one clip
    assert sorted(seen["fan"]) == [(c, s) for c in range(20) for s in range(28)]  # once each
    assert sorted(seen["pump"]) == [(c, s) for c in range(7) for s in range(8)]
    capped = list(window_batches(frames, 64, 5, np.random.default_rng(0), max_batches=2))
    assert [k for k, _, _ in capped] == ["fan", "fan", "pump"]


@pytest.mark.parametrize("kind", ("dcase_ae", "idnn"))
def test_window_loss_is_the_clip_loss_on_the_same_windows(kind):
    from asdlib.nets.peers import DCASEAutoencoder, IDNN

    torch.manual_seed(0)
    model = (DCASEAutoencoder if kind == "dcase_ae" else IDNN)(logmel="asdlib").eval()
    x = torch.randn(2, 8000)
    with torch.no_grad():
        mels = model.logmel(x).transpose(1, 2)                       # (clips, frames, n_mels)
        windows = mels.unfold(1, 5, 1).permute(0, 1, 3, 2).flatten(0, 1)  # (clips * windows, 5, n_mels)
        assert torch.allclose(model.window_loss(windows), model.training_loss(x), rtol=1e-5, atol=1e-6)


def test_the_autoencoder_trains_on_window_batches_of_the_development_clips(tiny_data, tmp_path):
    from asdlib.engine.train import training_table

    config = peer_config("dcase_ae", tiny_data, epochs=2, batch_unit="windows", batch_size=64)
    out = train(config, tmp_path / "ae-windows", progress=False)
    log = read_log(out)
    assert np.isfinite(log["train_loss"]).all() and np.isfinite(log["val_loss"]).all()
    # every window of every training clip once per epoch: (frames - 4) windows per 0.5-s clip
    frames = 1 + int(H.CLIP_SECONDS * 16_000) // 512
    assert (log["windows"] == log["clips"] * (frames - 4)).all()
    assert (log["steps"] == sum(-(-n * (frames - 4) // 64) for n in _clips_per_type(out))).all()
    summary = evaluate_run(out, batch_size=8, device="cpu", progress=False)
    assert summary["official_auc"].between(0, 100).all()
    # development only: the additional set's machines are left out of training
    dev_only = RunConfig().with_overrides({"data.root": str(tiny_data), "data.training_sets": "development"})
    assert set(training_table(dev_only)["machine_id"]) == {"00"}  # fan 00 and pump 00 are development IDs
    with pytest.raises(ValueError, match="window models"):
        train(RunConfig().with_overrides({"data.root": str(tiny_data), "train.batch_unit": "windows"}),
              tmp_path / "refused", progress=False)
    assert not (tmp_path / "refused" / "config.json").exists()


def _clips_per_type(run_dir):
    from asdlib.engine.train import prepare_data
    from asdlib.engine.checkpoints import read_checkpoint as _read
    from asdlib.engine.config import run_config_from_dict

    config = run_config_from_dict(_read(run_dir / "checkpoints" / "last.pt")["config"])
    data = prepare_data(config, progress=False)
    kinds = type_of_class("distinct")
    return list(pd.Series([kinds[int(data.targets[p])] for p in data.train_idx]).value_counts())


def test_whole_clips_train_and_score_every_frame(tmp_path):
    """whole_clips: the window models read each clip whole (ToyCar's 11 s), not its first clip_seconds."""
    from asdlib.data.audio import load_wav
    from asdlib.data.synthetic import generate_synthetic_dataset
    from asdlib.engine.evaluate import evaluation_clips, score_clips

    root = tmp_path / "long"
    generate_synthetic_dataset(root, clip_seconds=0.7, machine_ids=H.TINY_IDS, n_train=6,
                               n_test_normal=2, n_test_anomaly=2, seed=1)
    config = peer_config("idnn", root, epochs=1, batch_unit="windows", batch_size=32).with_overrides(
        {"model.whole_clips": True})
    assert config.model.clip_seconds == H.CLIP_SECONDS < 0.7
    out = train(config, tmp_path / "idnn-whole", progress=False)
    log = read_log(out)
    whole_windows = 1 + int(0.7 * 16_000) // 512 - 4          # 18 windows of a 0.7-s clip, not 12
    assert (log["windows"] == log["clips"] * whole_windows).all()
    net = load_model(out / "checkpoints" / "last.pt")
    clips = evaluation_clips(root, "distinct", labelled_only=True)
    scored = score_clips(net, clips, progress=False)
    first = clips.iloc[0]
    with torch.no_grad():
        direct = net.anomaly_score(torch.from_numpy(load_wav(first["path"]))[None],
                                   torch.tensor([int(first["class_index"])]))
    assert scored["score"].iloc[0] == pytest.approx(float(direct), rel=1e-5)
    with pytest.raises(ValueError, match="window models"):
        ModelConfig(kind="stgram_mfn", whole_clips=True)
