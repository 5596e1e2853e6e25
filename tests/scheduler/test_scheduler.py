"""Scheduled jobs: each tick claimed once however many schedulers run, the jobs API and
command, and the movable dev clock."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.config import Settings
from app.core.dev_clock import SharedClock
from app.core.runtime import Runtime
from app.db.session import unit_of_work
from app.main import create_app
from app.scheduler import jobs as scheduler_jobs
from app.scheduler.jobs import Job
from app.scheduler.models import JobClaim
from app.scheduler.runner import build_scheduler
from app.scheduler.service import claim, prune_claims, run_tick, slot_of
from tests.builders import make_company, staff_headers, token_headers


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Only one job, every second, that records each run."""
    runs: list[str] = []
    lock = threading.Lock()

    def count(runtime: Runtime) -> dict[str, Any]:
        time.sleep(0.2)
        with lock:
            runs.append(threading.current_thread().name)
        return {"runs": len(runs)}

    for name in list(scheduler_jobs.JOBS):
        monkeypatch.delitem(scheduler_jobs.JOBS, name)
    monkeypatch.setitem(scheduler_jobs.JOBS, "count", Job("count", "counts", lambda s: 1, count))
    return runs


class TestClaims:
    def test_the_first_claim_of_a_tick_wins(self, runtime: Runtime) -> None:
        with unit_of_work(runtime.sessions) as session:
            assert claim(session, job="deadlines", slot="60s:1", claimed_by="a") is True
        with unit_of_work(runtime.sessions) as session:
            assert claim(session, job="deadlines", slot="60s:1", claimed_by="b") is False
            assert claim(session, job="deadlines", slot="60s:2", claimed_by="b") is True

    def test_slots_are_the_same_for_every_scheduler(self) -> None:
        assert slot_of(60, 120.0) == slot_of(60, 179.9) == "60s:2"
        assert slot_of(60, 180.0) == "60s:3"

    def test_a_tick_runs_once(self, runtime: Runtime, counted: list[str]) -> None:
        first = run_tick(runtime, "count", slot="1s:5", claimed_by="a")
        second = run_tick(runtime, "count", slot="1s:5", claimed_by="b")
        assert (first.ran, second.ran) == (True, False)
        assert len(counted) == 1
        with runtime.sessions() as session:
            row = session.get_one(JobClaim, ("count", "1s:5"))
        assert (row.claimed_by, row.outcome) == ("a", "ok")
        assert json.loads(row.summary or "{}")["runs"] == 1

    def test_a_failing_job_is_recorded_and_the_next_tick_runs(
        self, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        attempts: list[int] = []

        def flaky(_: Runtime) -> dict[str, Any]:
            attempts.append(1)
            if len(attempts) == 1:
                raise ConnectionError("the database went away")
            return {"ok": True}

        monkeypatch.setitem(scheduler_jobs.JOBS, "flaky", Job("flaky", "flaky", lambda s: 1, flaky))
        failed = run_tick(runtime, "flaky", slot="1s:1", claimed_by="a")
        assert failed.outcome == "failed"
        assert "database went away" in str(failed.summary)
        assert run_tick(runtime, "flaky", slot="1s:2", claimed_by="a").outcome == "ok"


class TestHousekeeping:
    def test_old_claims_go_and_each_job_keeps_its_latest(self, runtime: Runtime) -> None:
        old = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        with unit_of_work(runtime.sessions) as session:
            for job, slot, days in (("a", "1", 0), ("a", "2", 1), ("a", "3", 90), ("b", "1", 0)):
                session.add(
                    JobClaim(
                        job=job,
                        slot=slot,
                        claimed_by="x",
                        started_at=old + dt.timedelta(days=days),
                    )
                )
        with unit_of_work(runtime.sessions) as session:
            pruned = prune_claims(session, older_than=old + dt.timedelta(days=60))
        assert pruned == 2
        with runtime.sessions() as session:
            left = sorted(session.execute(select(JobClaim.job, JobClaim.slot)).all())
        assert [tuple(row) for row in left] == [("a", "3"), ("b", "1")]


class TestTwoSchedulers:
    def test_two_schedulers_on_one_database_run_each_tick_once(
        self, settings: Settings, counted: list[str]
    ) -> None:
        # Two processes' worth of schedulers: separate runtimes and engines, one database.
        runtimes = [Runtime.build(settings) for _ in range(2)]
        schedulers = [build_scheduler(rt) for rt in runtimes]
        for scheduler in schedulers:
            scheduler.start()
        time.sleep(4.5)
        for scheduler in schedulers:
            scheduler.shutdown(wait=True)
        with runtimes[0].sessions() as session:
            claims = session.execute(
                select(func.count(), func.count(func.distinct(JobClaim.slot))).where(
                    JobClaim.job == "count"
                )
            ).one()
        for rt in runtimes:
            rt.engine.dispose()
        assert claims[0] == claims[1]  # no tick claimed twice
        assert len(counted) == claims[0] >= 3  # every claimed tick ran, once


class TestJobsApi:
    def test_staff_list_the_jobs(self, client: TestClient) -> None:
        jobs = client.get("/api/v1/jobs", headers=staff_headers(client)).json()
        assert [j["name"] for j in jobs] == [
            "matching",
            "dispatch",
            "deadlines",
            "notifications",
            "uploads",
            "housekeeping",
            "tallies",
            "metrics",
        ]
        by_name = {j["name"]: j for j in jobs}
        assert by_name["deadlines"]["interval_seconds"] == 3600
        assert by_name["dispatch"]["interval_seconds"] == 10
        assert by_name["deadlines"]["last_outcome"] is None

    def test_run_a_job_now(self, client: TestClient) -> None:
        staff = staff_headers(client)
        response = client.post("/api/v1/jobs/deadlines/run", headers=staff)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["ran"], body["outcome"]) == (True, "ok")
        assert body["summary"]["batches"] == 0  # an empty registry
        listed = {j["name"]: j for j in client.get("/api/v1/jobs", headers=staff).json()}
        assert listed["deadlines"]["last_outcome"] == "ok"
        assert listed["deadlines"]["last_claimed_by"].startswith("api:")

    def test_an_unknown_job(self, client: TestClient) -> None:
        response = client.post("/api/v1/jobs/weekly/run", headers=staff_headers(client))
        assert response.status_code == 404
        assert "deadlines" in response.json()["detail"]

    def test_only_staff(self, client: TestClient) -> None:
        company = make_company(client)
        admin = token_headers(client, role="company_admin", company_id=company["id"])
        assert client.get("/api/v1/jobs", headers=admin).status_code == 403
        assert client.post("/api/v1/jobs/deadlines/run", headers=admin).status_code == 403
        assert client.get("/api/v1/jobs").status_code == 401


class TestCommand:
    def _simreg(self, settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "SIMREG_ENV": "test", "SIMREG_DATABASE_URL": settings.database_url}
        return subprocess.run(
            [sys.executable, "-m", "app.cli", *args],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    def test_jobs_list_and_run(self, settings: Settings) -> None:
        listed = self._simreg(settings, "jobs", "list")
        assert listed.returncode == 0, listed.stderr
        assert "deadlines" in listed.stdout
        assert "never ran" in listed.stdout
        ran = self._simreg(
            settings, "jobs", "run", "deadlines", "--now", "2026-12-01T00:00:00+03:00"
        )
        assert ran.returncode == 0, ran.stderr
        summary = json.loads(ran.stdout.strip().splitlines()[-1])
        assert summary["outcome"] == "ok"
        assert summary["run_id"].startswith("20261130T210000Z")

    def test_an_unknown_job_exits_2(self, settings: Settings) -> None:
        result = self._simreg(settings, "jobs", "run", "weekly")
        assert result.returncode == 2
        assert "Задачи «weekly» нет. Есть задачи: deadlines" in result.stderr


class TestDevClock:
    def test_move_the_clock_and_back(self, client: TestClient) -> None:
        staff = staff_headers(client)
        before = client.get("/api/v1/sandbox/clock").json()
        moved = client.put("/api/v1/sandbox/clock", json={"advance_days": 8}, headers=staff)
        assert moved.status_code == 200, moved.text
        gap = dt.datetime.fromisoformat(moved.json()["now"]) - dt.datetime.fromisoformat(
            before["now"]
        )
        assert gap == dt.timedelta(days=8)
        pinned = client.put(
            "/api/v1/sandbox/clock", json={"now": "2026-12-01T00:00:00+03:00"}, headers=staff
        ).json()
        assert pinned["now"] == "2026-11-30T21:00:00Z"
        assert client.delete("/api/v1/sandbox/clock", headers=staff).json()["fixed"] is False

    def test_one_of_now_or_advance(self, client: TestClient) -> None:
        staff = staff_headers(client)
        for body in ({}, {"now": "2026-12-01T00:00:00+03:00", "advance_days": 1}):
            response = client.put("/api/v1/sandbox/clock", json=body, headers=staff)
            assert response.status_code == 422
            assert response.json()["errors"][0]["field"] == "now"
        naive = client.put("/api/v1/sandbox/clock", json={"now": "2026-12-01T00:00"}, headers=staff)
        assert naive.status_code == 422


class TestSharedDevClock:
    """Two API instances and a scheduler are separate processes; a clock moved on one of them
    must be the clock of all, or a deadline would pass on one instance and not for the job."""

    PINNED = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)

    def test_a_move_on_one_process_reaches_the_others(self, runtime: Runtime) -> None:
        here = SharedClock(runtime.engine, refresh=0)
        there = SharedClock(runtime.engine, refresh=0)

        here.set(self.PINNED)

        assert there.now() == self.PINNED
        assert there.fixed
        here.advance(dt.timedelta(days=3))
        assert there.now() == self.PINNED + dt.timedelta(days=3)

    def test_reset_returns_every_process_to_the_wall_clock(self, runtime: Runtime) -> None:
        here = SharedClock(runtime.engine, refresh=0)
        there = SharedClock(runtime.engine, start=self.PINNED, refresh=0)
        assert there.now() == self.PINNED  # SIMREG_NOW until anyone moves the shared clock

        here.reset()

        assert not there.fixed
        assert abs(there.now() - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=5)

    def test_a_process_reads_the_row_back_only_after_its_refresh(self, runtime: Runtime) -> None:
        here = SharedClock(runtime.engine, refresh=0)
        cached = SharedClock(runtime.engine, start=self.PINNED, refresh=3600)
        assert cached.now() == self.PINNED  # read once: no row yet

        here.set(self.PINNED + dt.timedelta(days=1))

        assert cached.now() == self.PINNED

    def test_the_clock_endpoint_moves_the_shared_clock(
        self, settings: Settings, client: TestClient
    ) -> None:
        shared = create_app(settings.model_copy(update={"dev_clock_refresh_seconds": 0.0}))
        try:
            with TestClient(shared) as other:
                staff = staff_headers(other)
                moved = other.put(
                    "/api/v1/sandbox/clock", json={"now": "2026-12-05T12:00:00Z"}, headers=staff
                )
                assert moved.status_code == 200, moved.text
                elsewhere = SharedClock(shared.state.runtime.engine, refresh=0)
                assert elsewhere.now() == dt.datetime(2026, 12, 5, 12, tzinfo=dt.UTC)
                assert other.delete("/api/v1/sandbox/clock", headers=staff).json()["fixed"] is False
                assert not elsewhere.fixed
        finally:
            shared.state.runtime.engine.dispose()
