#!/usr/bin/env python
"""Dress rehearsal of the paper profile at full DCASE data scale, on whatever machine this is.

Run from the repository root (benchmarks; not a test, not CI)::

    .venv/bin/python benchmarks/rehearsal.py --root /big/disk/rehearsal            # everything
    .venv/bin/python benchmarks/rehearsal.py --root DIR --only 01 --only 04 --runs proposed
    .venv/bin/python benchmarks/rehearsal.py --root DIR --scale tiny               # minutes

What it does, stage by stage (each one timed, with the peak RSS of its processes):

1. **generate**: a synthetic tree in the DCASE 2020 Task 2 layout with EXACTLY the file counts
   of ``asdlib/resources/dcase2020_task2_file_counts.csv`` (36,283 training clips of 41 machine
   IDs incl. the additional training set, 10,868 test clips; 10-s clips, ToyCar 11 s; 16 kHz mono
   int16). A few base sounds per machine ID come from ``asdlib.data.synthetic`` and every clip is one of
   them rolled, scaled and with fresh noise (anomalous clips use ``asdlib.data.synthetic``'s anomalous
   bases), so ~15 GB are written in minutes. A finished tree is reused.
2. **data check**: the part-4 path, ``asdlib.data.local_data.existing_tree`` on that tree (counts,
   and with ``--check-content`` every WAV header).
3. **run:<name>** (``--runs``): train (capped) and evaluate one run directly, to measure the
   training-store build, the training steps and the scoring of every checkpoint over all test clips.
4. **run_all.sh**: ``./run_all.sh --profile paper --insist --data-root <tree>`` with
   ``--overrides`` capping only the training length (``train.epochs``,
   ``train.max_steps_per_epoch``, ``train.checkpoint_every``), so store building, checkpoint
   scoring, selection, tables, figures and REPORT.md all run at full size; each notebook and the
   report are a stage.

Every output is labelled a rehearsal: ``ASD_REHEARSAL=1`` makes every banner and REPORT.md say
"REHEARSAL: synthetic data at DCASE scale, training capped - numbers are meaningless", and
``ASD_RESULTS_DIR`` sends the results to ``results/rehearsal/paper/`` (``--results``), never to
``results/paper/``. Caches go to ``<root>/data`` (``ASD_DATA_DIR``).

Writes ``benchmarks/rehearsal_results.json`` and the generated section of
``benchmarks/REHEARSAL.md`` (``--json``/``--md`` move them), with a projection of the paper
profile's non-GPU overheads (download excluded).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: Seconds between memory samples. Reading PSS walks /proc/<pid>/smaps, which for a process that
#: maps a 10-GB clip store costs a good part of a core; every 0.25 s it took ~0.4 of this 2-core
#: machine's CPU from the stages it measured. Long-lived peaks (a 12-GB training step) last seconds.
SAMPLE_SECONDS = 2.0
#: ... except during the first DENSE_SECONDS of each stage, sampled every DENSE_SAMPLE_SECONDS so
#: that stages of a few seconds (tiny rehearsals, the report) still get a peak.
DENSE_SECONDS, DENSE_SAMPLE_SECONDS = 10.0, 0.2
REPO = HERE.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from asdlib.data.dcase import MACHINE_TYPES, SAMPLE_RATE, expected_file_counts  # noqa: E402

PAPER_EPOCHS, PAPER_CHECKPOINT_EVERY = 300, 20
TREE_META = "rehearsal_tree.json"
MD_BEGIN = "<!-- BEGIN GENERATED: benchmarks/rehearsal.py -->"
MD_END = "<!-- END GENERATED -->"
#: --scale tiny: clips per ID and group (same structure as the real tree, minutes on a CPU).
TINY_COUNTS = {("train", "normal"): 3, ("test", "normal"): 2, ("test", "anomaly"): 2}
N_BASES = 3  # base sounds per (machine ID, label) group


# --------------------------------------------------------------------------- the synthetic tree

def planned_counts(scale: str | float, clip_seconds: float | None = None) -> pd.DataFrame:
    """The count table of the tree to write: the DCASE table (scale 1), scaled, or ``tiny``. Benchmarks."""
    table = expected_file_counts().copy()
    table = table[table["dataset"].isin(("development", "additional_training"))].reset_index(drop=True)
    if scale == "tiny":
        table["files"] = [TINY_COUNTS[(s, lab)] for s, lab in zip(table["split"], table["label"])]
    else:
        scale = float(scale)
        if not 0 < scale <= 1:
            raise ValueError(f"--scale must be in (0, 1] or 'tiny', got {scale}")
        if scale < 1:
            table["files"] = np.maximum(2, np.round(table["files"] * scale)).astype(int)
    if clip_seconds is not None:  # keep ToyCar's extra second, as in the real data
        table["clip_seconds"] = clip_seconds * table["clip_seconds"] / 10.0
    return table


def _bases(machine_type: str, machine_id: str, label: str, seconds: float) -> list[np.ndarray]:
    from asdlib.data.synthetic import synthesize_clip

    split = "test" if label == "anomaly" else "train"
    return [synthesize_clip(machine_type, machine_id, split, label, k, seed=1234,
                            clip_seconds=seconds).astype(np.float32) for k in range(N_BASES)]


def generate_tree(root: Path, counts: pd.DataFrame, *, progress: bool = True) -> dict:
    """Write the synthetic tree for a count table (reused when already complete); return its numbers. Benchmarks."""
    import soundfile as sf
    from tqdm.auto import tqdm

    root.mkdir(parents=True, exist_ok=True)
    meta_path = root / TREE_META
    want = {"counts": counts.to_dict("records"), "n_bases": N_BASES, "version": 1}
    total = int(counts["files"].sum())
    if meta_path.is_file() and json.loads(meta_path.read_text()).get("plan") == want:
        return {"clips": total, "reused": True, "seconds": 0.0}
    meta_path.unlink(missing_ok=True)
    for mt in MACHINE_TYPES:  # a previous, different tree: remove its WAVs only
        for split in ("train", "test"):
            for p in (root / mt / split).glob("*.wav"):
                p.unlink()
    t0 = time.perf_counter()
    bar = tqdm(total=total, desc="writing synthetic DCASE tree", unit="clip", disable=not progress)
    for g in counts.itertuples(index=False):
        n = int(round(g.clip_seconds * SAMPLE_RATE))
        bases = _bases(g.machine_type, g.machine_id, g.label, g.clip_seconds)
        folder = root / g.machine_type / g.split
        folder.mkdir(parents=True, exist_ok=True)
        key = [MACHINE_TYPES.index(g.machine_type), int(g.machine_id), int(g.split == "test"),
               int(g.label == "anomaly")]
        for i in range(int(g.files)):
            rng = np.random.default_rng(key + [i])
            x = np.roll(bases[i % N_BASES], int(rng.integers(n)))
            x = x * np.float32(10 ** (rng.uniform(-3, 3) / 20))
            x = x + rng.standard_normal(n, dtype=np.float32) * np.float32(0.002)
            pcm = np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16)
            sf.write(folder / f"{g.label}_id_{g.machine_id}_{i:08d}.wav", pcm, SAMPLE_RATE,
                     subtype="PCM_16")
            bar.update(1)
    bar.close()
    seconds = time.perf_counter() - t0
    meta_path.write_text(json.dumps({"plan": want, "seconds": seconds}, indent=1))
    return {"clips": total, "reused": False, "seconds": seconds, "clips_per_s": total / seconds}


def disk_bytes(path: Path) -> int:
    """Bytes on disk under a folder (allocated blocks). Benchmarks."""
    path = Path(path)
    if not path.exists():
        return 0
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_blocks * 512
            except OSError:
                pass
    return total


# --------------------------------------------------------------------------- measured stages

class Stages:
    """Wall time and peak RSS (sum over a process tree, sampled) of named stages. Benchmarks."""

    def __init__(self, log_path: Path):
        self.rows: list[dict] = []
        self.log = log_path.open("w")  # one rehearsal per log: results are read back from it

    def _add(self, name: str, seconds: float, peak: int, peak_one: int = 0) -> None:
        self.rows.append({"stage": name, "seconds": round(seconds, 2),
                          "peak_pss_mb": round(peak / 2**20, 1),
                          "peak_rss_one_process_mb": round(max(peak_one, 0) / 2**20, 1)})
        print(f"[rehearsal] {name}: {seconds:.1f} s, peak memory {peak / 2**20:.0f} MB", flush=True)

    def run(self, cmd: list[str], env: dict, stage_of=None, first: str = "command") -> int:
        """Run a command, echo its output to the log, split it into stages with ``stage_of(line)``. Benchmarks."""
        import psutil

        shown = " ".join("<inline script>" if "\n" in c else c for c in cmd)
        print(f"[rehearsal] $ {shown}", flush=True)
        self.log.write(f"$ {shown}\n")
        proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, bufsize=1)
        state = {"stage": first, "t0": time.perf_counter(), "peak": 0, "one": 0}
        lock, done = threading.Lock(), threading.Event()

        def sample():
            root = psutil.Process(proc.pid)
            while not done.is_set():
                total = one = 0
                try:  # PSS: forked DataLoader workers share pages, a sum of RSS would count them twice
                    for p in [root, *root.children(recursive=True)]:
                        try:
                            info = p.memory_full_info()
                        except psutil.Error:
                            continue
                        total += getattr(info, "pss", info.rss)
                        one = max(one, info.rss)
                except psutil.Error:
                    pass
                with lock:
                    state["peak"] = max(state["peak"], total)
                    state["one"] = max(state["one"], one)
                with lock:  # densely at the start of a stage (short stages), then sparsely
                    young = time.perf_counter() - state["t0"] < DENSE_SECONDS
                done.wait(DENSE_SAMPLE_SECONDS if young else SAMPLE_SECONDS)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        for line in proc.stdout:
            self.log.write(line)
            self.log.flush()
            new = stage_of(line) if stage_of else None
            if line.startswith(("===", "FAILED", "PREFLIGHT", "All done", "report:")):
                print(line.rstrip(), flush=True)
            if new and new != state["stage"]:
                with lock:
                    now = time.perf_counter()
                    if state["stage"] != "report":  # "report" until the next notebook starts: a gap
                        self._add(state["stage"], now - state["t0"], state["peak"], state["one"])
                    state.update(stage=new, t0=now, peak=0, one=0, split=True)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage (peak RSS)
        rc = proc.returncode = os.waitstatus_to_exitcode(status)
        done.set()
        sampler.join()
        if not state.get("split"):  # one stage for the whole process: its peak RSS bounds it too
            state["one"] = max(state["one"], usage.ru_maxrss * 1024)
            state["peak"] = max(state["peak"], state["one"])
        self._add(state["stage"] + ("" if rc == 0 else f" (FAILED, exit {rc})"),
                  time.perf_counter() - state["t0"], state["peak"], state["one"])
        return rc


def _run_all_stage(line: str) -> str | None:
    m = re.match(r"=== \[\w+\] (\d\d_\w+)\.ipynb( done)?", line)
    if m:
        return "report" if m.group(2) else f"notebook {m.group(1)}"
    return None


_RUN_CODE = """
import json, sys, time
from asdlib.data.store import build_store
from asdlib.engine.checkpoints import list_checkpoints
from asdlib.engine.cpu import configure_threads
from asdlib.engine.evaluate import evaluation_clips
from asdlib.engine.train import read_log
from asdlib.study.runs import ensure_evaluated, ensure_trained, run_config, run_dir
configure_threads()
name = sys.argv[1]
t0 = time.perf_counter(); ensure_trained("paper", name, progress=False); t1 = time.perf_counter()
config = run_config("paper", name)  # the test store exactly as evaluate_run builds it, timed apart
root = config.data.root_path()
build_store(evaluation_clips(root, config.data.label_map, config.data.machine_types),
            config.model.num_samples, name=f"test-{root.name}", progress=False)
t15 = time.perf_counter()
ensure_evaluated("paper", name, progress=False); t2 = time.perf_counter()
folder = run_dir("paper", name)
import pandas as pd
n_ckpt = len(pd.read_csv(folder / "evaluation" / "checkpoints.csv"))
log = read_log(folder)
print("RUN-RESULT " + json.dumps({"run": name, "train_seconds": t1 - t0, "test_store_seconds": t15 - t1,
      "eval_seconds": t2 - t15,
      "checkpoints_scored": n_ckpt, "steps": int(log["steps"].sum()),
      "train_seconds_logged": float(log["seconds"].sum())}))
"""

_CHECK_CODE = """
import json, sys, time
from asdlib.data.local_data import existing_tree
t0 = time.perf_counter(); tree = existing_tree(sys.argv[1], content=sys.argv[2] == "1")
print("CHECK-RESULT " + json.dumps({"seconds": time.perf_counter() - t0, "files": tree.n_files,
      "content_checked": tree.content_checked, "summary": tree.summary()}))
"""


def _result(stages: Stages, tag: str) -> dict | None:
    """The JSON a child printed on a line starting with ``tag`` (read back from the log)."""
    stages.log.flush()
    for line in reversed(Path(stages.log.name).read_text().splitlines()):
        if line.startswith(tag + " "):
            return json.loads(line[len(tag) + 1:])
    return None


# --------------------------------------------------------------------------- report

def store_stats(cache: Path) -> list[dict]:
    """Clips, build seconds and rate of every clip store under the cache folder. Benchmarks."""
    rows = []
    for meta in sorted(cache.glob("*/meta.json")):
        m = json.loads(meta.read_text())
        secs = m.get("build_seconds")
        rows.append({"store": meta.parent.name, "clips": m.get("clips"), "build_seconds": secs,
                     "clips_per_s": round(m["clips"] / secs, 1) if secs else None,
                     "bytes": disk_bytes(meta.parent)})
    return rows


def projection(res: dict) -> list[dict]:
    """The paper profile's non-GPU overheads (download excluded) projected from the measured rates. Benchmarks."""
    counts = expected_file_counts()
    counts = counts[counts["dataset"].isin(("development", "additional_training"))]
    n_train = int(counts.loc[counts["split"] == "train", "files"].sum())
    n_test = int(counts.loc[counts["split"] == "test", "files"].sum())
    runs = res.get("paper_runs", 10)
    ckpts = PAPER_EPOCHS // PAPER_CHECKPOINT_EVERY
    rows = []
    check = res.get("data_check")
    if check:
        rate = check["files"] / max(check["seconds"], 1e-9)
        rows.append({"item": "existing-tree check (counts" + (" + headers" if check["content_checked"] else "")
                     + f") of {n_train + n_test:,} files", "seconds": (n_train + n_test) / rate,
                     "basis": f"{rate:,.0f} files/s measured"})
    stores = res.get("stores", [])
    rate = {k: [s["clips_per_s"] for s in stores if s["store"].startswith(k) and s["clips_per_s"]]
            for k in ("train", "test")}
    for kind, n in (("train", n_train), ("test", n_test)):
        if rate[kind]:
            r = min(rate[kind])
            rows.append({"item": f"{kind} clip store, built once ({n:,} clips)", "seconds": n / r,
                         "basis": f"{r:,.1f} clips/s measured (slowest store)"})
    score = res.get("scoring_clips_per_s")
    if score:
        n = runs * (ckpts + 0) * n_test
        rows.append({"item": f"checkpoint scoring on THIS machine: {runs} runs x {ckpts} checkpoints x "
                     f"{n_test:,} clips (a GPU scores faster; upper bound)", "seconds": n / score,
                     "basis": f"{score:,.1f} clips/s measured (CPU, incl. store reads and metrics)"})
    fixed = res.get("notebook_fixed_seconds")
    if fixed is not None:
        rows.append({"item": "notebooks + report, excluding training and scoring (kernels, figures, "
                     "tables, attention statistics, preflight)", "seconds": fixed,
                     "basis": "rehearsal wall time minus the training and estimated scoring of the runs the notebooks trained"})
    for r in rows:
        r["seconds"] = round(float(r["seconds"]), 1)
        r["hours"] = round(r["seconds"] / 3600, 2)
    return rows


def _md_table(rows: list[dict]) -> str:
    return pd.DataFrame(rows).to_markdown(index=False, floatfmt=".2f") if rows else "(none)"


def write_markdown(res: dict, path: Path) -> None:
    """Write (or replace) the generated section of benchmarks/REHEARSAL.md. Benchmarks."""
    gb = lambda b: f"{b / 1e9:.2f} GB"  # noqa: E731
    t = res["tree"]
    tree_note = ("reused from an earlier rehearsal" if t.get("reused") else
                 f"written in {t['seconds']:.0f} s, {t.get('clips_per_s', 0):.0f} clips/s")
    lines = [MD_BEGIN, "", f"### Measured: {res['when']} ({res['scale_label']})", "",
             f"- Machine: {res['machine']}",
             f"- Command: `{res['command']}`",
             f"- Tree: {res['tree']['clips']:,} clips ({tree_note})",
             f"- Overrides for every run: `{res['overrides']}`",
             f"- Disk: tree {gb(res['disk']['tree_bytes'])}, clip stores {gb(res['disk']['cache_bytes'])}, "
             f"results {gb(res['disk']['results_bytes'])}",
             f"- Scoring rate: {res.get('scoring_clips_per_s') or 'not measured'} clips/s "
             f"over {res.get('test_clips', 0):,} test clips per checkpoint",
             f"- Result: {'every stage passed' if res['ok'] else 'FAILED: ' + res.get('failure', '')}", "",
             "#### Stages", "", _md_table(res["stages"]), "",
             "#### Clip stores", "", _md_table(res["stores"]), "",
             "#### Runs trained and evaluated directly", "", _md_table(res.get("runs", [])), "",
             "#### Projection: paper profile, non-GPU overheads (download excluded)", "",
             _md_table(res["projection"]), "", MD_END]
    text = path.read_text() if path.is_file() else "# Dress rehearsal of the paper profile\n\n"
    if MD_BEGIN in text and MD_END in text:
        text = text[: text.index(MD_BEGIN)] + "\n".join(lines) + text[text.index(MD_END) + len(MD_END):]
    else:
        text = text.rstrip() + "\n\n" + "\n".join(lines) + "\n"
    path.write_text(text)


# --------------------------------------------------------------------------- main

def main(argv=None) -> int:
    """Generate the tree, run the paper profile on it with capped training, measure every stage. Benchmarks."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", required=True, type=Path, help="work folder: tree/ and data/ (caches) go here")
    ap.add_argument("--scale", default="1.0", help="1.0: exact DCASE counts; a fraction; or 'tiny'")
    ap.add_argument("--clip-seconds", type=float, help="clip length (default 10 s, ToyCar 11 s; tiny: 1 s)")
    ap.add_argument("--steps-per-epoch", type=int, default=3, help="train.max_steps_per_epoch")
    ap.add_argument("--epochs", type=int, default=2, help="train.epochs (a checkpoint after each)")
    ap.add_argument("--runs", nargs="*", default=["proposed"],
                    help="runs trained and evaluated directly (measured) before the notebooks")
    ap.add_argument("--only", action="append", default=[],
                    help="notebook numbers for run_all.sh (repeatable); 'none' skips run_all.sh")
    ap.add_argument("--check-content", action="store_true", help="also read every WAV header")
    ap.add_argument("--keep-results", action="store_true",
                    help="reuse trained/evaluated runs of an earlier rehearsal (default: start afresh, "
                         "so every stage is measured; the tree and the clip stores are always reused)")
    ap.add_argument("--results", type=Path, default=REPO / "results" / "rehearsal",
                    help="ASD_RESULTS_DIR (results land in <this>/paper/)")
    ap.add_argument("--json", type=Path, default=HERE / "rehearsal_results.json")
    ap.add_argument("--md", type=Path, default=HERE / "REHEARSAL.md")
    args = ap.parse_args(argv)

    root = args.root.expanduser().resolve()
    results = args.results.expanduser().resolve()
    if results == (REPO / "results").resolve():
        ap.error("--results must not be results/ itself: the rehearsal would land in results/paper/")
    tiny = args.scale == "tiny"
    clip_seconds = args.clip_seconds or (1.0 if tiny else None)
    counts = planned_counts(args.scale, clip_seconds)
    tree, data = root / "tree", root / "data"
    if not args.keep_results and (results / "paper").is_dir():
        shutil.rmtree(results / "paper")  # the rehearsal's own folder, never results/paper/
    data.mkdir(parents=True, exist_ok=True)
    stages = Stages(root / "rehearsal.log")
    overrides = {"train.epochs": args.epochs, "train.max_steps_per_epoch": args.steps_per_epoch,
                 "train.checkpoint_every": 1}
    if clip_seconds is not None:
        overrides["model.clip_seconds"] = clip_seconds
    env = {**os.environ, "ASD_REHEARSAL": "1", "ASD_DATA_DIR": str(data), "ASD_DCASE_DIR": str(tree),
           "ASD_RESULTS_DIR": str(results), "ASD_RUN_OVERRIDES": json.dumps(overrides),
           "PYTHONUNBUFFERED": "1"}
    env.pop("ASD_EXPECTED_COUNTS", None)
    exact = args.scale not in ("tiny",) and float(args.scale) == 1.0 and clip_seconds is None
    if not exact:  # the part-4 check then compares with the scaled table (and says so)
        counts.to_csv(root / "expected_counts.csv", index=False)
        env["ASD_EXPECTED_COUNTS"] = str(root / "expected_counts.csv")
    shown = sys.argv[1:] if argv is None else list(argv)
    res = {"when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
           "command": " ".join([".venv/bin/python benchmarks/rehearsal.py", *shown]),
           "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                      f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM",
           "scale": args.scale, "scale_label": "exact DCASE counts, 10-s clips" if exact else
           f"scale {args.scale}, clip {clip_seconds or 'DCASE'} s (NOT the DCASE counts)",
           "overrides": overrides, "ok": True, "test_clips": int(counts.loc[counts.split == "test", "files"].sum())}

    t0 = time.perf_counter()
    r0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    res["tree"] = generate_tree(tree, counts)
    peak = max(r0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
    stages._add("generate synthetic tree" + (" (reused)" if res["tree"]["reused"] else ""),
                time.perf_counter() - t0, peak, peak)
    py = sys.executable

    rc = stages.run([py, "-c", _CHECK_CODE, str(tree), "1" if args.check_content else "0"], env,
                    first="data check (part 4: existing tree)")
    res["data_check"] = _result(stages, "CHECK-RESULT")
    if rc != 0:
        res.update(ok=False, failure="the existing-tree check refused the synthetic tree (see the log)")
    res["runs"] = []
    for name in (args.runs if res["ok"] else []):
        rc = stages.run([py, "-c", _RUN_CODE, name], env, first=f"run {name} (train capped + evaluate)")
        r = _result(stages, "RUN-RESULT")
        if rc != 0 or r is None or r["run"] != name:
            res.update(ok=False, failure=f"run {name} failed (see {root / 'rehearsal.log'})")
            break
        r["scoring_clips_per_s"] = round(r["checkpoints_scored"] * res["test_clips"] / r["eval_seconds"], 1)
        res["runs"].append(r)
    if res["runs"]:
        res["scoring_clips_per_s"] = min(r["scoring_clips_per_s"] for r in res["runs"])
    only = [o for o in args.only if o != "none"]
    if res["ok"] and "none" not in args.only:
        cmd = ["./run_all.sh", "--profile", "paper", "--insist", "--data-root", str(tree),
               "--overrides", json.dumps(overrides)]
        if args.check_content:
            cmd.append("--check-content")
        for o in only:
            cmd += ["--only", o]
        rc = stages.run(cmd, env, stage_of=_run_all_stage, first="preflight (run_all.sh)")
        if rc != 0:
            res.update(ok=False, failure=f"run_all.sh exited {rc} (see {root / 'rehearsal.log'})")
    res["peak_rss_children_mb"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)
    res["stages"] = stages.rows
    res["stores"] = store_stats(data / "cache")
    res["disk"] = {"tree_bytes": disk_bytes(tree), "cache_bytes": disk_bytes(data / "cache"),
                   "results_bytes": disk_bytes(results)}

    # training and scoring inside the notebooks, to leave their fixed overhead
    from asdlib.engine.config import profile_configs

    res["paper_runs"] = len(profile_configs("paper"))
    nb_seconds = sum(s["seconds"] for s in stages.rows if s["stage"].startswith(("notebook", "report", "preflight")))
    run_folder = results / "paper" / "runs"
    direct = {r["run"] for r in res["runs"]}
    # what a run costs beyond its logged steps (validation in the training form, loaders, set-up),
    # measured on the runs trained directly; also paid by each run a notebook trains
    unlogged = max((r["train_seconds"] - r["train_seconds_logged"] for r in res["runs"]), default=0.0)
    trained, scored, nb_runs = 0.0, 0, 0
    # the runs of the profile, and the changed runs of the retrain tasks (notebook 03 under --insist)
    for log in [*run_folder.glob("*/train_log.jsonl"), *(results / "paper" / "retrain").glob("*/train_log.jsonl")]:
        if log.parent.parent == run_folder and log.parent.name in direct:
            continue
        nb_runs += 1
        trained += unlogged + sum(json.loads(ln)["seconds"] for ln in log.read_text().splitlines() if ln.strip())
        ck = log.parent / "evaluation" / "checkpoints.csv"
        scored += len(pd.read_csv(ck)) if ck.is_file() else 0
    if res.get("scoring_clips_per_s") and nb_seconds:
        est_scoring = scored * res["test_clips"] / res["scoring_clips_per_s"]
        res["notebook_fixed_seconds"] = round(max(nb_seconds - trained - est_scoring, 0.0), 1)
        res["notebook_training_seconds"] = round(trained, 1)
        res["notebook_checkpoints_scored"] = scored
        res["notebook_runs_trained"] = nb_runs
    res["projection"] = projection(res) if exact else []
    if not exact:
        res["projection_note"] = "no projection: the tree does not have the DCASE counts and lengths"
    args.json.write_text(json.dumps(res, indent=1, default=str))
    write_markdown(res, args.md)
    print(f"[rehearsal] {'OK' if res['ok'] else 'FAILED: ' + res['failure']}; wrote {args.json} and {args.md}")
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
