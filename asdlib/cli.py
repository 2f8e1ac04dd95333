"""Command line: ``python -m asdlib <command>`` for users outside the notebooks.

Commands (each has ``--help``):

- ``train``       train one configuration (resumes from ``last.pt`` when present; works under torchrun)
- ``train-many``  run several configurations, spread over GPUs (one process per GPU)
- ``evaluate``    score every checkpoint of a run and apply the three selection protocols
- ``score``       score the test clips of a DCASE-layout folder with a checkpoint (ours or the
  authors') or an exported ``.onnx`` model
- ``export``      export a checkpoint to ONNX for fast CPU scoring, optionally with per-ID decision
  thresholds fitted on the normal training clips (notebook 08)
- ``monitor``     score clips as they arrive (watched folder, long WAV, stdin): one JSON decision per
  line (notebook 08)
- ``preflight``   print a profile's plan and stop early when this machine cannot run it
- ``report``      write ``results/<profile>/REPORT.md`` from the tables the notebooks saved
- ``synth``       generate the synthetic smoke dataset
- ``download``    download and verify the DCASE 2020 Task 2 archives the paper needs
  (``--evaluation``: also the unlabelled evaluation set and its ground truth)

Every error is one line naming the file or setting and what to do (exit status 2 for bad input,
1 for a failed download or an internal error); ``--debug`` shows the traceback instead.

The notebooks call the same library functions. Explained in notebook 03_training.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

# Each command imports what it uses when it runs (torch, scikit-learn, SciPy and pandas cost
# ~2 s of CPU to import), so `--help`, a usage error or `train` start without the rest.
from asdlib.paths import dcase_dir, results_dir, synthetic_dir


def _parse_set(items: list[str]) -> dict:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set expects key=value, got {item!r}; write e.g. --set train.epochs=2")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def _default_run_dir(config_path: Path, name: str) -> Path:
    profile = config_path.resolve().parent.name
    return results_dir(profile) / "runs" / name


def _cmd_train(args) -> int:
    from asdlib.engine.config import load_config
    from asdlib.engine.train import train

    overrides = _parse_set(args.set)  # errors: main() prints one line naming file and setting
    if args.precision:
        overrides["train.precision"] = args.precision
    if args.compile:
        overrides["train.compile"] = True
    config = load_config(args.config).with_overrides(overrides)
    out = Path(args.out) if args.out else _default_run_dir(Path(args.config), config.name)
    train(config, out, resume=not args.no_resume, progress=not args.quiet, force=args.force)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"run folder: {out}")
    return 0


def _cmd_train_many(args) -> int:
    """Run configurations as a queue, one subprocess per GPU (or one at a time on CPU)."""
    import torch

    from asdlib.engine.device import gpu_assignment

    # --gpus means CUDA: its numbers index into an inherited CUDA_VISIBLE_DEVICES (a SLURM job's
    # GPUs) and each child must find its GPU or stop (train.device = "cuda"), never the CPU
    gpus = (gpu_assignment(args.gpus, os.environ.get("CUDA_VISIBLE_DEVICES"),
                           torch.cuda.device_count() if torch.cuda.is_available() else 0)
            if (args.gpus or "").strip() else [])
    slots = gpus or [None]
    queue = list(args.configs)
    running: dict[object, tuple[subprocess.Popen, str]] = {}
    failed = []
    while queue or running:
        for slot in slots:
            if slot not in running and queue:
                cfg = queue.pop(0)
                env = dict(os.environ)
                if slot is not None:
                    env["CUDA_VISIBLE_DEVICES"] = slot
                cmd = [sys.executable, "-m", "asdlib", "train", "--config", cfg, "--quiet"]
                if args.out_root:
                    cmd += ["--out", str(Path(args.out_root) / Path(cfg).stem)]
                for s in args.set or []:
                    cmd += ["--set", s]
                if slot is not None:
                    cmd += ["--set", "train.device='cuda'"]
                print(f"[gpu {slot if slot is not None else 'cpu'}] start {cfg}", flush=True)
                running[slot] = (subprocess.Popen(cmd, env=env), cfg)
        time.sleep(1.0)
        for slot, (proc, cfg) in list(running.items()):
            if proc.poll() is not None:
                print(f"[gpu {slot if slot is not None else 'cpu'}] {cfg} exited with {proc.returncode}",
                      flush=True)
                if proc.returncode:
                    failed.append(cfg)
                del running[slot]
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0


def _cmd_evaluate(args) -> int:
    from asdlib.engine.evaluate import evaluate_run

    summary = evaluate_run(args.run, args.data_root, out_dir=args.out, batch_size=args.batch_size)
    print(summary.to_string(index=False))
    return 0


def _cmd_score(args) -> int:
    from asdlib.data.audio import AudioError
    from asdlib.data.dataset import DatasetLayoutError
    from asdlib.data.store import StoreBuildError
    from asdlib.deploy.export import load_scorer
    from asdlib.engine.evaluate import score_checkpoint

    model = load_scorer(args.checkpoint) if Path(args.checkpoint).suffix == ".onnx" else args.checkpoint
    try:
        tables = score_checkpoint(model, args.data_root, args.out,
                                  label_map=args.label_map, batch_size=args.batch_size,
                                  use_store=not args.no_store, ground_truth=args.ground_truth,
                                  on_bad_file=args.on_bad_file,
                                  allow_unsafe_pickle=args.allow_unsafe_pickle)
    except (AudioError, StoreBuildError) as e:
        raise AudioError(f"{e}; replace the file, or rerun with --on-bad-file skip to score the "
                         "other clips") from e
    except DatasetLayoutError as e:
        raise DatasetLayoutError(f"{e}; --data-root must be a folder holding "
                                 "<machine_type>/test/*.wav") from e
    if "per_type" in tables:
        print(tables["per_type"].to_string(index=False))
    if "pooled" in tables:
        print("\nauthors' pooled protocol:")
        print(tables["pooled"].to_string(index=False))
    if len(tables.get("bad_files", ())):
        print(f"\n{len(tables['bad_files'])} undecodable WAV file(s) skipped, listed in "
              f"{Path(args.out) / 'bad_files.csv'}")
    what = "DCASE score files and metric tables" if "per_type" in tables else "DCASE score files"
    print(f"\n{what} in {args.out}")
    return 0


def _cmd_export(args) -> int:
    from asdlib.deploy.export import TorchScorer, export_onnx
    from asdlib.deploy.thresholds import fit_thresholds, threshold_info, training_scores

    thresholds = info = None
    if args.thresholds_from:
        scorer = TorchScorer(args.checkpoint, allow_unsafe_pickle=args.allow_unsafe_pickle)
        table = training_scores(scorer, args.thresholds_from)
        thresholds = fit_thresholds(table, percentile=args.percentile, method=args.threshold_method)
        info = threshold_info(table, args.percentile, args.threshold_method,
                              fitted_on=str(args.thresholds_from))
    out = export_onnx(args.checkpoint, args.out, thresholds=thresholds, threshold_info=info,
                      allow_unsafe_pickle=args.allow_unsafe_pickle)
    extra = f", {len(thresholds)} per-ID thresholds" if thresholds else ""
    print(f"exported {args.checkpoint} -> {out} ({out.stat().st_size / 1e6:.1f} MB{extra}); "
          f"score with: python -m asdlib score --checkpoint {out} --data-root ... --out ...")
    return 0


def _cmd_synth(args) -> int:
    from asdlib.data.synthetic import generate_synthetic_dataset

    out = Path(args.out) if args.out else synthetic_dir()
    table = generate_synthetic_dataset(out, clip_seconds=args.clip_seconds, seed=args.seed,
                                       overwrite=args.overwrite)
    print(f"{len(table)} clips in {out}")
    return 0


def _cmd_download(args) -> int:
    from asdlib.data.dcase import paper_archives
    from asdlib.data.download import download_dcase, verify_counts
    from asdlib.data.local_data import existing_tree

    if getattr(args, "data_root", None):
        # a tree the user already has: check it, never download into it; a tree that differs
        # raises DataTreeError (bad input: one line naming the groups, exit 2)
        tree = existing_tree(args.data_root, content=args.check_content, progress=True)
        if tree is None:
            raise ValueError(f"{args.data_root} holds no extracted DCASE tree (<type>/train, "
                             "<type>/test); drop --data-root to download the data")
        print(tree.summary())
        return 0
    root = Path(args.out) if args.out else dcase_dir()
    status = download_dcase(paper_archives(), root, base_url=args.base_url)
    print(status.to_string(index=False))
    if args.evaluation:  # not part of the paper profile
        _download_evaluation(root, args.base_url)
    counts = verify_counts(root)
    bad = counts[~counts["ok"]]
    if len(bad):
        print(bad.to_string(index=False), file=sys.stderr)
        print(f"file counts differ from the expected ones in {len(bad)} groups", file=sys.stderr)
        return 1
    print(f"all {int(counts['found'].sum())} files present as expected in {root}")
    return 0


def _download_evaluation(root: Path, base_url: str | None) -> None:
    """Evaluation archives (into ``<root>/evaluation``) and their ground truth, with a check."""
    from asdlib.data.dcase import evaluation_archives
    from asdlib.data.download import download_dcase, download_ground_truth, evaluation_coverage

    status = download_dcase(evaluation_archives(), root, base_url=base_url)
    print(status.to_string(index=False))
    truth = download_ground_truth(root / "evaluation", base_url=base_url)
    cover = evaluation_coverage(root / "evaluation", truth)
    print(cover.to_string(index=False))
    print(f"evaluation set in {root / 'evaluation'}; score it with: python -m asdlib score "
          f"--data-root {root / 'evaluation'} --ground-truth {truth} ...")


def _cmd_monitor(args) -> int:
    """Score clips as they arrive (a watched folder, a long WAV, stdin): one JSON decision per line."""
    from asdlib.data.dcase import MACHINE_TYPES, class_index
    from asdlib.deploy.export import load_scorer
    from asdlib.deploy.monitor import (FolderWatcher, Monitor, machine_of, stream_windows,
                                       to_json_line, wav_windows)

    prog = "python -m asdlib monitor"
    if args.machine_type is not None and args.machine_type not in MACHINE_TYPES:
        raise ValueError(f"--machine-type {args.machine_type!r}: expected one of {', '.join(MACHINE_TYPES)}")
    if args.machine_type is not None and args.machine_id is not None:
        class_index(args.machine_type, args.machine_id)  # an unknown machine: one-line error
    if args.hop is not None and not args.hop > 0:
        raise ValueError(f"--hop {args.hop}: must be a positive number of seconds")
    if args.wav is not None or args.stdin:
        mt, mid = (machine_of(args.wav, args.machine_type, args.machine_id) if args.wav
                   else (args.machine_type, args.machine_id))
        if mt is None or mid is None:
            what = "--wav FILE's name does not tell" if args.wav else "a stream has no file name to tell"
            raise ValueError(f"{what} the machine: pass --machine-type and --machine-id")
        if args.wav and not Path(args.wav).is_file():
            raise FileNotFoundError(f"--wav {args.wav}: file not found")
    scorer = load_scorer(args.model, args.threads)
    machine = {"machine_type": args.machine_type, "machine_id": args.machine_id}
    if args.watch is not None:
        clips = FolderWatcher(args.watch, scorer.num_samples, scorer.sample_rate, **machine,
                              include_existing=args.existing, poll_seconds=args.poll,
                              max_polls=args.polls)
    elif args.wav is not None:
        clips = wav_windows(args.wav, scorer.num_samples, scorer.sample_rate, args.hop, **machine)
    else:
        clips = stream_windows(sys.stdin.buffer, scorer.num_samples, scorer.sample_rate, args.hop,
                               **machine)
    monitor = Monitor(scorer, _monitor_thresholds(args, scorer, prog))
    out = open(args.out, "a", encoding="ascii") if args.out else sys.stdout
    status = "finished"
    stopped_by = {"signal": "Ctrl-C"}

    def terminate(signum, frame):  # SIGTERM (kill, systemd, docker stop) ends it as Ctrl-C does
        stopped_by["signal"] = "SIGTERM"
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        for decision in monitor.run(clips):
            out.write(to_json_line(decision) + "\n")
            out.flush()
    except KeyboardInterrupt:
        status = f"stopped by {stopped_by['signal']}"
    except BrokenPipeError:  # e.g. piped into `head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = "stopped: the output was closed"
    finally:
        signal.signal(signal.SIGTERM, previous)
        if args.out:
            out.close()
    pending = getattr(clips, "pending", [])
    note = f"; {len(pending)} file(s) still being written were not scored" if pending else ""
    print(f"{prog}: {status}: {monitor.summary()}{note}", file=sys.stderr)
    return 0


def _monitor_thresholds(args, scorer, prog: str) -> dict[str, float] | None:
    """The monitor's thresholds: fitted on --train-root, moved to --threshold-percentile, or the model's."""
    from asdlib.deploy.thresholds import fit_thresholds, thresholds_at, training_scores

    if args.train_root:
        table = training_scores(scorer, args.train_root, machine_types=args.machine_type,
                                max_clips_per_id=args.train_clips_per_id)
        thresholds = fit_thresholds(table, 0.9 if args.threshold_percentile is None
                                    else args.threshold_percentile, args.threshold_method)
        print(f"{prog}: {len(thresholds)} threshold(s) fitted on {len(table)} normal training "
              f"clips under {args.train_root}", file=sys.stderr)
        return thresholds
    if args.threshold_percentile is not None:
        return thresholds_at(json.loads(scorer.metadata.get("threshold_info") or "{}"),
                             args.threshold_percentile)
    if scorer.thresholds is None:
        print(f"{prog}: warning: {args.model} holds no decision thresholds, so every decision is "
              "'unknown'; export it with --thresholds-from DATA_ROOT or pass --train-root DATA_ROOT",
              file=sys.stderr)
    return scorer.thresholds


def _cmd_preflight(args) -> int:
    """The plan of a profile (runs, downloads, disk, device, hours); exit 2 when it cannot run here."""
    from asdlib.study.preflight import preflight

    plan = preflight(args.profile, insist=args.insist, check_content=args.check_content,
                     gpu_memory_gib=args.gpu_memory_gib)
    results_dir(args.profile).mkdir(parents=True, exist_ok=True)
    (results_dir(args.profile) / "preflight.json").write_text(json.dumps(plan, indent=1))
    return 0


def _cmd_report(args) -> int:
    """Write results/<profile>/REPORT.md from the tables the notebooks saved."""
    from asdlib.study.report import build_report

    print(f"report: {build_report(args.profile, args.started_at)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m asdlib``. Notebook 03."""
    p = argparse.ArgumentParser(prog="python -m asdlib", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train one configuration (TOML)")
    t.add_argument("--config", required=True, help="configuration file, e.g. configs/paper/proposed.toml")
    t.add_argument("--out", help="run folder (default results/<profile>/runs/<name>)")
    t.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a setting, e.g. --set train.epochs=2 (repeatable)")
    t.add_argument("--precision", choices=("fp32", "bf16"),
                   help="training precision (default: the config's, fp32 as the authors; bf16 autocast is an opt-in)")
    t.add_argument("--compile", action="store_true",
                   help="run the training step through torch.compile (same fp32 math; about 2x faster "
                   "per step on a CPU, after a compilation of a minute or so)")
    t.add_argument("--no-resume", action="store_true", help="start over even if last.pt exists")
    t.add_argument("--force", action="store_true",
                   help="train into --out even when it holds files that are not an asdlib run")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    t.set_defaults(func=_cmd_train)

    m = sub.add_parser("train-many", help="train several configurations, one per GPU at a time")
    m.add_argument("configs", nargs="+", help="configuration files")
    m.add_argument("--gpus", default="", help="comma-separated GPU numbers, e.g. 0,1,2,3: CUDA required; numbers index into an "
                   "inherited CUDA_VISIBLE_DEVICES (empty: the configs' device, one run at a time)")
    m.add_argument("--out-root", help="parent folder of the run folders")
    m.add_argument("--set", action="append", metavar="KEY=VALUE", help="override for every run")
    m.set_defaults(func=_cmd_train_many)

    e = sub.add_parser("evaluate", help="score all checkpoints of a run; three selection protocols")
    e.add_argument("--run", required=True, help="run folder (holds checkpoints/)")
    e.add_argument("--data-root", help="DCASE-layout folder with test clips (default: the run's data root)")
    e.add_argument("--out", help="output folder (default <run>/evaluation)")
    e.add_argument("--batch-size", type=int, default=32)
    e.set_defaults(func=_cmd_evaluate)

    s = sub.add_parser("score", help="score test clips with a checkpoint (ours or the authors' .ckpt) or an exported .onnx")
    s.add_argument("--checkpoint", required=True,
                   help="our .pt checkpoint, the authors' Lightning .ckpt, or a .onnx from `export`")
    s.add_argument("--data-root", required=True, help="DCASE-layout folder: <type>/test/*.wav")
    s.add_argument("--out", required=True, help="output folder for DCASE score files and metric tables")
    s.add_argument("--label-map", choices=("paper", "distinct"),
                   help="class map (default: the checkpoint's own)")
    s.add_argument("--batch-size", type=int, default=32)
    s.add_argument("--no-store", action="store_true", help="decode WAVs directly instead of a clip store")
    s.add_argument("--ground-truth", metavar="CSV",
                   help="evaluation-set ground truth eval_data_list.csv: labels id_XX_*.wav clips for the metrics")
    s.add_argument("--on-bad-file", choices=("fail", "skip"), default="fail",
                   help="a WAV that cannot be decoded: stop naming it (fail, default) or skip it and "
                   "list it in <out>/bad_files.csv (skip)")
    s.add_argument("--allow-unsafe-pickle", action="store_true",
                   help="DANGER: load an authors'-style checkpoint with the full unpickler, which RUNS "
                   "ANY CODE stored in the file; only for a file you trust completely")
    s.set_defaults(func=_cmd_score)

    x = sub.add_parser("export", help="export a checkpoint (ours or the authors') to ONNX for fast CPU scoring")
    x.add_argument("--checkpoint", required=True, help="our .pt checkpoint or the authors' Lightning .ckpt")
    x.add_argument("--out", required=True, help="the ONNX file to write, e.g. model.onnx")
    x.add_argument("--thresholds-from", metavar="DATA_ROOT",
                   help="fit per-ID decision thresholds on the normal training clips under "
                   "DATA_ROOT/<type>/train and store them in the file (for `monitor`)")
    x.add_argument("--percentile", type=float, default=0.9,
                   help="quantile of the fitted score distribution used as threshold (default 0.9)")
    x.add_argument("--threshold-method", choices=("gamma", "quantile"), default="gamma",
                   help="gamma fit (DCASE 2021+ baselines, default) or the empirical quantile")
    x.add_argument("--allow-unsafe-pickle", action="store_true",
                   help="DANGER: as for `score`; only for a checkpoint you trust completely")
    x.set_defaults(func=_cmd_export)

    y = sub.add_parser("synth", help="generate the synthetic smoke dataset")
    y.add_argument("--out", help="folder (default data/synthetic)")
    y.add_argument("--clip-seconds", type=float, default=1.0)
    y.add_argument("--seed", type=int, default=0)
    y.add_argument("--overwrite", action="store_true")
    y.set_defaults(func=_cmd_synth)

    d = sub.add_parser("download", help="download + verify the 12 DCASE archives the paper needs")
    d.add_argument("--out", help="extraction folder (default data/dcase2020)")
    d.add_argument("--base-url", help="mirror serving the archives by file name (default Zenodo)")
    d.add_argument("--data-root", help="an extracted DCASE tree you already have: check its file "
                   "counts and skip the download (use it with run_all.sh --data-root)")
    d.add_argument("--check-content", action="store_true",
                   help="with --data-root, also read every WAV header (16 kHz, mono, 16-bit, length)")
    d.add_argument("--evaluation", action="store_true",
                   help="also fetch the evaluation set (6 eval_data_test_<type>.zip, unlabelled) and its "
                   "ground truth eval_data_list.csv into <out>/evaluation (not needed by the paper)")
    d.set_defaults(func=_cmd_download)

    w = sub.add_parser("monitor", help="score clips as they arrive (watched folder, long WAV, stdin): "
                       "one JSON decision per line")
    w.add_argument("--model", required=True, help="an exported .onnx (with thresholds) or a checkpoint")
    src = w.add_mutually_exclusive_group(required=True)
    src.add_argument("--watch", metavar="FOLDER", help="poll FOLDER (and its sub-folders) for new WAV files")
    src.add_argument("--wav", metavar="FILE", help="a long WAV file cut into clips every --hop seconds")
    src.add_argument("--stdin", action="store_true",
                     help="a WAV stream or raw 16-bit little-endian mono PCM on stdin, cut every --hop seconds")
    w.add_argument("--hop", type=float, metavar="S",
                   help="seconds between clip starts for --wav/--stdin (default: the clip length)")
    w.add_argument("--machine-type", help="machine type of every clip (default: from the folder name)")
    w.add_argument("--machine-id", help="machine ID of every clip, e.g. 00 (default: from the file name)")
    w.add_argument("--threshold-percentile", type=float, metavar="P",
                   help="quantile (0-1) of the normal-score distribution used as threshold: refitted "
                   "with --train-root, else moved along the model's stored gamma fit")
    w.add_argument("--train-root", metavar="DATA_ROOT",
                   help="fit thresholds at start on the normal clips under DATA_ROOT/<type>/train "
                   "(only --machine-type's when given)")
    w.add_argument("--train-clips-per-id", type=int, metavar="N",
                   help="with --train-root: use N clips per machine ID (default: all)")
    w.add_argument("--threshold-method", choices=("gamma", "quantile"), default="gamma",
                   help="with --train-root: gamma fit (DCASE 2021+ baselines, default) or empirical quantile")
    w.add_argument("--out", metavar="FILE", help="append the JSON lines to FILE (default: stdout)")
    w.add_argument("--existing", action="store_true", help="with --watch: also score the files already there")
    w.add_argument("--poll", type=float, default=1.0, metavar="S", help="with --watch: seconds between polls")
    w.add_argument("--polls", type=int, metavar="N", help="with --watch: stop after N polls (default: until Ctrl-C)")
    w.add_argument("--threads", type=int, help="scoring threads (default: $ASD_THREADS or the usable cores)")
    w.set_defaults(func=_cmd_monitor)
    f = sub.add_parser("preflight", help="print a profile's plan (runs, downloads, disk, device, "
                       "hours); stop on missing disk, network or GPU (run_all.sh runs it first)")
    f.add_argument("--profile", required=True, choices=("smoke", "paper"))
    f.add_argument("--insist", action="store_true", help="run the paper profile without a GPU")
    f.add_argument("--check-content", action="store_true",
                   help="with an existing DCASE tree, also read every WAV header (rate, channels, length)")
    f.add_argument("--gpu-memory-gib", type=float, metavar="N",
                   help="check every run's memory per training step against a card of N GiB "
                   "(default: the GPU here; on a CPU the estimates are printed without a card)")
    f.set_defaults(func=_cmd_preflight)

    r = sub.add_parser("report", help="write results/<profile>/REPORT.md from the saved tables "
                       "(run_all.sh runs it last)")
    r.add_argument("--profile", required=True, choices=("smoke", "paper"))
    r.add_argument("--started-at", type=float, help="UNIX time the run started")
    r.set_defaults(func=_cmd_report)
    for sp in sub.choices.values():
        sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the full traceback of an error")
    p.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    return p


def _one_line(e: BaseException) -> str:
    """An exception as one line: its message (lines joined) and any notes, with a hint for OS errors."""
    from asdlib.folders import NO_SPACE, OutOfSpaceError

    parts = [str(e).strip() or type(e).__name__] + list(getattr(e, "__notes__", []))
    msg = "; ".join(ln.strip() for part in parts for ln in str(part).splitlines() if ln.strip())
    if isinstance(e, FileNotFoundError) and "check the path" not in msg:
        msg += "; check the path"
    elif isinstance(e, OSError) and e.errno in NO_SPACE:
        if not isinstance(e, OutOfSpaceError):
            msg += f" (writing {e.filename})" if e.filename and str(e.filename) not in msg else ""
            msg += "; free some space and rerun"
    elif isinstance(e, OSError) and not isinstance(e, FileNotFoundError):
        msg += "; check the path and its permissions"
    return msg


def _bad_input_errors() -> tuple[type[BaseException], ...]:
    # a StoreBuildError can only come from a loaded asdlib.data.store (which costs torch to load)
    store = sys.modules.get("asdlib.data.store")
    return (ValueError, OSError) + ((store.StoreBuildError,) if store else ())


def main(argv: list[str] | None = None) -> int:
    """Run the command line: one line per error (exit 2 for bad input, 1 otherwise; ``--debug`` shows the traceback). Notebook 03."""
    args = build_parser().parse_args(argv)
    prog = f"python -m asdlib {args.command}"
    if args.command in ("train", "evaluate", "score", "export", "preflight", "report"):
        try:
            from asdlib.engine.cpu import configure_threads

            configure_threads()  # the monitor sets its own (--threads)
        except ValueError as e:  # a bad ASD_THREADS: one line, before any work
            print(f"{prog}: error: {_one_line(e)}", file=sys.stderr)
            return 2
    show = warnings.showwarning
    warnings.showwarning = lambda message, *a, **k: print(f"{prog}: warning: {_one_line(message)}",
                                                          file=sys.stderr)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - every error becomes one line
        if args.debug:
            raise
        from asdlib.data.download import DownloadError

        if isinstance(e, DownloadError):
            print(f"{prog}: error: {_one_line(e)}", file=sys.stderr)
            return 1
        if isinstance(e, _bad_input_errors()):
            print(f"{prog}: error: {_one_line(e)}", file=sys.stderr)
            return 2
        print(f"{prog}: internal error: {type(e).__name__}: {_one_line(e)} (rerun with --debug for "
              "the traceback and report it)", file=sys.stderr)
        return 1
    finally:
        warnings.showwarning = show
