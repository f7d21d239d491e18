"""The four functions keep only what is their own: what every handler sets up (Powertools, cached
settings and clients, the decorators, a fault's FAILED status) lives once, in sidecar_enforcer.handler.

The check reads each functions/<name>/app.py as code (docstrings, comments and imports left out,
the layout normalised by ``ast.unparse``) and finds every run of ``RUN`` consecutive lines that stands
in two of them. Three lines is the shortest run that is more than a signature and its decorator."""

from __future__ import annotations

import ast
from pathlib import Path

from ._factories import ROOT

RUN = 3


class _Bare(ast.NodeTransformer):
    """A module without its imports and docstrings."""

    def generic_visit(self, node: ast.AST) -> ast.AST:
        super().generic_visit(node)
        body = getattr(node, "body", None)
        if isinstance(body, list):
            kept = [statement for statement in body if not _import_or_docstring(statement)]
            body[:] = kept or [ast.Pass()]
        return node


def _import_or_docstring(statement: ast.stmt) -> bool:
    if isinstance(statement, ast.Import | ast.ImportFrom):
        return True
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def code_lines(path: Path) -> list[str]:
    tree = _Bare().visit(ast.parse(path.read_text(encoding="utf-8")))
    return [line.strip() for line in ast.unparse(tree).splitlines() if line.strip()]


def shared_runs(paths: list[Path], length: int = RUN) -> dict[tuple[str, ...], set[str]]:
    """Each run of ``length`` lines found in more than one file, with the files it stands in."""
    where: dict[tuple[str, ...], set[str]] = {}
    for path in paths:
        lines = code_lines(path)
        for start in range(len(lines) - length + 1):
            where.setdefault(tuple(lines[start : start + length]), set()).add(str(path))
    return {run: found for run, found in where.items() if len(found) > 1}


def test_no_handler_code_is_repeated_across_the_functions() -> None:
    functions = sorted((ROOT / "functions").glob("*/app.py"))
    assert len(functions) == 4

    assert shared_runs(functions) == {}


def test_the_check_finds_a_set_up_written_twice(tmp_path: Path) -> None:
    set_up = (
        "logger = Logger()\nmetrics = Metrics()\n"
        "copy_config_to_registered_loggers(source_logger=logger, include={'sidecar_enforcer'})\n"
    )
    first, second = tmp_path / "first.py", tmp_path / "second.py"
    first.write_text(f'"""One."""\nimport os\n{set_up}A = 1\n', encoding="utf-8")
    second.write_text(f"# two\n{set_up}\n\nB = 2\n", encoding="utf-8")

    found = shared_runs([first, second], length=RUN)

    assert list(found) == [tuple(set_up.splitlines())]
