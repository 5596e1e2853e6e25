"""A form's problems in words, field by field, to show next to the fields."""

from __future__ import annotations

from pydantic import ValidationError

from app.core.errors import InvalidInput, field_problem
from app.core.messages import Language, word


def worded_problems(exc: ValidationError | InvalidInput, language: Language) -> dict[str, str]:
    """Each wrong field and what is wrong with it, worded as the API words it (a field with
    several problems shows its first)."""
    if isinstance(exc, InvalidInput):
        found = [(p.field, word(p.message, language)) for p in exc.errors]
    else:
        worded = (field_problem(err, language) for err in exc.errors(include_url=False))
        found = [(p["field"], p["message"]) for p in worded]
    problems: dict[str, str] = {}
    for name, said in found:
        problems.setdefault(name, said)
    return problems
