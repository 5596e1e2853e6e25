"""The company admin's cabinet: the overview, uploads, numbers, claims and notification
settings of one company. Operator staff may open any company's cabinet; an admin only their
own (another company answers 404, as the API does)."""

from __future__ import annotations

from fastapi import APIRouter

from app.web.admin import claims, dashboard, notifications, number, numbers, upload, uploads

ADMIN_ROUTERS: tuple[APIRouter, ...] = (
    dashboard.router,
    uploads.router,
    upload.router,
    numbers.router,
    number.router,
    claims.router,
    notifications.router,
)
