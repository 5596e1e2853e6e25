"""The dispatch of confirmation requests to the identity portal, a scheduled job."""

from __future__ import annotations

from typing import Any

from app.core.runtime import Runtime
from app.portal.dispatch import dispatch
from app.portal.port import IdentityPortal, build_portal


def dispatch_cycle(runtime: Runtime, *, portal: IdentityPortal | None = None) -> dict[str, Any]:
    """Send queued confirmation requests at the portal's rate for most of one dispatch tick
    (the next tick, in this scheduler or another, carries on)."""
    portal = portal or build_portal(runtime)
    seconds = max(runtime.settings.dispatch_interval_seconds * 0.9, 0.5)
    return dispatch(runtime, portal, seconds=seconds).as_dict()
