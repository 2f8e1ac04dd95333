"""Decision thresholds per machine ID, fitted on the anomaly scores of the normal training clips.

A detector gives a score; a monitor needs a yes/no. As the DCASE baselines from 2021 on do, the
scores of the normal training clips of one machine are modelled by a gamma distribution
(``scipy.stats.gamma.fit``: shape, location and scale all fitted) and the threshold is its
quantile at ``percentile`` (0.9 in those baselines): about 10 % of normal clips would be flagged.
``method="quantile"`` takes the empirical quantile of the scores instead, for comparison.
A clip is ``anomalous`` when its score is above its machine's threshold (``decide``).

Thresholds are keyed ``"<machine_type>/<machine_id>"`` (e.g. ``"fan/00"``), as stored in an
exported model's metadata. Explained in notebook 08_deployment.
"""

from __future__ import annotations

import math
import os
import warnings

import numpy as np
import pandas as pd
import scipy.stats
from asdlib.data.dataset import add_class_index, scan_dataset
from asdlib.engine.evaluate import score_clips

__all__ = ["ThresholdError", "METHODS", "MIN_SCORES", "machine_key", "fit_gamma",
           "gamma_thresholds", "fit_thresholds", "threshold_info", "thresholds_at", "decide",
           "training_scores"]

#: How a threshold is derived from the normal scores of one machine.
METHODS = ("gamma", "quantile")
#: Fewest normal scores of one machine a threshold is fitted on (three parameters for a gamma).
MIN_SCORES = 3


class ThresholdError(ValueError):
    """Scores or settings from which no decision threshold can be fitted. Notebook 08."""


def machine_key(machine_type: str, machine_id: str) -> str:
    """The key of one machine in a threshold table: ``"<machine_type>/<machine_id>"``. Notebook 08."""
    return f"{machine_type}/{machine_id}"


def _check_percentile(percentile: float) -> float:
    try:
        p = float(percentile)
    except (TypeError, ValueError):
        raise ThresholdError(f"threshold percentile {percentile!r}: expected a number in (0, 1), "
                             "e.g. 0.9") from None
    if not 0.0 < p < 1.0:
        raise ThresholdError(f"threshold percentile {percentile!r}: must lie strictly between 0 "
                             "and 1 (a fraction, e.g. 0.9 for the 90th percentile)")
    return p


def _scores_per_machine(scores: pd.DataFrame) -> dict[str, np.ndarray]:
    """Sorted, checked float64 scores per machine key (sorted: the fit does not depend on row order)."""
    missing = [c for c in ("machine_type", "machine_id", "score") if c not in scores.columns]
    if missing:
        raise ThresholdError(f"score table lacks column(s) {missing}; expected machine_type, "
                             "machine_id, score (as training_scores returns)")
    if len(scores) == 0:
        raise ThresholdError("score table is empty: no normal training scores to fit thresholds on")
    out = {}
    for (mt, mid), group in scores.groupby(["machine_type", "machine_id"], sort=True):
        key = machine_key(str(mt), str(mid))
        values = np.sort(pd.to_numeric(group["score"], errors="coerce").to_numpy(dtype=np.float64))
        if not np.all(np.isfinite(values)):
            raise ThresholdError(f"{key}: {int((~np.isfinite(values)).sum())} of its scores are "
                                 "not finite numbers (NaN or inf); rescore the training clips")
        if len(values) < MIN_SCORES:
            raise ThresholdError(f"{key}: only {len(values)} normal score(s); a threshold needs at "
                                 f"least {MIN_SCORES} (hundreds for a trustworthy one)")
        if values[0] == values[-1]:
            raise ThresholdError(f"{key}: all {len(values)} scores equal {float(values[0])!r}; no "
                                 "distribution can be fitted (is the model trained?)")
        out[key] = values
    return out


def fit_gamma(scores: pd.DataFrame) -> dict[str, tuple[float, float, float]]:
    """Gamma parameters (shape a, loc, scale) of the normal scores of each machine, by ``scipy.stats.gamma.fit``. Notebook 08."""
    params = {}
    for key, values in _scores_per_machine(scores).items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the optimiser's overflow probes
            a, loc, scale = scipy.stats.gamma.fit(values)
        if not all(math.isfinite(v) for v in (a, loc, scale)) or a <= 0 or scale <= 0:
            raise ThresholdError(f"{key}: the gamma fit failed (a={a}, loc={loc}, scale={scale}); "
                                 "use method='quantile'")
        params[key] = (float(a), float(loc), float(scale))
    return params


def gamma_thresholds(params: dict[str, tuple[float, float, float]], percentile: float = 0.9
                     ) -> dict[str, float]:
    """Threshold per machine: the ``percentile`` quantile (``gamma.ppf``) of its fitted gamma. Notebook 08."""
    p = _check_percentile(percentile)
    return {key: float(scipy.stats.gamma.ppf(p, a, loc=loc, scale=scale))
            for key, (a, loc, scale) in sorted(params.items())}


def fit_thresholds(scores: pd.DataFrame, percentile: float = 0.9, method: str = "gamma"
                   ) -> dict[str, float]:
    """Decision threshold per machine ID from its normal training scores (gamma fit or empirical quantile). Notebook 08.

    ``scores`` has columns machine_type, machine_id, score (one row per normal training clip).
    Returns ``{"<type>/<id>": threshold}``. The same scores, in any row order, give the same
    thresholds.
    """
    p = _check_percentile(percentile)
    if method == "gamma":
        return gamma_thresholds(fit_gamma(scores), p)
    if method == "quantile":
        return {key: float(np.quantile(values, p))
                for key, values in _scores_per_machine(scores).items()}
    raise ThresholdError(f"threshold method {method!r}: expected one of {METHODS}")


def threshold_info(scores: pd.DataFrame, percentile: float, method: str, **extra) -> dict:
    """How thresholds were fitted, to store beside them: method, percentile, clips, and the gamma parameters. Notebook 08.

    With the gamma parameters kept (``"gamma": {"<type>/<id>": [a, loc, scale]}``),
    ``thresholds_at`` can move the thresholds to another percentile without rescoring.
    """
    info = {"method": method, "percentile": _check_percentile(percentile), "clips": int(len(scores))}
    if method == "gamma":
        info["gamma"] = {k: list(v) for k, v in fit_gamma(scores).items()}
    info.update(extra)
    return info


def thresholds_at(info: dict, percentile: float) -> dict[str, float]:
    """Thresholds at another percentile from a ``threshold_info`` that holds gamma parameters. Notebook 08."""
    params = (info or {}).get("gamma")
    if not params:
        raise ThresholdError("the stored threshold information holds no gamma parameters, so the "
                             "percentile cannot be changed without the training scores; refit "
                             "them from the normal training clips (e.g. monitor --train-root DIR)")
    return gamma_thresholds({k: tuple(v) for k, v in params.items()}, percentile)


def decide(score: float, threshold: float | None) -> str:
    """``anomalous`` when the score is above the threshold, ``normal`` otherwise, ``unknown`` without a threshold. Notebook 08."""
    if threshold is None:
        return "unknown"
    return "anomalous" if score > threshold else "normal"


def training_scores(scorer, data_root: str | os.PathLike, machine_types=None, *,
                    max_clips_per_id: int | None = None, batch_size: int = 16,
                    progress: bool = False) -> pd.DataFrame:
    """Anomaly scores of the normal training clips under ``<data_root>/<type>/train`` (columns machine_type, machine_id, file_name, path, score). Notebook 08.

    ``scorer`` is a model of ``export.load_scorer``. ``max_clips_per_id`` keeps that many clips
    of each machine, evenly spread over its sorted file list (a quicker, still deterministic fit).
    """
    clips = scan_dataset(data_root, machine_types=machine_types, splits=("train",))
    clips = clips[clips["label"] == "normal"]
    if max_clips_per_id is not None:
        if int(max_clips_per_id) < MIN_SCORES:
            raise ThresholdError(f"max_clips_per_id={max_clips_per_id}: need at least {MIN_SCORES}")
        keep = []
        for _, group in clips.groupby(["machine_type", "machine_id"], sort=True):
            n = min(len(group), int(max_clips_per_id))
            keep.extend(group.index[np.unique(np.linspace(0, len(group) - 1, n).round().astype(int))])
        clips = clips[clips.index.isin(keep)]
    clips = add_class_index(clips.reset_index(drop=True), scorer.label_map)
    scored = score_clips(scorer, clips, batch_size=batch_size, progress=progress)
    return scored[["machine_type", "machine_id", "file_name", "path", "score"]].reset_index(drop=True)
