"""Run every mutant of one module against its covering tests, one pytest process per mutant,
without mutmut's result cache (which crashed on ``asdlib/nets/inference.py``). See
benchmarks/MUTATION.md; results in benchmarks/REPORT.md, section 9.

Usage, in a scoped COPY of the repository (``benchmarks/mutation_scope.py COPY_DIR`` first):

    python benchmarks/mutation_run.py COPY_DIR asdlib/nets/inference.py results.jsonl \\
        tests/test_inference.py -k 'fold or class_scores ...'

The mutants are mutmut 2.5.1's (``mutmut.list_mutations``: every operator, number, keyword, name
... mutation outside the ``# pragma: no mutate`` lines; strings and f-strings left out, as with
``--disable-mutation-types string,fstring``). Each is written into the copy, the tests run
(``-x``, one thread, 120-s limit: a timeout counts as killed, as mutmut counts it), and the
original is put back. One JSON line per mutant: ``n``, the line, ``status`` (killed, survived,
timeout) and seconds. A rerun with the same results file skips the mutants already there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from mutmut import Config, Context, list_mutations, mutate, mutations_by_type


def _config(rel: str) -> Config:
    """mutmut's settings for listing and applying mutants: every node type but strings."""
    return Config(swallow_output=True, test_command="", covered_lines_by_filename=None,
                  baseline_time_elapsed=0, test_time_multiplier=2, test_time_base=0, dict_synonyms=[],
                  total=0, using_testmon=False, tests_dirs=[], hash_of_tests="", post_mutation="",
                  pre_mutation="", coverage_data={}, paths_to_mutate=[rel],
                  mutation_types_to_apply=set(mutations_by_type) - {"string", "fstring"},
                  no_progress=True, ci=False, rerun_all=False)


def main(argv: list[str]) -> int:
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    root, rel, out, tests = Path(argv[0]).resolve(), argv[1], Path(argv[2]), argv[3:]
    path = root / rel
    if "# pragma: no mutate" not in path.read_text():
        print(f"{path}: no pragma found; run benchmarks/mutation_scope.py on this copy first", file=sys.stderr)
        return 2
    source = path.read_text()
    cfg = _config(rel)
    ids = list_mutations(Context(source=source, filename=rel, dict_synonyms=[], config=cfg))
    print(f"{len(ids)} mutants of {rel}", flush=True)
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1", "GOMP_SPINCOUNT": "3000"}
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", *tests]
    base = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    if base.returncode:
        print(f"the covering tests fail without a mutant:\n{base.stdout[-2000:]}", file=sys.stderr)
        return 1
    done = {json.loads(ln)["n"] for ln in out.read_text().splitlines()} if out.exists() else set()
    try:
        for n, mid in enumerate(ids):
            if n in done:
                continue
            mutated, count = mutate(Context(source=source, filename=rel, mutation_id=mid,
                                            dict_synonyms=[], config=cfg))
            assert count == 1, (n, mid)
            path.write_text(mutated)
            t = time.time()
            try:
                r = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=120)
                status = "survived" if r.returncode == 0 else "killed"
            except subprocess.TimeoutExpired:
                status = "timeout"
            finally:
                path.write_text(source)
            rec = {"n": n, "line_number": mid.line_number + 1, "line": mid.line.strip(),
                   "index": mid.index, "status": status, "seconds": round(time.time() - t, 1)}
            with out.open("a") as f:
                f.write(json.dumps(rec) + "\n")
            print(n, status, rec["seconds"], rec["line"][:80], flush=True)
    finally:
        path.write_text(source)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
