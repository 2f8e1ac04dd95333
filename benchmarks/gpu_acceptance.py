"""GPU acceptance: everything the paper profile needs from a GPU, checked in minutes, in one JSON report.

Run it through ``benchmarks/gpu_acceptance.sh`` (at most about 8 minutes on one H100/H200):

1. ``cuda``: CUDA usable; the card, compute capability, native bf16, TF32 settings.
2. ``networks``: every paper network at its paper batch, fp32 and bf16, for a few steps (training
   step, backward, optimiser, validation, score; attention maps and the inference form for the
   proposed family), with ``max_memory_allocated`` beside the preflight's estimate.
3. ``training``: a short training of the proposed model and each peer with 4 data loader
   workers, and the proposed model in bf16 + ``torch.compile``; finite losses.
4. ``scoring``: evaluate on the GPU, then score the GPU-written checkpoint again in a CPU-only
   process; the scores agree within ``SCORE_TOLERANCE``.
5. ``resume``: a run killed (``kill -9``) mid-epoch and resumed to the end.
6. ``store_race``: two trainings started together on an empty cache: one store build.
7. ``ddp``: with two or more GPUs, ``torchrun`` DDP of the proposed model and of IDNN (clip batches).

``--dry`` (``DRY=1``) runs the same stages end to end on a CPU at tiny sizes (0.5-s clips, small
batches, 2 workers; CUDA not required; the DDP stage on two gloo processes; ``torch.compile``
skipped, tests/test_train.py covers it). A stage that fails is recorded with its error and the
script goes on; the exit status is 1 when any stage failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from asdlib.data.synthetic import generate_synthetic_dataset  # noqa: E402
from asdlib.deploy.inference import inference_form  # noqa: E402
from asdlib.engine.checkpoints import list_checkpoints, load_model, read_checkpoint  # noqa: E402
from asdlib.engine.config import load_config, profile_configs  # noqa: E402
from asdlib.engine.evaluate import evaluation_clips, score_clips  # noqa: E402
from asdlib.engine.memory import GiB, step_memory  # noqa: E402
from asdlib.engine.train import build_optimizer, read_log, train  # noqa: E402
from asdlib.nets.loss import anomaly_score  # noqa: E402
from asdlib.nets.methods import has_classes, step_output, validation_batch  # noqa: E402
from asdlib.nets.model import ASDNet, build_model  # noqa: E402

#: Scores of one checkpoint on the GPU (TF32 convolutions) and on the CPU (fp32) may differ by this
#: much, relative to the spread of the scores (max |difference| / standard deviation of the scores).
SCORE_TOLERANCE = 0.02
PEERS = ("stgram_mfn", "tastgram_mfn", "idnn", "dcase_ae")


class Acceptance:
    """The stages, their results and the time budget."""

    def __init__(self, dry: bool, work: Path, budget_s: float):
        self.dry, self.work, self.budget, self.t0 = dry, work, budget_s, time.perf_counter()
        self.cuda = torch.cuda.is_available() and not dry
        self.device = torch.device("cuda" if self.cuda else "cpu")
        self.report: dict = {"dry": dry, "device": str(self.device), "stages": {},
                             "score_tolerance": SCORE_TOLERANCE, "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
        self.clip_seconds = 0.5 if dry else 10.0
        self.workers = 2 if dry else 4
        self.data = work / "data"
        self.env = {**os.environ, "ASD_DATA_DIR": str(work / "asd"),
                    "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        os.environ["ASD_DATA_DIR"] = str(work / "asd")

    def stage(self, name: str, fn) -> None:
        left = self.budget - (time.perf_counter() - self.t0)
        if left <= 0:
            self.report["stages"][name] = {"ok": False, "error": "skipped: the time budget is spent"}
            return
        t = time.perf_counter()
        try:
            result = fn() or {}
            self.report["stages"][name] = {"ok": True, **result}
        except Exception as e:  # noqa: BLE001 - every failure is recorded, the rest still runs
            self.report["stages"][name] = {"ok": False, "error": f"{type(e).__name__}: {e}",
                                           "traceback": traceback.format_exc()[-3000:]}
        self.report["stages"][name]["seconds"] = round(time.perf_counter() - t, 2)
        print(f"[gpu_acceptance] {name}: {'ok' if self.report['stages'][name]['ok'] else 'FAILED'} "
              f"({self.report['stages'][name]['seconds']} s)", flush=True)

    # ------------------------------------------------------------------ helpers
    def config(self, name: str, **train):
        """A paper configuration on the acceptance data (tiny sizes under --dry)."""
        config = load_config(profile_configs("paper")[name])
        over = {"data.root": str(self.data), "data.label_map": config.data.label_map,
                "data.training_sets": "development+additional", "model.clip_seconds": self.clip_seconds}
        if config.model.whole_clips:
            over["model.whole_clips"] = False
        if self.dry:
            over["train.batch_size"] = 8 if config.train.batch_unit == "clips" else 64
        over.update({f"train.{k}": v for k, v in train.items()})
        return config.with_overrides(over)

    def make_data(self) -> None:
        ids = {"fan": ("00", "02"), "pump": ("00",), "ToyCar": ("01",)}
        n_train = 12 if self.dry else 80
        generate_synthetic_dataset(self.data, clip_seconds=self.clip_seconds, machine_ids=ids,
                                   n_train=n_train, n_test_normal=3, n_test_anomaly=3, seed=0)

    # ------------------------------------------------------------------ stages
    def cuda_stage(self) -> dict:
        if self.dry:
            return {"cuda": False, "note": "dry run on the CPU"}
        if not torch.cuda.is_available():
            from asdlib.engine.device import cuda_unavailable_reason
            raise RuntimeError(cuda_unavailable_reason())
        cap = torch.cuda.get_device_capability(0)
        return {"cuda": True, "devices": torch.cuda.device_count(), "card": torch.cuda.get_device_name(0),
                "capability": f"{cap[0]}.{cap[1]}", "bf16_supported": torch.cuda.is_bf16_supported(),
                "memory_gib": round(torch.cuda.get_device_properties(0).total_memory / GiB, 1),
                "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
                "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
                "torch": torch.__version__, "cuda_build": torch.version.cuda}

    def networks_stage(self) -> dict:
        out, failures = {}, []
        for name in sorted(profile_configs("paper")):
            for precision in ("fp32", "bf16"):
                try:
                    out[f"{name}/{precision}"] = self.one_network(name, precision)
                except Exception as e:  # noqa: BLE001
                    failures.append(f"{name}/{precision}: {type(e).__name__}: {e}")
                    out[f"{name}/{precision}"] = {"error": f"{type(e).__name__}: {e}"}
                if self.cuda:
                    torch.cuda.empty_cache()
        if failures:
            raise RuntimeError("; ".join(failures))
        return {"networks": out}

    def one_network(self, name: str, precision: str) -> dict:
        steps = 1 if self.dry else 3
        config = load_config(profile_configs("paper")[name])
        if self.dry:
            config = config.with_overrides({"model.clip_seconds": self.clip_seconds, "train.batch_size": 2,
                                            "model.whole_clips": False})
        dev, amp = self.device, precision == "bf16"
        net = build_model(config.model).to(dev)
        optimizer, _ = build_optimizer(net, config.train)
        batch = config.train.batch_size
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
        losses = []
        windows = config.train.batch_unit == "windows"
        for _ in range(steps):
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
                if windows:
                    model = next(iter(net.models.values()))
                    loss = model.window_loss(torch.randn(batch, model.frames, getattr(model, "n_mels", 128),
                                                                   device=dev)).float()
                else:
                    wave = torch.randn(batch, net.config.num_samples, device=dev)
                    target = torch.randint(0, 41, (batch,), device=dev)
                    if not has_classes(net):
                        target = torch.zeros(batch, dtype=torch.int64, device=dev)
                    perm = torch.randperm(batch, device=dev)
                    o = step_output(net, wave, target, perm, 0.7)
                    loss = o.float() if o.dim() == 0 else (
                        0.7 * F.cross_entropy(o.float(), target) + 0.3 * F.cross_entropy(o.float(), target[perm]))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        if not all(np.isfinite(losses)):
            raise RuntimeError(f"non-finite training loss {losses}")
        net.eval()
        wave = torch.randn(min(batch, 16), net.config.num_samples, device=dev)
        target = (torch.randint(0, 41, (len(wave),), device=dev) if has_classes(net)
                  else torch.zeros(len(wave), dtype=torch.int64, device=dev))
        row = {"batch": batch, "losses": losses}
        with torch.no_grad(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            val, _ = validation_batch(net, wave, target)
            if has_classes(net):
                emb = net(wave).float()
                score = anomaly_score(net.arcface, emb, target)
            else:
                score = net.anomaly_score(wave, target)
            row.update({"validation_loss": val / len(wave), "score_finite": bool(torch.isfinite(score).all())})
            if isinstance(net, ASDNet):
                if net.attention is not None:
                    maps = net.maps(wave)
                    row["attention_maps"] = {k: list(v.shape) for k, v in maps.items()}
                folded = inference_form(net)
                per_class, _ = folded(wave)
                row["inference_form_finite"] = bool(torch.isfinite(per_class.float()).all())
        if not row["score_finite"]:
            raise RuntimeError("non-finite scores")
        if self.cuda:
            row["max_memory_allocated_gib"] = round(torch.cuda.max_memory_allocated() / GiB, 3)
        if precision == "fp32":
            row["estimated_peak_gib"] = round(step_memory(config)["peak"] / GiB, 3)
        return row

    def training_stage(self) -> dict:
        runs, rows = ["proposed", *PEERS], {}
        epochs = 1 if self.dry else 2
        for name in runs:
            config = self.config(name, epochs=epochs, max_steps_per_epoch=2 if self.dry else 5,
                                 num_workers=self.workers,
                                 checkpoint_every=1, device=str(self.device))
            out = train(config, self.work / "runs" / name, resume=False, progress=False)
            rows[name] = self.check_log(out, epochs)
        if not self.dry:
            config = self.config("proposed", epochs=1, max_steps_per_epoch=3, num_workers=self.workers,
                                 precision="bf16", compile=True, device=str(self.device))
            out = train(config, self.work / "runs" / "proposed-bf16-compiled", resume=False, progress=False)
            rows["proposed bf16 + compile"] = self.check_log(out, 1)
        else:
            rows["proposed bf16 + compile"] = "skipped under DRY (torch.compile takes a minute on a CPU)"
        return {"runs": rows}

    @staticmethod
    def check_log(out: Path, epochs: int) -> dict:
        log = read_log(out)
        if log["epoch"].tolist() != list(range(1, epochs + 1)):
            raise RuntimeError(f"{out}: epochs {log['epoch'].tolist()}")
        losses = log["train_loss"].tolist() + log.get("val_loss", pd.Series(dtype=float)).dropna().tolist()
        if not np.all(np.isfinite(losses)):
            raise RuntimeError(f"{out}: non-finite losses {losses}")
        runtime = json.loads((out / "config.json").read_text())["runtime"]
        return {"train_loss": log["train_loss"].tolist(), "seconds": log["seconds"].tolist(),
                "data_wait_fraction": log["data_wait_fraction"].tolist(), "runtime": runtime}

    def scoring_stage(self) -> dict:
        run = self.work / "runs" / "proposed"
        ckpt = list_checkpoints(run)[-1]
        clips = evaluation_clips(self.data, "paper")
        here = score_clips(load_model(ckpt), clips, device=self.device, batch_size=16, progress=False)
        cpu_out = self.work / "cpu_scores.csv"
        code = ("import sys, torch; from asdlib.engine.checkpoints import load_model; "
                "from asdlib.engine.evaluate import evaluation_clips, score_clips; "
                "assert not torch.cuda.is_available(); "
                "s = score_clips(load_model(sys.argv[1]), evaluation_clips(sys.argv[2], 'paper'), "
                "device='cpu', batch_size=16, progress=False); s.to_csv(sys.argv[3], index=False)")
        proc = subprocess.run([sys.executable, "-c", code, str(ckpt), str(self.data), str(cpu_out)],
                              env={**self.env, "CUDA_VISIBLE_DEVICES": ""}, capture_output=True, text=True,
                              timeout=300)
        if proc.returncode:
            raise RuntimeError(f"CPU-only scoring failed: {proc.stderr[-2000:]}")
        there = pd.read_csv(cpu_out)
        a, b = here["score"].to_numpy(), there["score"].to_numpy()
        spread = float(np.std(b)) or 1.0
        worst = float(np.max(np.abs(a - b)) / spread)
        if not worst <= SCORE_TOLERANCE:
            raise RuntimeError(f"GPU and CPU scores differ by {worst:.4f} of their spread (> {SCORE_TOLERANCE})")
        return {"checkpoint": ckpt.name, "clips": len(a), "max_difference_over_spread": worst}

    def resume_stage(self) -> dict:
        out = self.work / "runs" / "killed"
        config_path = self.work / "killed.toml"
        c = self.config("proposed", epochs=2, max_steps_per_epoch=3, num_workers=self.workers,
                        checkpoint_every=1, device=str(self.device))
        config_path.write_text(_toml(c.to_dict()))
        cmd = [sys.executable, "-m", "asdlib", "train", "--config", str(config_path), "--out", str(out), "--quiet"]
        # output to a file, not a pipe: the killed run's DataLoader workers outlive it by up to 5 s
        # (they look for their parent every 5 s) and would hold a pipe open that long
        with open(self.work / "killed.log", "w+") as log:
            killed = subprocess.run(cmd, env={**self.env, "ASDLIB_KILL_AFTER_STEPS": "5"}, stdout=log,
                                    stderr=subprocess.STDOUT, timeout=600)
            log.seek(0)
            output = log.read()
        if killed.returncode != -9:
            raise RuntimeError(f"the run was not killed mid-epoch (exit {killed.returncode}): {output[-1500:]}")
        at = read_checkpoint(out / "checkpoints" / "last.pt")["epoch"]
        if at != 1:
            raise RuntimeError(f"killed at step 5 of 2 x 3, last.pt should hold epoch 1, holds {at}")
        resumed = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=600)
        if resumed.returncode:
            raise RuntimeError(f"resume failed (exit {resumed.returncode}): {resumed.stderr[-1500:]}")
        return {"killed_after_steps": 5, "resumed_from_epoch": at, **self.check_log(out, 2)}

    def store_race_stage(self) -> dict:
        cache_env = {**self.env, "ASD_DATA_DIR": str(self.work / "race")}
        procs = []
        for k in range(2):
            path = self.work / f"race{k}.toml"
            c = self.config("proposed", epochs=1, max_steps_per_epoch=1, num_workers=0, device=str(self.device))
            path.write_text(_toml(c.to_dict()))
            procs.append(subprocess.Popen([sys.executable, "-m", "asdlib", "train", "--config", str(path), "--out",
                                           str(self.work / "runs" / f"race{k}"), "--quiet"], env=cache_env,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        results = [p.communicate(timeout=600) for p in procs]
        if any(p.returncode for p in procs):
            raise RuntimeError("; ".join(e[-1000:] for _, e in results))
        stores = [p for p in (self.work / "race" / "cache").iterdir() if p.is_dir() and not p.name.startswith(".")]
        built_by = {json.loads((s / "meta.json").read_text())["built_by"] for s in stores}
        leftovers = [p.name for p in (self.work / "race" / "cache").iterdir() if ".building-" in p.name]
        if len(stores) != 1 or leftovers:
            raise RuntimeError(f"stores {stores}, leftovers {leftovers}")
        return {"stores": len(stores), "builds": len(built_by),
                "waited": sum("waiting for" in e for _, e in results)}

    def ddp_stage(self) -> dict:
        gpus = torch.cuda.device_count() if self.cuda else 0
        if not self.dry and gpus < 2:
            return {"skipped": f"{gpus} GPU(s): DDP needs two"}
        torchrun = Path(sys.executable).with_name("torchrun")
        rows = {}
        pairs = [("proposed", {}), ("idnn", {"batch_unit": "clips", "batch_size": 8 if self.dry else 64})]
        if self.dry:  # tests/test_train.py runs the proposed model under torchrun on gloo already
            rows["proposed"] = "skipped under DRY (tests/test_train.py::test_ddp_two_processes_on_cpu)"
            pairs = pairs[1:]
        for name, extra in pairs:
            c = self.config(name, epochs=1, max_steps_per_epoch=2, num_workers=0,
                            device="cpu" if self.dry else "cuda", **extra)
            path = self.work / f"ddp-{name}.toml"
            path.write_text(_toml(c.to_dict()))
            out = self.work / "runs" / f"ddp-{name}"
            proc = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "asdlib",
                                   "train", "--config", str(path), "--out", str(out), "--quiet"],
                                  env=self.env, capture_output=True, text=True, timeout=600)
            if proc.returncode:
                raise RuntimeError(f"torchrun {name}: {proc.stderr[-2000:]}")
            rows[name] = self.check_log(out, 1)
        return {"runs": rows}

    def run(self) -> dict:
        self.stage("cuda", self.cuda_stage)
        if not self.dry and not self.report["stages"]["cuda"]["ok"]:
            return self.report
        self.make_data()
        self.stage("networks", self.networks_stage)
        self.stage("training", self.training_stage)
        self.stage("scoring", self.scoring_stage)
        self.stage("resume", self.resume_stage)
        self.stage("store_race", self.store_race_stage)
        self.stage("ddp", self.ddp_stage)
        self.report["seconds"] = round(time.perf_counter() - self.t0, 1)
        self.report["ok"] = all(s["ok"] for s in self.report["stages"].values())
        return self.report


def _toml(d: dict) -> str:
    """A configuration dictionary as TOML (what ``python -m asdlib train --config`` reads)."""
    lines = [f"name = {json.dumps(d['name'])}"]
    for section in ("model", "data", "train"):
        lines.append(f"\n[{section}]")
        for k, v in d[section].items():
            if v is None:
                continue
            lines.append(f"{k} = {json.dumps(v) if not isinstance(v, bool) else str(v).lower()}")
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(REPO / "benchmarks" / "gpu_acceptance_results.json"))
    p.add_argument("--dry", action="store_true", help="tiny sizes on the CPU (DRY=1)")
    p.add_argument("--budget", type=float, default=420.0, help="seconds after which stages are skipped")
    args = p.parse_args()
    torch.set_num_threads(min(torch.get_num_threads(), 2) if args.dry else torch.get_num_threads())
    with tempfile.TemporaryDirectory(prefix="asd-gpu-acceptance-") as tmp:
        report = Acceptance(args.dry, Path(tmp), args.budget).run()
    report.setdefault("ok", False)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1, default=str))
    print(f"[gpu_acceptance] {'PASSED' if report['ok'] else 'FAILED'} in {report.get('seconds', '?')} s; "
          f"report: {args.out}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
