"""A file is a room with one job: no module of app/ over 600 lines, no function over 60."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[1] / "app"
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 60


def _modules() -> list[Path]:
    return sorted(APP.rglob("*.py"))


def _name(path: Path) -> str:
    return path.relative_to(APP).as_posix()


def _long_functions(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        (f"{_name(path)}:{node.name}", (node.end_lineno or node.lineno) - node.lineno + 1)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (node.end_lineno or node.lineno) - node.lineno + 1 > MAX_FUNCTION_LINES
    ]


class TestRoomSizes:
    @pytest.mark.parametrize("path", _modules(), ids=_name)
    def test_no_module_over_the_limit(self, path: Path) -> None:
        lines = len(path.read_text(encoding="utf-8").splitlines())
        assert lines <= MAX_MODULE_LINES, f"{_name(path)} has {lines} lines"

    @pytest.mark.parametrize("path", _modules(), ids=_name)
    def test_no_function_over_the_limit(self, path: Path) -> None:
        too_long = _long_functions(path)
        assert too_long == [], f"functions over {MAX_FUNCTION_LINES} lines: {too_long}"
