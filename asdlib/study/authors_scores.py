"""The authors' released test-set score arrays: verified loading and our metrics computed on them.

The authors' repository (commit f8eb1963..., folder ``other_data/``, MIT licence) holds the
anomaly scores of one of their models for all 10,868 clips of the DCASE 2020 Task 2 development
test set, with the clips' anomaly labels and class indices (their label map). A byte-exact copy
is bundled in ``data/authors-score-arrays/`` with the licence; this module checks each file's
SHA-256 before reading it. It is a real-data tier that needs no download and no training:
the authors' pooled Table 1, their global AUC and the official per-ID table, in seconds.

What the arrays turn out to be (tested): a global AUC of 63.48, so not the paper's model (93.44),
but the value of Table 3's Wavegram-only row (63.48 / 54.12; our pAUC 54.1287 truncated), which
the authors' script would have saved from that run's selected checkpoint (an inference);
per-class counts equal to the DCASE development test counts; class 13 holding the 658 clips of
pump id_06 and slider id_00 together (the label-map collision). The clips are stored in a
shuffled order without file names, so the clips of class 13 cannot be split into the two
machines: the official per-ID table shows class 13 as one merged row and leaves it out of the
pump and slider means.
Explained in notebook 04_evaluation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from asdlib.data.dcase import MACHINE_TYPES, PAPER_OFFSETS, PAPER_TYPE_MASKS, class_index, expected_file_counts
from asdlib.data.download import file_digest
from asdlib.paths import AUTHORS_SCORES_DIR
from asdlib.engine.metrics import auc_pauc, global_metrics, official_metrics, pooled_metrics

#: The five files, the array each holds and its SHA-256 (paper-facts section 7).
AUTHORS_SCORE_FILES: dict[str, str] = {
    "all_labels.npz": "530c83a6d4137b172dfa250b7c93ea6eb00179ce890edd1f17a4a24af890dca2",
    "allerrors.npz": "8809f51cfdfe354ff138cb1ddcc54312f135b52ead5fe902693baf1a5ef7ee40",
    "metadata.npz": "e1bebf6faf2689475ffb8100d9fd9390f8ed6b57cd453e34fbe09881bb32e8e8",
    "anomalouserrors.npz": "d09b9f361d9562c9f3f44e73e0f8861c6ed11824faef50f1e8d0f6321e380746",
    "cleanerrors.npz": "d4d8b54bab071ac3ce6f3f2692aef71eda2d11148f862073225dc25f18e6cfac",
}
#: Where the arrays come from.
AUTHORS_SCORES_SOURCE = ("github.com/michaelneri/unsupervised-audio-anomaly-detection, commit "
                         "f8eb19635d2d727c242ed16cf5b01030d885158d, other_data/ (MIT licence)")
#: The class that holds two machines under the authors' label map.
COLLIDING_CLASS = class_index("pump", "06", "paper")
#: How the merged class is named in our tables.
MERGED_LABEL = ("pump+slider", "06+00")


class AuthorsScoresError(ValueError):
    """A score array is missing, altered (wrong SHA-256) or inconsistent with the others."""


def verify_authors_scores(folder: str | Path = AUTHORS_SCORES_DIR) -> dict[str, str]:
    """Check the SHA-256 of the five score files; an error names the missing or altered file. Notebook 04."""
    folder = Path(folder)
    found = {}
    for name, want in AUTHORS_SCORE_FILES.items():
        path = folder / name
        if not path.is_file():
            raise AuthorsScoresError(f"{path}: missing; the authors' score arrays ship in "
                                     f"{AUTHORS_SCORES_DIR} (from {AUTHORS_SCORES_SOURCE})")
        got = file_digest(path, "sha256")
        if got != want:
            raise AuthorsScoresError(f"{path}: SHA-256 {got} differs from the released file's "
                                     f"{want}; restore it from {AUTHORS_SCORES_SOURCE}")
        found[name] = got
    return found


def _array(folder: Path, name: str) -> np.ndarray:
    with np.load(folder / name, allow_pickle=False) as npz:
        if list(npz.files) != ["arr_0"]:
            raise AuthorsScoresError(f"{folder / name}: expected one array 'arr_0', found {npz.files}")
        return npz["arr_0"]


def _machine_of_class(c: int) -> tuple[str, str]:
    """(machine type, ID) of a paper-map class index; the colliding class gets the merged label."""
    if c == COLLIDING_CLASS:
        return MERGED_LABEL
    for mt, (lo, hi) in PAPER_TYPE_MASKS.items():
        if lo <= c <= hi:
            return mt, f"{c - PAPER_OFFSETS[mt]:02d}"
    raise AuthorsScoresError(f"class index {c} is outside the authors' label map (0-40)")


def load_authors_scores(folder: str | Path = AUTHORS_SCORES_DIR) -> pd.DataFrame:
    """The authors' 10,868 test-clip scores as a table (class_index, machine_type, machine_id, anomaly, score). Notebook 04.

    The SHA-256 of every file is checked first, and the two split arrays (``cleanerrors``,
    ``anomalouserrors``) must equal ``allerrors`` split by label. Class 13 (pump id_06 + slider
    id_00) gets machine_type ``"pump+slider"`` and machine_id ``"06+00"``.
    """
    folder = Path(folder)
    verify_authors_scores(folder)
    labels = _array(folder, "all_labels.npz")
    scores = _array(folder, "allerrors.npz")
    classes = _array(folder, "metadata.npz")
    if not (labels.shape == scores.shape == classes.shape):
        raise AuthorsScoresError(f"{folder}: arrays differ in length: labels {labels.shape}, "
                                 f"scores {scores.shape}, classes {classes.shape}")
    for name, want in (("anomalouserrors.npz", 1), ("cleanerrors.npz", 0)):
        part = _array(folder, name)
        if not np.array_equal(scores[labels == want].astype(np.float64), part):
            raise AuthorsScoresError(f"{folder / name}: does not equal allerrors at label {want}")
    machines = [_machine_of_class(int(c)) for c in classes]
    return pd.DataFrame({
        "class_index": classes.astype(int),
        "machine_type": [m for m, _ in machines],
        "machine_id": [i for _, i in machines],
        "anomaly": labels.astype(int),
        "score": scores.astype(np.float64),
    })


def class_counts(scores: pd.DataFrame) -> pd.DataFrame:
    """Clips per paper-map class in the arrays beside the DCASE development test counts. Notebook 04.

    Columns: class_index, machines (the development test IDs with that class), expected_normal,
    expected_anomaly, normal, anomaly, match.
    """
    exp = expected_file_counts()
    exp = exp[(exp["dataset"] == "development") & (exp["split"] == "test")].copy()
    exp["class_index"] = [class_index(t, i, "paper") for t, i in zip(exp["machine_type"], exp["machine_id"])]
    exp["machine"] = exp["machine_type"] + " " + exp["machine_id"]
    expected = exp.pivot_table(index="class_index", columns="label", values="files", aggfunc="sum",
                               fill_value=0)
    machines = exp.groupby("class_index")["machine"].agg(lambda m: " + ".join(sorted(set(m))))
    found = (scores.assign(label=np.where(scores["anomaly"] == 1, "anomaly", "normal"))
             .pivot_table(index="class_index", columns="label", values="score", aggfunc="size",
                          fill_value=0))
    out = pd.DataFrame({"machines": machines,
                        "expected_normal": expected.get("normal"),
                        "expected_anomaly": expected.get("anomaly"),
                        "normal": found.get("normal"), "anomaly": found.get("anomaly")})
    out = out.fillna(0).astype({c: int for c in out.columns if c != "machines"})
    out["match"] = (out["expected_normal"] == out["normal"]) & (out["expected_anomaly"] == out["anomaly"])
    return out.reset_index()


def authors_scores_tables(scores: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """Our metrics on the authors' arrays: pooled Table 1, global AUC, official per-ID/per-type, class counts. Notebook 04.

    - ``pooled``: the authors' protocol (one ROC per type by class-index masks; class 13 pooled
      into "slider", as in their code), with ``average`` and ``all_clips`` rows;
    - ``global``: one ROC over all 10,868 clips (their "Global AUC");
    - ``per_id``: the official per-ID AUC/pAUC, class 13 as one merged row (``pump+slider``);
    - ``per_type``: official per-type means over the separable IDs (pump and slider without
      class 13, so three IDs each), then their mean;
    - ``class_counts``: see ``class_counts``.
    """
    scores = load_authors_scores() if scores is None else scores
    merged = scores["class_index"] == COLLIDING_CLASS
    # The pooled masks only look at the class index; name class 13 as a slider so the table builds.
    as_slider = scores.copy()
    as_slider.loc[merged, ["machine_type", "machine_id"]] = ["slider", "00"]
    pooled = pooled_metrics(as_slider)
    pooled["ids"] = pooled["ids"].str.replace("slider 00", "pump 06 + slider 00 (class 13)", regex=False)
    official = official_metrics(scores[~merged])
    m = scores[merged]
    merged_row = pd.DataFrame()
    if len(m):
        auc, pauc = auc_pauc(m["anomaly"], m["score"], group="class 13 (pump 06 + slider 00)")
        n_anomaly = int(m["anomaly"].sum())
        merged_row = pd.DataFrame([{"machine_type": MERGED_LABEL[0], "machine_id": MERGED_LABEL[1],
                                    "auc": auc, "pauc": pauc, "n_normal": len(m) - n_anomaly,
                                    "n_anomaly": n_anomaly}])
    per_id = pd.concat([official["per_id"], merged_row], ignore_index=True)
    order = {t: i for i, t in enumerate((*MACHINE_TYPES, MERGED_LABEL[0]))}
    per_id = per_id.sort_values(["machine_type", "machine_id"],
                                key=lambda c: c.map(order) if c.name == "machine_type" else c)
    return {"pooled": pooled, "global": global_metrics(scores),
            "per_id": per_id.reset_index(drop=True), "per_type": official["per_type"],
            "class_counts": class_counts(scores)}
