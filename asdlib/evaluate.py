"""Scoring test clips, DCASE score files, metric tables, and the three model-selection protocols.

- ``score_clips``: the anomaly score of every test clip (ArcFace cross-entropy at its true class).
- ``write_dcase_scores``: DCASE 2020 submission files ``anomaly_score_<type>_id_<XX>.csv``.
- ``metric_tables``: AUC/pAUC under the official per-ID protocol and the authors' pooled one.
- ``evaluate_run``: scores every saved checkpoint of a run and reports three selections side by
  side: ``paper`` (best test AUC, as the authors did: selected ON TEST DATA), ``validation``
  (lowest validation loss) and ``last``.
Explained in notebook 04_evaluation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from .loss import anomaly_score
from .model import ASDNet
from .outputs import atomic_write_text

PROTOCOLS = ("paper", "validation", "last")
#: What each selection protocol means, for tables and reports.
PROTOCOL_NOTES = {
    "paper": "checkpoint with the best test AUC (authors' choice; selected on test data)",
    "validation": "checkpoint with the lowest validation loss (5% hold-out of training clips)",
    "last": "last epoch",
}


def evaluation_clips(root: str | Path, label_map: str = "paper", machine_types=None) -> pd.DataFrame:
    """The test clips under a DCASE-layout folder with class indices under ``label_map``. Notebook 04."""
    from .dataset import add_class_index, scan_dataset

    table = scan_dataset(root, machine_types=machine_types, splits=("test",))
    return add_class_index(table, label_map)


def load_any_checkpoint(path: str | Path) -> ASDNet:
    """Load one of our checkpoints or the authors' released Lightning checkpoint (eval mode). Notebook 04."""
    from .train import CHECKPOINT_FORMAT, load_model

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    if isinstance(ckpt, dict) and ckpt.get("format") == CHECKPOINT_FORMAT:
        return load_model(path)
    from .authors_checkpoint import load_authors_checkpoint

    return load_authors_checkpoint(path)


@torch.no_grad()
def score_clips(net: ASDNet, clips: pd.DataFrame, *, store=None, batch_size: int = 32,
                device: str | torch.device | None = None, progress: bool = True) -> pd.DataFrame:
    """Anomaly score of every clip (needs ``path`` and ``class_index``); returns the table plus ``score``. Notebook 04.

    Clips are read from ``store`` (a ``ClipStore`` over the same table) when given, else decoded
    from their WAV files. Also adds ``predicted`` (arg-max cosine class) for diagnostics.
    """
    from .store import load_batch

    device = torch.device(device) if device else next(net.parameters()).device
    net = net.to(device).eval()
    n = net.config.num_samples
    if store is not None and len(store) != len(clips):
        raise ValueError("store and clip table differ in length")
    scores, preds = [], []
    targets = clips["class_index"].to_numpy().astype(np.int64)
    for start in tqdm(range(0, len(clips), batch_size), desc="scoring", disable=not progress,
                      unit="batch"):
        idx = range(start, min(start + batch_size, len(clips)))
        batch = load_batch(clips, idx, n, store)
        wave = torch.from_numpy(batch).to(device)
        target = torch.from_numpy(targets[list(idx)]).to(device)
        emb = net(wave).float()
        scores.append(anomaly_score(net.arcface, emb, target).cpu().numpy())
        preds.append(net.arcface.cosine(emb).argmax(1).cpu().numpy())
    out = clips.copy()
    out["score"] = np.concatenate(scores) if scores else np.array([])
    out["predicted"] = np.concatenate(preds) if preds else np.array([], dtype=int)
    return out


def write_dcase_scores(scores: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """Write DCASE 2020 score files, one ``anomaly_score_<type>_id_<XX>.csv`` per machine ID. Notebook 04."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for (mt, mid), group in scores.groupby(["machine_type", "machine_id"], sort=True):
        path = out_dir / f"anomaly_score_{mt}_id_{mid}.csv"
        atomic_write_text(path, group[["file_name", "score"]].to_csv(header=False, index=False))
        written.append(path)
    return written


def metric_tables(scores: pd.DataFrame, label_map: str = "paper") -> dict[str, pd.DataFrame]:
    """Official per-ID / per-type tables, plus the authors' pooled per-type table under the ``paper`` map. Notebook 04.

    The pooled protocol selects clips by the authors' class-index masks, so it is only defined
    for class indices of the ``paper`` label map.
    """
    from .metrics import official_metrics, pooled_metrics

    tables = dict(official_metrics(scores))
    if label_map == "paper":
        tables["pooled"] = pooled_metrics(scores)
    return tables


def summary_row(tables: dict[str, pd.DataFrame]) -> dict[str, float]:
    """Overall numbers of one scoring: official average and (if present) pooled average / all clips. Notebook 04."""
    pt = tables["per_type"].set_index("machine_type")
    row = {"official_auc": pt.loc["average", "auc"], "official_pauc": pt.loc["average", "pauc"]}
    if "pooled" in tables:
        pooled = tables["pooled"].set_index("machine_type")
        row.update({"pooled_auc": pooled.loc["average", "auc"],
                    "pooled_pauc": pooled.loc["average", "pauc"],
                    "all_clips_auc": pooled.loc["all_clips", "auc"],
                    "all_clips_pauc": pooled.loc["all_clips", "pauc"]})
    return row


def save_scoring(scores: pd.DataFrame, out_dir: str | Path,
                 label_map: str = "paper") -> dict[str, pd.DataFrame]:
    """Write the DCASE score files and metric CSVs of one scoring under ``out_dir``. Notebook 04."""
    out_dir = Path(out_dir)
    write_dcase_scores(scores, out_dir / "scores")
    tables = metric_tables(scores, label_map)
    for name, table in tables.items():
        table.to_csv(out_dir / f"metrics_{name}.csv", index=False)
    scores.to_csv(out_dir / "clip_scores.csv", index=False)
    return tables


def score_checkpoint(checkpoint: str | Path, data_root: str | Path, out_dir: str | Path, *,
                     label_map: str | None = None, batch_size: int = 32, device=None,
                     use_store: bool = True, progress: bool = True) -> dict[str, pd.DataFrame]:
    """Score every test clip under ``data_root`` with a checkpoint (ours or the authors'); write files. Notebook 04."""
    from .store import build_store
    from .train import resolve_device

    net = load_any_checkpoint(checkpoint)
    label_map = label_map or getattr(net, "label_map", "paper")
    clips = evaluation_clips(data_root, label_map)
    store = (build_store(clips, net.config.num_samples, name=f"test-{Path(data_root).name}",
                         progress=progress) if use_store else None)
    if store is not None:
        clips = store.table
    scores = score_clips(net, clips, store=store, batch_size=batch_size,
                         device=device or resolve_device("auto"), progress=progress)
    return save_scoring(scores, out_dir, label_map)


def evaluate_run(run_dir: str | Path, data_root: str | Path | None = None, *,
                 out_dir: str | Path | None = None, batch_size: int = 32, device=None,
                 progress: bool = True) -> pd.DataFrame:
    """Score every saved checkpoint of a run on the test clips and apply the three selection protocols. Notebook 04.

    Writes ``<out_dir>/checkpoints.csv`` (one row per checkpoint) and, per protocol,
    ``<out_dir>/<protocol>/`` with DCASE score files and metric tables. Returns the selection
    summary (protocol, epoch, official and pooled averages, what it was selected on).
    """
    from .config import run_config_from_dict
    from .store import build_store
    from .train import list_checkpoints, load_model, read_checkpoint, resolve_device

    run_dir = Path(run_dir)
    out_dir = Path(out_dir) if out_dir else run_dir / "evaluation"
    ckpts = list_checkpoints(run_dir)
    if not ckpts:
        raise FileNotFoundError(f"no checkpoints in {run_dir / 'checkpoints'}")
    config = run_config_from_dict(read_checkpoint(ckpts[-1])["config"])
    root = Path(data_root) if data_root else config.data.root_path()
    label_map = config.data.label_map
    clips = evaluation_clips(root, label_map, config.data.machine_types)
    store = build_store(clips, config.model.num_samples, name=f"test-{root.name}",
                        progress=progress)
    clips = store.table
    device = device or resolve_device("auto")

    rows, scorings = [], {}
    for path in tqdm(ckpts, desc=f"evaluating {run_dir.name}", disable=not progress):
        net = load_model(path)
        scores = score_clips(net, clips, store=store, batch_size=batch_size, device=device,
                             progress=False)
        tables = metric_tables(scores, label_map)
        log = read_checkpoint(path).get("log", {})
        rows.append({"epoch": net.checkpoint_epoch, "checkpoint": path.name,
                     "val_loss": log.get("val_loss", np.nan), **summary_row(tables)})
        scorings[net.checkpoint_epoch] = scores
    per_ckpt = pd.DataFrame(rows).sort_values("epoch").reset_index(drop=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    per_ckpt.to_csv(out_dir / "checkpoints.csv", index=False)

    test_key = "pooled_auc" if "pooled_auc" in per_ckpt else "official_auc"
    chosen = {
        "paper": int(per_ckpt.loc[per_ckpt[test_key].idxmax(), "epoch"]),
        "validation": (int(per_ckpt.loc[per_ckpt["val_loss"].idxmin(), "epoch"])
                       if per_ckpt["val_loss"].notna().any() else int(per_ckpt["epoch"].max())),
        "last": int(per_ckpt["epoch"].max()),
    }
    summary = []
    for protocol, epoch in chosen.items():
        tables = save_scoring(scorings[epoch], out_dir / protocol, label_map)
        summary.append({"protocol": protocol, "epoch": epoch,
                        "selected_on": PROTOCOL_NOTES[protocol], **summary_row(tables)})
    summary = pd.DataFrame(summary)
    summary.to_csv(out_dir / "selection.csv", index=False)
    return summary
