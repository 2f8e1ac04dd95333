"""The package's floors, checked on its source: no import cycle, no asdlib import hidden in a function,
lower floors never importing higher ones, and the environment read in one module (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "asdlib"
#: The floors from the ground up (docs/architecture.md); a module may import its own floor and lower ones.
FLOORS = {"paths": 0, "outputs": 0, "validate": 0, "folders": 0, "data": 1, "nets": 2, "engine": 3, "deploy": 4, "study": 5,
          "teaching": 6, "cli": 7, "__main__": 7, "__init__": 0}
#: Imports allowed inside a function: optional heavy dependencies, loaded only when used.
LAZY_OK = {"onnx", "onnxruntime"}
#: The command line, the top floor that no module imports, loads each command's modules when that
#: command runs (a process then starts only what it uses); its imports still count in the graph.
LAZY_COMMANDS = {"asdlib.cli"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path, module: str | None = None) -> tuple[set[str], list[tuple[int, str]]]:
    """(asdlib names imported at module level, (line, name) of every import inside a function)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    module = module or _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    top: set[str] = set()
    inner: list[tuple[int, str]] = []

    def targets(node) -> list[str]:
        if isinstance(node, ast.Import):
            return [a.name for a in node.names]
        base = node.module or ""
        if node.level:
            up = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join(up + ([node.module] if node.module else []))
        return [f"{base}.{a.name}" for a in node.names]  # a name, or a module of the package

    def visit(node, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                for name in targets(child):
                    if in_function:
                        inner.append((child.lineno, name))
                    elif _asdlib(name):
                        top.add(name)
            visit(child, inside)

    visit(tree, False)
    return top, inner


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _asdlib(name: str) -> bool:
    return name == "asdlib" or name.startswith("asdlib.")


def _resolve(name: str) -> str | None:
    """The asdlib module a dotted import name refers to (a module, or the module holding a name)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _graph() -> dict[str, set[str]]:
    graph = {}
    for mod, path in MODULES.items():
        top, inner = _imports(path)
        graph[mod] = {m for m in (_resolve(n) for n in top | {n for _, n in inner}) if m and m != mod}
    return graph


def _floor(mod: str) -> int:
    parts = mod.split(".")
    return FLOORS[parts[1]] if len(parts) > 1 else FLOORS["__init__"]


def test_no_asdlib_import_inside_a_function():
    hidden = [f"{MODULES[m].relative_to(PACKAGE.parent)}:{line} imports {name}"
              for m in MODULES if m not in LAZY_COMMANDS for line, name in _imports(MODULES[m])[1]
              if _asdlib(name)]
    assert not hidden, "asdlib imports inside functions (import at the top; only optional heavy "\
                       f"dependencies such as {sorted(LAZY_OK)} may load lazily):\n" + "\n".join(hidden)


def test_lazy_imports_are_only_optional_heavy_dependencies():
    """Inside functions only onnx/onnxruntime, and standard-library modules, may be imported."""
    import sys

    third_party = [f"{MODULES[m].relative_to(PACKAGE.parent)}:{line} imports {name}"
                   for m in MODULES if m not in LAZY_COMMANDS for line, name in _imports(MODULES[m])[1]
                   if not _asdlib(name) and name.split(".")[0] not in LAZY_OK
                   and name.split(".")[0] not in sys.stdlib_module_names]
    assert not third_party, "\n".join(third_party)


def test_the_command_line_starts_without_the_heavy_libraries():
    """Parsing the command line (`--help`, a usage error) loads no floor and none of torch, scikit-learn, SciPy, pandas."""
    import subprocess
    import sys

    code = ("import sys; from asdlib.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('torch', 'sklearn', 'scipy', 'pandas', 'asdlib.data', 'asdlib.nets', "
            "'asdlib.engine', 'asdlib.deploy', 'asdlib.study') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_no_import_cycle():
    graph, cycles, state = _graph(), [], {}

    def walk(node, stack):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                walk(nxt, stack + [nxt])
        state[node] = "done"

    for mod in sorted(graph):
        if mod not in state:
            walk(mod, [mod])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_lower_floors_never_import_higher_ones():
    upward = [f"{m} (floor {_floor(m)}) imports {n} (floor {_floor(n)})"
              for m, deps in _graph().items() for n in sorted(deps) if _floor(n) > _floor(m)]
    assert not upward, "\n".join(upward)


def test_every_module_sits_on_a_known_floor():
    for mod in MODULES:
        parts = mod.split(".")
        assert len(parts) == 1 or parts[1] in FLOORS, f"{mod}: add its folder to FLOORS and docs/architecture.md"


def test_the_environment_is_read_in_paths_only():
    readers = []
    for mod, path in MODULES.items():
        text = path.read_text(encoding="utf-8")
        if mod != "asdlib.paths" and ('environ.get("ASD_' in text or "environ['ASD_" in text
                                      or 'environ["ASD_' in text or "getenv(\"ASD_" in text):
            readers.append(mod)
    assert not readers, f"ASD_* settings read outside asdlib.paths: {readers}"


@pytest.mark.parametrize("snippet,expected", [
    ("import asdlib.data.dcase\n", ({"asdlib.data.dcase"}, [])),
    ("from ..nets.model import build_model\n", ({"asdlib.nets.model.build_model"}, [])),
    ("def f():\n    from asdlib.nets import model\n", (set(), [(2, "asdlib.nets.model")])),
    ("class A:\n    def f(self):\n        import onnxruntime\n", (set(), [(3, "onnxruntime")])),
])
def test_the_import_reader_sees_what_it_must(tmp_path, snippet, expected):
    """The checks above rely on the reader: it must see module-level, relative and in-function imports."""
    path = tmp_path / "probe.py"
    path.write_text(snippet)
    assert _imports(path, "asdlib.data.probe") == expected
    resolved = {_resolve(n) for n in expected[0] | {n for _, n in expected[1]}} - {None}
    assert resolved <= set(MODULES)
