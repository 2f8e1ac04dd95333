"""The paper's own numbers (Tables 1-4, the Fig. 4 claims) as quoted data, with citations.

Nothing in this module is a result of this project: every value is copied from Neri & Carli,
IEEE Sensors Letters 2024 (DOI 10.1109/LSENS.2024.3480450), and every row says so in its
``source`` column. The rows of the other methods in Tables 1 and 2 are the paper's quotes of
their own papers. Our results are put next to these with ``asdlib.study.report.compare_table``.

Two overall numbers, and what the authors' code says about them:

- The mean of the "Proposed approach" row of Table 1 over the six machine types is
  94.65 AUC / 87.86 pAUC, while Table 2 gives 93.44 / 85.71 as its average. This is not a typo:
  Table 2's number is the authors' *global* AUC, one ROC over all 10,868 development test clips
  pooled together (``roc_auc_score(all_labels, all_errors)`` in their ``training_val_test.py``,
  printed as "Global AUC"), which is also the quantity they chose the checkpoint on and named it
  after (``MWM_93.44_s40_m0.7.ckpt``). Pooling every machine into one ROC compares the scores of
  different machines, so it is lower than the per-type mean. ``table1_row_means`` computes the
  row means; ``asdlib.engine.metrics.global_metrics`` computes the global AUC. Five of the seven other
  methods' rows average to their Table 2 values to within 0.01 (they come from the official
  per-ID protocol, whose overall number is a mean); MobileNetV2 (-0.34 AUC) and Glow-Aff
  (-0.53 AUC, -0.57 pAUC) are off by less.
- The proposed model is 93.44 AUC in Table 2 but 93.43 in Tables 3 and 4.
- The paper cites its reference [3] (MIMII DG, DCASE 2022) for the DCASE 2020 Task 2 data; the
  data's own references are ToyADMOS, MIMII and the task description (``REFERENCES``).

Explained in notebook 04_evaluation (Tables 1-2), 05_ablation (Tables 3-4) and 06_attention (Fig. 4).
"""

from __future__ import annotations

import pandas as pd

PAPER_CITATION = "Neri & Carli, IEEE Sensors Letters 2024"


def _source(what: str) -> str:
    return f"quoted from Neri & Carli 2024, {what}"


#: Full citation strings: the paper, the data, the peers compared in Tables 1-2, the building blocks.
REFERENCES: dict[str, str] = {
    "paper": (
        "M. Neri and M. Carli, \"Low-Complexity Attention-Based Unsupervised Anomalous Sound "
        "Detection Exploiting Separable Convolutions and Angular Loss,\" IEEE Sensors Letters, "
        "vol. 8, 2024, doi: 10.1109/LSENS.2024.3480450."
    ),
    "authors_code": (
        "M. Neri, unsupervised-audio-anomaly-detection (MIT licence), "
        "https://github.com/michaelneri/unsupervised-audio-anomaly-detection, "
        "commit f8eb19635d2d727c242ed16cf5b01030d885158d."
    ),
    "dcase2020_task2": (
        "Y. Koizumi, Y. Kawaguchi, K. Imoto, T. Nakamura, Y. Nikaido, R. Tanabe, H. Purohit, "
        "K. Suefusa, T. Endo, M. Yasuda, and N. Harada, \"Description and Discussion on DCASE2020 "
        "Challenge Task2: Unsupervised Anomalous Sound Detection for Machine Condition "
        "Monitoring,\" in Proc. DCASE 2020 Workshop, 2020, arXiv:2006.05822."
    ),
    "toyadmos": (
        "Y. Koizumi, S. Saito, H. Uematsu, N. Harada, and K. Imoto, \"ToyADMOS: A Dataset of "
        "Miniature-Machine Operating Sounds for Anomalous Sound Detection,\" in Proc. IEEE "
        "Workshop on Applications of Signal Processing to Audio and Acoustics (WASPAA), 2019."
    ),
    "mimii": (
        "H. Purohit, R. Tanabe, K. Ichige, T. Endo, Y. Nikaido, K. Suefusa, and Y. Kawaguchi, "
        "\"MIMII Dataset: Sound Dataset for Malfunctioning Industrial Machine Investigation and "
        "Inspection,\" in Proc. DCASE 2019 Workshop, 2019."
    ),
    "dcase2020_licence": (
        "DCASE 2020 Task 2 data: Creative Commons Attribution-NonCommercial-ShareAlike 4.0 "
        "(CC BY-NC-SA 4.0), NTT Corporation and Hitachi, Ltd."
    ),
    "idnn": (
        "K. Suefusa, T. Nishida, H. Purohit, R. Tanabe, T. Endo, and Y. Kawaguchi, \"Anomalous "
        "sound detection based on interpolation deep neural network,\" in Proc. IEEE ICASSP, "
        "2020, pp. 271-275."
    ),
    "mobilenetv2": (
        "R. Giri, S. V. Tenneti, F. Cheng, K. Helwani, U. Isik, and A. Krishnaswamy, "
        "\"Self-supervised classification for detecting anomalous sounds,\" in Proc. DCASE "
        "2020 Workshop, 2020."
    ),
    "glow_aff": (
        "K. Dohi, T. Endo, H. Purohit, R. Tanabe, and Y. Kawaguchi, \"Flow-based self-supervised "
        "density estimation for anomalous sound detection,\" in Proc. IEEE ICASSP, 2021, "
        "pp. 336-340."
    ),
    "gmm_arcface": (
        "J. Wu, F. Yang, and W. Hu, \"Unsupervised anomalous sound detection for industrial "
        "monitoring based on ArcFace classifier and Gaussian mixture model,\" Applied Acoustics, "
        "vol. 203, 2023, Art. no. 109188."
    ),
    "stgram_mfn": (
        "Y. Liu, J. Guan, Q. Zhu, and W. Wang, \"Anomalous sound detection using "
        "spectral-temporal information fusion,\" in Proc. IEEE ICASSP, 2022, pp. 816-820."
    ),
    "sw_wavenet": (
        "H. Chen, L. Ran, X. Sun, and C. Cai, \"SW-WAVENET: Learning representation from "
        "spectrogram and waveform using WaveNet for anomalous sound detection,\" in Proc. IEEE "
        "ICASSP, 2023, pp. 1-5."
    ),
    "noisy_arcmix": (
        "S. Choi and J. Choi, \"Noisy-ArcMix: Additive noisy angular margin loss combined with "
        "mixup for anomalous sound detection,\" in Proc. IEEE ICASSP, 2024, pp. 516-520."
    ),
    "mobilefacenet": (
        "S. Chen, Y. Liu, X. Gao, and Z. Han, \"MobileFaceNets: Efficient CNNs for accurate "
        "real-time face verification on mobile devices,\" in Proc. Chinese Conference on "
        "Biometric Recognition (CCBR), 2018, pp. 428-438."
    ),
    "arcface": (
        "J. Deng, J. Guo, N. Xue, and S. Zafeiriou, \"ArcFace: Additive angular margin loss for "
        "deep face recognition,\" in Proc. IEEE/CVF CVPR, 2019, pp. 4685-4694."
    ),
    "mixup": (
        "H. Zhang, M. Cisse, Y. N. Dauphin, and D. Lopez-Paz, \"mixup: Beyond empirical risk "
        "minimization,\" in Proc. ICLR, 2018."
    ),
    "panns": (
        "Q. Kong, Y. Cao, T. Iqbal, Y. Wang, W. Wang, and M. D. Plumbley, \"PANNs: Large-scale "
        "pretrained audio neural networks for audio pattern recognition,\" IEEE/ACM Trans. "
        "Audio, Speech, Lang. Process., vol. 28, pp. 2880-2894, 2020."
    ),
}

# Methods of Tables 1 and 2, in the paper's row order: (name, short citation with the paper's
# reference number, key in REFERENCES).
_METHODS = (
    ("IDNN", "[13] Suefusa et al., ICASSP 2020", "idnn"),
    ("MobileNetV2", "[16] Giri et al., DCASE 2020", "mobilenetv2"),
    ("Glow-Aff", "[14] Dohi et al., ICASSP 2021", "glow_aff"),
    ("GMM + Arcface", "[10] Wu et al., Appl. Acoust. 2023", "gmm_arcface"),
    ("STgram-MFN", "[18] Liu et al., ICASSP 2022", "stgram_mfn"),
    ("SW-WaveNet", "[2] Chen et al., ICASSP 2023", "sw_wavenet"),
    ("Noisy-ArcMix", "[20] Choi & Choi, ICASSP 2024", "noisy_arcmix"),
    ("Proposed approach (paper)", "Neri & Carli, IEEE Sens. Lett. 2024", "paper"),
)

#: Column order of Table 1 (machine types spelled as in ``asdlib.data.dcase.MACHINE_TYPES``).
TABLE1_MACHINE_TYPES = ("fan", "pump", "slider", "valve", "ToyCar", "ToyConveyor")

# Table 1, as printed: per method, (AUC, pAUC) per machine type in TABLE1_MACHINE_TYPES order.
_TABLE1 = {
    "IDNN": [(67.71, 52.90), (73.76, 61.07), (86.45, 67.58), (84.09, 64.94), (78.69, 69.22), (71.07, 59.70)],
    "MobileNetV2": [(80.19, 74.40), (82.53, 76.50), (95.27, 85.22), (88.65, 87.98), (87.66, 85.92), (69.71, 56.43)],
    "Glow-Aff": [(74.90, 65.30), (83.40, 73.80), (94.60, 82.80), (91.40, 75.00), (92.20, 84.10), (71.50, 59.00)],
    "GMM + Arcface": [(87.97, 80.66), (95.63, 85.74), (99.22, 97.55), (91.26, 84.00), (95.28, 86.91), (69.80, 61.21)],
    "STgram-MFN": [(94.04, 88.97), (91.94, 81.75), (99.55, 97.61), (99.64, 98.44), (94.44, 87.68), (74.57, 63.60)],
    "SW-WaveNet": [(97.53, 91.54), (87.27, 82.68), (98.96, 94.58), (99.01, 97.26), (95.49, 90.20), (81.20, 68.20)],
    "Noisy-ArcMix": [(98.32, 95.34), (95.44, 85.99), (99.53, 97.50), (99.95, 99.74), (96.76, 90.11), (77.90, 67.15)],
    "Proposed approach (paper)": [(95.10, 87.25), (91.97, 80.00), (99.24, 96.10), (99.99, 99.96), (96.99, 90.30), (84.59, 73.55)],
}

# Table 2, as printed: parameters (string), average AUC, average pAUC.
_TABLE2 = {
    "IDNN": ("46 k", 76.96, 62.57),
    "MobileNetV2": ("1.1 M", 84.34, 77.74),
    "Glow-Aff": ("30 M", 85.20, 73.90),
    "GMM + Arcface": ("1 M", 89.86, 82.68),
    "STgram-MFN": ("1.1 M", 92.36, 86.34),
    "SW-WaveNet": ("27 M", 93.25, 87.41),
    "Noisy-ArcMix": ("1.1 M", 94.65, 89.31),
    "Proposed approach (paper)": ("884 k", 93.44, 85.71),
}

#: Mean of Table 1's "Proposed approach" row, rounded to 2 decimals (computed by ``table1_row_means``).
TABLE1_PROPOSED_ROW_MEAN_NOTE = (
    "The mean of Table 1's 'Proposed approach' row over the six machine types is 94.65 AUC / "
    "87.86 pAUC; Table 2's 93.44 / 85.71 is a different quantity, the global AUC/pAUC (one ROC "
    "over all test clips), which the authors' code prints as 'Global AUC' and selects the "
    "checkpoint on."
)


def parse_parameters(text: str) -> int:
    """Turn a parameter count as printed in the paper ("884 k", "1.1 M") into an integer. Notebook 05."""
    number, _, unit = text.strip().partition(" ")
    scale = {"": 1, "k": 1_000, "K": 1_000, "M": 1_000_000}[unit.strip()]
    return int(round(float(number) * scale))


def paper_table1() -> pd.DataFrame:
    """Table 1 (AUC/pAUC in % per machine type and method) as a tidy table of quoted values. Notebook 04."""
    rows = []
    for method, citation, ref in _METHODS:
        for mt, (auc, pauc) in zip(TABLE1_MACHINE_TYPES, _TABLE1[method]):
            rows.append({"method": method, "citation": citation, "reference": ref,
                         "machine_type": mt, "auc": auc, "pauc": pauc,
                         "source": _source("Table 1")})
    return pd.DataFrame(rows)


def paper_table1_wide() -> pd.DataFrame:
    """Table 1 laid out as printed: one row per method, AUC and pAUC columns per machine type. Notebook 04."""
    long = paper_table1()
    wide = long.pivot(index="method", columns="machine_type", values=["auc", "pauc"])
    wide = wide.reindex(index=[m for m, _, _ in _METHODS])
    cols = [(v, mt) for mt in TABLE1_MACHINE_TYPES for v in ("auc", "pauc")]
    wide = wide[cols]
    wide.columns = [f"{mt} {v.upper() if v == 'auc' else 'pAUC'} [%]" for v, mt in cols]
    return wide.reset_index()


def paper_table2() -> pd.DataFrame:
    """Table 2 (parameters, average AUC/pAUC in % per method) as quoted values. Notebook 04."""
    rows = []
    for method, citation, ref in _METHODS:
        params, auc, pauc = _TABLE2[method]
        rows.append({"method": method, "citation": citation, "reference": ref,
                     "parameters": params, "parameters_approx": parse_parameters(params),
                     "auc": auc, "pauc": pauc, "source": _source("Table 2")})
    return pd.DataFrame(rows)


def paper_table3() -> pd.DataFrame:
    """Table 3 (feature study and ArcFace dimension h study, AUC/pAUC in %) as quoted values. Notebook 05.

    ``features_key`` is the matching ``asdlib.nets.model.ModelConfig.features`` value.
    """
    rows = [
        ("[X_Mel]", "mel", 128, 92.26, 84.55, "feature"),
        ("[X_Wav]", "wave", 128, 63.48, 54.12, "feature"),
        ("[X_Mel, X_Wav]", "mel+wave", 256, 90.87, 83.94, "dimensionality"),
        ("[X_Mel, X_Wav]", "mel+wave", 64, 91.94, 85.00, "dimensionality"),
        ("[X_Mel, X_Wav]", "mel+wave", 128, 93.43, 85.71, "dimensionality"),
    ]
    df = pd.DataFrame(rows, columns=["features", "features_key", "h", "auc", "pauc", "study"])
    df["source"] = _source("Table 3")
    return df


def paper_table4() -> pd.DataFrame:
    """Table 4 (ablation: separable convolutions and attention, AUC/pAUC in %) as quoted values. Notebook 05.

    ``separable`` and ``attention`` are the matching ``asdlib.nets.model.ModelConfig`` settings.
    """
    rows = [
        ("w/o separable convs., w/o f_ATT", "1 M", False, False, 90.50, 83.62),
        ("w/o separable convs.", "1 M", False, True, 92.25, 84.82),
        ("w/o f_ATT", "882 k", True, False, 91.72, 84.52),
        ("Proposed approach", "884 k", True, True, 93.43, 85.71),
    ]
    df = pd.DataFrame(rows, columns=["method", "parameters", "separable", "attention", "auc", "pauc"])
    df["parameters_approx"] = df["parameters"].map(parse_parameters)
    df["source"] = _source("Table 4")
    return df[["method", "parameters", "parameters_approx", "separable", "attention", "auc",
               "pauc", "source"]]


def table1_row_means() -> pd.DataFrame:
    """Mean of each method's Table 1 row next to its Table 2 average, with the difference. Notebook 04.

    For the proposed approach the row mean is 94.65 / 87.86; Table 2's 93.44 / 85.71 is its
    global AUC/pAUC (one ROC over all test clips), a different quantity.
    """
    t1 = paper_table1().groupby("method", sort=False)[["auc", "pauc"]].mean()
    t2 = paper_table2().set_index("method")[["auc", "pauc"]]
    out = pd.DataFrame({
        "auc_table1_mean": t1["auc"], "auc_table2": t2["auc"],
        "pauc_table1_mean": t1["pauc"], "pauc_table2": t2["pauc"],
    })
    out["auc_diff"] = out["auc_table1_mean"] - out["auc_table2"]
    out["pauc_diff"] = out["pauc_table1_mean"] - out["pauc_table2"]
    out = out[["auc_table1_mean", "auc_table2", "auc_diff",
               "pauc_table1_mean", "pauc_table2", "pauc_diff"]]
    return out.reset_index()


#: What the paper says about Fig. 4 (Section III-A), as quoted claims to check against our maps.
PAPER_FIG4_CLAIMS: dict = {
    "source": _source("Section III-A, Fig. 4"),
    "quote": (
        "the most important frequency bins for the identification of anomalies, i.e., ID "
        "misclassification, are contained in the range [1.7, 8] kHz of the log-Mel spectrogram. "
        "In addition, the range [0, 71] Hz is also relevant. The rest of the log-Mel spectrogram "
        "[0.071, 1.7] kHz is assigned a value of 0.5 with zero variance"
    ),
    #: (low Hz, high Hz, label) of the bands the paper calls important.
    "important_bands_hz": [(1700.0, 8000.0, "[1.7, 8] kHz"), (0.0, 71.0, "[0, 71] Hz")],
    #: The band the paper says is "assigned a value of 0.5 with zero variance".
    "flat_band_hz": (71.0, 1700.0, "[0.071, 1.7] kHz"),
    "flat_band_value": 0.5,
    "flat_band_std": 0.0,
    "note": (
        "In the authors' network the attention module's last separable layer ends in "
        "BatchNorm -> ReLU before the sigmoid, so no attention value can be below 0.5; a value "
        "of exactly 0.5 with zero variance is the ReLU clipping to 0, not a learned preference "
        "(see notebook 06_attention)."
    ),
}


def fig4_bands() -> list[tuple[float, float, str]]:
    """The Fig. 4 bands as (low Hz, high Hz, label) for ``asdlib.teaching.plots.plot_attention_stats``. Notebook 06."""
    lo, hi, label = PAPER_FIG4_CLAIMS["flat_band_hz"]
    return [*PAPER_FIG4_CLAIMS["important_bands_hz"], (lo, hi, label + " (paper: 0.5, zero variance)")]
