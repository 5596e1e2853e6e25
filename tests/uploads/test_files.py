"""An uploaded list lives on disk only while its upload is processed; the housekeeping job
deletes whatever is left behind."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.config import Settings
from app.core.runtime import Runtime
from app.scheduler.jobs import JOBS
from app.uploads import files
from app.uploads.models import Upload, UploadStatus
from tests.builders import make_company_with_numbers
from tests.uploads.builders import (
    EMPLOYEE_HEADER,
    csv_bytes,
    employee_row,
    upload,
    upload_result,
)


@pytest.fixture
def world(client: TestClient) -> dict[str, Any]:
    return make_company_with_numbers(client, count=2)


def _send(client: TestClient, world: dict[str, Any], content: bytes, **kw: Any) -> dict[str, Any]:
    response = upload(client, world["company"]["id"], world["admin"], content, **kw)
    assert response.status_code == 202, response.text
    return upload_result(client, world["company"]["id"], world["admin"], response.json()["id"])


def _files_left(settings: Settings) -> list[Path]:
    root = Path(settings.upload_dir)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _good(world: dict[str, Any], n: int = 0) -> bytes:
    return csv_bytes(EMPLOYEE_HEADER, [employee_row(world["numbers"][n]["msisdn"], n=n)])


class TestTheFileGoesWhenTheUploadEnds:
    @pytest.mark.parametrize("mode", ["validate", "apply"])
    def test_done(
        self, client: TestClient, world: dict[str, Any], settings: Settings, mode: str
    ) -> None:
        assert _send(client, world, _good(world), mode=mode)["status"] == "done"
        assert _files_left(settings) == []

    def test_failed_on_the_file(
        self, client: TestClient, world: dict[str, Any], settings: Settings
    ) -> None:
        result = _send(client, world, b"%PDF-1.7\n1 0 obj\n")
        assert result["status"] == "failed"
        assert _files_left(settings) == []

    def test_failed_after_its_workers_were_stopped(
        self, client: TestClient, world: dict[str, Any], settings: Settings
    ) -> None:
        settings.upload_worker_timeout_seconds = 0.001
        assert _send(client, world, _good(world))["failure_code"] == "upload.timed_out"
        assert _files_left(settings) == []


def _aged(path: Path, *, seconds: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes("Номер телефона;Фамилия\r\n".encode())
    stamp = time.time() - seconds
    os.utime(path, (stamp, stamp))
    return path


class TestHousekeepingSweepsWhatIsLeft:
    def test_files_no_unfinished_upload_needs_once_an_hour_old(
        self,
        client: TestClient,
        world: dict[str, Any],
        settings: Settings,
        session: Session,
        runtime: Runtime,
    ) -> None:
        done = _send(client, world, _good(world, 0), mode="validate")
        waiting = _send(client, world, _good(world, 1), mode="validate")
        # A worker that died after its last commit left the finished upload's file; the other
        # upload is back to waiting for a worker, its file needed.
        stored = {
            row.id: Path(row.stored_path)
            for row in session.scalars(
                select(Upload).where(Upload.id.in_([done["id"], waiting["id"]]))
            )
        }
        session.execute(
            update(Upload).where(Upload.id == waiting["id"]).values(status=UploadStatus.RECEIVED)
        )
        session.commit()
        hour = files.SWEEP_AFTER_SECONDS
        left_behind = _aged(stored[done["id"]], seconds=hour + 60)
        needed = _aged(stored[waiting["id"]], seconds=hour + 60)
        root = Path(settings.upload_dir)
        spooled = _aged(root / files.INCOMING / "incoming-old", seconds=hour + 60)
        spooling = _aged(root / files.INCOMING / "incoming-new", seconds=5)
        summary = JOBS["housekeeping"].run(runtime)
        assert summary["upload_files_deleted"] == 2
        assert not left_behind.exists()
        assert not spooled.exists()
        assert needed.exists()
        assert spooling.exists()
