"""REPORT.md: how a run was made, and every table the notebooks saved, paper beside ours, read back from ``tables/*.csv``.

``build_report`` assembles ``results/<profile>/REPORT.md`` from the tables the notebooks wrote
(``results/<profile>/tables/*.csv``, each built once by ``asdlib.study.tables`` or
``asdlib.study.comparison``): it recomputes no number. Each table's section names the CSV it
shows ("Source: ..."); a table a notebook has not written yet is listed under "Not available".
``run_metadata`` records profile, commit, device and versions; ``render_report`` /
``write_report`` write the Markdown (a smoke report opens with a warning that its numbers are
not comparable to the paper). ``python -m asdlib report --profile P`` runs it (``run_all.sh``
does, last). Explained in notebook 04_evaluation.
"""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import pandas as pd
import torch

from asdlib.outputs import REHEARSAL_LABEL, atomic_write_text, format_duration, profile_banner, save_table
from asdlib.paths import PROJECT_ROOT, is_rehearsal, results_dir, run_overrides_text
from asdlib.study.comparison import PROTOCOL_TEXT
from asdlib.study.runs import get_profile, seed_count
from asdlib.study.tables import runs_table

SMOKE_WARNING = (
    "**Warning: these numbers come from synthetic data and a tiny training run. They test that "
    "the pipeline runs end to end and are NOT comparable to the paper's.**"
)

#: The sections of REPORT.md read from saved tables: (CSV name under tables/, title, caption, notebook).
REPORT_TABLES = (
    ("runs", "Runs", None, None),
    ("table1_paper_vs_ours", "Table 1: AUC / pAUC per machine type (proposed model)",
     "Per type: the authors' pooled ROC at their test-selected checkpoint. `mean of the 6 types`: "
     "the row mean (the paper's row averages to 94.65 / 87.86). Last row: the global AUC, one ROC "
     "over every test clip, which is what the paper's Table 2 reports (93.44 / 85.71) and what the "
     "authors selected the checkpoint on; its `honest` cell is the global AUC at the "
     "validation-selected checkpoint.", "04"),
    ("table2_paper_vs_ours", "Table 2: parameters and average AUC / pAUC (proposed model)",
     "`params_ours`: measured on the network built for 10-s clips. `*_ours`: the global AUC/pAUC "
     "(one ROC over every test clip) at the checkpoint with the best global test AUC, the quantity "
     "the paper reports and selected on; `*_ours_type_mean`: the mean of the six pooled per-type "
     "values, for comparison with Table 1's row mean.", "04"),
    ("table3_features_dimensionality", "Table 3: features and dimensionality h", None, "05"),
    ("table4_ablation", "Table 4: ablation", None, "05"),
    ("honest_variants", "Honest variants (not in the paper)",
     "`official_*`: per-ID metric; `pooled_paper_*`: authors' metric at the test-selected "
     "checkpoint (undefined for the distinct label map).", "05"),
    ("model_selection", "Model selection protocols (proposed model)",
     "Selection metric of the `paper` protocol: the global test AUC (`global_auc`, one ROC over "
     "every test clip pooled together), as in the authors' code; `pooled_auc` is the mean of the "
     "pooled per-type values and `official_auc` the DCASE per-ID mean.", "04"),
    ("table1_with_peers", "Table 1 with measured peer rows (notebook 07)", "{peers}", "07"),
    ("table2_with_peers", "Table 2 with measured peer rows (notebook 07)",
     "Measured AUC/pAUC: the global ROC over every test clip at the protocol's checkpoint; "
     "`official mean`: the DCASE per-ID mean at the same checkpoint; parameters of the 10-s "
     "network (IDNN and the autoencoder: one of their six models). {peers}", "07"),
    ("peers_protocol_effects", "What the protocol does to each method (notebook 07)",
     "Mean AUC over seeds of the six-type average (`global`: one ROC) under each metric / "
     "selection; `spread`: the largest minus the smallest.", "07"),
    ("peers_own_protocol", "Each method read its own code's way (notebook 07)",
     "Its own checkpoint rule and its own metric, mean ± std over seeds (`tables/peers_own_readings.csv`: "
     "every seed run), beside its quoted Table 2 average.", "07"),
    ("peers_differences", "How far each measured peer row is from its public code (notebook 07)", None, "07"),
    ("peers_complexity", "Parameters, MACs and CPU latency of every method (notebook 07)",
     "Latency: one thread, batch 1, 10-s clip, measured when notebook 07 ran.", "07"),
    ("authors_checkpoint_vs_paper", "The authors' released checkpoint, scored by this code",
     "`auc_paper`, `pauc_paper`: quoted from the paper: Table 1 per type, the mean of its row for "
     "`average`, and Table 2's 93.44 / 85.71 for `all_clips` (the global AUC, one ROC over every "
     "test clip, which the checkpoint is named after).", None),
    ("fig4_bands", "Fig. 4: the paper's bands beside our attention statistics", None, "06"),
)


def _git(*args: str) -> str | None:
    try:
        res = subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout.strip() if res.returncode == 0 else None


def git_commit() -> str:
    """The project's git commit, with ``-dirty`` when tracked files have uncommitted changes ("unknown" outside git). Notebook 04."""
    sha = _git("rev-parse", "HEAD")
    if not sha:
        return "unknown"
    status = _git("status", "--porcelain", "--untracked-files=no")
    return f"{sha}-dirty" if status else sha


def device_description() -> str:
    """The GPU's name when CUDA is available, else the CPU and its core count. Notebook 04."""
    try:
        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except Exception:  # noqa: BLE001 - a broken CUDA setup must not stop a report
        pass
    cpu = platform.processor() or platform.machine() or "unknown"
    return f"CPU: {cpu} ({os.cpu_count()} cores)"


def _as_datetime(t) -> datetime | None:
    if t is None:
        return None
    if isinstance(t, datetime):
        return t if t.tzinfo else t.astimezone()
    return datetime.fromtimestamp(float(t), tz=timezone.utc).astimezone()


def run_metadata(profile: str, started_at: datetime | float | None = None) -> dict:
    """Profile, git commit, device, torch and Python versions, timestamps (and run time if ``started_at``). Notebook 04."""
    torch_version = torch.__version__
    now = datetime.now().astimezone()
    start = _as_datetime(started_at)
    meta = {
        "profile": profile,
        "banner": profile_banner(profile),
        "git_commit": git_commit(),
        "device": device_description(),
        "torch_version": torch_version,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "timestamp": now.isoformat(timespec="seconds"),
        "started_at": start.isoformat(timespec="seconds") if start else None,
        "run_time_s": round((now - start).total_seconds(), 1) if start else None,
        "rehearsal": is_rehearsal(),
        "run_overrides": run_overrides_text(),
    }
    return meta


def _table_markdown(df: pd.DataFrame) -> str:
    show_index = not (isinstance(df.index, pd.RangeIndex) and df.index.name is None)
    return df.to_markdown(index=show_index, floatfmt=".2f")


def render_report(meta: dict, sections: Sequence[dict], title: str | None = None) -> str:
    """The text of REPORT.md: profile header (with the smoke warning), run facts, then the sections. Notebook 04."""
    profile = meta.get("profile", "unknown")
    lines = [f"# {title or 'Reproduction report: Neri & Carli, IEEE Sensors Letters 2024'}", "",
             meta.get("banner") or profile_banner(profile), ""]
    if profile == "smoke":
        lines += [SMOKE_WARNING, ""]
    if meta.get("rehearsal"):
        lines += [f"**{REHEARSAL_LABEL}.** This is a dress rehearsal of the pipeline "
                  "(benchmarks/rehearsal.py): the clips are synthetic, the training is capped; only "
                  "the timings and the fact that every step ran mean anything.", ""]
    facts = [
        ("Profile", profile),
        ("Commit", meta.get("git_commit", "unknown")),
        ("Device", meta.get("device", "unknown")),
        ("torch", meta.get("torch_version", "unknown")),
        ("Python", meta.get("python_version", "unknown")),
        ("Started", meta.get("started_at") or "not recorded"),
        ("Written", meta.get("timestamp", "unknown")),
        ("Run time", format_duration(meta.get("run_time_s"))),
    ]
    if meta.get("run_overrides"):
        facts.append(("Overrides applied to every run (ASD_RUN_OVERRIDES)", f"`{meta['run_overrides']}`"))
    lines += [f"- **{k}:** {v}" for k, v in facts] + [""]
    for sec in sections:
        lines += [f"## {sec['title']}", ""]
        if sec.get("text"):
            lines += [sec["text"].strip(), ""]
        table = sec.get("table")
        if table is not None:
            lines += [_table_markdown(table), ""]
        if sec.get("source"):
            lines += [f"Source: `{sec['source']}`", ""]
        if sec.get("caption"):
            lines += [f"*{sec['caption']}*", ""]
        for fig in sec.get("figures", []) or []:
            lines += [f"![{Path(fig).stem}]({fig})", ""]
    return "\n".join(lines).rstrip() + "\n"


def write_report(path: str | os.PathLike, meta: dict, sections: Sequence[dict], title: str | None = None) -> Path:
    """Write REPORT.md atomically; ``sections`` are dicts with ``title`` and optional ``text``/``table``. Notebook 04.

    ``path`` is the file, or a folder to write ``REPORT.md`` into. A section may also give
    ``caption`` (shown under its table), ``source`` (the saved CSV its table was read from,
    relative to the report; shown as "Source: `...`") and ``figures`` (image paths, relative to
    the report).
    """
    path = Path(path)
    if path.is_dir() or path.suffix == "":
        path = path / "REPORT.md"
    return atomic_write_text(path, render_report(meta, sections, title))


def _blank_nan(df: pd.DataFrame) -> pd.DataFrame:
    """Missing values as empty cells (not 'nan') in the report's Markdown."""
    return df.astype(object).where(df.notna(), None)


def read_saved_table(out: Path, name: str) -> pd.DataFrame | None:
    """A table a notebook saved, ``<out>/tables/<name>.csv``, as written (None when absent). Notebook 04."""
    path = out / "tables" / f"{name}.csv"
    return pd.read_csv(path, keep_default_na=True) if path.is_file() else None


def build_report(profile: str, started_at: float | None = None) -> Path:
    """Write ``results/<profile>/REPORT.md`` from the tables the notebooks saved: every number of Tables 1-4 beside ours. Notebook 04.

    "ours" is the faithful reproduction (authors' pooled metric, checkpoint with the best test
    AUC); "honest" is the official per-ID metric with the checkpoint chosen on validation loss.
    Only the runs table is built here (what every run is for and how far it got); it is saved
    as ``tables/runs.csv`` first and read back like the others.
    """
    out = results_dir(profile)
    meta = run_metadata(profile, started_at)
    sections: list[dict] = [{"title": "How to read this report", "text": (
        f"Profile **{profile}**: {get_profile(profile).description}\n\n"
        "*paper* columns are quoted from Neri & Carli (2024); *ours* is this run, computed the "
        "authors' way (their label map, their pooled per-type ROC for Table 1, the global AUC (one "
        "ROC over all test clips) for the averages of Tables 2-4, the saved checkpoint with the "
        "best global test AUC, i.e. selected on test data); *diff* = ours - paper; "
        "*ours_type_mean* is the mean of the pooled per-type values; *honest* is the same "
        "run under the official DCASE 2020 metric (per machine ID, averaged) with the checkpoint "
        "chosen on the validation loss. AUC and pAUC in percent; pAUC is McClish-standardised "
        "(scikit-learn `max_fpr=0.1`), as in the paper.")}]
    save_table(runs_table(profile), "runs", out, caption=f"What every run of profile {profile} is for "
               "and how far it got (written by the report)")
    seeds = seed_count(profile)
    peers = (f"Measured rows: mean ± standard deviation over {seeds} seed(s) of this profile's runs "
             f"(`tables/peers_all_runs.csv` lists every run). *authors*: {PROTOCOL_TEXT['authors']}; "
             f"*honest*: {PROTOCOL_TEXT['honest']}. Quoted rows are the paper's, labelled so.")
    if profile == "smoke":
        peers += " Smoke rows test the pipeline on synthetic sounds: NOT comparable to the quoted ones."
    missing: list[str] = []
    for name, title, caption, notebook in REPORT_TABLES:
        table = read_saved_table(out, name)
        if table is None:
            if name != "authors_checkpoint_vs_paper":  # optional: only with the authors' weights
                missing.append(f"{title}: `tables/{name}.csv` not written yet (notebook {notebook})")
            continue
        sections.append({"title": title, "table": _blank_nan(table), "source": f"tables/{name}.csv",
                         "caption": caption.format(peers=peers) if caption else None})
    figures = sorted((out / "figures").glob("*.png"))
    if figures:
        sections.append({"title": "Figures", "figures": [str(f.relative_to(out)) for f in figures]})
    artefacts = sorted(str(p.relative_to(out)) for p in out.rglob("*")
                       if p.is_file() and p.parts[len(out.parts)] in ("figures", "tables", "notebooks", "html"))
    sections.append({"title": "Artefacts", "text": "\n".join(f"- `{a}`" for a in artefacts)
                     or "none yet"})
    if missing:
        sections.append({"title": "Not available in this run", "text": "\n".join(f"- {m}" for m in missing)})
    sections.append({"title": "Notes on the paper's numbers", "text": (
        "- Table 2's 93.44 / 85.71 is the *global* AUC/pAUC: one ROC over all 10,868 test clips "
        "(`roc_auc_score(all_labels, all_errors)` in the authors' code, printed as \"Global AUC\"), "
        "the number they chose the checkpoint on and named it after (`MWM_93.44_...`). It is not "
        "the mean of Table 1's proposed row (94.65 / 87.86): a different quantity, not a typo. "
        "This report compares our global AUC with Tables 2-4 and keeps our per-type mean beside it.\n"
        "- Tables 3 and 4 give the proposed model 93.43, Table 2 93.44 (a rounding of the same "
        "model's global AUC, it seems; the paper does not say).\n"
        "- The authors' label map gives pump id_06 and slider id_00 the same class (13), and their "
        "pooled per-type masks therefore count pump id_06 as a slider.\n"
        "- The authors chose the checkpoint with the best global test AUC (selection on the test "
        "set); the *honest* columns use the lowest validation loss instead.\n"
        "- The faithful attention can never go below 0.5 (BN -> ReLU before the sigmoid).\n"
        "- Mixup's lambda ~ Beta(0.2, 0.2) is used as drawn, not folded to max(lambda, 1 - lambda), "
        "and the ArcFace margin goes to y_a, the label of the clip weighted by lambda. So in half "
        "of the batches (lambda < 0.5; lambda < 0.1 in 33.7 %) the margin lands on the minor part "
        "of the blend, and the logged training accuracy (arg-max = y_a) is low by construction. "
        "Our training does the same (notebook 03).\n"
        "- The separable Wavegram has one input channel, so its depthwise step yields one signal "
        "per frame and every one of its 128 channels is a function of that signal: before the "
        "last ReLU the map has rank at most 2 (notebook 02).")})
    return write_report(out / "REPORT.md", meta, sections)
