"""The student edition: stubs and checkers instead of solutions, checkers that judge without revealing."""

from __future__ import annotations

import functools
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from asdlib.teaching import checks

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted((ROOT / "notebooks" / "src").glob("[0-9][0-9]_*.py"))


@functools.cache
def _build():
    """scripts/build_notebooks.py as a module, loaded by the first test that needs it (it imports
    nbformat and jsonschema, ~1-3 s: a pytest worker that runs no test of this file skips that)."""
    spec = importlib.util.spec_from_file_location("build_notebooks", ROOT / "scripts" / "build_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _editions():
    for src in SOURCES:
        teacher = _build().instructor_edition(src)
        yield src.stem, teacher, _build().student_edition(teacher)


def _code(nb) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code")


def test_student_edition_holds_no_solution_call_and_no_answers():
    for name, teacher, student in _editions():
        code = _code(student)
        assert not re.search(r"\bex0\d_\w+", code), f"{name}: a solution is called in the student edition"
        assert "asdlib.teaching.exercises" not in code, name
        text = "\n".join(c.source for c in student.cells)
        assert "## Answers" not in text and "**Exercise 1.**" not in text, name
        # every coding task's instructor body is gone from the student's cell
        stub_cells = {_build()._tag(c, "task:"): c.source for c in student.cells if _build()._tag(c, "task:")}
        for cell in teacher.cells:
            task = _build()._tag(cell, "task:")
            if task:
                body = cell.source.split(_build().MARKER, 1)[1].split("check_code(")[0]
                for line in (ln.strip() for ln in body.splitlines()):
                    if line:
                        assert line not in stub_cells[task], f"{name}, {task}: solution line {line!r} shown"


def test_every_exercise_and_task_has_exactly_one_stub_with_its_checker():
    stubs, tasks, retrains = [], [], []
    for _, _, student in _editions():
        code = _code(student)
        stubs += re.findall(r'answer = \.\.\.\ncheck\("(\d\d\.\d)", answer', code)
        tasks += re.findall(r'raise NotImplementedError\("your code here"\)\n+check_code\("([\w.]+)"', code)
        retrains += re.findall(r'prediction = \.\.\. .*\noutcome = retrain_task\("([\w.]+)"', code)
    assert sorted(stubs) == sorted(checks.EXERCISES)
    assert sorted(tasks) == sorted(checks.CODING_TASKS)
    assert sorted(retrains) == sorted(checks.RETRAIN_TASKS)
    # and the instructor edition has a tagged solution cell for each exercise the registry knows,
    # one per "### Exercise k" heading
    tagged, headings = [], []
    for name, teacher, _ in _editions():
        tagged += [_build()._tag(c, "ex:") for c in teacher.cells if _build()._tag(c, "ex:")]
        headings += [f"{name[:2]}.{k}" for c in teacher.cells if c.cell_type == "markdown"
                     for k in re.findall(r"^### Exercise (\d+)", c.source, re.M)]
    assert sorted(tagged) == sorted(headings) == sorted(checks.EXERCISES)


def test_student_editions_on_disk_are_the_built_ones():
    import nbformat

    for name, _, student in _editions():
        path = ROOT / "notebooks" / "student" / f"{name}.ipynb"
        assert path.read_text() == nbformat.writes(student, version=4) + "\n", f"rebuild {path}"


def _notebook_inputs():
    """Stand-ins for the notebook variables some checkers take: a score table and threshold tables."""
    rng = np.random.default_rng(0)
    rows = []
    for t, ids in (("fan", ("00", "02")), ("valve", ("01",))):
        for i in ids:
            for k in range(60):
                a = int(k % 3 == 0)
                rows.append((t, i, a, float(rng.normal() + 1.5 * a)))
    clips = pd.DataFrame(rows, columns=["machine_type", "machine_id", "anomaly", "score"])
    train = pd.DataFrame({"machine_type": "fan", "machine_id": np.repeat(["00", "02"], 400),
                          "score": rng.gamma(3.0, 1.0, 800)})
    long = []
    for method, base in (("Proposed approach", 70.0), ("STgram-MFN", 66.0), ("IDNN", 60.0)):
        for seed in (0, 1):
            for metric, mt in (("global", "global"), ("official", "average"), ("official", "fan")):
                for selection, bump in (("paper", 2.0), ("validation", 0.0), ("last", -1.0)):
                    long.append({"method": method, "run": method, "seed": seed, "metric": metric,
                                 "selection": selection, "machine_type": mt,
                                 "auc": base + bump + rng.normal(), "pauc": base - 10 + rng.normal()})
    cost = pd.DataFrame({"method": ["Proposed approach", "STgram-MFN", "IDNN"],
                         "parameters": [884_376, 1_350_335, 46_416],
                         "MMACs per clip": [779.8, 822.1, 38.6]})
    return {"clips": clips, "train_table": train, "via_scorer": clips, "long": pd.DataFrame(long),
            "cost": cost}


@pytest.mark.parametrize("exercise", sorted(checks.EXERCISES))
def test_checker_says_not_yet_right_and_wrong_without_revealing(exercise):
    item = checks.EXERCISES[exercise]
    inputs = [_notebook_inputs()[name] for name in item.inputs]
    assert checks.judge(exercise, ..., *inputs)[0] == checks.NOT_YET
    namespace = {**_notebook_inputs()}
    exec("from asdlib.teaching.exercises import *\n" + item.solution, namespace)  # the instructor's line
    assert checks.judge(exercise, namespace["answer"], *inputs)[0] == checks.RIGHT
    expected = item.expected(*inputs)
    wrong = "not a machine" if item.kind == "text" else float(expected) + 10 * item.tol + 1.0
    status, message = checks.judge(exercise, wrong, *inputs)
    assert status == checks.WRONG and "Hint:" in message
    shown = [str(expected)] if item.kind == "text" else [f"{float(expected):.{d}f}" for d in (1, 2, 3)]
    assert not any(s in message for s in shown if len(s) > 2), f"{exercise}: the hint reveals {expected}"


def _instructor_function(task: str):
    for _, teacher, _ in _editions():
        for cell in teacher.cells:
            if _build()._tag(cell, "task:") == task:
                namespace = {"torch": torch, "np": np, "pd": pd}
                exec(cell.source.split("\ncheck_code(")[0], namespace)
                name = re.search(r"^def (\w+)\(", cell.source, re.M).group(1)
                return namespace[name]
    raise AssertionError(f"no instructor cell for task {task}")


def _not_written(*args):
    raise NotImplementedError("your code here")


@pytest.mark.parametrize("task", sorted(checks.CODING_TASKS))
def test_coding_task_checker_passes_the_instructor_and_not_the_stub(task):
    assert checks.judge_code(task, _instructor_function(task), seed=1)[0] == checks.RIGHT
    assert checks.judge_code(task, _not_written)[0] == checks.NOT_YET
    status, message = checks.judge_code(task, lambda *a: 0, seed=2)
    assert status == checks.WRONG and "Hint:" in message


def test_coding_task_checkers_catch_the_usual_mistakes():
    def no_fallback(cos, m):          # forgets the authors' branch where theta + m passes pi
        return torch.cos(torch.arccos(cos) + m)

    def raw_area(y, s, max_fpr=0.1):  # the partial area without McClish's standardisation
        from sklearn.metrics import roc_curve
        fpr, tpr, _ = roc_curve(y, s)
        keep = fpr <= max_fpr
        return 100 * np.trapezoid(tpr[keep], fpr[keep])

    def pooled(scores):               # one ROC over all clips instead of per ID
        from sklearn.metrics import roc_auc_score
        return 100 * roc_auc_score(scores["anomaly"], scores["score"])

    def no_eps(conv, bn):             # drops eps: invisible at variance 1, wrong near 1e-6
        folded = _instructor_function("08.C1")(conv, bn)
        scale = bn.weight / torch.sqrt(bn.running_var)
        with torch.no_grad():
            folded.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
        return folded

    def two_parameters(values, p):    # a gamma without its location
        import scipy.stats
        a, _, scale = scipy.stats.gamma.fit(values, floc=0)
        return scipy.stats.gamma.ppf(p, a, scale=scale)

    for task, fn in (("03.C", no_fallback), ("04.C1", raw_area), ("04.C2", pooled), ("08.C1", no_eps),
                     ("08.C2", two_parameters)):
        assert checks.judge_code(task, fn, seed=3)[0] == checks.WRONG, task


def test_retrain_task_waits_for_a_prediction_and_refuses_the_paper_profile(capsys):
    assert checks.retrain_task("03.R", ..., "smoke")["status"] == checks.NOT_YET
    assert "not yet predicted" in capsys.readouterr().out
    assert checks.retrain_task("05.R", "lower", "paper")["status"] == "skipped"
    with pytest.raises(ValueError, match="higher"):
        checks.retrain_task("03.R", "better", "smoke")
    with pytest.raises(KeyError):
        checks.retrain_task("09.R", "lower", "smoke")


@pytest.mark.slow
def test_the_student_edition_of_notebook_02_runs_end_to_end_unanswered(tmp_path):
    """Executed as a student receives it: every checker reports 'not yet', nothing fails."""
    nb = ROOT / "notebooks" / "student" / "02_features.ipynb"
    out = tmp_path / "02_student.ipynb"
    env = {**__import__("os").environ, "ASD_RESULTS_DIR": str(tmp_path / "results"),
           "ASD_DATA_DIR": str(tmp_path / "data")}
    res = subprocess.run([sys.executable, "-m", "papermill", str(nb), str(out), "-p", "profile", "smoke",
                          "--cwd", str(ROOT / "notebooks"), "--no-progress-bar"],
                         capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    printed = "\n".join("".join(o.get("text", "")) for c in json.loads(out.read_text())["cells"]
                        if c["cell_type"] == "code" for o in c.get("outputs", []))
    assert printed.count("not yet answered") == 3
    assert _run_checker().problems(out) == []


def _run_checker():
    spec = importlib.util.spec_from_file_location("check_student_run", ROOT / "scripts" / "check_student_run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_run_check_catches_a_judged_answer_and_a_silent_checker(tmp_path):
    """run_all.sh --student relies on this check: it must fail on a notebook that judged or skipped."""
    import nbformat

    checker = _run_checker()

    def executed(outputs):
        cells = []
        for source, text in outputs:
            cell = nbformat.v4.new_code_cell(source)
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)] if text else []
            cells.append(cell)
        path = tmp_path / "01_x.ipynb"
        nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
        return path

    fine = executed([('answer = ...\ncheck("01.1", answer)', "01.1: not yet answered. `answer` should be x.\n"),
                     ('check_code("03.C", f)', "03.C: not yet written. Write y.\n"),
                     ('outcome = retrain_task("03.R", prediction, profile)', "03.R: not yet predicted. Set z.\n")])
    assert checker.problems(fine) == []
    judged = executed([('answer = 3\ncheck("01.1", answer)', "01.1: right.\n")])
    assert any("judged" in p for p in checker.problems(judged))
    silent = executed([('answer = ...\ncheck("01.1", answer)', "")])
    assert any("1 checker call(s) but 0" in p for p in checker.problems(silent))
