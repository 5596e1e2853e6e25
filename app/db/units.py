"""Batch commits: the one place a bulk job makes part of its work durable before it ends.

Services flush and their caller commits: the request dependency, a job's unit of work
(`app.db.session.unit_of_work`) or a CLI command. A bulk job (an upload's apply, the portal
dispatch, notification delivery) must instead keep its work batch by batch, so that a crash
resumes after the last finished batch, locks are held for one batch only and a lease is seen
by other workers at once. Those jobs end each batch with `commit_batch`, never with a bare
`session.commit()`, so every such point can be found by name.
"""

from __future__ import annotations

from sqlalchemy import Connection
from sqlalchemy.orm import Session


def commit_batch(on: Session | Connection) -> None:
    """End the current batch of a bulk job: make its work durable and begin the next batch's
    transaction on the same session or connection."""
    on.commit()
