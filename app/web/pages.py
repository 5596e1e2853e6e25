"""Every page router, in one place for the application to include."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter

from app.web.admin import ADMIN_ROUTERS
from app.web.signin import router as sign_in_router

STATIC = Path(__file__).parent / "static"
PAGE_ROUTERS: tuple[APIRouter, ...] = (sign_in_router, *ADMIN_ROUTERS)
