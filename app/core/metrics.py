"""Prometheus metrics of simreg and the `GET /metrics` endpoint that exposes them.

Every metric lives in prometheus-client's default registry, which belongs to one process.
When several worker processes serve the API (gunicorn or uvicorn `--workers N`), each keeps
its own counters and a scrape of the shared port sees whichever worker answered: run one
worker per container (and scale containers) or scrape each worker by its own address.
Multiprocess mode is deliberately not set up.

Counters and histograms count what happened in the process that did the work: HTTP requests
in the API process, upload rows where the upload was processed, matching outcomes and job runs
where the scheduler ran them (the API process with SIMREG_SCHEDULER_IN_PROCESS=true, else the
`simreg scheduler` process). The registry gauges (numbers by status, notification backlog) are
not computed per scrape: the `metrics` job refreshes them every SIMREG_METRICS_INTERVAL_SECONDS
with one GROUP BY per table, in every process that runs a scheduler. They are declared here, with
every other metric, so the endpoint shows them from the start; the job that counts them is the
scheduler's, since the kernel reads no feature's tables.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# -- HTTP -------------------------------------------------------------------------------------

# Labels are the route template, never the raw path, so their number stays bounded.
UNMATCHED_ROUTE = "unmatched"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

HTTP_REQUESTS = Counter(
    "simreg_http_requests_total",
    "HTTP requests answered, by route template, method and status class (2xx, 4xx, ...).",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "simreg_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by route template, method and "
    "status class.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)

# -- Uploads, matching, jobs ------------------------------------------------------------------

UPLOAD_ROWS_PROCESSED = Counter(
    "simreg_upload_rows_processed_total",
    "Rows read from uploads that finished, by mode (validate, apply).",
    ["mode"],
)
UPLOAD_ROWS_REJECTED = Counter(
    "simreg_upload_rows_rejected_total",
    "Rows refused in uploads that finished, by mode (validate, apply).",
    ["mode"],
)
MATCHING_OUTCOMES = Counter(
    "simreg_matching_outcomes_total",
    "What matching runs did, by result (confirmed_active, mismatched, requests_created, ...).",
    ["result"],
)
JOB_RUNS = Counter(
    "simreg_job_runs_total",
    "Scheduled job runs in this process, by job and outcome (ok, failed).",
    ["job", "outcome"],
)
JOB_DURATION = Histogram(
    "simreg_job_duration_seconds",
    "Duration of scheduled job runs, by job and outcome.",
    ["job", "outcome"],
    buckets=(0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0, 1800.0, 3600.0),
)

# -- Registry gauges, refreshed by the metrics job ---------------------------------------------

NUMBERS_BY_STATUS = Gauge(
    "simreg_numbers",
    "Numbers in the registry, by status (refreshed by the metrics job).",
    ["status"],
)
NOTIFICATION_BACKLOG = Gauge(
    "simreg_notifications_backlog",
    "Notifications waiting for delivery, including those waiting to retry "
    "(refreshed by the metrics job).",
)
GAUGES_REFRESHED = Gauge(
    "simreg_metrics_refreshed_timestamp_seconds",
    "Unix time the registry gauges were last refreshed in this process (0: never).",
)


def status_class(status: int) -> str:
    """'2xx' for 204, '5xx' for 503: the label that keeps status codes few."""
    return f"{status // 100}xx"


# -- The request middleware and the endpoint ---------------------------------------------------


def route_template(scope: Scope) -> str:
    """The template of the route that answered (`/api/v1/companies/{company_id}`), or
    'unmatched' for a request no route took (404, or a body refused before routing)."""
    route = scope.get("route")
    template = getattr(route, "path_format", None)
    if isinstance(template, str):
        return template
    app = scope.get("app")
    # Plain Starlette routes (the docs pages) do not mark the scope with the route they took.
    for candidate in getattr(app, "routes", ()):
        if isinstance(candidate, Route) and candidate.matches(scope)[0] is not Match.NONE:
            return candidate.path_format
    return UNMATCHED_ROUTE


class RequestMetricsMiddleware:
    """Counts and times every HTTP request by route template, method and status class."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            method = scope["method"] if scope["method"] in _METHODS else "other"
            labels = (route_template(scope), method, status_class(status))
            HTTP_REQUESTS.labels(*labels).inc()
            HTTP_DURATION.labels(*labels).observe(time.perf_counter() - started)


router = APIRouter(tags=["health"])


@router.get("/metrics", response_class=Response)
def metrics() -> Response:
    """This process's metrics in the Prometheus text format (see the module's docstring)."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
