#!/usr/bin/env python
"""Execute notebooks with papermill and write each as HTML, all from one Python process (run_all.sh).

Usage: run_notebooks.py --out OUT --times CSV [-p NAME VALUE ...] NOTEBOOK ...

Each notebook runs in its own fresh kernel, as ``python -m papermill`` would run it, and its
executed copy goes to ``OUT/notebooks/``, its static HTML page to ``OUT/html/``. Papermill and
nbconvert are imported once here instead of once per notebook (two Python start-ups per notebook
saved). The kernel of the next notebook starts while the current one runs, and imports the
modules that notebook imports (``--IPKernelApp.exec_lines``: nothing is added to its namespace,
no cell runs early); the HTML page of a notebook is written while the next one runs. A notebook
thus finds its kernel started and its imports loaded. Parameters are typed as papermill's ``-p``
types them (True/False/None, numbers, text).
A failing notebook stops the run: its executed copy (with the traceback) and its HTML page are
written, a FAILED line names it, and the exit status is 1. Each finished notebook adds
``<name>,<seconds>`` to the CSV of run times.
"""

from __future__ import annotations

import argparse
import ast
import json
import logging
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def _typed(value: str):
    """A parameter value as papermill's command line types it."""
    if value in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[value]
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def _html(exporter, notebook: Path, folder: Path) -> None:
    """The executed notebook as a static HTML page (a failure here never fails the run)."""
    try:
        body, _ = exporter.from_filename(str(notebook))
        (folder / f"{notebook.stem}.html").write_text(body, encoding="utf-8")
    except Exception as e:  # noqa: BLE001 - the notebook itself is fine
        print(f"run_all.sh: could not write the HTML page of {notebook} (the notebook itself is "
              f"fine): {e}", file=sys.stderr)


def imported_modules(notebook: Path) -> list[str]:
    """The modules a notebook's code cells import at their top level (``import X``, ``from X import``)."""
    modules: list[str] = []
    for cell in json.loads(notebook.read_text(encoding="utf-8")).get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        try:
            tree = ast.parse("".join(cell.get("source", "")))
        except SyntaxError:  # a cell with IPython magics: its imports load when it runs
            continue
        for node in tree.body:
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level
                     else [])
            modules += [n for n in names if n not in modules]
    return modules


def start_kernel(notebook: Path):
    """A fresh kernel for ``notebook``, started now; it imports the notebook's modules while it starts."""
    from jupyter_client.manager import KernelManager

    warm = ("import importlib as _asd_warm\n"
            f"for _asd_module in {imported_modules(notebook)!r}:\n"
            "    try:\n        _asd_warm.import_module(_asd_module)\n"
            "    except Exception:\n        pass  # the notebook's own import says what is wrong\n"
            "del _asd_warm, _asd_module")
    km = KernelManager(kernel_name="python3")
    km.start_kernel(extra_arguments=[f"--IPKernelApp.exec_lines={warm}"])
    return km


def stop_kernel(km) -> None:
    """Shut a kernel down (it may be dead already)."""
    try:
        if km.has_kernel:
            km.shutdown_kernel(now=True)
    except Exception:  # noqa: BLE001 - nothing left to save in it
        pass


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--times", required=True, type=Path)
    p.add_argument("--profile", required=True)
    p.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    p.add_argument("notebooks", nargs="+", type=Path)
    args = p.parse_args(argv)

    import papermill
    from nbconvert import HTMLExporter

    logging.getLogger("papermill").setLevel(logging.WARNING)
    exporter = HTMLExporter()
    parameters = {"profile": args.profile, **{k: _typed(v) for k, v in args.parameter}}
    (args.out / "notebooks").mkdir(parents=True, exist_ok=True)
    (args.out / "html").mkdir(parents=True, exist_ok=True)
    pages = ThreadPoolExecutor(1)  # HTML pages, one after the other, while the next notebook runs
    kernels = [start_kernel(args.notebooks[0])]
    try:
        for k, nb in enumerate(args.notebooks):
            executed = args.out / "notebooks" / nb.name
            print(f"=== [{args.profile}] {nb.name}", flush=True)
            t0 = time.time()
            km = kernels[k]
            if k + 1 < len(args.notebooks):
                kernels.append(start_kernel(args.notebooks[k + 1]))
            try:
                papermill.execute_notebook(str(nb), str(executed), parameters=parameters,
                                           kernel_name="python3", progress_bar=False, km=km)
            except Exception as e:  # noqa: BLE001 - PapermillExecutionError, a dead kernel, ...
                pages.shutdown(wait=True)
                _html(exporter, executed, args.out / "html")
                print(f"{type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}",
                      file=sys.stderr)
                print(f"FAILED: notebook {nb.name} (profile {args.profile}). Executed copy with the "
                      f"traceback: {executed}", file=sys.stderr)
                return 1
            finally:
                stop_kernel(km)
            pages.submit(_html, exporter, executed, args.out / "html")
            seconds = int(round(time.time() - t0))
            with open(args.times, "a", encoding="utf-8") as f:
                f.write(f"{nb.stem},{seconds}\n")
            print(f"=== [{args.profile}] {nb.name} done in {seconds} s", flush=True)
        pages.shutdown(wait=True)
        return 0
    finally:
        for km in kernels:
            stop_kernel(km)


if __name__ == "__main__":
    raise SystemExit(main())
