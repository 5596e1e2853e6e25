"""`simreg bench upload`: lists of 100k and 1M rows through validate and apply, on both engines.

Each measured run is a process of its own, so its peak memory is its own. Run as a module,
it is that child process: `python -m app.benchmarks.upload child|naive …`.
"""

from __future__ import annotations

import csv
import json
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from app.benchmarks.common import (
    NOW,
    bench_database,
    bench_runtime,
    peak_rss_mb,
    run_child,
    scratch,
    seed_company,
)
from app.core.actors import Actor
from app.core.identifiers import luhn_valid

HEADER = [
    "Номер телефона", "Фамилия", "Имя", "Отчество", "Дата рождения", "Серия и номер паспорта",
    "Дата выдачи", "Кем выдан", "Код подразделения", "Тип устройства", "Модель", "IMEI",
    "Адрес установки",
]  # fmt: skip
_LAST = ["Иванов", "Смирнова", "Кузнецов", "Попова", "Васильев", "Петрова", "Соколов", "Фёдорова"]
_FIRST = ["Иван", "Анна", "Пётр", "Мария", "Сергей", "Ольга", "Дмитрий", "Елена"]
_PATR = ["Иванович", "Сергеевна", "Петрович", "Игоревна"]
FIRST_MSISDN = 9_000_000_000


def _imei(i: int) -> str:
    body = f"35{i:012d}"[-14:]
    return next(body + str(d) for d in range(10) if luhn_valid(body + str(d)))


def write_list(path: Path, rows: int) -> None:
    """A realistic list: 90% employees, 10% devices, 2% rows with a deliberate mistake."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=";", lineterminator="\r\n")
        writer.writerow(HEADER)
        writer.writerows(list_rows(rows))


def write_xlsx(path: Path, rows: int) -> None:
    """The same list as an Excel workbook (first sheet), written row by row."""
    import xlsxwriter

    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = workbook.add_worksheet("Список")
    sheet.write_row(0, 0, HEADER)
    for n, row in enumerate(list_rows(rows), start=1):
        sheet.write_row(n, 0, row)
    workbook.close()


def list_rows(rows: int) -> Iterator[list[str]]:
    """The rows of the benchmark list, as an admin writes them."""
    for i in range(rows):
        phone = f"+7 {FIRST_MSISDN + i}"
        bad = i % 50 == 7
        if i % 10 == 3:
            imei = _imei(i)
            if bad:
                imei = imei[:-1] + str((int(imei[-1]) + 1) % 10)
            yield [phone, "", "", "", "", "", "", "", "", "Касса", "АТОЛ 30Ф", imei,
                   f"Москва, ул. Тверская, д. {i % 100}"]  # fmt: skip
            continue
        birth = f"{1 + i % 28:02d}.{1 + i % 12:02d}.{1960 + i % 40}"
        passport = f"{40 + i // 1_000_000:02d} {(i // 10_000) % 100:02d} {i % 1_000_000:06d}"
        last = _LAST[i % 8]
        if bad:
            kind = i % 3
            if kind == 0:
                passport = passport[:-1]
            elif kind == 1:
                birth = "31.02.1990"
            else:
                last = "Ivanov"
        yield [phone, last, _FIRST[i % 8], _PATR[i % 4], birth, passport, "20.05.2015",
               "ОВД района Тверской", "770-001", "", "", "", ""]  # fmt: skip


def _child(url: str, upload_dir: str, company_id: str, file: str, mode: str) -> dict[str, Any]:
    from app.core.actors import ActorKind
    from app.db.session import unit_of_work
    from app.uploads import intake
    from app.uploads.models import UploadMode
    from app.uploads.worker import process_upload

    runtime = bench_runtime(url, upload_dir)
    started = time.perf_counter()
    copy = Path(upload_dir) / f"incoming-{mode}"
    shutil.copyfile(file, copy)
    received = intake.ReceivedFile(
        path=copy, filename="bench.csv", size=copy.stat().st_size, sha256=intake.file_sha256(copy)
    )
    with unit_of_work(runtime.sessions) as session:
        upload, _ = intake.receive_upload(
            session,
            subscriber_id=int(company_id),
            received=received,
            mode=UploadMode(mode),
            idempotency_key=None,
            actor=Actor(ActorKind.COMPANY_ADMIN, "bench"),
            upload_dir=Path(upload_dir),
            now=NOW,
        )
        upload_id = upload.id
    result = process_upload(runtime, upload_id)
    seconds = time.perf_counter() - started
    assert result is not None
    return {
        "seconds": seconds,
        "status": result.status.value,
        "rows": result.rows_read,
        "accepted": result.accepted,
        "rejected": result.rejected,
        "created": result.created,
        "peak_rss_mb": peak_rss_mb(),
        "failure": result.failure_message,
    }


def _read_xlsx(file: str) -> dict[str, Any]:
    """Open a workbook as an upload does and hand out all its rows in batches, timed."""
    from app.uploads.reading.opening import open_table

    started = time.perf_counter()
    table = open_table(Path(file), filename="bench.xlsx")
    rows = sum(batch.size for batch in table.row_batches(20_000))
    return {"seconds": time.perf_counter() - started, "rows": rows, "peak_rss_mb": peak_rss_mb()}


def _naive(url: str, company_id: str, file: str, limit: str) -> dict[str, Any]:
    """The obvious way: read a row, build models, query the number, one ORM registration each."""
    import datetime as dt

    from pydantic import ValidationError
    from sqlalchemy import select

    from app.config import Environment, Settings
    from app.core.actors import ActorKind
    from app.core.clock import FixedClock
    from app.core.errors import DomainError
    from app.core.identifiers import InvalidIdentifier, normalize_msisdn
    from app.core.runtime import Runtime
    from app.numbers.models import PhoneNumber
    from app.numbers.service import register_user

    settings = Settings(env=Environment.DEV, database_url=url, _env_file=None)
    runtime = Runtime.build(settings, clock=FixedClock(NOW))
    actor = Actor(ActorKind.COMPANY_ADMIN, "bench")
    started = time.perf_counter()
    done = 0
    with runtime.sessions() as session, open(file, encoding="utf-8", newline="") as handle:
        for n, row in enumerate(csv.DictReader(handle, delimiter=";")):
            if n >= int(limit):
                break
            done += 1
            try:
                msisdn = normalize_msisdn(row["Номер телефона"])
                # By msisdn alone (the unique index), then the company checked on the row.
                number = session.scalars(
                    select(PhoneNumber).where(PhoneNumber.msisdn == msisdn)
                ).one()
                if number.subscriber_id != int(company_id):
                    continue
                data = _naive_data(row)
                register_user(
                    session,
                    runtime.vault,
                    number=number,
                    data=data,
                    actor=actor,
                    source="bench",
                    now=NOW,
                    today=dt.date(2026, 11, 23),
                )
            except (InvalidIdentifier, ValidationError, DomainError):
                continue
        session.commit()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": done, "rows_per_s": done / seconds}


def _naive_data(row: dict[str, str]) -> Any:
    """The row as the single-number API takes it: a device when it has an IMEI."""
    from app.core.identifiers import parse_date
    from app.numbers.schemas import DeviceIn, DeviceType, EmployeeIn

    if row["IMEI"]:
        return DeviceIn(
            kind="device",
            device_type=DeviceType.CASH_REGISTER,
            model=row["Модель"],
            identifier=row["IMEI"],
            install_address=row["Адрес установки"],
        )
    return EmployeeIn(
        kind="employee",
        last_name=row["Фамилия"],
        first_name=row["Имя"],
        patronymic=row["Отчество"],
        birth_date=parse_date(row["Дата рождения"]),
        doc_number=row["Серия и номер паспорта"],
        doc_issued_on=parse_date(row["Дата выдачи"]),
        doc_issuer=row["Кем выдан"],
        doc_issuer_code=row["Код подразделения"],
    )


def run(
    *, sizes: list[int], engines: list[str], naive_rows: int, xlsx_rows: int = 100_000
) -> list[dict[str, Any]]:
    """Measure and print; returns the figures."""
    figures: list[dict[str, Any]] = []
    if xlsx_rows:
        with scratch("xlsx") as workdir:
            workbook = workdir / "list.xlsx"
            write_xlsx(workbook, xlsx_rows)
            read = run_child("app.benchmarks.upload", "xlsx", str(workbook))
        figures.append({"xlsx_rows": read["rows"], "xlsx_read_s": read["seconds"]})
        print(
            f"upload xlsx read {read['rows']:>9,} rows: {read['seconds']:6.2f} s "
            f"({read['rows'] / read['seconds']:>9,.0f} rows/s, peak {read['peak_rss_mb']:.0f} MB)",
            flush=True,
        )
    for engine in engines:
        for rows in sizes:
            with bench_database(engine) as db:
                company_id = seed_company(db.url, numbers=rows, first_msisdn=FIRST_MSISDN)
                listing = db.workdir / f"list-{rows}.csv"
                write_list(listing, rows)
                upload_dir = str(db.workdir / "uploads")
                Path(upload_dir).mkdir()
                args = (db.url, upload_dir, str(company_id), str(listing))
                validate = run_child("app.benchmarks.upload", "child", *args, "validate")
                apply = run_child("app.benchmarks.upload", "child", *args, "apply")
                figure = {
                    "engine": engine, "rows": rows, "file_mb": listing.stat().st_size / 1e6,
                    "validate_s": validate["seconds"],
                    "validate_rows_s": rows / validate["seconds"],
                    "validate_peak_mb": validate["peak_rss_mb"], "apply_s": apply["seconds"],
                    "apply_rows_s": rows / apply["seconds"], "apply_peak_mb": apply["peak_rss_mb"],
                    "accepted": apply["accepted"], "rejected": apply["rejected"],
                    "status": apply["status"],
                }  # fmt: skip
                if naive_rows and rows == sizes[0]:
                    with bench_database(engine) as fresh:
                        naive_company = seed_company(
                            fresh.url, numbers=naive_rows, first_msisdn=FIRST_MSISDN
                        )
                        naive = run_child(
                            "app.benchmarks.upload", "naive", fresh.url, str(naive_company),
                            str(listing), str(naive_rows),
                        )  # fmt: skip
                    figure["naive_rows_s"] = naive["rows_per_s"]
                    figure["speedup_vs_naive"] = figure["apply_rows_s"] / naive["rows_per_s"]
                figures.append(figure)
                _print(figure)
                shutil.rmtree(db.workdir, ignore_errors=True)
    return figures


def _print(f: dict[str, Any]) -> None:
    line = (
        f"upload {f['engine']:<10} {f['rows']:>9,} rows ({f['file_mb']:.0f} MB): "
        f"validate {f['validate_s']:6.2f} s ({f['validate_rows_s']:>9,.0f} rows/s, "
        f"peak {f['validate_peak_mb']:.0f} MB); validate+apply {f['apply_s']:6.2f} s "
        f"({f['apply_rows_s']:>9,.0f} rows/s, peak {f['apply_peak_mb']:.0f} MB); "
        f"accepted {f['accepted']:,}, rejected {f['rejected']:,} [{f['status']}]"
    )
    if "naive_rows_s" in f:
        line += (
            f"; naive ORM one-row-at-a-time {f['naive_rows_s']:,.0f} rows/s "
            f"(×{f['speedup_vs_naive']:.0f} slower)"
        )
    print(line, flush=True)


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    modes: dict[str, Callable[..., dict[str, Any]]] = {
        "child": _child,
        "naive": _naive,
        "xlsx": _read_xlsx,
    }
    output = modes[command](*rest)
    print(json.dumps(output))
