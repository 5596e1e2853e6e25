"""A worker killed mid-upload leaves nothing half-applied, and the upload resumes to the end."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.config import Settings
from app.core.actors import Actor, ActorKind
from app.core.clock import FixedClock
from app.core.runtime import Runtime
from app.db.session import unit_of_work
from app.numbers.models import PhoneNumber, Registration, StatusEvent
from app.uploads import checkpoints, intake
from app.uploads.models import StagedRow, Upload, UploadMode, UploadStatus
from app.uploads.worker import process_upload
from tests.builders import add_numbers, make_company_with_numbers
from tests.uploads.builders import EMPLOYEE_HEADER, csv_bytes, employee_row, problem_codes

ROWS = 120


def _receive(
    runtime: Runtime,
    settings: Settings,
    tmp_path: Path,
    company_id: int,
    content: bytes,
    mode: UploadMode,
) -> int:
    listing = tmp_path / "list.csv"
    listing.write_bytes(content)
    received = intake.ReceivedFile(
        path=listing,
        filename="list.csv",
        size=listing.stat().st_size,
        sha256=intake.file_sha256(listing),
    )
    with unit_of_work(runtime.sessions) as session:
        upload, _ = intake.receive_upload(
            session,
            subscriber_id=company_id,
            received=received,
            mode=mode,
            idempotency_key=None,
            actor=Actor(ActorKind.COMPANY_ADMIN, "admin"),
            upload_dir=Path(settings.upload_dir),
            now=runtime.clock.now(),
        )
        return upload.id


def _company_with_phones(client: TestClient) -> tuple[int, list[str]]:
    world = make_company_with_numbers(client, count=1)
    phones = [f"+7913{i:07d}" for i in range(ROWS)]
    add_numbers(client, contract_id=world["contract"]["id"], msisdns=phones)
    return world["company"]["id"], phones


@pytest.fixture
def pending_upload(client: TestClient, runtime: Runtime, settings: Settings, tmp_path: Path) -> int:
    company_id, phones = _company_with_phones(client)
    content = csv_bytes(EMPLOYEE_HEADER, [employee_row(p, n=i) for i, p in enumerate(phones)])
    return _receive(runtime, settings, tmp_path, company_id, content, UploadMode.APPLY)


def _with_whole_file_problems(phones: list[str]) -> bytes:
    """Rows 2 and 122 name the same number, and rows 3 and 102 the same person: the second
    of each pair comes after the batch a killed worker committed."""
    rows = [employee_row(p, n=i) for i, p in enumerate(phones)]
    rows[100] = employee_row(phones[100], n=1)
    rows.append(employee_row(phones[0], n=500))
    return csv_bytes(EMPLOYEE_HEADER, rows)


def _kill_at(settings: Settings, upload_id: int, checkpoint: str, batch_rows: int = 50) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.uploads.crash_worker", settings.database_url,
         settings.upload_dir, str(upload_id), checkpoint, str(batch_rows)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 137, done.stderr[-3000:]


def _streams(session: Session) -> bool:
    """PostgreSQL applies each batch as it is checked, in one transaction, staging nothing."""
    return session.get_bind().dialect.name == "postgresql"


def _counts(session: Session) -> tuple[int, int]:
    session.expire_all()
    registrations = session.scalar(select(func.count()).select_from(Registration)) or 0
    pending = (
        session.scalar(
            select(func.count())
            .select_from(StatusEvent)
            .where(StatusEvent.to_status == "pending_confirmation")
        )
        or 0
    )
    return int(registrations), int(pending)


class TestKilledMidApply:
    @pytest.mark.parametrize(
        "checkpoint",
        ["apply.superseded_ended", "apply.registrations_inserted", "apply.before_commit"],
    )
    def test_nothing_is_applied_then_the_rerun_applies_everything_once(
        self,
        pending_upload: int,
        settings: Settings,
        session: Session,
        runtime: Runtime,
        clock: FixedClock,
        checkpoint: str,
    ) -> None:
        _kill_at(settings, pending_upload, checkpoint)
        upload = session.get_one(Upload, pending_upload)
        assert upload.status is UploadStatus.APPLYING
        assert _counts(session) == (0, 0)
        # Nobody else takes it while the dead worker's lease runs; afterwards, anyone may.
        assert process_upload(runtime, pending_upload) is None
        clock.advance(dt.timedelta(seconds=settings.upload_lease_seconds + 1))
        with runtime.sessions() as fresh:
            assert intake.stale_uploads(fresh, now=clock.now()) == [pending_upload]
        result = process_upload(runtime, pending_upload)
        assert result is not None
        assert (result.status, result.created) == (UploadStatus.DONE, ROWS)
        assert _counts(session) == (ROWS, ROWS)
        statuses = set(
            session.scalars(select(PhoneNumber.status).where(PhoneNumber.sim_kind.is_not(None)))
        )
        assert statuses == {"pending_confirmation"}


class TestKilledMidValidation:
    def test_resumes_after_the_last_committed_batch(
        self,
        pending_upload: int,
        settings: Settings,
        session: Session,
        runtime: Runtime,
        clock: FixedClock,
    ) -> None:
        if _streams(session):
            pytest.skip("a streamed apply commits no batch: see test_a_streamed_apply_starts_over")
        # An apply checks batches of two thirds of the setting: 50 rows.
        _kill_at(settings, pending_upload, "validate.batch_committed", batch_rows=75)
        upload = session.get_one(Upload, pending_upload)
        assert upload.status is UploadStatus.VALIDATING
        assert upload.resume_after_row == 51  # the first batch: rows 2..51
        assert _counts(session) == (0, 0)
        clock.advance(dt.timedelta(seconds=settings.upload_lease_seconds + 1))
        result = process_upload(runtime, pending_upload)
        assert result is not None
        assert (result.status, result.rows_read, result.accepted) == (UploadStatus.DONE, ROWS, ROWS)
        assert _counts(session) == (ROWS, ROWS)

    def test_a_streamed_apply_starts_over(
        self,
        pending_upload: int,
        settings: Settings,
        session: Session,
        runtime: Runtime,
        clock: FixedClock,
    ) -> None:
        if not _streams(session):
            pytest.skip("SQLite stages an apply's rows and resumes: see the test above")
        _kill_at(settings, pending_upload, "stream.batch_applied", batch_rows=75)
        upload = session.get_one(Upload, pending_upload)
        # The progress was shown as it went; the batch it counts was never committed.
        assert (upload.status, upload.rows_read, upload.resume_after_row) == (
            UploadStatus.APPLYING,
            50,
            0,
        )
        assert _counts(session) == (0, 0)
        clock.advance(dt.timedelta(seconds=settings.upload_lease_seconds + 1))
        result = process_upload(runtime, pending_upload)
        assert result is not None
        assert (result.status, result.rows_read, result.accepted, result.created) == (
            UploadStatus.DONE,
            ROWS,
            ROWS,
            ROWS,
        )
        assert _counts(session) == (ROWS, ROWS)

    @pytest.mark.parametrize("mode", [UploadMode.APPLY, UploadMode.VALIDATE])
    def test_whole_file_checks_see_the_rows_before_the_kill(
        self,
        client: TestClient,
        settings: Settings,
        session: Session,
        runtime: Runtime,
        clock: FixedClock,
        tmp_path: Path,
        mode: UploadMode,
    ) -> None:
        company_id, phones = _company_with_phones(client)
        upload_id = _receive(
            runtime, settings, tmp_path, company_id, _with_whole_file_problems(phones), mode
        )
        rows = 75 if mode is UploadMode.APPLY else 50  # batches of 50 rows either way
        if mode is UploadMode.APPLY and _streams(session):
            # Killed after its first batch was applied, uncommitted: the rerun starts over.
            _kill_at(settings, upload_id, "stream.batch_applied", batch_rows=rows)
            expected_killed = (UploadStatus.APPLYING, 0)
        else:
            _kill_at(settings, upload_id, "validate.batch_committed", batch_rows=rows)
            expected_killed = (UploadStatus.VALIDATING, 51)
        killed = session.get_one(Upload, upload_id)
        assert (killed.status, killed.resume_after_row) == expected_killed
        settings.max_numbers_per_person = 1
        clock.advance(dt.timedelta(seconds=settings.upload_lease_seconds + 1))
        result = process_upload(runtime, upload_id)
        assert result is not None
        # A dry run and a streamed apply start over; a staged apply resumes. Either way every
        # row is counted once.
        assert (result.status, result.rows_read) == (UploadStatus.DONE, ROWS + 1)
        assert (result.accepted, result.rejected) == (ROWS - 3, 4)
        assert problem_codes(session, upload_id) == {
            2: ["msisdn.repeated_in_file"],
            3: ["person.over_cap"],
            102: ["person.over_cap"],
            122: ["msisdn.repeated_in_file"],
        }
        expected = ROWS - 3 if mode is UploadMode.APPLY else 0
        assert _counts(session) == (expected, expected)


class TestStagedRowsOfAnotherUpload:
    def test_an_apply_clears_only_its_own_staged_rows(
        self,
        client: TestClient,
        pending_upload: int,
        settings: Settings,
        session: Session,
        runtime: Runtime,
        clock: FixedClock,
        tmp_path: Path,
    ) -> None:
        if _streams(session):
            pytest.skip("a streamed apply stages nothing")

        def stop(name: str) -> None:
            if name == "apply.superseded_ended":
                raise RuntimeError("stopped before applying")

        checkpoints.hook = stop
        try:
            process_upload(runtime, pending_upload)  # validated, then stopped in apply
        finally:
            checkpoints.hook = None
        assert session.get_one(Upload, pending_upload).status is UploadStatus.APPLYING
        waiting = select(func.count()).select_from(StagedRow)
        assert session.scalar(waiting.where(StagedRow.upload_id == pending_upload)) == ROWS

        other = make_company_with_numbers(client, count=2)
        rows = [employee_row(n["msisdn"], n=900 + i) for i, n in enumerate(other["numbers"])]
        other_upload = _receive(
            runtime, settings, tmp_path, other["company"]["id"],
            csv_bytes(EMPLOYEE_HEADER, rows), UploadMode.APPLY,
        )  # fmt: skip
        done = process_upload(runtime, other_upload)
        assert done is not None
        assert (done.status, done.created) == (UploadStatus.DONE, 2)
        session.expire_all()
        assert session.scalar(waiting.where(StagedRow.upload_id == pending_upload)) == ROWS

        clock.advance(dt.timedelta(seconds=settings.upload_lease_seconds + 1))
        result = process_upload(runtime, pending_upload)
        assert result is not None
        assert (result.status, result.created) == (UploadStatus.DONE, ROWS)
        session.expire_all()
        assert session.scalar(waiting) == 0


def _prepared(session: Session) -> int:
    session.rollback()
    return int(
        session.scalar(
            text(
                "SELECT count(*) FROM pg_prepared_xacts"
                " WHERE database = current_database() AND gid LIKE 'simreg-upload-%'"
            )
        )
        or 0
    )


@pytest.mark.postgres_only
class TestOneWriter:
    """On PostgreSQL the streamed apply writes everything in the session's one transaction:
    nothing is left prepared for a later commit."""

    def test_one_writer_applies_everything(
        self, pending_upload: int, session: Session, runtime: Runtime
    ) -> None:
        result = process_upload(runtime, pending_upload)
        assert result is not None
        assert (result.status, result.created) == (UploadStatus.DONE, ROWS)
        assert _counts(session) == (ROWS, ROWS)
        assert _prepared(session) == 0
