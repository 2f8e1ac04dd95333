"""Restrict a mutation run (mutmut 2.x) to the code that decides the paper's numbers: in a COPY of
the repository, every line of a mutated module outside the named functions gets mutmut's
``# pragma: no mutate``. Docstrings, error-message strings and f-strings are left out by the run
itself (``--disable-mutation-types string,fstring``). See benchmarks/MUTATION.md.

Usage: python benchmarks/mutation_scope.py COPY_DIR   (never on the working tree: it edits files)
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

#: module -> the top-level functions/classes mutated (None: the whole module).
DECISIVE = {
    "asdlib/engine/metrics.py": ["auc_pauc", "_one_class_note", "_auc_or_note", "_check_scores",
                                 "official_metrics", "_mean_note", "_paper_class_index",
                                 "pooled_metrics", "global_metrics", "rank_auc", "bootstrap_auc"],
    "asdlib/nets/loss.py": None,
    "asdlib/nets/inference.py": ["fold_batchnorm", "ChannelAffine", "PReLUAsMax", "_fold_module",
                                 "_fold_sequential", "FoldedMobileFaceNet", "class_scores",
                                 "InferenceNet", "inference_form"],
    "asdlib/engine/evaluate.py": ["select_checkpoints", "summary_row", "metric_tables"],
    "asdlib/deploy/thresholds.py": ["_check_percentile", "_scores_per_machine", "fit_gamma",
                                    "gamma_thresholds", "fit_thresholds", "thresholds_at", "decide"],
}
PRAGMA = "  # pragma: no mutate"


def mutated_lines(text: str, names: list[str] | None) -> set[int]:
    """1-based numbers of the lines inside the named top-level definitions (all lines for None)."""
    lines = text.splitlines()
    if names is None:
        return set(range(1, len(lines) + 1))
    found, out = set(), set()
    for node in ast.parse(text).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in names:
            found.add(node.name)
            out.update(range(node.lineno, node.end_lineno + 1))
    if set(names) - found:
        raise SystemExit(f"no definition named {sorted(set(names) - found)}")
    return out


def restrict(copy_dir: Path) -> None:
    """Mark every line outside the decisive functions with the pragma, in the copy."""
    if (copy_dir / ".git").exists():
        raise SystemExit(f"{copy_dir} is a git checkout: run this on a copy only")
    for rel, names in DECISIVE.items():
        path = copy_dir / rel
        text = path.read_text(encoding="utf-8")
        keep = mutated_lines(text, names)
        tree = ast.parse(text)
        # lines inside a multi-line string cannot take a comment: leave them as they are
        in_string = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.end_lineno > node.lineno:
                in_string.update(range(node.lineno, node.end_lineno))
        out = []
        for n, line in enumerate(text.splitlines(), 1):
            if n not in keep and n not in in_string and line.strip() and not line.rstrip().endswith("\\"):
                line += PRAGMA
            out.append(line)
        path.write_text("\n".join(out) + "\n", encoding="utf-8")
        print(f"{rel}: {len(keep)} of {len(out)} lines open to mutation")


if __name__ == "__main__":
    restrict(Path(sys.argv[1]))
