"""Ready for the GPU without one (issue 17): every paper network on the ``meta`` device, the device
and ``--gpus`` logic with a faked CUDA, precision checks, /dev/shm, the exact global batch and
BatchNorm over two gloo processes, gradient accumulation, and the memory estimate against
measured CPU peaks."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

import asdlib.engine.device as device_mod
from asdlib.cli import main as cli_main
from asdlib.engine.checkpoints import ConfigMismatchError
from asdlib.engine.config import RunConfig, load_config, profile_configs
from asdlib.engine.device import (check_precision, cuda_unavailable_reason, describe_runtime,
                                  gpu_assignment, resolve_device, runtime_info, shm_needed,
                                  shm_problem)
from asdlib.engine.distributed import GlobalBatchNorm, per_process_batch, sync_batchnorm
from asdlib.engine.memory import GiB, memory_advice, step_memory
from asdlib.engine.train import build_optimizer, read_log, train
from asdlib.nets.loss import anomaly_score
from asdlib.nets.methods import has_classes, step_output
from asdlib.nets.model import ModelConfig, build_model
from asdlib.study.preflight import memory_plan

import engine_helpers as H
from engine_helpers import one_thread_tmp_data  # noqa: F401  (a fixture)

PAPER = profile_configs("paper")
META = torch.device("meta")


# --------------------------------------------------------------------------- every paper network on meta

@pytest.mark.parametrize("name", sorted(PAPER))
def test_paper_network_trains_validates_and_scores_on_the_meta_device(name):
    """Step (forward, loss, backward, optimiser), validation loss and score at the paper batch: a
    CPU tensor anywhere in them would stop the computation (meta and CPU tensors do not mix)."""
    config = load_config(PAPER[name])
    net = build_model(config.model).to(META)
    optimizer, _ = build_optimizer(net, config.train)
    batch = config.train.batch_size
    if config.train.batch_unit == "windows":  # IDNN, the DCASE autoencoder: one type's model
        model = next(iter(net.models.values()))
        loss = model.window_loss(torch.randn(batch, model.frames, model.n_mels if hasattr(model, "n_mels")
                                             else 128, device=META))
        score_net, batch = model, 4
    else:
        score_net = net
        wave = torch.randn(batch, net.config.num_samples, device=META)
        target = torch.randint(0, 41, (batch,), device=META)
        perm = torch.randperm(batch, device=META)
        out = step_output(net, wave, target, perm, 0.7)
        loss = 0.7 * F.cross_entropy(out, target) + 0.3 * F.cross_entropy(out, target[perm])
    assert loss.device == META and loss.dim() == 0
    loss.backward()
    optimizer.step()
    assert all(p.device == META and (p.grad is None or p.grad.device == META) for p in net.parameters())
    assert all(v.device == META for state in optimizer.state.values() for v in state.values()
               if isinstance(v, torch.Tensor) and v.dim() > 0)
    score_net.eval()
    wave = torch.randn(batch, net.config.num_samples, device=META)
    target = torch.randint(0, 41, (batch,), device=META)
    with torch.no_grad():
        if has_classes(net):
            emb = net(wave)
            val = F.cross_entropy(net.arcface(emb, target), target)
            score = anomaly_score(net.arcface, emb, target)
        else:
            val, score = score_net.training_loss(wave), score_net.anomaly_score(wave)
    assert val.device == META and score.device == META and score.shape == (batch,)


# --------------------------------------------------------------------------- device, --gpus (faked CUDA)

def test_auto_falls_back_to_the_cpu_and_says_why(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.version, "cuda", None)
    assert "CPU-only build" in cuda_unavailable_reason()
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert "CUDA_VISIBLE_DEVICES='' hides every GPU" in cuda_unavailable_reason()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    monkeypatch.setattr(torch.cuda, "init", lambda: (_ for _ in ()).throw(
        RuntimeError("The NVIDIA driver on your system is too old (found version 11040).")))
    reason = cuda_unavailable_reason()
    assert "driver on your system is too old" in reason and "CUDA 12.8" in reason
    with pytest.raises(ValueError, match=r"train.device = 'cuda' but .*too old"):
        resolve_device("cuda")


def test_a_cuda_device_past_the_visible_ones_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(ValueError, match="only 2 CUDA GPU"):
        resolve_device("cuda:2")
    with pytest.raises(ValueError, match="train.device = 'gpu'"):
        resolve_device("gpu")


def test_gpus_index_into_an_inherited_cuda_visible_devices():
    assert gpu_assignment("0,1", "3,5", 2) == ["3", "5"]          # a SLURM job's GPUs 3 and 5
    assert gpu_assignment("1", "GPU-aaaa,GPU-bbbb", 2) == ["GPU-bbbb"]  # UUIDs pass through
    with pytest.raises(ValueError, match=r"--gpus 2: this job may use 2 GPU\(s\) \(CUDA_VISIBLE_DEVICES=3,5\)"):
        gpu_assignment("2", "3,5", 2)
    assert gpu_assignment("1,3", None, 4) == ["1", "3"]
    with pytest.raises(ValueError, match=r"only 4 GPU\(s\) here"):
        gpu_assignment("4", None, 4)
    with pytest.raises(ValueError, match="--gpus 0 asks for CUDA GPUs"):
        gpu_assignment("0", None, 0)
    for bad in ("a", "0,,x", "-1"):
        with pytest.raises(ValueError, match="comma-separated GPU numbers"):
            gpu_assignment(bad, None, 2)
    with pytest.raises(ValueError, match="named twice"):
        gpu_assignment("1,1", None, 2)


def test_train_many_gpus_without_cuda_stops_with_one_line(tmp_path, tiny_data, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cfg = H.write_toml(tmp_path / "tiny.toml", tiny_data)
    assert cli_main(["train-many", str(cfg), "--gpus", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--gpus 0 asks for CUDA GPUs" in err[0] and "internal error" not in err[0]


def test_train_many_children_get_the_inherited_gpu_and_require_cuda(tmp_path, tiny_data, data_dir,
                                                                    capfd, monkeypatch):
    """Faked: this process sees 2 GPUs of a job holding physical GPUs 7 and 9. ``--gpus 1`` starts
    the child on GPU 9 with train.device = "cuda"; the child (no CUDA really) stops instead of
    training on the CPU."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "7,9")
    for key, value in H.subprocess_env(data_dir).items():
        if key != "CUDA_VISIBLE_DEVICES":
            monkeypatch.setenv(key, value)
    cfg = H.write_toml(tmp_path / "tiny.toml", tiny_data)
    assert cli_main(["train-many", str(cfg), "--gpus", "1", "--out-root", str(tmp_path / "runs")]) == 1
    out, err = capfd.readouterr()
    assert "[gpu 9] start" in out
    assert "train.device = 'cuda' but" in err and "training on the CPU" not in err
    assert not (tmp_path / "runs" / "tiny" / "checkpoints").exists()


def test_auto_on_a_cpu_trains_saying_so_and_records_the_device(tiny_data, tmp_path, capsys, monkeypatch,
                                                               one_thread_tmp_data):  # noqa: F811
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = train(H.tiny_config(tiny_data, device="auto", epochs=1, max_steps_per_epoch=1), tmp_path / "r",
                progress=False)
    captured = capsys.readouterr()
    assert "warning:" in captured.err and "training on the CPU" in captured.err
    assert "tiny: training on cpu, fp32, batch 8 (BatchNorm sees 8 clips)" in captured.out
    runtime = json.loads((out / "config.json").read_text())["runtime"]
    assert runtime["device"] == "cpu" and runtime["tf32_convolutions"] is False


# --------------------------------------------------------------------------- precision (faked cards)

def _fake_card(monkeypatch, name: str, capability: tuple[int, int]):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: capability)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: name)


def test_bf16_is_refused_below_compute_capability_8(monkeypatch):
    cuda = torch.device("cuda", 0)
    _fake_card(monkeypatch, "Tesla T4", (7, 5))
    with pytest.raises(ValueError, match=r"train.precision = \"bf16\": Tesla T4 \(compute capability 7.5\)"):
        check_precision(cuda, "bf16")
    check_precision(cuda, "fp32")
    _fake_card(monkeypatch, "NVIDIA A100", (8, 0))
    check_precision(cuda, "bf16")
    check_precision(torch.device("cpu"), "bf16")  # the CPU's bf16 autocast stays an opt-in


def test_the_runtime_states_tf32_world_and_the_batchnorm_batch(monkeypatch):
    cuda = torch.device("cuda", 0)
    _fake_card(monkeypatch, "NVIDIA H100", (9, 0))
    info = runtime_info(cuda, "fp32", True, world=2, batch_size=64, accumulate=2)
    assert info["tf32_convolutions"] and info["bf16_native"] and info["compute_capability"] == "9.0"
    assert info["per_process_batch"] == 32 and info["batchnorm_batch"] == 32  # 16 per process, synced
    assert "not bit for bit" in info["resume"]
    line = describe_runtime("proposed", info)
    assert "TF32 convolutions" in line and "over 2 processes" in line and "BatchNorm sees 32" in line
    assert not runtime_info(cuda, "fp32", False)["tf32_convolutions"]  # train.tf32 = false
    assert runtime_info(cuda, "fp32", True, world=2, sync_batchnorm=False)["batchnorm_batch"] == 32
    _fake_card(monkeypatch, "Tesla V100", (7, 0))
    assert not runtime_info(cuda, "fp32", True)["tf32_convolutions"]  # no TF32 before Ampere


def test_shared_memory_check_names_what_to_do(tmp_path):
    assert 650e6 < shm_needed(4, 4, 64, 160_000) < 660e6  # the paper profile's ~655 MB
    assert shm_problem(0, 4, 64, 160_000, path=str(tmp_path)) is None
    free = os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize
    msg = shm_problem(4, 4, 64, free // (4 * 4 * 64), path=str(tmp_path))
    assert msg and "--shm-size" in msg and "--ipc=host" in msg and "train.prefetch_factor" in msg
    assert shm_problem(1, 1, 1, 1000, path=str(tmp_path)) is None


# --------------------------------------------------------------------------- multi-GPU recipe

def test_the_global_batch_stays_exact():
    assert per_process_batch(64, 2) == 32 and per_process_batch(64, 1, 4) == 64
    with pytest.raises(ValueError, match="train.batch_size = 64 does not divide over 3 processes"):
        per_process_batch(64, 3)
    with pytest.raises(ValueError, match="train.accumulate = 3"):
        per_process_batch(64, 2, 3)
    with pytest.raises(ValueError, match="train.accumulate = 3 does not divide train.batch_size = 64"):
        RunConfig().with_overrides({"train.accumulate": 3})


_BN_WORKER = """
import json, os, sys, torch
import torch.distributed as dist
from asdlib.engine.distributed import GlobalBatchNorm
rank = int(sys.argv[1])
dist.init_process_group("gloo", init_method=sys.argv[2], rank=rank, world_size=2)
torch.manual_seed(0)
x = torch.randn(8, 3, 5, 4) * 3 + 1
w = torch.randn(8, 3, 5, 4)
bn = GlobalBatchNorm(3)
with torch.no_grad():
    bn.weight.copy_(torch.tensor([1.0, 2.0, 0.5])); bn.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
part = x[rank * 4:(rank + 1) * 4].clone().requires_grad_(True)
out = bn(part)
(out * w[rank * 4:(rank + 1) * 4]).sum().backward()
torch.save({"out": out.detach(), "grad": part.grad, "wgrad": bn.weight.grad, "bgrad": bn.bias.grad,
            "mean": bn.running_mean, "var": bn.running_var}, sys.argv[3])
dist.destroy_process_group()
"""


def test_batchnorm_over_two_gloo_processes_equals_one_process_on_the_whole_batch(tmp_path):
    """Two processes with 4 clips each: outputs, input and parameter gradients and running
    statistics as nn.BatchNorm2d computes them on all 8 clips in one process."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(H.REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    procs = [subprocess.Popen([sys.executable, "-c", _BN_WORKER, str(r), f"tcp://127.0.0.1:{port}",
                               str(tmp_path / f"r{r}.pt")], env=env, stderr=subprocess.PIPE, text=True)
             for r in range(2)]
    errs = [p.communicate(timeout=120)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), [e[-2000:] for e in errs]
    r0, r1 = (torch.load(tmp_path / f"r{r}.pt") for r in range(2))
    torch.manual_seed(0)
    x = (torch.randn(8, 3, 5, 4) * 3 + 1).requires_grad_(True)
    w = torch.randn(8, 3, 5, 4)
    ref = torch.nn.BatchNorm2d(3)
    with torch.no_grad():
        ref.weight.copy_(torch.tensor([1.0, 2.0, 0.5]))
        ref.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    out = ref(x)
    (out * w).sum().backward()
    torch.testing.assert_close(torch.cat([r0["out"], r1["out"]]), out.detach(), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(torch.cat([r0["grad"], r1["grad"]]), x.grad, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(r0["wgrad"] + r1["wgrad"], ref.weight.grad, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(r0["bgrad"] + r1["bgrad"], ref.bias.grad, atol=1e-4, rtol=1e-4)
    for r in (r0, r1):
        torch.testing.assert_close(r["mean"], ref.running_mean)
        torch.testing.assert_close(r["var"], ref.running_var)
    # the converted network keeps BatchNorm's state keys, so checkpoints load into the plain one
    net = build_model(ModelConfig(clip_seconds=0.5))
    keys = list(net.state_dict())
    converted = sync_batchnorm(net, torch.device("cpu"))
    assert list(converted.state_dict()) == keys
    assert any(isinstance(m, GlobalBatchNorm) for m in converted.modules())
    assert not any(type(m) is torch.nn.BatchNorm2d for m in converted.modules())


# --------------------------------------------------------------------------- gradient accumulation

@pytest.mark.parametrize("kind", ["proposed", "tastgram_mfn"])
def test_a_micro_batch_is_mixed_with_the_partners_of_the_whole_batch(kind):
    model = ModelConfig(clip_seconds=0.5, kind=kind)
    net = build_model(model).eval()
    torch.manual_seed(1)
    wave = torch.randn(6, net.config.num_samples)
    target = torch.tensor([0, 7, 3, 0, 7, 3])
    perm = torch.tensor([3, 5, 0, 1, 2, 4])
    rows = torch.tensor([1, 4])
    with torch.no_grad():
        whole = step_output(net, wave, target, perm, 0.3)
        part = step_output(net, wave, target, perm, 0.3, rows)
    torch.testing.assert_close(part, whole[rows], atol=1e-4, rtol=1e-4)


def test_accumulated_training_states_its_batchnorm_batch(tiny_data, tmp_path, one_thread_tmp_data):  # noqa: F811
    out = train(H.tiny_config(tiny_data, epochs=1, accumulate=2), tmp_path / "acc", progress=False)
    runtime = json.loads((out / "config.json").read_text())["runtime"]
    assert runtime["accumulate"] == 2 and runtime["batchnorm_batch"] == 4 and runtime["global_batch"] == 8
    log = read_log(out)
    assert log["steps"][0] == H.STEPS_PER_EPOCH and log["clips"][0] == 23
    assert torch.isfinite(torch.tensor(log["train_loss"][0]))


def test_resume_at_another_world_size_is_refused(tiny_data, tmp_path, one_thread_tmp_data):  # noqa: F811
    out = train(H.tiny_config(tiny_data, epochs=2, max_steps_per_epoch=1), tmp_path / "w", progress=False)
    ckpt = torch.load(out / "checkpoints" / "last.pt", weights_only=False)
    ckpt["log"]["world_size"] = 2  # as if trained by torchrun on 2 processes
    torch.save(ckpt, out / "checkpoints" / "last.pt")
    with pytest.raises(ConfigMismatchError, match=r"trained on 2 process\(es\), this run has 1"):
        train(H.tiny_config(tiny_data, epochs=2, max_steps_per_epoch=1), out, progress=False)


# --------------------------------------------------------------------------- memory

_PEAK = """
import json, sys, torch
torch.set_num_threads(1)
from asdlib.engine.config import RunConfig
from asdlib.engine.memory import measured_step_peak
config = RunConfig().with_overrides({"model.clip_seconds": 2.0})
print(json.dumps(measured_step_peak(config, int(sys.argv[1]))))
"""


@pytest.mark.slow
def test_the_memory_estimate_matches_a_measured_cpu_peak_at_two_batch_sizes():
    """The proposed network on 2-s clips: the estimate (activations counted on the meta device)
    within 25 % of the peak resident memory a real CPU step reaches, in a fresh process each
    (glibc told to return large blocks at once, so the peak is the live memory's)."""
    config = RunConfig().with_overrides({"model.clip_seconds": 2.0})
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MALLOC_MMAP_THRESHOLD_": "131072",
           "PYTHONPATH": str(H.REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    estimates = {}
    for batch in (4, 16):
        proc = subprocess.run([sys.executable, "-c", _PEAK, str(batch)], env=env, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        measured = json.loads(proc.stdout.strip().splitlines()[-1])
        estimates[batch] = step_memory(config, batch)
        ratio = estimates[batch]["peak"] / measured
        assert 0.8 < ratio < 1.25, (batch, estimates[batch], measured)
    assert estimates[16]["activations"] > 3.5 * estimates[4]["activations"]  # linear in the batch


def test_the_advice_for_a_card_too_small_names_accumulation_or_a_bigger_card():
    stgram = load_config(PAPER["stgram_mfn"])
    peak = step_memory(stgram)["peak"]
    assert 14 * GiB < peak < 18 * GiB  # batch 128 of 10-s clips
    assert memory_advice("stgram_mfn", stgram, peak, 40 * GiB, "A100 40GB") is None
    line = memory_advice("stgram_mfn", stgram, peak, 16 * GiB, "a 16 GiB card")
    assert "--set train.accumulate=2" in line and "micro-batches of 64 clips" in line
    assert "BatchNorm then sees 64 clips instead of 128" in line and "a card with at least" in line
    table, advice = memory_plan("paper", ["proposed", "stgram_mfn"], 16 * GiB, "a 16 GiB card")
    assert table.set_index("run")["fits"].to_dict() == {"proposed": True, "stgram_mfn": False}
    assert len(advice) == 1 and advice[0].startswith("stgram_mfn:")


def test_what_the_gpu_measured_decides():
    """On a GPU the preflight's measurement wins over the estimate, and running out of memory while
    measuring is said as such."""
    table, advice = memory_plan("paper", ["proposed", "stgram_mfn", "idnn"], 24 * GiB, "NVIDIA L4",
                                measured={"proposed": int(30 * GiB), "stgram_mfn": -1})
    rows = table.set_index("run")
    assert rows.loc["proposed", "measured_gib"] == 30.0 and rows.loc["stgram_mfn", "measured_gib"] == "out of memory"
    assert rows["fits"].to_dict() == {"proposed": False, "stgram_mfn": False, "idnn": True}
    assert advice[0].startswith("proposed: a training step at batch 64 needs ~30.0 GiB (measured)")
    assert "--set train.accumulate=2" in advice[0] and "NVIDIA L4 (24 GiB)" in advice[0]
    assert advice[1].startswith("stgram_mfn: a training step at batch 128 ran out of memory when measured")
