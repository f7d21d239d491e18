"""The layer and the dev tools stay readable in one sitting: no module over 400 lines, no function
over 60 (its ``def`` line to its last, nested functions counted in it and on their own). A larger
one is split along a seam whose name says what it holds."""

from __future__ import annotations

import ast
from pathlib import Path

from ._factories import ROOT

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
ROOTS = (ROOT / "layers" / "common" / "sidecar_enforcer", ROOT / "tools" / "sidecar_enforcer_dev")


def oversized(path: Path, root: Path) -> dict[str, int]:
    """The module (by its path from ``root``) when it has more lines than allowed, and each function
    (``path:Class.function``) longer than allowed, with their lengths."""
    name = path.relative_to(root).as_posix()
    text = path.read_text(encoding="utf-8")
    found: dict[str, int] = {}
    lines = len(text.splitlines())
    if lines > MAX_MODULE_LINES:
        found[name] = lines
    for qualname, node in _functions(ast.parse(text), ""):
        length = (node.end_lineno or node.lineno) - node.lineno + 1
        if length > MAX_FUNCTION_LINES:
            found[f"{name}:{qualname}"] = length
    return found


def _functions(node: ast.AST, prefix: str) -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    found: list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]] = []
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            found.append((prefix + child.name, child))
            found += _functions(child, f"{prefix}{child.name}.")
        elif isinstance(child, ast.ClassDef):
            found += _functions(child, f"{prefix}{child.name}.")
        else:
            found += _functions(child, prefix)
    return found


def _everything() -> dict[str, int]:
    found: dict[str, int] = {}
    for top in ROOTS:
        for path in sorted(top.rglob("*.py")):
            found |= oversized(path, ROOT)
    return found


def test_no_module_over_400_lines_and_no_function_over_60() -> None:
    assert _everything() == {}


def test_a_module_or_function_too_long_is_found(tmp_path: Path) -> None:
    body = "\n".join(f"        x{n} = {n}" for n in range(MAX_FUNCTION_LINES))
    (tmp_path / "long.py").write_text(
        f"class Keeper:\n    def fits(self) -> None:\n        pass\n\n    def run(self) -> None:\n{body}\n",
        encoding="utf-8",
    )
    (tmp_path / "big.py").write_text("x = 1\n" * (MAX_MODULE_LINES + 1), encoding="utf-8")
    (tmp_path / "just.py").write_text("x = 1\n" * MAX_MODULE_LINES, encoding="utf-8")

    found: dict[str, int] = {}
    for path in sorted(tmp_path.glob("*.py")):
        found |= oversized(path, tmp_path)

    assert found == {"big.py": MAX_MODULE_LINES + 1, "long.py:Keeper.run": MAX_FUNCTION_LINES + 1}
