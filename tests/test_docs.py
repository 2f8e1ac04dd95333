"""Library conventions the notebooks rely on: every public function says which notebook explains it."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import asdlib

SKIP_MODULES = {"asdlib.__main__"}
NOTEBOOK = re.compile(r"Notebook (0[1-8])")


def _public_functions():
    for info in pkgutil.iter_modules(asdlib.__path__, "asdlib."):
        if info.name in SKIP_MODULES:
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(obj):
                yield f"{info.name}.{name}", obj


def test_every_public_function_names_its_notebook():
    missing = [name for name, fn in _public_functions()
               if not fn.__doc__ or not NOTEBOOK.search(fn.__doc__)]
    assert not missing, "public functions whose docstring names no notebook: " + ", ".join(missing)


def test_every_module_has_a_docstring():
    for info in pkgutil.iter_modules(asdlib.__path__, "asdlib."):
        module = importlib.import_module(info.name) if info.name not in SKIP_MODULES else None
        if module is not None:
            assert module.__doc__, f"{info.name} has no module docstring"
