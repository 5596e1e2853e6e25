"""A file cannot take the API down: each upload runs in a worker process, an attempt is counted
before it starts, and an upload whose worker dies or is stopped twice fails with the reason and
is never resumed again."""

from __future__ import annotations

import contextlib
import datetime as dt
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from app.config import Settings
from app.core.actors import Actor, ActorKind
from app.core.clock import FixedClock
from app.core.runtime import Runtime
from app.db.session import unit_of_work
from app.main import create_app
from app.uploads import intake
from app.uploads.models import Upload, UploadMode, UploadStatus
from app.uploads.worker import process_upload
from tests.builders import make_company_with_numbers
from tests.uploads.builders import (
    EMPLOYEE_HEADER,
    csv_bytes,
    employee_row,
    sparse_sheet,
    upload,
    upload_result,
)


@pytest.fixture
def world(client: TestClient) -> dict[str, Any]:
    return make_company_with_numbers(client, count=2)


@contextlib.contextmanager
def restarted(settings: Settings, clock: FixedClock) -> Iterator[TestClient]:
    """The API started again on the same database, resuming unfinished uploads at start-up;
    inside, the resuming is over."""
    app = create_app(settings.model_copy(update={"upload_resume_on_start": True}), clock=clock)
    try:
        with TestClient(app) as client:
            for thread in threading.enumerate():
                if thread.name == "upload-resume":
                    thread.join(timeout=60)
            yield client
    finally:
        app.state.runtime.engine.dispose()


def _send(client: TestClient, world: dict[str, Any], content: bytes, name: str) -> dict[str, Any]:
    response = upload(client, world["company"]["id"], world["admin"], content, filename=name)
    assert response.status_code == 202, response.text
    return upload_result(client, world["company"]["id"], world["admin"], response.json()["id"])


def _still_serving(client: TestClient, world: dict[str, Any]) -> None:
    """The API answers, and the next upload goes through."""
    assert client.get("/healthz").status_code == 200
    good = csv_bytes(EMPLOYEE_HEADER, [employee_row(world["numbers"][1]["msisdn"], n=1)])
    assert _send(client, world, good, "list.csv")["status"] == "done"


def _crashing_sheet(tmp_path: Path, settings: Settings) -> bytes:
    """A sparse sheet the reader would take 4.3 GB for, let past the file checks: only the
    worker's memory cap stops it, as it would stop a file the checks did not foresee."""
    settings.xlsx_max_cells = 10**12
    settings.xlsx_max_columns = 16_384
    settings.upload_worker_memory_mb = 1_500
    return sparse_sheet(tmp_path / "sparse.xlsx", last_row=8_192, last_col=16_384).read_bytes()


class TestTheSparseSheet:
    def test_it_fails_with_a_reason_and_the_api_keeps_answering(
        self, client: TestClient, world: dict[str, Any], tmp_path: Path
    ) -> None:
        sheet = sparse_sheet(tmp_path / "sparse.xlsx", last_row=1_048_576, last_col=16_384)
        result = _send(client, world, sheet.read_bytes(), "sparse.xlsx")
        assert result["status"] == "failed"
        assert result["failure_code"] == "file.xlsx_too_large_sheet"
        assert "A1:XFD1048576" in result["failure_message"]
        _still_serving(client, world)


class TestAWorkerThatDies:
    def test_twice_fails_the_upload_with_a_reason_and_the_api_keeps_answering(
        self,
        client: TestClient,
        world: dict[str, Any],
        settings: Settings,
        session: Session,
        tmp_path: Path,
    ) -> None:
        result = _send(client, world, _crashing_sheet(tmp_path, settings), "sparse.xlsx")
        assert result["status"] == "failed"
        assert result["failure_code"] == "upload.worker_stopped"
        assert "дважды прервалась" in result["failure_message"]
        assert session.get_one(Upload, result["id"]).attempts == 2
        _still_serving(client, world)

    def test_a_restarted_api_does_not_take_it_up_again(
        self,
        client: TestClient,
        world: dict[str, Any],
        settings: Settings,
        session: Session,
        clock: FixedClock,
        tmp_path: Path,
    ) -> None:
        failed = _send(client, world, _crashing_sheet(tmp_path, settings), "sparse.xlsx")
        clock.advance(dt.timedelta(hours=1))
        with restarted(settings, clock) as again:
            assert again.get("/healthz").status_code == 200
        session.expire_all()
        upload_row = session.get_one(Upload, failed["id"])
        assert (upload_row.status, upload_row.attempts) == (UploadStatus.FAILED, 2)
        assert intake.stale_uploads(session, now=clock.now()) == []


class TestAWorkerThatRunsTooLong:
    def test_is_stopped_and_after_twice_the_upload_fails(
        self,
        client: TestClient,
        world: dict[str, Any],
        settings: Settings,
        session: Session,
    ) -> None:
        settings.upload_worker_timeout_seconds = 0.001
        content = csv_bytes(EMPLOYEE_HEADER, [employee_row(world["numbers"][0]["msisdn"])])
        result = _send(client, world, content, "list.csv")
        assert result["status"] == "failed"
        assert result["failure_code"] == "upload.timed_out"
        assert "дважды заняла больше" in result["failure_message"]
        assert session.get_one(Upload, result["id"]).attempts == 2
        settings.upload_worker_timeout_seconds = 900
        _still_serving(client, world)


@pytest.fixture
def received(client: TestClient, runtime: Runtime, settings: Settings, tmp_path: Path) -> int:
    """An upload received and not yet processed."""
    world = make_company_with_numbers(client, count=1)
    listing = tmp_path / "list.csv"
    listing.write_bytes(csv_bytes(EMPLOYEE_HEADER, [employee_row(world["numbers"][0]["msisdn"])]))
    file = intake.ReceivedFile(
        path=listing, filename="list.csv", size=listing.stat().st_size,
        sha256=intake.file_sha256(listing),
    )  # fmt: skip
    with unit_of_work(runtime.sessions) as db:
        created, _ = intake.receive_upload(
            db,
            subscriber_id=world["company"]["id"],
            received=file,
            mode=UploadMode.APPLY,
            idempotency_key=None,
            actor=Actor(ActorKind.COMPANY_ADMIN, "admin"),
            upload_dir=Path(settings.upload_dir),
            now=runtime.clock.now(),
        )
        return created.id


def _kill_when_started(settings: Settings, upload_id: int) -> None:
    """A process that takes the upload and dies as its attempt starts, as a killed one would."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.uploads.crash_worker", settings.database_url,
         settings.upload_dir, str(upload_id), "attempt.started", "15000"],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 137, done.stderr[-3000:]


def _lease_ran_out(session: Session, upload_id: int, clock: FixedClock) -> None:
    session.execute(
        update(Upload)
        .where(Upload.id == upload_id)
        .values(lease_until=clock.now() - dt.timedelta(minutes=1))
    )
    session.commit()


class TestAttemptsAreCountedBeforeTheyStart:
    def test_a_worker_killed_at_once_still_used_an_attempt(
        self,
        received: int,
        settings: Settings,
        session: Session,
        runtime: Runtime,
        clock: FixedClock,
    ) -> None:
        for attempt in (1, 2):
            _kill_when_started(settings, received)
            session.expire_all()
            killed = session.get_one(Upload, received)
            assert (killed.status, killed.attempts) == (UploadStatus.RECEIVED, attempt)
            _lease_ran_out(session, received, clock)
        result = process_upload(runtime, received)
        assert result is not None
        assert (result.status, result.failure_code) == (
            UploadStatus.FAILED,
            "upload.worker_stopped",
        )
        assert result.started_at is None  # its file was never opened again

    def test_an_upload_left_by_an_api_that_died_twice_is_failed_at_start_up(
        self,
        received: int,
        settings: Settings,
        session: Session,
        clock: FixedClock,
    ) -> None:
        # What an API that died twice mid-upload leaves: two attempts, a lease run out.
        session.execute(update(Upload).where(Upload.id == received).values(attempts=2))
        _lease_ran_out(session, received, clock)
        with restarted(settings, clock):
            pass
        session.expire_all()
        left = session.get_one(Upload, received)
        assert (left.status, left.failure_code, left.attempts) == (
            UploadStatus.FAILED,
            "upload.worker_stopped",
            3,
        )
        assert left.started_at is None
