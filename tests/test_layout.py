"""The layout rules of the developer guide, checked on the source: no function over 80 lines, at
most 8 top-level modules in ``kernels/``, and no import by string in ``kernels/`` (the one plug-in
point is the registry's entry points, read through ``importlib.metadata``, not an import by name).
Each failure lists every offender.  A module grows as long as its one concept needs (no line cap);
the layers are checked by import-linter (tests/test_layers.py)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREES = ("kernels", "bench", "scripts")
MAX_FUNCTION_LINES = 80
MAX_TOP_LEVEL_MODULES = 8
STRING_IMPORTS = {"import_module", "find_spec", "__import__"}


def _sources(*trees: str) -> list[Path]:
    return sorted(p for t in trees for p in (ROOT / t).rglob("*.py")
                  if "__pycache__" not in p.parts)


def _rel(path: Path, root: Path = ROOT) -> str:
    return path.relative_to(root).as_posix()


def long_functions(path: Path, root: Path = ROOT) -> list[str]:
    """'file:line name (N lines)' for every def (or async def) longer than the limit, counted
    from the def line to its last line (decorators not counted)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [f"{_rel(path, root)}:{node.lineno} {node.name} ({n} lines)"
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and (n := node.end_lineno - node.lineno + 1) > MAX_FUNCTION_LINES]


def test_no_function_over_80_lines():
    long = [f for p in _sources(*TREES) for f in long_functions(p)]
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: " + ", ".join(long)


def test_kernels_has_at_most_8_top_level_modules():
    top = sorted(p.name for p in (ROOT / "kernels").glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, (
        f"{len(top)} top-level modules in kernels/ (at most {MAX_TOP_LEVEL_MODULES}): "
        + ", ".join(top))


def string_imports(path: Path, root: Path = ROOT) -> list[str]:
    """'file:line name' for every call of importlib.import_module, find_spec or __import__ and
    every ``from importlib... import`` of them."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out = []
    for node in ast.walk(tree):
        name = None
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("importlib"):
            name = next((a.name for a in node.names if a.name in STRING_IMPORTS), None)
        if name in STRING_IMPORTS:
            out.append(f"{_rel(path, root)}:{node.lineno} {name}")
    return out


def test_no_string_imports_in_kernels():
    found = [s for p in _sources("kernels") for s in string_imports(p)]
    assert not found, "imports by string in kernels/: " + ", ".join(found)


def test_the_checks_find_offenders(tmp_path):
    """The scanners themselves: a long function and each kind of string import are reported."""
    src = tmp_path / "bad.py"
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    src.write_text("import importlib\nfrom importlib.util import find_spec\n\n"
                   f"def long():\n{body}\n\n"
                   "def short():\n    importlib.import_module('json')\n    __import__('os')\n")
    assert long_functions(src, tmp_path) == [f"bad.py:4 long ({MAX_FUNCTION_LINES + 1} lines)"]
    end = 4 + MAX_FUNCTION_LINES  # the last line of long()
    assert string_imports(src, tmp_path) == [
        "bad.py:2 find_spec", f"bad.py:{end + 3} import_module", f"bad.py:{end + 4} __import__"]
