"""Every page router, in one place for the application to include."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter

from app.web.admin import ADMIN_ROUTERS
from app.web.person import router as person_router
from app.web.signin import router as sign_in_router
from app.web.signin import sandbox_router as sandbox_sign_in_router
from app.web.staff import router as staff_router

STATIC = Path(__file__).parent / "static"
PAGE_ROUTERS: tuple[APIRouter, ...] = (sign_in_router, person_router, staff_router, *ADMIN_ROUTERS)
# Outside production only.
SANDBOX_PAGE_ROUTERS: tuple[APIRouter, ...] = (sandbox_sign_in_router,)
