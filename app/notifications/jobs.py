"""Scheduled work of notifications: delivering the outbox."""

from __future__ import annotations

from app.core.runtime import Runtime
from app.notifications.channels import ChannelRouter
from app.notifications.delivery import DeliveryReport, deliver_due

# Bounds one tick's work (batches × SIMREG_NOTIFY_BATCH messages); the next tick goes on.
MAX_BATCHES_PER_RUN = 20


def deliver_notifications(
    runtime: Runtime, *, max_batches: int = MAX_BATCHES_PER_RUN
) -> dict[str, int]:
    """Deliver due messages a batch at a time until none is due or `max_batches` ran.

    Messages that fail wait for their backoff, so one run never tries a message twice."""
    total = DeliveryReport()
    batches = 0
    with ChannelRouter(runtime.settings, runtime.clock) as router:
        while batches < max_batches:
            report = deliver_due(runtime, router=router)
            if report.picked == 0:
                break
            batches += 1
            total.add(report)
            if report.picked < runtime.settings.notify_batch:
                break
    return {**total.as_dict(), "batches": batches}
