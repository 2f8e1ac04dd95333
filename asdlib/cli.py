"""Command line: ``python -m asdlib <command>`` for users outside the notebooks.

Commands (each has ``--help``):

- ``train``       train one configuration (resumes from ``last.pt`` when present; works under torchrun)
- ``train-many``  run several configurations, spread over GPUs (one process per GPU)
- ``evaluate``    score every checkpoint of a run and apply the three selection protocols
- ``score``       score the test clips of a DCASE-layout folder with a checkpoint (ours or the authors')
- ``synth``       generate the synthetic smoke dataset
- ``download``    download and verify the DCASE 2020 Task 2 archives the paper needs

The notebooks call the same library functions. Explained in notebook 03_training.
"""

from __future__ import annotations

import argparse
import ast
import os
import subprocess
import sys
import time
from pathlib import Path

from .paths import results_dir


def _parse_set(items: list[str]) -> dict:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set expects key=value, got {item!r}")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def _default_run_dir(config_path: Path, name: str) -> Path:
    profile = config_path.resolve().parent.name
    return results_dir(profile) / "runs" / name


def _cmd_train(args) -> int:
    from .config import load_config
    from .train import train

    try:
        config = load_config(args.config).with_overrides(_parse_set(args.set))
    except (FileNotFoundError, ValueError) as e:  # a one-line message naming file and setting
        raise SystemExit(f"python -m asdlib train: error: {e}") from None
    out = Path(args.out) if args.out else _default_run_dir(Path(args.config), config.name)
    train(config, out, resume=not args.no_resume, progress=not args.quiet)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"run folder: {out}")
    return 0


def _cmd_train_many(args) -> int:
    """Run configurations as a queue, one subprocess per GPU (or one at a time on CPU)."""
    gpus = [g for g in (args.gpus or "").split(",") if g != ""]
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
    from .evaluate import evaluate_run

    summary = evaluate_run(args.run, args.data_root, out_dir=args.out, batch_size=args.batch_size)
    print(summary.to_string(index=False))
    return 0


def _cmd_score(args) -> int:
    from .evaluate import score_checkpoint

    tables = score_checkpoint(args.checkpoint, args.data_root, args.out, label_map=args.label_map,
                              batch_size=args.batch_size, use_store=not args.no_store)
    print(tables["per_type"].to_string(index=False))
    if "pooled" in tables:
        print("\nauthors' pooled protocol:")
        print(tables["pooled"].to_string(index=False))
    print(f"\nDCASE score files and metric tables in {args.out}")
    return 0


def _cmd_synth(args) -> int:
    from .paths import synthetic_dir
    from .synthetic import generate_synthetic_dataset

    out = Path(args.out) if args.out else synthetic_dir()
    table = generate_synthetic_dataset(out, clip_seconds=args.clip_seconds, seed=args.seed,
                                       overwrite=args.overwrite)
    print(f"{len(table)} clips in {out}")
    return 0


def _cmd_download(args) -> int:
    from .dcase import paper_archives
    from .download import download_dcase, verify_counts
    from .paths import dcase_dir

    root = Path(args.out) if args.out else dcase_dir()
    status = download_dcase(paper_archives(), root, base_url=args.base_url)
    print(status.to_string(index=False))
    counts = verify_counts(root)
    bad = counts[~counts["ok"]]
    if len(bad):
        print(bad.to_string(index=False), file=sys.stderr)
        print(f"file counts differ from the expected ones in {len(bad)} groups", file=sys.stderr)
        return 1
    print(f"all {int(counts['found'].sum())} files present as expected in {root}")
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
    t.add_argument("--no-resume", action="store_true", help="start over even if last.pt exists")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    t.set_defaults(func=_cmd_train)

    m = sub.add_parser("train-many", help="train several configurations, one per GPU at a time")
    m.add_argument("configs", nargs="+", help="configuration files")
    m.add_argument("--gpus", default="", help="comma-separated GPU ids, e.g. 0,1,2,3 (empty: CPU, one at a time)")
    m.add_argument("--out-root", help="parent folder of the run folders")
    m.add_argument("--set", action="append", metavar="KEY=VALUE", help="override for every run")
    m.set_defaults(func=_cmd_train_many)

    e = sub.add_parser("evaluate", help="score all checkpoints of a run; three selection protocols")
    e.add_argument("--run", required=True, help="run folder (holds checkpoints/)")
    e.add_argument("--data-root", help="DCASE-layout folder with test clips (default: the run's data root)")
    e.add_argument("--out", help="output folder (default <run>/evaluation)")
    e.add_argument("--batch-size", type=int, default=32)
    e.set_defaults(func=_cmd_evaluate)

    s = sub.add_parser("score", help="score test clips with a checkpoint (ours or the authors' .ckpt)")
    s.add_argument("--checkpoint", required=True, help="our .pt checkpoint or the authors' Lightning .ckpt")
    s.add_argument("--data-root", required=True, help="DCASE-layout folder: <type>/test/*.wav")
    s.add_argument("--out", required=True, help="output folder for DCASE score files and metric tables")
    s.add_argument("--label-map", choices=("paper", "distinct"),
                   help="class map (default: the checkpoint's own)")
    s.add_argument("--batch-size", type=int, default=32)
    s.add_argument("--no-store", action="store_true", help="decode WAVs directly instead of a clip store")
    s.set_defaults(func=_cmd_score)

    y = sub.add_parser("synth", help="generate the synthetic smoke dataset")
    y.add_argument("--out", help="folder (default data/synthetic)")
    y.add_argument("--clip-seconds", type=float, default=1.0)
    y.add_argument("--seed", type=int, default=0)
    y.add_argument("--overwrite", action="store_true")
    y.set_defaults(func=_cmd_synth)

    d = sub.add_parser("download", help="download + verify the 12 DCASE archives the paper needs")
    d.add_argument("--out", help="extraction folder (default data/dcase2020)")
    d.add_argument("--base-url", help="mirror serving the archives by file name (default Zenodo)")
    d.set_defaults(func=_cmd_download)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command line. Notebook 03."""
    args = build_parser().parse_args(argv)
    return args.func(args)
