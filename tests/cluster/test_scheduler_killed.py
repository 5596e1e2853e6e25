"""The scheduler process killed in the middle of a deadline run: the batches it committed stay
done, the next scheduler's run completes the rest, and no number is suspended, queued for the
network or noticed twice."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from app.benchmarks.common import NOW
from app.benchmarks.deadlines import seed
from app.deadlines.models import DeadlineNotice, NoticeKind
from app.numbers.models import NumberStatus, StatusEvent
from app.work.models import WorkItem, WorkKind
from tests.cluster.topology import Cluster, cluster, eventually, free_port, simreg_env

pytestmark = [pytest.mark.cluster, pytest.mark.postgres_only]

NUMBERS = 100_000


@pytest.fixture
def topology(empty_database: str, tmp_path: Path) -> Iterator[Cluster]:
    with cluster(
        empty_database,
        tmp_path,
        now=NOW.isoformat(),
        scheduler_in_process="false",
        deadlines_interval_seconds="1",
        # Many small transactions, so that the kill lands between committed batches.
        deadline_batch_ids="1000",
    ) as started:
        yield started


def _suspended(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(
                conn.scalar(
                    select(func.count()).where(StatusEvent.to_status == NumberStatus.SUSPENDED)
                )
                or 0
            )
    finally:
        engine.dispose()


def test_a_run_killed_midway_is_completed_by_the_next_and_nothing_happens_twice(
    topology: Cluster,
) -> None:
    seed(topology.database_url, numbers=NUMBERS)
    first = topology.start_scheduler(metrics_port=free_port())

    # Kill it once some batches are committed and before the run is over.
    caught = eventually(
        lambda: n if (n := _suspended(topology.database_url)) > 0 else None,
        "the first batches suspended",
        timeout=120,
    )
    first.popen.send_signal(signal.SIGKILL)
    first.popen.wait(timeout=10)
    halfway = _suspended(topology.database_url)

    second = topology.start_scheduler(metrics_port=free_port())
    settled = eventually(
        lambda: (
            n
            if (n := _suspended(topology.database_url)) > halfway
            and time.sleep(2) is None
            and _suspended(topology.database_url) == n
            else None
        ),
        "the next scheduler's run completed the work",
        timeout=120,
    )
    second.stop()

    # Nothing left: one more run, from the command line, finds nothing to suspend.
    again = subprocess.run(
        [sys.executable, "-m", "app.cli", "jobs", "run", "deadlines"],
        env=simreg_env(topology.database_url, **topology.settings),
        capture_output=True,
        text=True,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout.strip().splitlines()[-1])
    assert (summary["outcome"], summary["suspended"]) == ("ok", 0), summary

    engine = create_engine(topology.database_url)
    try:
        with engine.connect() as conn:
            events = conn.execute(
                select(func.count(), func.count(func.distinct(StatusEvent.number_id))).where(
                    StatusEvent.to_status == NumberStatus.SUSPENDED
                )
            ).one()
            work = conn.execute(
                select(func.count(), func.count(func.distinct(WorkItem.number_id))).where(
                    WorkItem.kind == WorkKind.SUSPEND
                )
            ).one()
            notices = conn.execute(
                select(func.count(), func.count(func.distinct(DeadlineNotice.number_id))).where(
                    DeadlineNotice.kind == NoticeKind.SUSPEND
                )
            ).one()
    finally:
        engine.dispose()
    assert 0 < caught <= halfway < settled, (caught, halfway, settled)
    # Each suspended number: one event, one network work item, one notice.
    assert tuple(events) == (settled, settled)
    assert tuple(work) == (settled, settled)
    assert tuple(notices) == (settled, settled)
