"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.core.deps import RuntimeDep
from app.core.errors import problem_response
from app.core.messages import LanguageDep, Text

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
def readyz(runtime: RuntimeDep, language: LanguageDep) -> dict[str, str] | JSONResponse:
    """The database answers; 503 problem+json when it does not."""
    try:
        with runtime.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return problem_response(
            status=503,
            type_slug="database-unavailable",
            detail=Text("problem.database-unavailable.detail"),
            language=language,
        )
    return {"status": "ready", "database": runtime.engine.dialect.name}
