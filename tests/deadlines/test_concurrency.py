"""Two API instances and a separate scheduler process run the deadline job at once against
one database: every number is suspended once, noticed once, and queued for the network once."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.config import Settings
from app.core.clock import FixedClock
from app.deadlines.models import DeadlineNotice
from app.main import create_app
from app.notifications.models import Notification
from app.numbers.models import PhoneNumber, StatusEvent
from app.work.models import WorkItem
from tests.builders import staff_headers
from tests.conftest import START
from tests.deadlines.builders import numbers, world

COUNT = 2_500


def test_two_instances_and_a_scheduler_process_suspend_each_number_once(
    client: TestClient, settings: Settings, clock: FixedClock
) -> None:
    w = world(client)
    ids = numbers(client, w, COUNT, starts_on=dt.date(2026, 11, 25))  # deadline: 24 November
    after_deadline = START + dt.timedelta(days=3)
    instances = [
        create_app(
            settings.model_copy(update={"deadline_batch_ids": 1_000}),
            clock=FixedClock(after_deadline),
        )
        for _ in range(2)
    ]
    env = {
        **os.environ,
        "SIMREG_ENV": "test",
        "SIMREG_DATABASE_URL": settings.database_url,
        "SIMREG_DEADLINE_BATCH_IDS": "1000",
    }
    start = threading.Barrier(3)
    results: list[Any] = []

    def api_instance(app: Any) -> None:
        with TestClient(app) as api:
            headers = staff_headers(api)
            start.wait()
            results.append(api.post("/api/v1/jobs/deadlines/run", headers=headers))

    def scheduler_process() -> None:
        start.wait()
        results.append(
            subprocess.run(
                [sys.executable, "-m", "app.cli", "jobs", "run", "deadlines", "--now",
                 after_deadline.isoformat()],
                env=env, capture_output=True, text=True, timeout=300, check=False,
            )
        )  # fmt: skip

    threads = [threading.Thread(target=api_instance, args=(app,)) for app in instances]
    threads.append(threading.Thread(target=scheduler_process))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    for app in instances:
        app.state.runtime.engine.dispose()

    http = [r for r in results if not isinstance(r, subprocess.CompletedProcess)]
    (process,) = [r for r in results if isinstance(r, subprocess.CompletedProcess)]
    assert process.returncode == 0, process.stderr[-2000:]
    assert all(r.status_code == 200 for r in http), [r.text for r in http]
    suspended_by_api = sum(r.json()["summary"]["suspended"] for r in http)
    by_process = json.loads(process.stdout.strip().splitlines()[-1])
    assert by_process["outcome"] == "ok"
    assert suspended_by_api + by_process["suspended"] == COUNT

    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    with runtime.sessions() as session:
        assert (
            session.scalar(
                select(func.count()).where(
                    PhoneNumber.id.in_(ids), PhoneNumber.status == "suspended"
                )
            )
            == COUNT
        )
        per_number = (
            select(StatusEvent.number_id, func.count().label("n"))
            .where(StatusEvent.to_status == "suspended")
            .group_by(StatusEvent.number_id)
            .subquery()
        )
        assert session.execute(select(func.count(), func.max(per_number.c.n))).one() == (COUNT, 1)
        notices = session.execute(
            select(func.count(), func.count(func.distinct(DeadlineNotice.number_id))).where(
                DeadlineNotice.kind == "suspend"
            )
        ).one()
        assert tuple(notices) == (COUNT, COUNT)
        work = session.execute(
            select(func.count(), func.count(func.distinct(WorkItem.number_id))).where(
                WorkItem.kind == "suspend"
            )
        ).one()
        assert tuple(work) == (COUNT, COUNT)
        digests = session.scalars(
            select(Notification.payload).where(Notification.audience == "company")
        ).all()
    told = sum(json.loads(payload)["suspended"] for payload in digests if payload)
    assert told == COUNT
