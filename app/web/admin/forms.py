"""A form's problems in words, field by field, to show next to the fields."""

from __future__ import annotations

from pydantic import ValidationError

from app.core.errors import InvalidInput, field_problem
from app.core.messages import Language, word


def worded_problems(exc: ValidationError | InvalidInput, language: Language) -> dict[str, str]:
    """Each wrong field and what is wrong with it, worded as the API words it."""
    if isinstance(exc, InvalidInput):
        return {p.field: word(p.message, language) for p in exc.errors}
    worded = (field_problem(err, language) for err in exc.errors(include_url=False))
    return {p["field"]: p["message"] for p in worded}
