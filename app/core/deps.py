"""FastAPI dependencies for the pieces every endpoint uses.

The ones that only hand out a shared object are `async def`: FastAPI runs a plain `def`
dependency in the thread pool, a thread hop per dependency per request for nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from app.core.clock import Clock
from app.core.pagination import CursorCodec
from app.core.personal_data import PersonalDataVault
from app.core.runtime import Runtime


async def get_runtime(request: Request) -> Runtime:
    """The process's runtime, set by create_app()."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    """One transaction per request: commit before the response goes out, roll back on error."""
    session = runtime.sessions()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


async def get_clock(runtime: RuntimeDep) -> Clock:
    """The injected clock."""
    return runtime.clock


async def get_vault(runtime: RuntimeDep) -> PersonalDataVault:
    """The personal-data vault."""
    return runtime.vault


async def get_cursors(runtime: RuntimeDep) -> CursorCodec:
    """The page cursor codec."""
    return runtime.cursors


ClockDep = Annotated[Clock, Depends(get_clock)]
VaultDep = Annotated[PersonalDataVault, Depends(get_vault)]
CursorDep = Annotated[CursorCodec, Depends(get_cursors)]
