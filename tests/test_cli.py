"""Tests of the command line (``python -m asdlib ...``) and of the run configurations it reads
(asdlib.engine.config, configs/paper and configs/smoke)."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import re
import subprocess

import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score

from asdlib.engine.config import (RUNTIME_KEYS, RunConfig, load_config, profile_configs,
                           run_config_from_dict)
from asdlib.cli import main
from asdlib.engine.checkpoints import read_checkpoint
from asdlib.paths import CONFIGS_DIR

import engine_helpers as H

SUBCOMMANDS = ("train", "train-many", "evaluate", "score", "export", "monitor", "synth", "download")
PAPER = sorted(p.name for p in (CONFIGS_DIR / "paper").glob("*.toml"))
SMOKE = sorted(p.name for p in (CONFIGS_DIR / "smoke").glob("*.toml"))


@pytest.fixture(autouse=True)
def _tmp_data(monkeypatch, data_dir):
    monkeypatch.setenv("ASD_DATA_DIR", str(data_dir))


def asdlib(*args, data_dir, timeout=300, cwd=None):
    return subprocess.run([H.PYTHON, "-m", "asdlib", *map(str, args)], env=H.subprocess_env(data_dir),
                          capture_output=True, text=True, timeout=timeout, cwd=cwd)


def cli(*args) -> subprocess.CompletedProcess:
    """``python -m asdlib ARGS`` run by ``asdlib.cli.main`` in this process: the same exit status,
    stdout and stderr without a Python start-up (for the help, error, score and evaluate tests; the
    tests of the entry point itself, of training, of ``--debug`` and of signals start a real process
    with ``asdlib``)."""
    out, err = io.StringIO(), io.StringIO()
    threads = torch.get_num_threads()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in args])
            except SystemExit as e:  # argparse: --help, usage errors
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    finally:
        torch.set_num_threads(threads)  # the command sets its own thread count
    return subprocess.CompletedProcess(["python", "-m", "asdlib", *map(str, args)], code,
                                       out.getvalue(), err.getvalue())


# --------------------------------------------------------------------------- help

def test_top_level_help(data_dir):
    proc = asdlib("--help", data_dir=data_dir)
    assert proc.returncode == 0, proc.stderr
    for sub in SUBCOMMANDS:
        assert sub in proc.stdout


@pytest.mark.parametrize("sub", SUBCOMMANDS)
def test_subcommand_help(sub, data_dir):
    proc = cli(sub, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: python -m asdlib " + sub)


def test_no_command_is_a_usage_error(data_dir):
    proc = cli()
    assert proc.returncode == 2 and "usage:" in proc.stderr


# --------------------------------------------------------------------------- errors

def _one_line_error(proc):
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.stderr.strip()


def test_train_bad_config_path(tmp_path, data_dir):
    missing = tmp_path / "no_such_config.toml"
    err = _one_line_error(cli("train", "--config", missing, "--out", tmp_path / "r"))
    assert str(missing) in err and "not found" in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("body, named", [
    ("[train]\nepochz = 3\n", "epochz"),
    ("[model]\nfeatures = \"bogus\"\n", "features"),
    ("[model]\nhidden = 3\n", "hidden"),
    ("[optimiser]\nlr = 1\n", "optimiser"),
    ("[train\n", "not valid TOML"),
    # values of the wrong type, out of range or not finite (before: internal errors after the run
    # folder was made, or nothing trained and exit 0)
    ('[train]\nepochs = "2"\n', "train.epochs"),
    ("[train]\nepochs = 2.5\n", "train.epochs"),
    ("[train]\nepochs = -1\n", "train.epochs"),
    ("[train]\ncheckpoint_every = 0\n", "train.checkpoint_every"),
    ('[train]\nlr = "fast"\n', "train.lr"),
    ("[train]\nlr = inf\n", "train.lr"),
    ("[train]\nlr = nan\n", "train.lr"),
    ('[train]\nseed = "zero"\n', "train.seed"),
    ("[train]\nbatch_size = 0\n", "train.batch_size"),
    ("[train]\nmax_steps_per_epoch = -2\n", "train.max_steps_per_epoch"),
    ("[data]\nval_fraction = 1.5\n", "data.val_fraction"),
    ('[data]\nmachine_types = "fan"\n', "data.machine_types"),
])
def test_train_bad_config_file_names_file_and_setting(tmp_path, data_dir, body, named):
    cfg = tmp_path / "broken.toml"
    cfg.write_text(body)
    proc = cli("train", "--config", cfg, "--out", tmp_path / "r")
    err = _one_line_error(proc)
    assert proc.returncode == 2 and str(cfg) in err and named in err and "internal error" not in err
    assert not (tmp_path / "r").exists()


def test_a_non_finite_loss_stops_training_with_one_line(tmp_path, tiny_data, data_dir):
    """lr = 1e30 diverges: training stops at the first non-finite loss instead of saving NaN weights."""
    cfg = H.write_toml(tmp_path / "tiny.toml", tiny_data, lr=1e30, epochs=2)
    proc = asdlib("train", "--config", cfg, "--out", tmp_path / "r", data_dir=data_dir)
    err = _one_line_error(proc)
    assert proc.returncode != 0 and "training loss is" in err and "train.lr" in err
    for ckpt in (tmp_path / "r" / "checkpoints").glob("*.pt"):  # whatever was saved is finite
        state = read_checkpoint(ckpt)["model"]
        assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point()), ckpt.name


def test_train_unknown_set_key(tmp_path, tiny_data, data_dir):
    cfg = H.write_toml(tmp_path / "tiny.toml", tiny_data)
    err = _one_line_error(cli("train", "--config", cfg, "--set", "train.epochz=2",
                              "--out", tmp_path / "r"))
    assert "train.epochz" in err


def test_set_without_equals(tmp_path, tiny_data, data_dir):
    cfg = H.write_toml(tmp_path / "tiny.toml", tiny_data)
    proc = cli("train", "--config", cfg, "--set", "train.epochs")
    assert proc.returncode != 0 and "key=value" in proc.stderr


# --------------------------------------------------------------------------- commands that work

def test_score_writes_dcase_files(reference_run, tiny_data, tmp_path, data_dir):
    out = tmp_path / "scored"
    proc = cli("score", "--checkpoint", reference_run / "checkpoints" / "last.pt",
               "--data-root", tiny_data, "--out", out, "--batch-size", 8)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "DCASE score files" in proc.stdout and "pooled" in proc.stdout
    files = sorted(p.name for p in (out / "scores").iterdir())
    assert files == ["anomaly_score_fan_id_00.csv", "anomaly_score_pump_id_00.csv"]
    for f in files:
        lines = (out / "scores" / f).read_text().splitlines()
        assert len(lines) == H.N_TEST_NORMAL + H.N_TEST_ANOMALY
        assert all(ln.endswith(tuple("0123456789")) and ln.count(",") == 1 for ln in lines)
    for table in ("metrics_per_id.csv", "metrics_per_type.csv", "metrics_pooled.csv"):
        assert (out / table).is_file()


def test_score_missing_checkpoint(tiny_data, tmp_path, data_dir):
    proc = cli("score", "--checkpoint", tmp_path / "nope.pt", "--data-root", tiny_data,
               "--out", tmp_path / "o")
    assert proc.returncode != 0 and "nope.pt" in proc.stderr


def test_evaluate_command(reference_run, tmp_path, data_dir):
    out = tmp_path / "evaluation"
    proc = cli("evaluate", "--run", reference_run, "--out", out, "--batch-size", 8)
    assert proc.returncode == 0, proc.stderr[-3000:]
    selection = pd.read_csv(out / "selection.csv")
    assert selection["protocol"].tolist() == ["paper", "validation", "last"]
    for protocol in ("paper", "validation", "last"):
        assert protocol in proc.stdout
        assert (out / protocol / "scores" / "anomaly_score_fan_id_00.csv").is_file()


def test_synth_command(tmp_path, data_dir):
    out = tmp_path / "synth"
    proc = cli("synth", "--out", out, "--clip-seconds", 0.2)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"clips in {out}" in proc.stdout
    assert len(list(out.glob("*/*/*.wav"))) == int(proc.stdout.split()[0])


# --------------------------------------------------------------------------- configurations

@pytest.mark.parametrize("profile, name", [("paper", n) for n in PAPER] + [("smoke", n) for n in SMOKE])
def test_every_config_file_loads(profile, name):
    cfg = load_config(CONFIGS_DIR / profile / name)
    assert isinstance(cfg, RunConfig) and cfg.name == name.removesuffix(".toml")
    assert run_config_from_dict(cfg.to_dict()) == cfg  # round trip through the saved form


def test_profiles_have_the_same_runs():
    assert PAPER == SMOKE and len(PAPER) >= 8
    assert set(profile_configs("paper")) == {n.removesuffix(".toml") for n in PAPER}
    with pytest.raises(FileNotFoundError, match="no configurations"):
        profile_configs("no_such_profile")


PEER_CONFIGS = ("stgram_mfn.toml", "tastgram_mfn.toml", "idnn.toml", "dcase_ae.toml")
PROPOSED_PAPER = [n for n in PAPER if n not in PEER_CONFIGS]


@pytest.mark.parametrize("name", PROPOSED_PAPER)
def test_paper_configs_have_the_papers_values(name):
    cfg = load_config(CONFIGS_DIR / "paper" / name)
    t, m, d = cfg.train, cfg.model, cfg.data
    assert (t.epochs, t.batch_size, t.lr) == (300, 64, 1e-4)
    assert t.eta_min_ratio == 0.1 and t.lr * t.eta_min_ratio == pytest.approx(1e-5)
    assert t.mixup_alpha == 0.2 and t.checkpoint_every == 20
    assert t.weight_decay == 0.01  # AdamW's default; train() uses torch.optim.AdamW
    assert (m.arcface_s, m.arcface_m) == (40.0, 0.7)
    assert m.clip_seconds == 10.0 and m.num_samples == 160_000 and m.num_classes == 41
    assert d.root == "dcase2020" and d.val_fraction == 0.05 and d.max_train_clips is None
    assert d.label_map == ("distinct" if name == "distinct_labels.toml" else "paper")


def test_paper_configs_differ_where_the_paper_says():
    cfgs = {n.removesuffix(".toml"): load_config(CONFIGS_DIR / "paper" / n).model for n in PAPER}
    base = cfgs["proposed"]
    assert (base.features, base.embedding_dim, base.separable, base.attention,
            base.attention_activation) == ("mel+wave", 128, True, True, "faithful")
    want = {"h64": {"embedding_dim": 64}, "h256": {"embedding_dim": 256},
            "mel_only": {"features": "mel"}, "wave_only": {"features": "wave"},
            "no_attention": {"attention": False}, "no_separable": {"separable": False},
            "no_separable_no_attention": {"separable": False, "attention": False},
            "fixed_attention": {"attention_activation": "fixed"}, "distinct_labels": {}}
    for name, changes in want.items():
        if name in cfgs:
            assert cfgs[name] == dataclasses.replace(base, **changes), name


@pytest.mark.parametrize("name", SMOKE)
def test_smoke_configs_are_their_paper_runs_scaled_down(name):
    smoke = load_config(CONFIGS_DIR / "smoke" / name)
    paper = load_config(CONFIGS_DIR / "paper" / name)
    assert smoke.model == dataclasses.replace(paper.model, clip_seconds=smoke.model.clip_seconds)
    assert smoke.data.label_map == paper.data.label_map
    assert smoke.train.epochs < paper.train.epochs


def test_with_overrides():
    cfg = RunConfig()
    new = cfg.with_overrides({"train.epochs": 2, "model.embedding_dim": 64, "name": "x",
                              "data.machine_types": ["fan"]})
    assert (new.train.epochs, new.model.embedding_dim, new.name) == (2, 64, "x")
    assert new.data.machine_types == ("fan",)
    assert cfg.train.epochs == 300 and cfg.model.embedding_dim == 128  # the original is unchanged
    for bad in ("train.epochz", "optim.lr", "epochs", "model.nope"):
        with pytest.raises(ValueError, match="unknown setting"):
            cfg.with_overrides({bad: 1})
    with pytest.raises(ValueError, match="features"):
        cfg.with_overrides({"model.features": "bogus"})


def test_identity_leaves_out_runtime_settings():
    a = RunConfig().with_overrides({"train.num_workers": 0, "train.device": "cpu"})
    b = RunConfig().with_overrides({"train.num_workers": 8, "train.device": "auto"})
    assert a.identity() == b.identity() and a.to_dict() != b.to_dict()
    # compile: same math, fused kernels; prefetch_factor: how far the loader reads ahead;
    # validate_every, save_last_every: which epochs log a validation loss and write last.pt
    # (tests/test_train.py: the same weights)
    assert RUNTIME_KEYS == {"num_workers", "device", "compile", "prefetch_factor", "validate_every",
                            "save_last_every"}
    # what changes the result stays in the identity: TF32, BatchNorm over processes, accumulation
    for key, value in (("tf32", False), ("sync_batchnorm", False), ("accumulate", 2)):
        assert RunConfig().identity() != RunConfig().with_overrides({f"train.{key}": value}).identity()
    assert RunConfig().identity() != RunConfig().with_overrides({"train.seed": 1}).identity()


def test_load_config_errors_name_file_and_setting(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.toml"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[data]\nlabelmap = 'paper'\n")
    with pytest.raises(ValueError, match=r"bad\.toml.*labelmap"):
        load_config(bad)
    named = tmp_path / "my_run.toml"
    named.write_text("[train]\nepochs = 2\n")
    cfg = load_config(named)
    assert cfg.name == "my_run" and cfg.train.epochs == 2 and cfg.train.batch_size == 64


# --------------------------------------------------------------------------- one line per error (issue 11)

def _main(capsys, *argv) -> tuple[int, str, str]:
    """``python -m asdlib`` in this process (``main`` is what ``__main__`` calls)."""
    from asdlib.cli import main

    with H.one_thread():
        code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _messages(err: str) -> list[str]:
    """The lines of stderr that are not progress bars (tqdm redraws with carriage returns)."""
    lines = [ln.split("\r")[-1].strip() for ln in err.splitlines()]
    return [ln for ln in lines if ln and not re.search(r"\d+/\d+ \[", ln)]


def _copy_tree(src, dst, keep=lambda p: True):
    import shutil

    for wav in src.glob("*/test/*.wav"):
        if keep(wav):
            target = dst / wav.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(wav, target)
    return dst


def test_bad_inputs_give_one_line_and_exit_2(reference_run, tiny_data, tmp_path, capsys):
    ckpt = reference_run / "checkpoints" / "last.pt"
    junk = tmp_path / "junk.pt"
    junk.write_bytes(bytes(range(256)) * 8)
    trunc = tmp_path / "trunc.pt"
    trunc.write_bytes(ckpt.read_bytes()[:5000])
    bad_truth = tmp_path / "eval_data_list.csv"
    bad_truth.write_text("fan\nid_01_00000000.wav,normal_id_01_00000098.wav,7\n")
    cases = [
        (["--checkpoint", tmp_path / "nope.pt", "--data-root", tiny_data], "nope.pt", "check the path"),
        (["--checkpoint", junk, "--data-root", tiny_data], "junk.pt", "download or create it again"),
        (["--checkpoint", trunc, "--data-root", tiny_data], "trunc.pt", "truncated or damaged"),
        (["--checkpoint", ckpt, "--data-root", tmp_path / "nodata"], "nodata", "--data-root must be"),
        (["--checkpoint", ckpt, "--data-root", tiny_data, "--ground-truth", bad_truth],
         "eval_data_list.csv, line 2", "0|1"),
    ]
    for args, named, todo in cases:
        code, out, err = _main(capsys, "score", *args, "--out", tmp_path / "o")
        assert code == 2, err
        lines = _messages(err)
        assert len(lines) == 1 and lines[0].startswith("python -m asdlib score: error: "), err
        assert named in err and todo in err, err
    code, _, err = _main(capsys, "train", "--config", tmp_path / "none.toml")
    assert code == 2 and "none.toml" in err and len(err.strip().splitlines()) == 1


def test_debug_flag_shows_the_traceback(tmp_path, tiny_data, data_dir):
    """Without --debug one line (through ``main`` here); with it Python's own traceback (a real process)."""
    args = ["score", "--checkpoint", tmp_path / "nope.pt", "--data-root", tiny_data, "--out", tmp_path / "o"]
    plain = cli(*args)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    assert len(plain.stderr.strip().splitlines()) == 1 and "nope.pt" in plain.stderr
    debug = asdlib("--debug", *args, data_dir=data_dir)
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "FileNotFoundError" in debug.stderr


def test_score_bad_wav_fail_names_it_skip_reports_it(reference_run, tiny_data, tmp_path, capsys):
    root = _copy_tree(tiny_data, tmp_path / "data")
    bad = sorted(root.glob("fan/test/*.wav"))[0]
    bad.write_bytes(bad.read_bytes()[:3000])  # a truncated copy
    ckpt = reference_run / "checkpoints" / "last.pt"
    for extra in ([], ["--no-store"]):
        code, _, err = _main(capsys, "score", "--checkpoint", ckpt, "--data-root", root,
                             "--out", tmp_path / "fail", *extra)
        assert code == 2 and str(bad) in err and "--on-bad-file skip" in err, err
        assert len(_messages(err)) == 1 and "Traceback" not in err
        assert not (tmp_path / "fail").exists()
        out = tmp_path / f"skip{len(extra)}"
        code, stdout, err = _main(capsys, "score", "--checkpoint", ckpt, "--data-root", root,
                                  "--out", out, "--on-bad-file", "skip", *extra)
        assert code == 0, err
        report = pd.read_csv(out / "bad_files.csv")
        assert report["path"].tolist() == [str(bad)] and "truncated" in report["error"][0]
        assert "bad_files.csv" in stdout and "bad_files.csv" in err
        fan = (out / "scores" / "anomaly_score_fan_id_00.csv").read_text().splitlines()
        assert len(fan) == H.N_TEST_NORMAL + H.N_TEST_ANOMALY - 1 and bad.name not in "".join(fan)
        assert (out / "metrics_per_id.csv").is_file()


def test_score_one_class_id_is_reported_and_exits_0(reference_run, tiny_data, tmp_path, capsys):
    root = _copy_tree(tiny_data, tmp_path / "data",
                      keep=lambda p: not (p.parts[-3] == "fan" and p.name.startswith("anomaly")))
    code, _, err = _main(capsys, "score", "--checkpoint", reference_run / "checkpoints" / "last.pt",
                         "--data-root", root, "--out", tmp_path / "o")
    assert code == 0, err
    assert "warning: fan id_00: AUC and pAUC undefined: only normal clips (3)" in err
    per_id = pd.read_csv(tmp_path / "o" / "metrics_per_id.csv", dtype={"machine_id": str})
    fan = per_id.set_index("machine_type").loc["fan"]
    assert pd.isna(fan["auc"]) and (fan["n_normal"], fan["n_anomaly"]) == (3, 0)
    assert fan["note"] == "undefined: only normal clips (3)"
    pump = per_id.set_index("machine_type").loc["pump"]
    written = pd.read_csv(tmp_path / "o" / "clip_scores.csv")
    written = written[written["machine_type"] == "pump"]
    assert pump["auc"] == pytest.approx(100 * roc_auc_score(written["anomaly"], written["score"]))
    assert pd.isna(pump["note"])
    assert len(list((tmp_path / "o" / "scores").glob("*.csv"))) == 2


def test_score_evaluation_set_and_its_ground_truth(reference_run, tiny_data, tmp_path, capsys):
    """Clips named id_XX_*.wav (no label) are scored; eval_data_list.csv labels them for the metrics."""
    from sklearn.metrics import roc_auc_score

    src = {"fan": ("00", "01"), "pump": ("00", "03")}  # test clips renamed to additional-set IDs
    root = tmp_path / "evaluation"
    truth_lines = []
    for mt, (old, new) in src.items():
        truth_lines.append(mt)
        (root / mt / "test").mkdir(parents=True)
        for k, wav in enumerate(sorted(tiny_data.glob(f"{mt}/test/*_id_{old}_*.wav"))):
            name = f"id_{new}_{k:08d}.wav"
            (root / mt / "test" / name).write_bytes(wav.read_bytes())
            original = wav.name.replace(f"id_{old}", f"id_{new}")
            truth_lines.append(f"{name},{original},{int(original.startswith('anomaly'))}")
    truth = tmp_path / "eval_data_list.csv"
    truth.write_text("\n".join(truth_lines) + "\n")
    ckpt = reference_run / "checkpoints" / "last.pt"

    code, stdout, err = _main(capsys, "score", "--checkpoint", ckpt, "--data-root", root,
                              "--out", tmp_path / "unlabelled")
    assert code == 0, err
    assert "12 of 12 clip(s) are unlabelled" in err and "--ground-truth" in err
    files = sorted(p.name for p in (tmp_path / "unlabelled" / "scores").iterdir())
    assert files == ["anomaly_score_fan_id_01.csv", "anomaly_score_pump_id_03.csv"]
    assert not list((tmp_path / "unlabelled").glob("metrics_*.csv"))

    code, stdout, err = _main(capsys, "score", "--checkpoint", ckpt, "--data-root", root,
                              "--out", tmp_path / "labelled", "--ground-truth", truth)
    assert code == 0, err
    per_id = pd.read_csv(tmp_path / "labelled" / "metrics_per_id.csv", dtype={"machine_id": str})
    assert per_id[["machine_type", "machine_id"]].values.tolist() == [["fan", "01"], ["pump", "03"]]
    for row in per_id.itertuples():  # the official per-ID AUC, from the score files and the truth
        scores = dict(line.split(",") for line in (tmp_path / "labelled" / "scores" /
                      f"anomaly_score_{row.machine_type}_id_{row.machine_id}.csv").read_text().split())
        labels = {ln.split(",")[0]: int(ln.split(",")[2]) for ln in truth_lines
                  if ln.startswith(f"id_{row.machine_id}_")}
        names = sorted(scores)
        want = 100 * roc_auc_score([labels[n] for n in names], [float(scores[n]) for n in names])
        assert row.auc == pytest.approx(want) and (row.n_normal, row.n_anomaly) == (3, 3)
    # the unlabelled scoring wrote the same score files
    for f in files:
        assert (tmp_path / "labelled" / "scores" / f).read_text() == \
            (tmp_path / "unlabelled" / "scores" / f).read_text()
