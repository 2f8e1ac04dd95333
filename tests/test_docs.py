"""Library conventions the notebooks rely on: every public function says which notebook explains it.

Also the documentation itself: the README is a short front door that links every page of
``docs/``, and every relative link in the README and in ``docs/`` reaches a file (and, with an
anchor, a heading) that exists.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import asdlib

SKIP_MODULES = {"asdlib.__main__"}
NOTEBOOK = re.compile(r"Notebook (0[1-8])")

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
README_MAX_BYTES = 12 * 1024
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^\s*```")


def _modules():
    """Every module of the package, subpackages included (``walk_packages``, not only the top level)."""
    for info in pkgutil.walk_packages(asdlib.__path__, "asdlib."):
        if info.name in SKIP_MODULES:
            continue
        yield info.name, importlib.import_module(info.name)


def _public_functions():
    for module_name, module in _modules():
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(obj):
                yield f"{module_name}.{name}", obj


def test_every_public_function_names_its_notebook():
    missing = [name for name, fn in _public_functions()
               if not fn.__doc__ or not NOTEBOOK.search(fn.__doc__)]
    assert not missing, "public functions whose docstring names no notebook: " + ", ".join(missing)


def test_every_module_has_a_docstring():
    missing = [name for name, module in _modules() if not module.__doc__]
    assert not missing, "modules without a docstring: " + ", ".join(missing)


def _prose_lines(path: Path):
    """The lines of a Markdown file outside fenced code blocks."""
    inside = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            inside = not inside
            continue
        if not inside:
            yield line


def _anchors(path: Path) -> set[str]:
    """GitHub's heading anchors of a Markdown file (lower case, punctuation dropped, spaces to '-')."""
    seen: dict[str, int] = {}
    anchors = set()
    for line in _prose_lines(path):
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        slug = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def _doc_files():
    return [README, *sorted(DOCS.glob("*.md"))]


def test_relative_links_in_readme_and_docs_resolve():
    broken = []
    for source in _doc_files():
        for line in _prose_lines(source):
            for target in LINK.findall(line):
                if re.match(r"[a-z][a-z0-9+.-]*:", target):   # http:, https:, mailto:
                    continue
                file_part, _, anchor = target.partition("#")
                dest = (source.parent / file_part).resolve() if file_part else source
                where = f"{source.relative_to(ROOT)}: {target}"
                if not dest.exists():
                    broken.append(f"{where} (no such file)")
                elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                    broken.append(f"{where} (no such heading)")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_readme_is_a_front_door_that_links_every_docs_page():
    size = README.stat().st_size
    assert size <= README_MAX_BYTES, (
        f"README.md is {size} bytes, over {README_MAX_BYTES}: move the details to a page of docs/")
    text = README.read_text(encoding="utf-8")
    for command in ("./run_all.sh --profile smoke", "./run_tests.sh"):
        assert command in text, f"README.md lost the quickstart command {command}"
    linked = {(ROOT / target.partition("#")[0]).resolve() for target in LINK.findall(text)}
    unlinked = [p.name for p in sorted(DOCS.glob("*.md")) if p.resolve() not in linked]
    assert not unlinked, "docs pages the README does not link: " + ", ".join(unlinked)
