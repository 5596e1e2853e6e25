"""`simreg bench round-trip`: an error file of 100,000 refused rows downloaded (CSV and XLSX)
and uploaded again as written, timed. Run as a module, it is the measured child process:
`python -m app.benchmarks.round_trip child …`.
"""

from __future__ import annotations

import csv
import json
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app.benchmarks.common import (
    NOW,
    bench_database,
    bench_runtime,
    peak_rss_mb,
    run_child,
    seed_company,
)
from app.benchmarks.upload import FIRST_MSISDN, HEADER, list_rows


def _refused_rows(rows: int) -> Iterator[list[str]]:
    """The benchmark list with every row refused (a 31 February birth date, or a device
    type simreg does not know), its numbers written "+7 912 345-67-89" as people write
    them, which an error file must mark so Excel does not run them."""
    for cells in list_rows(rows):
        digits = cells[0].removeprefix("+7 ")
        cells[0] = f"+7 {digits[:3]} {digits[3:6]}-{digits[6:8]}-{digits[8:]}"
        if cells[4]:
            cells[4] = "31.02.1990"
        else:
            cells[9] = "Тостер"
        yield cells


def write_refused_list(path: Path, rows: int) -> None:
    """A list whose every row is refused, as Russian Excel saves it (cp1251, ";")."""
    with path.open("w", encoding="cp1251", newline="") as handle:
        writer = csv.writer(handle, delimiter=";", lineterminator="\r\n")
        writer.writerow(HEADER)
        writer.writerows(_refused_rows(rows))


def _child(url: str, upload_dir: str, company_id: str, file: str) -> dict[str, Any]:
    """Upload the list, then time each error file's download and its upload as written."""
    runtime = bench_runtime(url, upload_dir)
    first = _upload(runtime, int(company_id), Path(file))
    figures: dict[str, Any] = {"rows": first["rejected"]}
    for fmt in ("csv", "xlsx"):
        started = time.perf_counter()
        report = Path(upload_dir) / f"errors.{fmt}"
        _download(runtime, first["id"], fmt, report)
        figures[f"{fmt}_download_s"] = time.perf_counter() - started
        figures[f"{fmt}_mb"] = report.stat().st_size / 1e6
        again = _upload(runtime, int(company_id), report)
        figures[f"{fmt}_upload_s"] = again["seconds"]
        figures[f"{fmt}_rows_back"] = again["rows"]
        figures[f"{fmt}_rejected_back"] = again["rejected"]
    figures["peak_rss_mb"] = peak_rss_mb()
    return figures


def _upload(runtime: Any, company_id: int, file: Path) -> dict[str, Any]:
    """A dry run of `file`, timed."""
    from app.core.actors import Actor, ActorKind
    from app.db.session import unit_of_work
    from app.uploads import intake
    from app.uploads.models import UploadMode
    from app.uploads.worker import process_upload

    started = time.perf_counter()
    copy = Path(runtime.settings.upload_dir) / f"incoming-{file.name}"
    shutil.copyfile(file, copy)
    received = intake.ReceivedFile(
        path=copy, filename=file.name, size=copy.stat().st_size, sha256=intake.file_sha256(copy)
    )
    with unit_of_work(runtime.sessions) as session:
        upload, _ = intake.receive_upload(
            session,
            subscriber_id=company_id,
            received=received,
            mode=UploadMode.VALIDATE,
            idempotency_key=None,
            actor=Actor(ActorKind.COMPANY_ADMIN, "bench"),
            upload_dir=Path(runtime.settings.upload_dir),
            now=NOW,
        )
        upload_id = upload.id
    result = process_upload(runtime, upload_id)
    assert result is not None
    return {
        "id": upload_id,
        "seconds": time.perf_counter() - started,
        "rows": result.rows_read,
        "rejected": result.rejected,
    }


def _download(runtime: Any, upload_id: int, fmt: str, out: Path) -> None:
    """The error file as the API hands it out, written to `out`."""
    from app.uploads import intake
    from app.uploads.models import Upload
    from app.uploads.spreadsheets import error_report_csv, error_report_xlsx

    with runtime.sessions() as session:
        upload = session.get_one(Upload, upload_id)
        rows = list(intake.rejected_rows(session, vault=runtime.vault, upload=upload))
        header = upload.header or []
        if fmt == "csv":
            with out.open("wb") as handle:
                for chunk in error_report_csv(header, rows, delimiter=upload.delimiter or ";"):
                    handle.write(chunk)
        else:
            out.write_bytes(error_report_xlsx(header, rows))


def run(*, rows: int, engines: list[str]) -> list[dict[str, Any]]:
    """Measure and print; returns the figures."""
    figures: list[dict[str, Any]] = []
    for engine in engines:
        with bench_database(engine) as db:
            company_id = seed_company(db.url, numbers=rows, first_msisdn=FIRST_MSISDN)
            listing = db.workdir / "list.csv"
            write_refused_list(listing, rows)
            upload_dir = db.workdir / "uploads"
            upload_dir.mkdir()
            found = run_child(
                "app.benchmarks.round_trip", "child", db.url, str(upload_dir),
                str(company_id), str(listing),
            )  # fmt: skip
            figures.append({"engine": engine, **found})
            _print(engine, found)
            shutil.rmtree(db.workdir, ignore_errors=True)
    return figures


def _print(engine: str, f: dict[str, Any]) -> None:
    for fmt in ("csv", "xlsx"):
        print(
            f"round trip {engine:<10} {fmt:<4} {f['rows']:>9,} refused rows "
            f"({f[f'{fmt}_mb']:.0f} MB): download {f[f'{fmt}_download_s']:6.2f} s, "
            f"upload as written {f[f'{fmt}_upload_s']:6.2f} s; read back {f[f'{fmt}_rows_back']:,}"
            f" rows, refused {f[f'{fmt}_rejected_back']:,} (peak {f['peak_rss_mb']:.0f} MB)",
            flush=True,
        )


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    if command != "child":
        raise SystemExit(f"unknown command {command!r}")
    print(json.dumps(_child(*rest)))
