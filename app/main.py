"""create_app(): the FastAPI application of simreg."""

from __future__ import annotations

import gc
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import structlog
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.auth.service import TokenService
from app.claims.router import router as claims_router
from app.companies.router import router as companies_router
from app.companies.tenants import RegisteredTenants
from app.config import Environment, Settings, get_settings
from app.core.body_limit import BodyLimitMiddleware
from app.core.clock import Clock
from app.core.errors import UnexpectedErrorMiddleware, install_problem_handlers
from app.core.header_limit import HeaderLimitMiddleware
from app.core.health import router as health_router
from app.core.logging import RequestLogMiddleware, configure_logging
from app.core.metrics import RequestMetricsMiddleware
from app.core.metrics import router as metrics_router
from app.core.rate_limit import RateLimits
from app.core.runtime import Runtime
from app.core.security_headers import SecurityHeadersMiddleware
from app.db.read_pool import ReadPool
from app.db.session import is_postgres
from app.deadlines.router import router as deadlines_router
from app.matching.router import router as matching_router
from app.notifications.router import router as notifications_router
from app.numbers.page_reads import number_page_reader
from app.numbers.router import router as numbers_router
from app.people.router import router as people_router
from app.people.router import sandbox_router as sandbox_people_router
from app.people.status_reads import status_reader
from app.portal.router import router as portal_router
from app.portal.router import sandbox_router as sandbox_portal_router
from app.reports.router import router as reports_router
from app.sandbox.router import router as sandbox_tokens_router
from app.scheduler.router import router as jobs_router
from app.scheduler.router import sandbox_router as sandbox_clock_router
from app.scheduler.runner import build_scheduler
from app.uploads import intake as uploads
from app.uploads.router import router as uploads_router
from app.uploads.worker import run_upload
from app.web import oidc
from app.web.pages import PAGE_ROUTERS, SANDBOX_PAGE_ROUTERS, STATIC
from app.web.rendering import install_page_errors
from app.web.sessions import SESSION_COOKIE
from app.work.router import router as work_router

log = structlog.get_logger("simreg.app")


def _resume_uploads(runtime: Runtime) -> None:
    """Finish uploads whose worker died (a crash or a restart mid-upload)."""
    try:
        with runtime.sessions() as session:
            pending = uploads.stale_uploads(session, now=runtime.clock.now())
        for upload_id in pending:
            log.info("resuming upload", upload_id=upload_id)
            run_upload(runtime, upload_id)
    except Exception:
        # The next start, or `simreg resume-uploads`, tries again; serving goes on meanwhile.
        log.exception("resuming uploads stopped")


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """Build the API for `settings` (the process's own by default)."""
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    runtime = Runtime.build(settings, clock=clock)
    docs = settings.api_docs
    app = FastAPI(
        lifespan=_lifespan(runtime),
        # Off in production unless SIMREG_API_DOCS_IN_PRODUCTION: the map of every operation.
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
        title="simreg",
        version="0.1.0",
        summary="Registry of the end users of corporate SIM cards",
        description="Company admins name who uses each corporate SIM; persons confirm; "
        "operators match and activate. Errors are RFC 9457 problem+json.",
    )
    app.state.runtime = runtime
    app.state.tokens = TokenService(settings)
    app.state.tenants = RegisteredTenants()
    # The hottest reads share one asyncpg pool per process on PostgreSQL.
    pool = (
        ReadPool(
            runtime.engine.url.render_as_string(hide_password=False),
            max_size=settings.db_pool_size,
            connect_timeout=settings.db_connect_timeout_seconds,
        )
        if is_postgres(runtime.engine)
        else None
    )
    app.state.read_pool = pool
    app.state.status_reader = status_reader(runtime.engine, pool)
    app.state.number_pages = number_page_reader(runtime.engine, pool)
    app.state.limits = RateLimits.from_settings(settings)
    app.state.oidc = oidc.build_providers(settings)
    install_problem_handlers(app)
    install_page_errors(app)
    _add_middlewares(app, settings)
    _include_routers(app, settings)
    return app


def _lifespan(runtime: Runtime) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Start-up and shut-down of one API process: resumed uploads, the in-process scheduler."""
    settings = runtime.settings

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.upload_resume_on_start:
            threading.Thread(
                target=_resume_uploads, args=(runtime,), name="upload-resume", daemon=True
            ).start()
        scheduler = build_scheduler(runtime) if settings.scheduler_in_process else None
        if scheduler is not None:
            # `simreg scheduler` runs the jobs in production; every tick is claimed once.
            scheduler.start()
            log.info("scheduler started in the API process", jobs=len(scheduler.get_jobs()))
        # Everything built so far lives as long as the process. A full collection walked those
        # 160k objects for 65 ms, now and then in the middle of a request: the p99 of small
        # reads. Frozen, they are left out of every collection.
        gc.collect()
        gc.freeze()
        yield
        await app.state.status_reader.close()
        if app.state.read_pool is not None:
            await app.state.read_pool.close()
        if scheduler is not None:
            scheduler.shutdown(wait=True)
        runtime.engine.dispose()

    return lifespan


def _add_middlewares(app: FastAPI, settings: Settings) -> None:
    """The middlewares, innermost first: each added one wraps those before it."""
    # Innermost, so that a 500 passes through the middlewares below like any answer.
    app.add_middleware(UnexpectedErrorMiddleware)
    app.add_middleware(RequestLogMiddleware)

    def body_limit(path: str) -> int:
        if path.endswith("/uploads"):
            return settings.upload_max_bytes
        return settings.json_max_bytes

    app.add_middleware(BodyLimitMiddleware, limit_for=body_limit)
    app.add_middleware(
        HeaderLimitMiddleware,
        max_total=settings.max_header_bytes,
        max_credential=settings.max_credential_bytes,
    )
    if settings.cors_origins:
        # Off unless origins are listed: the API is called server to server or from the same site.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Location", "Content-Disposition", "Retry-After"],
            max_age=600,
        )
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.hsts)
    # The pages' session: a signed cookie, HttpOnly and SameSite=Lax; Secure in production.
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.session_secret,
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_minutes * 60,
        same_site="lax",
        https_only=settings.env is Environment.PRODUCTION,
    )
    # Outside the others, so refused bodies and preflights are counted and timed too.
    app.add_middleware(RequestMetricsMiddleware)
    if settings.trusted_proxies:
        # Outermost: everything after it sees the client the trusted proxy reports. `simreg
        # serve` turns uvicorn's own handling off, which trusts any caller on 127.0.0.1.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)


# In this order in the OpenAPI document.
_ROUTERS = (
    health_router,
    metrics_router,
    companies_router,
    numbers_router,
    people_router,
    uploads_router,
    matching_router,
    claims_router,
    portal_router,
    work_router,
    notifications_router,
    reports_router,
    deadlines_router,
    jobs_router,
)
# Outside production only: the sandbox identity provider, people, portal and clock.
_SANDBOX_ROUTERS = (
    sandbox_tokens_router,
    sandbox_people_router,
    sandbox_portal_router,
    sandbox_clock_router,
)


def _include_routers(app: FastAPI, settings: Settings) -> None:
    for router in _ROUTERS:
        app.include_router(router)
    if settings.is_sandbox:
        for router in (*_SANDBOX_ROUTERS, *SANDBOX_PAGE_ROUTERS):
            app.include_router(router)
    # The pages for people, on top of the same services.
    for router in PAGE_ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
