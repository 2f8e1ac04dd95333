"""Quoted paper numbers, figure/table saving, plots and REPORT.md (fast, no data, no training)."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pandas as pd
import pytest

from asdlib.study import paper_numbers as pn
from asdlib.teaching import plots
from asdlib.outputs import profile_banner, save_fig, save_table
from asdlib.outputs import format_duration
from asdlib.study.report import run_metadata, write_report
from asdlib.study.tables import compare_table


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


# --------------------------------------------------------------------------- paper numbers

def test_table1_shape_and_values():
    t1 = pn.paper_table1()
    assert len(t1) == 8 * 6
    assert t1["method"].nunique() == 8 and t1["machine_type"].nunique() == 6
    assert "Proposed approach (paper)" in set(t1["method"])
    assert (t1["source"] == "quoted from Neri & Carli 2024, Table 1").all()
    row = t1[(t1.method == "Proposed approach (paper)") & (t1.machine_type == "ToyConveyor")].iloc[0]
    assert (row.auc, row.pauc) == (84.59, 73.55)
    idnn = t1[t1.method == "IDNN"].iloc[0]
    assert idnn.citation == "[13] Suefusa et al., ICASSP 2020"
    assert t1["auc"].between(0, 100).all() and t1["pauc"].between(0, 100).all()
    wide = pn.paper_table1_wide()
    assert wide.shape == (8, 13)


def test_table2_to_4():
    t2 = pn.paper_table2()
    assert len(t2) == 8
    prop = t2.set_index("method").loc["Proposed approach (paper)"]
    assert (prop.auc, prop.pauc, prop.parameters, prop.parameters_approx) == (93.44, 85.71, "884 k", 884_000)
    assert t2.set_index("method").loc["IDNN", "parameters_approx"] == 46_000
    assert t2.set_index("method").loc["STgram-MFN", "parameters_approx"] == 1_100_000

    t3 = pn.paper_table3()
    assert len(t3) == 5 and set(t3.study) == {"feature", "dimensionality"}
    assert t3[(t3.features_key == "wave")].auc.item() == 63.48
    assert t3[(t3.features_key == "mel+wave") & (t3.h == 128)].auc.item() == 93.43

    t4 = pn.paper_table4().set_index("parameters")
    assert len(t4) == 4
    assert t4.loc["882 k", "auc"] == 91.72 and t4.loc["882 k", "attention"] == False  # noqa: E712


def test_table1_row_means_differ_from_table2_global_auc():
    means = pn.table1_row_means().set_index("method")
    prop = means.loc["Proposed approach (paper)"]
    assert round(prop.auc_table1_mean, 2) == 94.65
    assert round(prop.pauc_table1_mean, 2) == 87.86
    assert prop.auc_table2 == 93.44 and prop.pauc_table2 == 85.71
    # the other exact-averaging peers agree with Table 2 to rounding
    assert abs(means.loc["STgram-MFN", "auc_diff"]) < 0.01


def test_fig4_claims_and_references():
    claims = pn.PAPER_FIG4_CLAIMS
    assert (1700.0, 8000.0) == claims["important_bands_hz"][0][:2]
    assert (0.0, 71.0) == claims["important_bands_hz"][1][:2]
    assert claims["flat_band_value"] == 0.5 and claims["flat_band_std"] == 0.0
    assert len(pn.fig4_bands()) == 3
    assert "10.1109/LSENS.2024.3480450" in pn.REFERENCES["paper"]
    assert "2006.05822" in pn.REFERENCES["dcase2020_task2"]
    for key in ("toyadmos", "mimii", "stgram_mfn", "noisy_arcmix", "mobilefacenet", "arcface", "mixup", "panns"):
        assert pn.REFERENCES[key]


# --------------------------------------------------------------------------- outputs

def test_profile_banner():
    assert "NOT comparable" in profile_banner("smoke")
    assert profile_banner("paper") == "Profile: paper \u2014 full DCASE 2020 Task 2 data"


def test_save_fig_writes_png_and_pdf(tmp_path):
    fig = plots.plot_waveform(np.sin(np.linspace(0, 100, 1600)), sample_rate=16000)
    paths = save_fig(fig, "fig_test", tmp_path)
    assert [p.name for p in paths] == ["fig_test.png", "fig_test.pdf"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths[1].read_bytes()[:5] == b"%PDF-"
    assert all(p.parent == tmp_path / "figures" for p in paths)
    assert not list((tmp_path / "figures").glob("*.tmp"))


def test_save_table_round_trips(tmp_path):
    df = pd.DataFrame({"machine_type": ["fan", "pump"], "auc": [95.1234, np.nan], "n": [3, 4],
                       "note": ["50 % & co_x", "ok"]})
    before = df.copy()
    csv, md, tex = save_table(df, "t_test", tmp_path, caption="Table X \u2014 smoke")
    pd.testing.assert_frame_equal(pd.read_csv(csv), df)
    pd.testing.assert_frame_equal(df, before)  # the caller's frame is untouched
    text = md.read_text()
    assert text.splitlines()[0] == "Table X \u2014 smoke" and "95.12" in text and "95.1234" not in text
    latex = tex.read_text()
    assert r"\begin{tabular}" in latex and r"50 \% \& co\_x" in latex and "95.12" in latex
    assert r"\caption{Table X --- smoke}" in latex
    with pytest.raises(ValueError):
        save_table(df, "../escape", tmp_path)


def test_save_table_keeps_named_index(tmp_path):
    df = pn.table1_row_means().set_index("method")
    csv, _, _ = save_table(df, "means", tmp_path)
    back = pd.read_csv(csv)
    assert back.columns[0] == "method" and len(back) == 8


# --------------------------------------------------------------------------- plots

def _scores(rng):
    rows = [(mt, a, rng.normal(a, 1.0)) for mt in ("fan", "pump", "valve") for a in (0, 1) for _ in range(40)]
    return pd.DataFrame(rows, columns=["machine_type", "anomaly", "score"])


def test_plots_return_figures():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(2, 128, 40))
    att = 0.5 + 0.5 * rng.uniform(size=(2, 128, 40))
    cases = [
        (plots.plot_pipeline(), 1),
        (plots.plot_features(feats, title="x"), 4),              # 2 panels + 2 colorbars
        (plots.plot_features(feats[0]), 2),                      # one channel
        (plots.plot_attention_maps(att), 3),                     # 2 panels + shared colorbar
        (plots.plot_attention_stats(att[0].mean(1), att[0].std(1), None, bands=pn.fig4_bands()), 2),
        (plots.plot_attention_stats(att[0], att[0] * 0.1, plots.htk_mel_centres_hz(128)), 4),
        (plots.plot_roc_curves(_scores(rng)), 1),
        (plots.plot_score_histograms(_scores(rng)), 3),
        (plots.plot_waveform(rng.normal(size=800), 16000), 1),
    ]
    for fig, n_axes in cases:
        assert isinstance(fig, matplotlib.figure.Figure)
        assert len(fig.axes) == n_axes


def test_plot_features_accepts_torch_batch():
    torch = pytest.importorskip("torch")
    fig = plots.plot_features(torch.zeros(1, 2, 128, 10))
    assert len(fig.axes) == 4


def test_plot_training_curves_with_nans():
    log = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [3.0, 2.0, 1.0],
                        "val_loss": [np.nan, 2.5, np.nan], "val_acc": [0.2, np.nan, 0.6],
                        "train_acc": [0.1, 0.3, 0.5],
                        "lr": [1e-4, 9e-5, 8e-5]})
    assert len(plots.plot_training_curves(log).axes) == 3   # loss, accuracy, lr twin
    assert len(plots.plot_training_curves(log[["epoch", "train_loss"]]).axes) == 2


def test_mel_positions():
    hz = plots.htk_mel_centres_hz(128)
    pos = plots._mel_position([hz[0], hz[64], 0.0, 1e6], hz)
    assert pos[0] == pytest.approx(0) and pos[1] == pytest.approx(64)
    assert pos[2] == -0.5 and pos[3] == 127.5


# --------------------------------------------------------------------------- report

def test_compare_table():
    paper = pn.paper_table1()
    paper = paper[paper.method == "Proposed approach (paper)"]
    ours = pd.DataFrame({"machine_type": ["valve", "fan", "extra"], "auc": [90.0, 95.10, 50.0],
                         "pauc": [80.0, 88.25, 50.0]})
    cmp = compare_table(paper, ours, on="machine_type")
    assert list(cmp.columns) == ["machine_type", "auc_paper", "auc_ours", "auc_diff",
                                 "pauc_paper", "pauc_ours", "pauc_diff"]
    assert list(cmp.machine_type) == ["fan", "pump", "slider", "valve", "ToyCar", "ToyConveyor", "extra"]
    c = cmp.set_index("machine_type")
    assert c.loc["valve", "auc_diff"] == pytest.approx(90.0 - 99.99)
    assert c.loc["fan", "auc_diff"] == pytest.approx(0.0)
    assert c.loc["fan", "pauc_diff"] == pytest.approx(1.0)
    assert math.isnan(c.loc["pump", "auc_ours"]) and math.isnan(c.loc["extra", "auc_paper"])


def test_run_metadata_and_report(tmp_path):
    meta = run_metadata("smoke", started_at=0.0)
    for key in ("profile", "git_commit", "device", "torch_version", "python_version", "timestamp"):
        assert meta[key]
    assert meta["run_time_s"] > 0
    table = pd.DataFrame({"machine_type": ["fan"], "auc": [12.3456]})
    path = write_report(tmp_path, meta, [{"title": "Table 1", "text": "Pooled.", "table": table},
                                         {"title": "Notes", "text": "none"}])
    text = path.read_text()
    assert path.name == "REPORT.md"
    assert "Profile: smoke" in text and "NOT comparable" in text and "**Warning" in text
    assert "| fan" in text and "12.35" in text and "## Notes" in text
    assert f"**Commit:** {meta['git_commit']}" in text

    paper_text = write_report(tmp_path / "paper.md", run_metadata("paper"), []).read_text()
    assert "Profile: paper" in paper_text and "**Warning" not in paper_text


def test_format_duration():
    assert format_duration(12.34) == "12.3 s"
    assert format_duration(185) == "3 min 05 s"
    assert format_duration(3 * 3600 + 120) == "3 h 02 min"
    assert format_duration(None) == "not recorded"


def test_htk_centres_match_features_module():
    pytest.importorskip("torchaudio")
    from asdlib.nets.features import mel_bin_centres_hz

    np.testing.assert_allclose(plots.htk_mel_centres_hz(128), mel_bin_centres_hz().numpy(), rtol=1e-4)


# --------------------------------------------------------------------------- REPORT.md from the saved CSVs

def _markdown_tables(report: str) -> dict[str, list[list[str]]]:
    """{source CSV: rows of cells (header first)} of every table in REPORT.md that names its source."""
    out = {}
    for section in report.split("\n## ")[1:]:
        lines = section.splitlines()
        source = next((ln.split("`")[1] for ln in lines if ln.startswith("Source: `")), None)
        rows = [ln for ln in lines if ln.startswith("|")]
        if source is None:
            assert not rows, f"section {lines[0]!r} shows a table without naming the CSV it came from"
            continue
        cells = [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in rows]
        out[source] = [cells[0]] + cells[2:]  # drop the |---| line
    return out


def report_numbers_match_csvs(out) -> int:
    """Check every cell of every sourced table of ``out``/REPORT.md against its CSV; return the numbers checked."""
    report = (out / "REPORT.md").read_text(encoding="utf-8")
    checked = 0
    for source, rows in _markdown_tables(report).items():
        csv = pd.read_csv(out / source)
        assert rows[0] == [str(c) for c in csv.columns], f"{source}: columns differ"
        assert len(rows) - 1 == len(csv), f"{source}: {len(rows) - 1} rows shown, {len(csv)} in the CSV"
        for i, row in enumerate(rows[1:]):
            for col, cell in zip(csv.columns, row):
                value = csv.at[i, col]
                if isinstance(value, str):
                    assert cell == value.replace("|", "\\|").strip(), (source, i, col, cell, value)
                elif pd.isna(value):
                    assert cell == "", (source, i, col, cell)
                else:
                    assert abs(float(cell.replace(",", "")) - float(value)) <= 0.005 + 1e-9, \
                        f"{source}, row {i}, {col}: REPORT.md shows {cell}, the CSV holds {value}"
                    checked += 1
    return checked


@pytest.fixture()
def saved_tables(tmp_path, monkeypatch):
    """A results folder whose notebooks 'saved' a few tables with awkward values (NaN, ints, ±, negatives)."""
    monkeypatch.setenv("ASD_RESULTS_DIR", str(tmp_path))
    out = tmp_path / "smoke"
    save_table(pd.DataFrame({"machine_type": ["fan", "pump", "global: one ROC"],
                             "auc_paper": [98.54, 96.84, 93.44], "auc_ours": [71.234567, np.nan, 50.0],
                             "auc_diff": [-27.305433, np.nan, -43.44], "n": [3, 4, 5]}),
               "table1_paper_vs_ours", out)
    save_table(pd.DataFrame({"method": ["IDNN", "Proposed approach"], "AUC": ["69.34 ± 0.78", "70.95 ± 1.47"],
                             "parameters": [46416, 884376]}), "table2_with_peers", out)
    save_table(pd.DataFrame({"band": ["0-1 kHz"], "share": [0.1234999]}), "fig4_bands", out)
    return out


def test_report_numbers_are_the_saved_csvs(saved_tables):
    from asdlib.study.report import build_report

    build_report("smoke")
    report = (saved_tables / "REPORT.md").read_text(encoding="utf-8")
    assert report_numbers_match_csvs(saved_tables) == 13  # 10 + 2 + 1 numbers in the three tables
    assert "Source: `tables/table1_paper_vs_ours.csv`" in report
    assert "Source: `tables/runs.csv`" in report          # the runs table is saved, then read back
    # a table no notebook wrote is listed, not invented
    assert "`tables/table3_features_dimensionality.csv` not written yet (notebook 05)" in report
    assert "## Table 3" not in report


def test_report_check_catches_a_number_that_differs(saved_tables):
    """The check above is not vacuous: a REPORT.md number that is not its CSV's fails it."""
    from asdlib.study.report import build_report

    build_report("smoke")
    path = saved_tables / "REPORT.md"
    path.write_text(path.read_text(encoding="utf-8").replace("71.23", "71.24"), encoding="utf-8")
    with pytest.raises(AssertionError, match="71.24"):
        report_numbers_match_csvs(saved_tables)
