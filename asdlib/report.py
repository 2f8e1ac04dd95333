"""Putting our numbers next to the paper's, recording how a run was made, and writing REPORT.md.

``compare_table`` lines up a quoted paper table (``asdlib.paper_numbers``) with ours and gives the
difference; ``run_metadata`` records profile, commit, device and versions; ``write_report``
writes the profile's ``REPORT.md`` (a smoke report opens with a warning that its numbers are not
comparable to the paper). Explained in notebook 04_evaluation.
"""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from .outputs import REHEARSAL_LABEL, atomic_write_text, is_rehearsal, profile_banner
from .paths import PROJECT_ROOT

SMOKE_WARNING = (
    "**Warning: these numbers come from synthetic data and a tiny training run. They test that "
    "the pipeline runs end to end and are NOT comparable to the paper's.**"
)


def compare_table(paper_df: pd.DataFrame, ours_df: pd.DataFrame, on: str | Sequence[str],
                  value_cols: Iterable[str] = ("auc", "pauc")) -> pd.DataFrame:
    """Paper's and our values side by side per key, with ``<value>_diff`` = ours - paper. Notebook 04.

    Columns: the keys ``on``, then for each value ``<value>_paper``, ``<value>_ours``,
    ``<value>_diff``. Keys present in only one table are kept (the other side is NaN); rows follow
    the paper table's order, then keys that only we have.
    """
    keys = [on] if isinstance(on, str) else list(on)
    values = list(value_cols)
    for name, df in (("paper_df", paper_df), ("ours_df", ours_df)):
        missing = [c for c in keys + values if c not in df.columns]
        if missing:
            raise KeyError(f"{name} lacks column(s) {missing}")
        if df.duplicated(keys).any():
            raise ValueError(f"{name} has more than one row per key {keys}")
    p = paper_df[keys + values].rename(columns={v: f"{v}_paper" for v in values})
    o = ours_df[keys + values].rename(columns={v: f"{v}_ours" for v in values})
    out = p.merge(o, on=keys, how="outer", sort=False)
    # Keep the paper's row order (an outer merge may reorder), then our extra keys.
    order = pd.concat([p[keys], o[keys]]).drop_duplicates().reset_index(drop=True)
    out = order.merge(out, on=keys, how="left")
    cols = list(keys)
    for v in values:
        out[f"{v}_diff"] = out[f"{v}_ours"] - out[f"{v}_paper"]
        cols += [f"{v}_paper", f"{v}_ours", f"{v}_diff"]
    return out[cols]


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
        import torch

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
    try:
        import torch

        torch_version = torch.__version__
    except Exception:  # noqa: BLE001
        torch_version = "not installed"
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
        "run_overrides": os.environ.get("ASD_RUN_OVERRIDES") or None,
    }
    return meta


def format_duration(seconds: float | None) -> str:
    """Seconds as '1 h 02 min', '3 min 05 s' or '12.3 s'. Notebook 04."""
    if seconds is None or pd.isna(seconds):
        return "not recorded"
    s = float(seconds)
    if s < 60:
        return f"{s:.1f} s"
    m, s = divmod(int(round(s)), 60)
    if m < 60:
        return f"{m} min {s:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


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
        if sec.get("caption"):
            lines += [f"*{sec['caption']}*", ""]
        for fig in sec.get("figures", []) or []:
            lines += [f"![{Path(fig).stem}]({fig})", ""]
    return "\n".join(lines).rstrip() + "\n"


def write_report(path: str | os.PathLike, meta: dict, sections: Sequence[dict], title: str | None = None) -> Path:
    """Write REPORT.md atomically; ``sections`` are dicts with ``title`` and optional ``text``/``table``. Notebook 04.

    ``path`` is the file, or a folder to write ``REPORT.md`` into. A section may also give
    ``caption`` (shown under its table) and ``figures`` (image paths, relative to the report).
    """
    path = Path(path)
    if path.is_dir() or path.suffix == "":
        path = path / "REPORT.md"
    return atomic_write_text(path, render_report(meta, sections, title))

