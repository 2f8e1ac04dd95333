"""ONNX export of a trained detector and the scorers that run a model file: ONNX Runtime or PyTorch.

- ``export_onnx``: our checkpoint or the authors' released one -> an ONNX file, waveform in,
  per-class anomaly scores and cosines out, with its label map, clip length, sample rate, model
  configuration, the source checkpoint's SHA-256 and (optionally) per-ID decision thresholds in
  the file's metadata. The export is checked against the PyTorch inference form before it is kept.
- ``load_scorer``: a ``.onnx`` file -> ``OnnxScorer`` (ONNX Runtime), a checkpoint ->
  ``TorchScorer`` (the inference form in PyTorch); both answer ``scores(wave)`` the same way.

Explained in notebook 08_deployment.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from asdlib.data.dcase import ALL_MACHINES, LABEL_MAPS, class_index
from asdlib.deploy import inference
from asdlib.deploy.thresholds import machine_key
from asdlib.engine.cpu import default_threads
from asdlib.deploy.inference import InferenceNet, inference_form
from asdlib.data.download import file_digest
from asdlib.engine.evaluate import load_any_checkpoint
from asdlib import __version__

#: ONNX opset of exported files (opset 17 holds every operator the inference form uses).
OPSET = 17
#: Value of the `asdlib_format` metadata entry that marks a file made by `export_model`.
FORMAT = "asdlib-onnx-1"


class ExportError(ValueError):
    """An export that cannot be made or does not reproduce the PyTorch scores."""


#: ONNX Runtime's switch for its usage events (1: none queued in ~/.cache/Microsoft, no
#: /tmp/mat-debug-<pid>.log); read once, when onnxruntime is first imported.
TELEMETRY_VARIABLE = "ORT_DISABLE_TELEMETRY"


def import_onnxruntime():
    """Import ONNX Runtime with its telemetry off (unless ``ORT_DISABLE_TELEMETRY`` says otherwise). Notebook 08.

    ONNX Runtime reads the variable once, at its first import: set ``ORT_DISABLE_TELEMETRY=0``
    before starting Python to allow its usage events (docs/deployment.md). When another module
    imported onnxruntime first with them on, a warning says so.
    """
    if "onnxruntime" not in sys.modules:
        os.environ.setdefault(TELEMETRY_VARIABLE, "1")
    elif os.environ.get(TELEMETRY_VARIABLE) != "1" and not _TELEMETRY_WARNED:
        globals()["_TELEMETRY_WARNED"] = True
        warnings.warn("onnxruntime was imported before asdlib could turn off its usage events; "
                      f"set {TELEMETRY_VARIABLE}=1 before starting Python to keep them off")
    import onnxruntime as ort

    return ort


_TELEMETRY_WARNED = False


def _sha256(path: Path) -> str:
    return file_digest(path, "sha256")


def export_onnx(checkpoint: str | os.PathLike, out: str | os.PathLike, *,
                thresholds: dict[str, float] | None = None, threshold_info: dict | None = None,
                allow_unsafe_pickle: bool = False) -> Path:
    """Export a checkpoint (ours or the authors') to ONNX with its metadata; checked against PyTorch. Notebook 08.

    The file is written next to ``out`` and renamed into place only after ONNX Runtime's scores
    of a test signal match the PyTorch inference form's within ``SCORE_TOLERANCE``: a failed export
    leaves any earlier file at ``out`` untouched. ``thresholds`` ({"<type>/<id>": value}) and
    ``threshold_info`` (how they were fitted) are stored as JSON metadata.
    """
    checkpoint = Path(checkpoint)
    if Path(out).suffix != ".onnx":
        raise ExportError(f"--out {out}: the exported file must end in .onnx")
    net = load_any_checkpoint(checkpoint, allow_unsafe_pickle=allow_unsafe_pickle)
    return export_model(net, out, source=checkpoint.name, source_sha256=_sha256(checkpoint),
                        thresholds=thresholds, threshold_info=threshold_info)


def export_model(net: torch.nn.Module, out: str | os.PathLike, *, source: str = "(in memory)",
                 source_sha256: str = "", thresholds: dict[str, float] | None = None,
                 threshold_info: dict | None = None) -> Path:
    """Export a network in memory (an ``ASDNet``) to ONNX; ``export_onnx`` does it for a checkpoint file. Notebook 08."""
    import onnx


    out = Path(out)
    if out.suffix != ".onnx":
        raise ExportError(f"--out {out}: the exported file must end in .onnx")
    inf = inference_form(net).cpu()  # exported and checked on the CPU, wherever the network lives
    cfg = net.config
    example = _test_signal(cfg.num_samples, cfg.sample_rate)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(suffix=".onnx.part", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(inf, (torch.from_numpy(example),), str(tmp), opset_version=OPSET,
                              dynamo=False, input_names=["wave"], output_names=["scores", "cosine"],
                              dynamic_axes={"wave": {0: "batch"}, "scores": {0: "batch"},
                                            "cosine": {0: "batch"}})
        model = onnx.load(str(tmp))
        meta = {
            "asdlib_format": FORMAT,
            "label_map": getattr(net, "label_map", "paper"),
            "sample_rate": str(cfg.sample_rate),
            "clip_seconds": repr(cfg.clip_seconds),
            "num_samples": str(cfg.num_samples),
            "num_classes": str(cfg.num_classes),
            "model_config": json.dumps(cfg.to_dict(), sort_keys=True),
            "source_checkpoint": source,
            "source_sha256": source_sha256,
            "asdlib_version": __version__,
        }
        if thresholds is not None:
            meta["thresholds"] = json.dumps({k: float(v) for k, v in sorted(thresholds.items())})
            meta["threshold_info"] = json.dumps(threshold_info or {}, sort_keys=True)
        del model.metadata_props[:]
        for key, value in meta.items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, str(value)
        model.producer_name = "asdlib"
        onnx.checker.check_model(model)
        onnx.save(model, str(tmp))
        with torch.no_grad():
            want = inf(torch.from_numpy(example))[0].numpy()
        got = OnnxScorer(tmp, threads=1).scores(example)[0]
        worst = float(np.abs(got - want).max())
        if not worst <= inference.SCORE_TOLERANCE:
            raise ExportError(f"exported {source}: ONNX Runtime scores differ from PyTorch's by "
                              f"{worst:.3g} (> {inference.SCORE_TOLERANCE}); the file was not written")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _test_signal(num_samples: int, sample_rate: int) -> np.ndarray:
    """Two deterministic test clips: a chirp with noise, and noise (float32, (2, samples))."""
    rng = np.random.default_rng(0)
    t = np.arange(num_samples) / sample_rate
    chirp = 0.3 * np.sin(2 * np.pi * (200 + 300 * t) * t) + 0.05 * rng.standard_normal(num_samples)
    noise = 0.1 * rng.standard_normal(num_samples)
    return np.stack([chirp, noise]).astype(np.float32)


#: Bounds of an exported model's sample rate (Hz) and clip length (s) accepted at load.
SAMPLE_RATE_RANGE = (1_000, 384_000)
MAX_CLIP_SECONDS = 600.0


def _metadata_int(path: Path, metadata: dict, key: str, low: int, high: int) -> int:
    """An integer metadata entry within [low, high]; an ExportError names the file and the key."""
    if key not in metadata:
        raise ExportError(f"{path}: metadata {key!r} is missing; re-export the model")
    text = metadata[key]
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise ExportError(f"{path}: metadata {key}={text!r} is not an integer") from None
    if not low <= value <= high:
        raise ExportError(f"{path}: metadata {key}={value} is outside {low}..{high}")
    return value


def _metadata_json(path: Path, metadata: dict, key: str, kind: type):
    """A JSON metadata entry of the given kind (dict or list), or None when absent."""
    if key not in metadata:
        return None
    try:
        value = json.loads(metadata[key])
    except (TypeError, ValueError) as e:
        raise ExportError(f"{path}: metadata {key!r} is not valid JSON ({e})") from None
    if not isinstance(value, kind):
        raise ExportError(f"{path}: metadata {key!r} must be a JSON "
                          f"{'object' if kind is dict else kind.__name__}, got {type(value).__name__}")
    return value


def _static_dim(shape, axis: int) -> int | None:
    return shape[axis] if len(shape) > axis and isinstance(shape[axis], int) else None


def check_metadata(path: str | os.PathLike, metadata: dict, session=None) -> dict:
    """Check every metadata entry of an exported model (and, given its ONNX Runtime session, the graph's shapes). Notebook 08.

    Returns the entries the scorer uses: label map, sample rate, clip length in samples, number of
    classes and the thresholds ({"<type>/<id>": finite float} or None). Any bad entry raises an
    ``ExportError`` naming the file and the key, before a single clip is read.
    """
    path = Path(path)
    if metadata.get("asdlib_format") != FORMAT:
        raise ExportError(f"{path}: not a model exported by `python -m asdlib export` "
                          f"(metadata asdlib_format={metadata.get('asdlib_format')!r})")
    label_map = metadata.get("label_map")
    if label_map not in LABEL_MAPS:
        raise ExportError(f"{path}: metadata label_map={label_map!r} is not one of {LABEL_MAPS}")
    rate = _metadata_int(path, metadata, "sample_rate", *SAMPLE_RATE_RANGE)
    samples = _metadata_int(path, metadata, "num_samples", 1, int(MAX_CLIP_SECONDS * rate))
    needed = 1 + max(class_index(mt, mid, label_map) for mt, mid in ALL_MACHINES)
    classes = _metadata_int(path, metadata, "num_classes", needed, 100_000)
    if session is not None:
        inputs, outputs = session.get_inputs(), session.get_outputs()
        if [i.name for i in inputs] != ["wave"] or len(outputs) < 2:
            raise ExportError(f"{path}: the graph must take one input 'wave' and give scores and "
                              f"cosines; it takes {[i.name for i in inputs]} and gives {len(outputs)} output(s)")
        graph_samples = _static_dim(inputs[0].shape, 1)
        if graph_samples is not None and graph_samples != samples:
            raise ExportError(f"{path}: metadata num_samples={samples} but the graph's input holds "
                              f"{graph_samples} samples")
        graph_classes = _static_dim(outputs[0].shape, 1)
        if graph_classes is not None and graph_classes != classes:
            raise ExportError(f"{path}: metadata num_classes={classes} but the graph scores "
                              f"{graph_classes} classes")
    for key in ("model_config", "threshold_info"):
        _metadata_json(path, metadata, key, dict)
    thresholds = _metadata_json(path, metadata, "thresholds", dict)
    if thresholds is not None:
        known = {machine_key(mt, mid) for mt, mid in ALL_MACHINES}
        for key, value in thresholds.items():
            if key not in known:
                raise ExportError(f"{path}: metadata 'thresholds' names {key!r}, not a DCASE 2020 "
                                  "machine ('<type>/<id>', e.g. 'fan/00')")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ExportError(f"{path}: metadata 'thresholds' gives {key!r} the value {value!r}; "
                                  "expected a finite number")
        thresholds = {k: float(v) for k, v in thresholds.items()}
    return {"label_map": label_map, "sample_rate": rate, "num_samples": samples,
            "num_classes": classes, "thresholds": thresholds}


class OnnxScorer:
    """An exported model in ONNX Runtime: ``scores(wave)`` -> (per-class scores, cosines). Notebook 08."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None):
        ort = import_onnxruntime()
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"model file not found: {self.path}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or default_threads()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(self.path), options,
                                                providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001 - ORT raises its own types for damaged files
            raise ExportError(f"{self.path}: not a readable ONNX model ({e})") from e
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        checked = check_metadata(self.path, self.metadata, self.session)
        self.label_map = checked["label_map"]
        self.sample_rate = checked["sample_rate"]
        self.num_samples = checked["num_samples"]
        self.num_classes = checked["num_classes"]
        self.thresholds = checked["thresholds"]

    def scores(self, wave: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(batch, samples) float32 waveforms -> per-class anomaly scores and cosines, (batch, classes) each."""
        wave = np.ascontiguousarray(wave, dtype=np.float32)
        if wave.ndim != 2 or wave.shape[1] != self.num_samples:
            raise ValueError(f"{self.path.name}: expected waveforms of shape (batch, {self.num_samples}), "
                             f"got {tuple(wave.shape)}")
        scores, cosine = self.session.run(None, {"wave": wave})
        return scores, cosine


class TorchScorer:
    """A checkpoint's inference form in PyTorch, with the same ``scores(wave)`` as ``OnnxScorer``. Notebook 08."""

    def __init__(self, net_or_path, threads: int | None = None, *, allow_unsafe_pickle: bool = False):
        net = (net_or_path if isinstance(net_or_path, torch.nn.Module)
               else load_any_checkpoint(net_or_path, allow_unsafe_pickle=allow_unsafe_pickle))
        self.net: InferenceNet = net if isinstance(net, InferenceNet) else inference_form(net)
        self.threads = threads
        cfg = self.net.config
        self.label_map = self.net.label_map
        self.sample_rate, self.num_samples = cfg.sample_rate, cfg.num_samples
        self.num_classes = cfg.num_classes
        self.thresholds = None
        self.metadata = {"label_map": self.label_map, "model_config": json.dumps(cfg.to_dict())}

    @torch.no_grad()
    def scores(self, wave: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(batch, samples) float32 waveforms -> per-class anomaly scores and cosines, (batch, classes) each."""
        previous = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        device = self.net.class_weight.device  # the network's device (CPU or CUDA)
        try:
            scores, cosine = self.net(torch.as_tensor(np.asarray(wave, dtype=np.float32), device=device))
        finally:
            torch.set_num_threads(previous)
        return scores.cpu().numpy(), cosine.cpu().numpy()


def load_scorer(path: str | os.PathLike, threads: int | None = None, *,
                allow_unsafe_pickle: bool = False) -> OnnxScorer | TorchScorer:
    """A scorer for a model file: ``.onnx`` -> ONNX Runtime, a checkpoint -> the PyTorch inference form. Notebook 08."""
    path = Path(path)
    if path.suffix == ".onnx":
        return OnnxScorer(path, threads)
    return TorchScorer(path, threads, allow_unsafe_pickle=allow_unsafe_pickle)
