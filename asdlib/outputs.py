"""Saving figures and tables under a profile's results folder, atomically, in every format.

Each figure goes to ``<out_dir>/figures/<name>.png`` and ``.pdf``; each table to
``<out_dir>/tables/<name>.csv`` (full precision, the machine-readable copy), ``.md`` and ``.tex``
(rounded, for reading). Every file is written to a temporary name beside its target and then
renamed, so an interrupted run never leaves a half-written figure or table behind.
``out_dir`` is normally ``asdlib.paths.results_dir(profile)``, so the smoke profile can never
overwrite the paper profile's outputs. Explained in notebook 01_data.
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pandas as pd

from asdlib.paths import is_rehearsal

FIGURE_DPI = 150

#: One line per known profile, used in captions and at the top of reports.
PROFILE_DESCRIPTIONS = {
    "smoke": "synthetic data, numbers are NOT comparable to the paper",
    "paper": "full DCASE 2020 Task 2 data",
}


#: Shown when ``asdlib.paths.is_rehearsal()`` (``$ASD_REHEARSAL``, set by benchmarks/rehearsal.py).
REHEARSAL_LABEL = ("REHEARSAL: synthetic data at DCASE scale, training capped - numbers are "
                   "meaningless")


def profile_banner(profile: str) -> str:
    """One line naming the profile and what its numbers mean, for captions and reports. Notebook 01."""
    what = PROFILE_DESCRIPTIONS.get(profile, "custom profile, see its configuration")
    banner = f"Profile: {profile} \u2014 {what}"
    return f"{REHEARSAL_LABEL} \u2014 {banner}" if is_rehearsal() else banner


def _check_name(name: str) -> str:
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"invalid output name {name!r}: use a plain file stem like 'fig2_features'")
    return name


@contextmanager
def _atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` only on success."""
    target.parent.mkdir(parents=True, exist_ok=True)
    # A fresh name (not mkstemp) so the file gets the usual permissions, not 0600.
    tmp_path = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write text to ``path`` through a temporary file and a rename (never half-written). Notebook 01."""
    path = Path(path)
    with _atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def save_fig(fig, name: str, out_dir: str | os.PathLike) -> list[Path]:
    """Save a figure as ``<out_dir>/figures/<name>.png`` (150 dpi) and ``.pdf``; return both paths. Notebook 01."""
    folder = Path(out_dir) / "figures"
    paths = []
    for fmt in ("png", "pdf"):
        target = folder / f"{_check_name(name)}.{fmt}"
        with _atomic_path(target) as tmp:
            fig.savefig(tmp, format=fmt, dpi=FIGURE_DPI, bbox_inches="tight")
        paths.append(target)
    return paths


def _with_index(df: pd.DataFrame) -> pd.DataFrame:
    """Turn a meaningful index into columns; drop a plain 0..n-1 index."""
    if isinstance(df.index, pd.RangeIndex) and df.index.name is None:
        return df
    return df.reset_index()


def _is_number_column(col: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)


def _formatted(df: pd.DataFrame, float_fmt: str) -> pd.DataFrame:
    """Copy with float columns rendered as strings (NaN as an empty cell)."""
    out = df.copy()
    for col in out.columns:
        if pd.api.types.is_float_dtype(out[col]):
            out[col] = [("" if pd.isna(v) else float_fmt.format(v)) for v in out[col]]
    return out


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "\u2014": "---", "\u2013": "--",
}


def latex_escape(text: str) -> str:
    """Escape LaTeX special characters in a plain string. Notebook 01."""
    return "".join(_LATEX_SPECIAL.get(c, c) for c in str(text))


def _latex_table(df: pd.DataFrame, align: str, caption: str | None, label: str) -> str:
    """A booktabs tabular (in a table float) of an already formatted DataFrame, escaped; needs no jinja2."""
    lines = [r"\begin{table}", r"\centering"]
    if caption:
        lines.append(rf"\caption{{{latex_escape(caption)}}}")
    lines.append(rf"\label{{{label}}}")
    lines += [rf"\begin{{tabular}}{{{align}}}", r"\toprule",
              " & ".join(latex_escape(c) for c in df.columns) + r" \\", r"\midrule"]
    for row in df.itertuples(index=False):
        lines.append(" & ".join(latex_escape("" if pd.isna(v) else v) for v in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(lines)


def table_to_markdown(df: pd.DataFrame, caption: str | None = None, float_fmt: str = "{:.2f}") -> str:
    """Render a table as Markdown (floats with ``float_fmt``), the caption as its first line. Notebook 01."""
    flat = _with_index(df)
    align = ["right" if _is_number_column(flat[c]) else "left" for c in flat.columns]
    body = _formatted(flat, float_fmt).to_markdown(index=False, disable_numparse=True, colalign=align)
    return (f"{caption}\n\n{body}\n" if caption else f"{body}\n")


def save_table(df: pd.DataFrame, name: str, out_dir: str | os.PathLike, *, caption: str | None = None,
               float_fmt: str = "{:.2f}") -> list[Path]:
    """Save a table as ``<out_dir>/tables/<name>.csv`` (full precision), ``.md`` and ``.tex``; return the paths. Notebook 01."""
    folder = Path(out_dir) / "tables"
    name = _check_name(name)
    flat = _with_index(df).copy()
    if isinstance(flat.columns, pd.MultiIndex):
        flat.columns = [" ".join(str(p) for p in c if str(p)) for c in flat.columns]
    flat.columns = [str(c) for c in flat.columns]

    csv_path = folder / f"{name}.csv"
    with _atomic_path(csv_path) as tmp:
        flat.to_csv(tmp, index=False)

    md_path = atomic_write_text(folder / f"{name}.md", table_to_markdown(flat, caption, float_fmt))

    # Floats are rendered with float_fmt first so the .tex shows exactly what the .md shows.
    align = "".join("r" if _is_number_column(flat[c]) else "l" for c in flat.columns)
    tex = _latex_table(_formatted(flat, float_fmt), align, caption, f"tab:{name}")
    tex_path = atomic_write_text(folder / f"{name}.tex", tex)
    return [csv_path, md_path, tex_path]


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
