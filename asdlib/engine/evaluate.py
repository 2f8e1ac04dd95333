"""Scoring test clips, DCASE score files, metric tables, and the three model-selection protocols.

- ``score_clips``: the anomaly score of every test clip (ArcFace cross-entropy at its true class);
  ``score_checkpoints``: the same for several checkpoints in one pass over the clips. The proposed
  model is scored in its inference form (``asdlib.nets.inference``: BatchNorm folded, no autograd,
  on the model's device; the log-Mel, which has no weights, computed once per batch for all
  checkpoints); the peers in their own form.
- ``write_dcase_scores``: DCASE 2020 submission files ``anomaly_score_<type>_id_<XX>.csv``.
- ``metric_tables``: AUC/pAUC under the official per-ID protocol and the authors' pooled one.
- ``evaluate_run``: scores every saved checkpoint of a run and reports three selections side by
  side: ``paper`` (best global test AUC, one ROC over all test clips, as the authors did:
  selected ON TEST DATA), ``validation`` (lowest validation loss) and ``last``.
Explained in notebook 04_evaluation.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from asdlib.nets.inference import InferenceNet, inference_form
from asdlib.nets.loss import anomaly_score
from asdlib.nets.model import ASDNet
from asdlib.outputs import atomic_write_text
from asdlib.folders import swapped_folder
from asdlib.data.download import file_digest
from asdlib.data.dataset import add_class_index, scan_dataset
from asdlib.engine.authors_checkpoint import load_authors_checkpoint
from asdlib.engine.checkpoints import load_checkpoint_file, UnsafeCheckpointError
from asdlib.engine.checkpoints import (CHECKPOINT_FORMAT, list_checkpoints, load_model,
                                       read_checkpoint)
from asdlib.engine.train import resolve_device
from asdlib.data.store import build_store, load_batch
from asdlib.engine.metrics import global_metrics, official_metrics, pooled_metrics
from asdlib.data.audio import load_wav
from asdlib.data.dcase import read_ground_truth
from asdlib.engine.config import run_config_from_dict

PROTOCOLS = ("paper", "validation", "last")
#: Seconds of audio the inference form scores at once on a CPU, per torch thread: every batch
#: read is scored in slices of this much times the threads (with one thread 8 one-second clips,
#: with two 16; one ten-second clip either way). The full-resolution attention maps of a bigger
#: slice are tensors of tens of MB, fresh memory for every layer: 80 s at once scored 1.4-1.6x
#: slower than the best slice, at one thread and at two (``benchmarks/scoring_speed.py
#: --slices``, benchmarks/REPORT.md section 10).
CPU_SLICE_SECONDS_PER_THREAD = 8.0
#: The per-checkpoint column the ``paper`` protocol maximises: the authors' "Global AUC", one ROC
#: over every test clip pooled together (paper-facts section 2), not a mean over types or IDs.
PAPER_SELECTION_METRIC = "global_auc"
#: What each selection protocol means, for tables and reports.
PROTOCOL_NOTES = {
    "paper": ("checkpoint with the best global test AUC, one ROC over all test clips "
              "(authors' choice; selected on test data)"),
    "validation": "checkpoint with the lowest validation loss (5% hold-out of training clips)",
    "last": "last epoch",
}


def evaluation_clips(root: str | Path, label_map: str = "paper", machine_types=None, *,
                     labelled_only: bool = False) -> pd.DataFrame:
    """The test clips under a DCASE-layout folder with class indices under ``label_map``. Notebook 04.

    ``labelled_only=True`` leaves out unlabelled evaluation-set clips (``id_XX_*.wav``, which the
    DCASE evaluation archives extract into the same ``<type>/test`` folders), with a warning
    saying how many: what the development metrics and model selection need.
    """
    table = scan_dataset(root, machine_types=machine_types, splits=("test",))
    if labelled_only:
        unlabelled = table["anomaly"].isna()
        if unlabelled.any():
            warnings.warn(f"{int(unlabelled.sum())} unlabelled evaluation-set clip(s) under {root} "
                          "left out: the development metrics use the labelled test clips only",
                          stacklevel=2)
            table = table[~unlabelled].reset_index(drop=True)
            table["anomaly"] = table["anomaly"].astype(int)
    return add_class_index(table, label_map)


def load_any_checkpoint(path: str | Path, *, allow_unsafe_pickle: bool = False) -> ASDNet:
    """Load one of our checkpoints or the authors' released Lightning checkpoint (eval mode), never running code from it. Notebook 04.

    Both kinds load with ``torch.load(weights_only=True)`` (``authors_checkpoint.LIGHTNING_SAFE_GLOBALS``
    allowed); anything else raises ``CheckpointError`` naming the file. ``allow_unsafe_pickle``
    is passed to ``load_authors_checkpoint`` (it runs any code in the file: trusted files only).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        ckpt = load_checkpoint_file(path)
    except UnsafeCheckpointError:
        if not allow_unsafe_pickle:
            raise
        ckpt = None
    if isinstance(ckpt, dict) and ckpt.get("format") == CHECKPOINT_FORMAT:
        return load_model(path)
    return load_authors_checkpoint(path, allow_unsafe_pickle=allow_unsafe_pickle)


def cpu_slice_seconds() -> float:
    """Seconds of audio the inference form scores at once on a CPU: ``CPU_SLICE_SECONDS_PER_THREAD`` times torch's threads. Notebook 04."""
    return CPU_SLICE_SECONDS_PER_THREAD * torch.get_num_threads()


def scoring_form(net: torch.nn.Module, device=None) -> torch.nn.Module:
    """The form a network is scored in on ``device``: an ``ASDNet``'s inference form (BatchNorm folded, the training log-Mel), a peer itself (eval mode). Notebook 04.

    The proposed model and its variants give the training form's scores within
    ``asdlib.nets.inference.ENGINE_SCORE_TOLERANCE`` (1e-4) at a fraction of the work; on a CPU
    it is stored channels-last (oneDNN's faster convolution layout; only MobileFaceNet with one
    thread). The peers (STgram-MFN,
    TASTgram-MFN, IDNN, the DCASE autoencoder) keep their own forward, scored without autograd.
    """
    device = torch.device(device) if device else next(net.parameters()).device
    net = net.to(device).eval()
    if not isinstance(net, ASDNet):
        return net
    form = inference_form(net, exportable=False).eval()
    if device.type == "cpu":
        # channels-last, oneDNN's faster layout; with one thread only MobileFaceNet: there PyTorch
        # runs the 1- and 2-channel Wavegram and attention convolutions in channels-last on its
        # slow grouped-convolution path (measured 0.7x at 10 s), with two or more it does not
        (form if torch.get_num_threads() > 1 else form.classifier).to(memory_format=torch.channels_last)
    return form


def _batch_scorer(net, device):
    """(score_batch(wave, target, shared), num_samples, whole, log-Mel key) of one network or scorer."""
    if isinstance(net, torch.nn.Module):
        device = torch.device(device) if device else next(net.parameters()).device
        form = scoring_form(net, device)
        n = net.config.num_samples
        whole = bool(getattr(net.config, "whole_clips", False))
        if isinstance(form, InferenceNet):
            key = (str(device), net.config.sample_rate) if form.logmel is not None else None

            def score_batch(batch: np.ndarray, target: np.ndarray, shared: dict):
                wave = shared.setdefault(("wave", str(device)), torch.from_numpy(batch).to(device))
                logmel = None
                if key is not None:
                    if key not in shared:
                        shared[key] = form.logmel(wave)
                    logmel = shared[key]
                # on a CPU in slices of cpu_slice_seconds() of audio (see there)
                step = (max(1, int(cpu_slice_seconds() * net.config.sample_rate) // n)
                        if device.type == "cpu" else len(wave))
                parts = [form(wave[i:i + step], None if logmel is None else logmel[i:i + step])
                         for i in range(0, len(wave), step)]
                per_class = torch.cat([part[0] for part in parts])
                cosine = torch.cat([part[1] for part in parts])
                t = torch.from_numpy(target).to(device)
                score = per_class.gather(1, t[:, None])[:, 0]
                return score.cpu().numpy(), cosine.argmax(1).cpu().numpy()
        elif not hasattr(form, "arcface"):
            # IDNN, the DCASE autoencoder (notebook 07): reconstruction error, no class prediction
            key = None

            def score_batch(batch: np.ndarray, target: np.ndarray, shared: dict):
                score = form.anomaly_score(torch.from_numpy(batch).to(device),
                                           torch.from_numpy(target).to(device))
                return score.cpu().numpy(), np.full(len(target), -1)
        else:  # STgram-MFN, TASTgram-MFN: ArcFace cross-entropy, as the training form
            key = None

            def score_batch(batch: np.ndarray, target: np.ndarray, shared: dict):
                emb = form(torch.from_numpy(batch).to(device)).float()
                score = anomaly_score(form.arcface, emb, torch.from_numpy(target).to(device))
                return score.cpu().numpy(), form.arcface.cosine(emb).argmax(1).cpu().numpy()
        return score_batch, n, whole, key

    def score_exported(batch: np.ndarray, target: np.ndarray, shared: dict):
        # an exported model: its per-class scores, the column of each clip's class
        per_class, cosine = net.scores(batch)
        return per_class[np.arange(len(target)), target], cosine.argmax(1)
    return score_exported, net.num_samples, False, None


@torch.no_grad()
def score_checkpoints(nets: list, clips: pd.DataFrame, *, store=None, batch_size: int = 32,
                      device: str | torch.device | None = None, progress: bool = True) -> list[pd.DataFrame]:
    """Score the clips with several networks in one pass: each batch read once and, for the proposed model, its log-Mel computed once. Notebook 04.

    Returns one table per network, as ``score_clips`` gives it (``score`` and ``predicted``
    added). Networks of different clip lengths, and the window models that read whole clips,
    are scored one after the other.
    """
    if store is not None and len(store) != len(clips):
        raise ValueError("store and clip table differ in length")
    scorers = [_batch_scorer(net, device) for net in nets]
    if len(scorers) > 1 and (any(sc[2] for sc in scorers) or len({sc[1] for sc in scorers}) > 1):
        return [_score_pass([sc], clips, store, batch_size, progress)[0] for sc in scorers]
    return _score_pass(scorers, clips, store, batch_size, progress)


def _score_pass(scorers: list, clips: pd.DataFrame, store, batch_size: int, progress: bool) -> list[pd.DataFrame]:
    """One pass over the clips, every scorer on every batch."""
    n, whole = scorers[0][1], scorers[0][2]
    targets = clips["class_index"].to_numpy().astype(np.int64)
    # the window models with whole_clips read every clip whole (ToyCar 11 s), one at a time
    step = 1 if whole else batch_size
    scores = [[] for _ in scorers]
    preds = [[] for _ in scorers]
    for start in tqdm(range(0, len(clips), step), desc="scoring", disable=not progress, unit="batch"):
        idx = list(range(start, min(start + step, len(clips))))
        batch = (load_wav(clips["path"].iloc[idx[0]])[None] if whole else load_batch(clips, idx, n, store))
        shared: dict = {}  # the batch on each device and its log-Mel, computed once for all scorers
        for k, (score_batch, *_rest) in enumerate(scorers):
            score, pred = score_batch(batch, targets[idx], shared)
            scores[k].append(score)
            preds[k].append(pred)
    out = []
    for k in range(len(scorers)):
        table = clips.copy()
        table["score"] = np.concatenate(scores[k]) if scores[k] else np.array([])
        table["predicted"] = np.concatenate(preds[k]) if preds[k] else np.array([], dtype=int)
        out.append(table)
    return out


def score_clips(net, clips: pd.DataFrame, *, store=None, batch_size: int = 32,
                device: str | torch.device | None = None, progress: bool = True) -> pd.DataFrame:
    """Anomaly score of every clip (needs ``path`` and ``class_index``); returns the table plus ``score``. Notebook 04.

    ``net`` is an ``ASDNet`` (scored in its inference form, ``scoring_form``), a peer (notebook
    07: STgram-MFN and TASTgram-MFN score as ``ASDNet``, IDNN and the autoencoder by
    reconstruction error) or a scorer of ``export.load_scorer`` (an exported ``.onnx`` model).
    Clips are read from ``store`` (a ``ClipStore`` over the same table) when given, else decoded
    from their WAV files. Also adds ``predicted`` (arg-max cosine class; -1 for models without
    classes) for diagnostics.
    """
    return score_checkpoints([net], clips, store=store, batch_size=batch_size, device=device,
                             progress=progress)[0]


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


def metric_tables(scores: pd.DataFrame, label_map: str = "paper", *,
                  pooled: bool | None = None) -> dict[str, pd.DataFrame]:
    """Official per-ID / per-type tables, the global ROC, and the authors' pooled per-type table (``paper`` map). Notebook 04.

    The pooled protocol selects clips by the authors' class-index masks, so by default
    (``pooled=None``) it is computed for runs of the ``paper`` label map only. ``pooled=True``
    groups the clips the authors' way whatever classes the model was trained with (the masks
    taken from each clip's type and ID): how notebook 07 puts the peers under the proposed
    model's protocol.
    """
    tables = dict(official_metrics(scores))
    if pooled or (pooled is None and label_map == "paper"):
        tables["pooled"] = pooled_metrics(scores.drop(columns="class_index", errors="ignore")
                                          if label_map != "paper" else scores)
    tables["global"] = global_metrics(scores)
    return tables


def summary_row(tables: dict[str, pd.DataFrame]) -> dict[str, float]:
    """Overall numbers of one scoring: global AUC/pAUC, official average and (if present) pooled average. Notebook 04.

    ``global_*`` is the authors' selection metric and Table 2's number (one ROC over every clip,
    equal to the pooled table's ``all_clips`` row); ``pooled_*`` is the mean of the pooled
    per-type values (Table 1's row mean); ``official_*`` the DCASE per-ID mean.
    """
    pt = tables["per_type"].set_index("machine_type")
    row = {}
    if "global" in tables:
        g = tables["global"].iloc[0]
        row.update({"global_auc": g["auc"], "global_pauc": g["pauc"]})
    row.update({"official_auc": pt.loc["average", "auc"], "official_pauc": pt.loc["average", "pauc"]})
    if "pooled" in tables:
        pooled = tables["pooled"].set_index("machine_type")
        row.update({"pooled_auc": pooled.loc["average", "auc"],
                    "pooled_pauc": pooled.loc["average", "pauc"]})
    return row


def save_scoring(scores: pd.DataFrame, out_dir: str | Path,
                 label_map: str = "paper", *, pooled: bool | None = None) -> dict[str, pd.DataFrame]:
    """Write the DCASE score files and metric CSVs of one scoring under ``out_dir`` (each file atomically). Notebook 04.

    Score files cover every clip; the metrics cover the labelled ones only (unlabelled
    evaluation-set clips are named in a warning, and without any labelled clip no metric table
    is written and ``{}`` is returned).
    """
    out_dir = Path(out_dir)
    write_dcase_scores(scores, out_dir / "scores")
    labelled = scores[scores["anomaly"].notna()] if "anomaly" in scores else scores
    if len(labelled) < len(scores):
        n = len(scores) - len(labelled)
        warnings.warn(f"{n} of {len(scores)} clip(s) are unlabelled (evaluation set): their DCASE "
                      f"score files are written; " + (
                          f"the metrics cover the {len(labelled)} labelled clip(s)" if len(labelled) else
                          "no metrics without labels: pass the ground truth (score --ground-truth "
                          "eval_data_list.csv)"), stacklevel=2)
    tables = (metric_tables(labelled.astype({"anomaly": int}), label_map, pooled=pooled)
              if len(labelled) else {})
    for name, table in tables.items():
        atomic_write_text(out_dir / f"metrics_{name}.csv", table.to_csv(index=False))
    atomic_write_text(out_dir / "clip_scores.csv", scores.to_csv(index=False))
    return tables


def apply_ground_truth(clips: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Label unlabelled evaluation-set clips from ``dcase.read_ground_truth``'s table (by type and file name). Notebook 04.

    Adds ``original_name``. Clips the ground truth does not list stay unlabelled, and ground-truth
    rows without a clip (a partial copy of the evaluation set) are counted; both in a warning.
    """
    keys = ["machine_type", "file_name"]
    t = truth[keys + ["anomaly", "original_name"]].rename(columns={"anomaly": "_truth"})
    out = clips.merge(t, on=keys, how="left")
    fill = out["anomaly"].isna() & out["_truth"].notna()
    out["anomaly"] = out["anomaly"].astype("Int64")
    out.loc[fill, "anomaly"] = out.loc[fill, "_truth"].astype(int)
    out.loc[fill, "label"] = np.where(out.loc[fill, "_truth"] == 1, "anomaly", "normal")
    still = int(out["anomaly"].isna().sum())
    types = set(clips["machine_type"])
    missing = int((~t.set_index(keys).index.isin(clips.set_index(keys).index)
                   & t["machine_type"].isin(types).to_numpy()).sum())
    if still or missing:
        warnings.warn(f"ground truth: {int(fill.sum())} clip(s) labelled, {still} clip(s) not listed "
                      f"in it stay unlabelled, {missing} listed clip(s) of these machine types are "
                      "not in the data folder", stacklevel=2)
    if not still:
        out["anomaly"] = out["anomaly"].astype(int)
    return out.drop(columns="_truth")


def _decode_check(clips: pd.DataFrame, progress: bool) -> list[dict]:
    """The clips whose WAV cannot be loaded: ``[{"path", "error"}]`` (used without a store)."""
    bad = []
    for path in tqdm(clips["path"], desc="checking WAVs", disable=not progress, unit="clip"):
        try:
            load_wav(path)
        except Exception as e:  # noqa: BLE001 - each failure is reported with its file
            bad.append({"path": str(path), "error": str(e)})
    return bad


def score_checkpoint(checkpoint: str | Path, data_root: str | Path, out_dir: str | Path, *,
                     label_map: str | None = None, batch_size: int = 32, device=None,
                     use_store: bool = True, progress: bool = True, ground_truth=None,
                     on_bad_file: str = "fail",
                     allow_unsafe_pickle: bool = False) -> dict[str, pd.DataFrame]:
    """Score every test clip under ``data_root`` with a checkpoint (ours or the authors'), a loaded network or a scorer; write files. Notebook 04.

    ``checkpoint`` is a checkpoint file (``load_any_checkpoint``), a network, or a scorer of
    ``asdlib.deploy.export.load_scorer`` (how an exported ``.onnx`` model is scored).

    ``ground_truth``: the evaluation set's ``eval_data_list.csv``, labelling its unlabelled clips
    so that the official metrics are computed. ``on_bad_file``: ``"fail"`` stops at the first
    WAV that cannot be decoded (naming it); ``"skip"`` scores the others and lists the bad ones
    in ``<out_dir>/bad_files.csv`` (also returned as ``tables["bad_files"]``).
    """
    if on_bad_file not in ("fail", "skip"):
        raise ValueError(f"on_bad_file={on_bad_file!r}: expected 'fail' or 'skip'")
    if isinstance(checkpoint, (str, Path)):
        if Path(checkpoint).suffix == ".onnx":
            raise ValueError(f"{checkpoint}: an exported model is scored through its scorer: pass "
                             "asdlib.deploy.export.load_scorer(path) instead of the path (python -m "
                             "asdlib score does)")
        net = load_any_checkpoint(checkpoint, allow_unsafe_pickle=allow_unsafe_pickle)
    else:  # a network, or a scorer of asdlib.deploy.export.load_scorer (an exported .onnx)
        net = checkpoint
    num_samples = net.config.num_samples if isinstance(net, torch.nn.Module) else net.num_samples
    label_map = label_map or getattr(net, "label_map", "paper")
    clips = evaluation_clips(data_root, label_map)
    if ground_truth is not None:
        clips = apply_ground_truth(clips, read_ground_truth(ground_truth))
    skip = on_bad_file == "skip"
    final_out = Path(out_dir)
    # the folder is built under a temporary name and swapped in whole: a kill or a rerun on other
    # types never leaves two models' files side by side (MANIFEST.json says what made it)
    with swapped_folder(final_out, "score", known=_score_output_name,
                        describe=_scored_by(checkpoint, net, data_root, label_map)) as out_dir:
        return _score_into(net, clips, data_root, out_dir, final_out, label_map=label_map,
                           num_samples=num_samples, use_store=use_store, skip=skip,
                           batch_size=batch_size, device=device, progress=progress)


def _score_output_name(name: str) -> bool:
    """A file or folder name that ``score`` writes (an older score folder holds only these)."""
    return name in ("scores", "clip_scores.csv", "bad_files.csv") or (
        name.startswith("metrics_") and name.endswith(".csv"))


def _scored_by(checkpoint, net, data_root, label_map: str) -> dict:
    """What the manifest of a score folder says made it: the model file and its SHA-256, the data."""
    path = checkpoint if isinstance(checkpoint, (str, Path)) else getattr(net, "path", None)
    model = {"model": str(path) if path is not None else f"(in memory: {type(net).__name__})"}
    if path is not None and Path(path).is_file():
        model["model_sha256"] = file_digest(Path(path), "sha256")
    return {**model, "data_root": str(data_root), "label_map": label_map}


def _score_into(net, clips: pd.DataFrame, data_root, out_dir: Path, final_out: Path, *, label_map: str,
                num_samples: int, use_store: bool, skip: bool, batch_size: int, device,
                progress: bool) -> dict[str, pd.DataFrame]:
    """``score_checkpoint``'s work, written into ``out_dir`` (the temporary folder of ``final_out``)."""
    store = None
    bad: list[dict] = []
    if use_store:
        store = build_store(clips, num_samples, name=f"test-{Path(data_root).name}",
                            skip_bad=skip, progress=progress)
        skipped = json.loads((store.folder / "meta.json").read_text()).get("skipped", [])
        for path in sorted(set(map(str, clips["path"].map(lambda p: Path(p).resolve())))
                           - set(store.table["path"])):
            msg = next((m for m in skipped if m.startswith(path + ": ")), path + ": undecodable")
            bad.append({"path": path, "error": msg[len(path) + 2:]})
        clips = store.table
    elif skip:
        bad = _decode_check(clips, progress)
        clips = clips[~clips["path"].astype(str).isin({b["path"] for b in bad})].reset_index(drop=True)
    if skip:
        report = pd.DataFrame(bad, columns=["path", "error"])
        atomic_write_text(out_dir / "bad_files.csv", report.to_csv(index=False))
        if bad:
            warnings.warn(f"skipped {len(bad)} undecodable WAV file(s), listed in "
                          f"{final_out / 'bad_files.csv'}", stacklevel=3)
    if clips.empty:
        named = "; ".join(f"{b['path']}: {b['error']}" for b in bad[:3])
        raise ValueError(f"no clip under {data_root} could be decoded ({len(bad)} bad file(s)"
                         + (f"; {named}{'; ...' if len(bad) > 3 else ''})" if bad else ")"))
    scores = score_clips(net, clips, store=store, batch_size=batch_size,
                         device=device or resolve_device("auto"), progress=progress)
    finite = np.isfinite(pd.to_numeric(scores["score"], errors="coerce"))
    if not finite.all():
        first = scores.loc[~finite].iloc[0]
        raise ValueError(f"{int((~finite).sum())} clip score(s) are not finite (first: "
                         f"{first.get('path', first.get('file_name', '?'))}); the model's weights "
                         f"may be damaged; nothing was written to {final_out}")
    tables = save_scoring(scores, out_dir, label_map)
    if skip:
        tables["bad_files"] = report
    return tables


def select_checkpoints(per_ckpt: pd.DataFrame) -> dict[str, int]:
    """The epoch each selection protocol picks from a per-checkpoint table (``checkpoints.csv``). Notebook 04.

    ``paper``: highest ``global_auc`` (one ROC over all test clips; the authors' rule, a choice
    made on test data); ``validation``: lowest ``val_loss`` (the last epoch when no run logged
    one); ``last``: the highest epoch. Ties go to the earliest epoch. (The authors' loop keeps
    the first checkpoint with a strictly higher AUC in the order their folder listing returns,
    which they do not fix; the rolling last checkpoint is among the candidates there as here.)
    """
    need = {"epoch", PAPER_SELECTION_METRIC}
    if not need <= set(per_ckpt.columns):
        raise ValueError(f"per-checkpoint table lacks column(s) {sorted(need - set(per_ckpt.columns))}")
    if per_ckpt.empty:
        raise ValueError("per-checkpoint table is empty: no checkpoint to select")
    table = per_ckpt.sort_values("epoch").reset_index(drop=True)
    metric = pd.to_numeric(table[PAPER_SELECTION_METRIC], errors="coerce")
    if metric.isna().all():
        raise ValueError("no checkpoint has a global test AUC (the test clips hold one class only or "
                         "are unlabelled), so the 'paper' selection is undefined")
    val = (pd.to_numeric(table["val_loss"], errors="coerce") if "val_loss" in table
           else pd.Series(np.nan, index=table.index))
    return {
        "paper": int(table.loc[metric.idxmax(), "epoch"]),
        "validation": (int(table.loc[val.idxmin(), "epoch"]) if val.notna().any()
                       else int(table["epoch"].max())),
        "last": int(table["epoch"].max()),
    }


def evaluate_run(run_dir: str | Path, data_root: str | Path | None = None, *,
                 out_dir: str | Path | None = None, batch_size: int = 32, device=None,
                 progress: bool = True) -> pd.DataFrame:
    """Score every saved checkpoint of a run on the labelled test clips and apply the three selection protocols. Notebook 04.

    Writes ``<out_dir>/checkpoints.csv`` (one row per checkpoint: global, official and pooled
    AUC/pAUC, validation loss) and, per protocol, ``<out_dir>/<protocol>/`` with DCASE score
    files and metric tables. Returns the selection summary (protocol, epoch, global, official
    and pooled numbers, what it was selected on). ``paper`` selects on the global AUC
    (``select_checkpoints``).
    """
    run_dir = Path(run_dir)
    out_dir = Path(out_dir) if out_dir else run_dir / "evaluation"
    ckpts = list_checkpoints(run_dir)
    if not ckpts:
        raise FileNotFoundError(f"no checkpoints in {run_dir / 'checkpoints'}")
    config = run_config_from_dict(read_checkpoint(ckpts[-1])["config"])
    root = Path(data_root) if data_root else config.data.root_path()
    label_map = config.data.label_map
    pooled = True if config.model.kind != "proposed" else None  # peers: the authors' grouping too
    clips = evaluation_clips(root, label_map, config.data.machine_types, labelled_only=True)
    store = build_store(clips, config.model.num_samples, name=f"test-{root.name}",
                        progress=progress)
    clips = store.table
    device = device or resolve_device("auto")

    rows, scorings = [], {}
    nets = [load_model(path) for path in ckpts]  # a few MB each; every batch is read once for all
    all_scores = score_checkpoints(nets, clips, store=store, batch_size=batch_size, device=device,
                                   progress=progress)
    for path, net, scores in zip(ckpts, nets, all_scores):
        tables = metric_tables(scores, label_map, pooled=pooled)
        log = net.checkpoint_log  # read with the weights: each file is read once
        rows.append({"epoch": net.checkpoint_epoch, "checkpoint": path.name,
                     "val_loss": log.get("val_loss", np.nan), **summary_row(tables)})
        scorings[net.checkpoint_epoch] = scores
    per_ckpt = pd.DataFrame(rows).sort_values("epoch").reset_index(drop=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    per_ckpt.to_csv(out_dir / "checkpoints.csv", index=False)

    chosen = select_checkpoints(per_ckpt)
    summary = []
    for protocol, epoch in chosen.items():
        tables = save_scoring(scorings[epoch], out_dir / protocol, label_map, pooled=pooled)
        summary.append({"protocol": protocol, "epoch": epoch,
                        "selected_on": PROTOCOL_NOTES[protocol], **summary_row(tables)})
    summary = pd.DataFrame(summary)
    summary.to_csv(out_dir / "selection.csv", index=False)
    return summary
