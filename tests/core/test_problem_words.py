"""Every problem a person reads is worded from the catalogs: no detail or field message is
built from a plain string in code, and every kind of problem has its title in both languages."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import app
from app.core.errors import DomainError
from app.core.messages import LANGUAGES, codes

APP = Path(app.__file__).parent
# Every package whose raise sites word their messages from the catalogs.
WORDED_PACKAGES = (
    "auth",
    "benchmarks",
    "claims",
    "companies",
    "core",
    "db",
    "deadlines",
    "matching",
    "notifications",
    "numbers",
    "people",
    "portal",
    "reports",
    "sandbox",
    "scheduler",
    "uploads",
    "web",
    "work",
)
# Modules at the top of app/, outside any package.
WORDED_MODULES = ("cli.py", "config.py", "demo.py", "main.py", "models.py")


def _all_subclasses(base: type) -> set[type]:
    found = set(base.__subclasses__())
    for sub in list(found):
        found |= _all_subclasses(sub)
    return found


def _import_everything() -> None:
    for module in pkgutil.walk_packages([str(APP)], prefix="app."):
        importlib.import_module(module.name)


def _problem_names() -> set[str]:
    _import_everything()
    return {cls.__name__ for cls in _all_subclasses(DomainError)} | {"DomainError"}


def _is_plain(node: ast.expr) -> bool:
    """A literal string, an f-string, or strings glued together with `+`."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp):
        return _is_plain(node.left) or _is_plain(node.right)
    if isinstance(node, ast.BoolOp):
        return any(_is_plain(value) for value in node.values)
    return False


def _called_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _plain_words(path: Path, problems: set[str]) -> list[int]:
    """The line of each DomainError built with a plain detail and each FieldProblem with a
    plain message."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        name = _called_name(node)
        words: ast.expr | None = None
        if name in problems:
            words = node.args[0] if node.args else None
            words = next((k.value for k in node.keywords if k.arg == "detail"), words)
        elif name == "FieldProblem":
            words = node.args[2] if len(node.args) > 2 else None
            words = next((k.value for k in node.keywords if k.arg == "message"), words)
        if words is not None and _is_plain(words):
            found.append(node.lineno)
    return found


def _worded_files() -> list[Path]:
    files = [APP / name for name in WORDED_MODULES if (APP / name).exists()]
    for package in WORDED_PACKAGES:
        files += sorted((APP / package).rglob("*.py"))
    return files


def test_the_listed_packages_are_every_package() -> None:
    packages = {p.name for p in APP.iterdir() if (p / "__init__.py").exists()}
    assert packages == set(WORDED_PACKAGES)


def test_no_problem_is_worded_by_a_plain_string() -> None:
    problems = _problem_names()
    plain = [
        f"{path.relative_to(APP.parent)}:{line}"
        for path in _worded_files()
        for line in _plain_words(path, problems)
    ]
    assert not plain, plain


def test_the_scan_finds_a_plain_string(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        'raise NotFound(f"Number {n} was not found.")\n'
        'FieldProblem("msisdn", "msisdn.invalid", "eleven digits")\n'
        'raise NotFound(Text("number.not_found", number_id=1))\n'
        'raise Conflict("a" + str(n), errors=[])\n',
        encoding="utf-8",
    )
    assert _plain_words(sample, {"NotFound", "Conflict"}) == [1, 2, 4]


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_kind_of_problem_has_a_title(language: str) -> None:
    _import_everything()
    slugs = {cls.type_slug for cls in _all_subclasses(DomainError) | {DomainError}}
    untitled = sorted(s for s in slugs if f"problem.{s}" not in codes(language))  # type: ignore[arg-type]
    assert not untitled


def _text_codes(path: Path) -> list[tuple[int, str]]:
    return [
        (node.lineno, node.args[0].value)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and _called_name(node) == "Text"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ]


def test_every_code_said_in_code_is_in_the_catalogs() -> None:
    known = codes("ru") & codes("en")
    unknown = [
        f"{path.relative_to(APP.parent)}:{line} {code}"
        for path in _worded_files()
        for line, code in _text_codes(path)
        if code not in known
    ]
    assert not unknown, unknown
