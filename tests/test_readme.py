"""The README stays true: it opens with the two commands, its API table lists exactly the
OpenAPI document's paths and methods."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
METHODS = {"GET", "PUT", "POST", "DELETE", "PATCH"}
# A row of the API table: | GET, POST | `/api/v1/...` | who: what |
ROW = re.compile(r"^\|\s*(?P<methods>[A-Z, ]+?)\s*\|\s*`(?P<path>/[^`]*)`\s*\|")


def section(title: str) -> str:
    """The README's text under a `## ` heading, up to the next one."""
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else len(README)]


def documented_operations() -> set[tuple[str, str]]:
    """(method, path) of every row of the README's API table."""
    operations: set[tuple[str, str]] = set()
    for line in section("API v1").splitlines():
        if match := ROW.match(line):
            methods = {m.strip() for m in match["methods"].split(",")}
            assert methods <= METHODS, line
            operations |= {(method, match["path"]) for method in methods}
    return operations


def openapi_operations(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every operation of the OpenAPI document."""
    return {
        (method.upper(), path)
        for path, item in app.openapi()["paths"].items()
        for method in item
        if method.upper() in METHODS
    }


class TestTheReadmeOpensWithTheTwoCommands:
    def test_make_run_then_make_test(self) -> None:
        lines = README.splitlines()
        assert lines[0] == "# simreg"
        block = lines[lines.index("```sh") + 1 : lines.index("```")]
        assert [line.split()[:2] for line in block] == [["make", "run"], ["make", "test"]]
        assert lines.index("```sh") == 2


class TestTheApiTableIsTheOpenapiDocument:
    def test_every_documented_operation_exists(self, app: FastAPI) -> None:
        unknown = documented_operations() - openapi_operations(app)
        assert not unknown, f"in the README but not in the API: {sorted(unknown)}"

    def test_every_operation_is_documented(self, app: FastAPI) -> None:
        missing = openapi_operations(app) - documented_operations()
        assert not missing, f"in the API but not in the README's table: {sorted(missing)}"

    def test_each_path_has_one_row(self) -> None:
        paths = [m["path"] for line in section("API v1").splitlines() if (m := ROW.match(line))]
        assert len(paths) == len(set(paths))
