"""`simreg bench match`: one full matching run over 1M answered employee registrations
(95% matching, 5% with one field different) and 200k device registrations.

Run as a module, it is the measured child process: `python -m app.benchmarks.match child|naive`.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from typing import Any

from sqlalchemy import create_engine, text

from app.benchmarks.common import (
    NOW,
    bench_database,
    peak_rss_mb,
    run_child,
    seed_company,
    vacuum_analyze,
)
from app.db.base import UtcDateTime

WINDOW = dt.timedelta(days=30)


def seed_answers(url: str, *, employees: int, devices: int) -> None:
    """Registrations and answered requests, written set-based (set-up, not measured)."""
    engine = create_engine(url)
    stamp = UtcDateTime().process_bind_param(NOW, engine.dialect)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO registrations (number_id, kind, last_name, first_name, name_key, "
                "doc_type, doc_hash, birth_date_hash, source, submitted_by, created_at) "
                "SELECT id, 'employee', 'Иванов', 'Иван', 'ИВАНОВ ИВАН ' || id, 'ru_passport', "
                "'d' || id, 'b' || (id % 20000), 'bench', 'bench', :now FROM numbers "
                "WHERE id <= :e"
            ),
            {"now": stamp, "e": employees},
        )
        conn.execute(
            text(
                "INSERT INTO registrations (number_id, kind, device_type, device_model, "
                "device_id, device_id_kind, source, submitted_by, created_at) "
                "SELECT id, 'device', 'cash_register', 'АТОЛ 30Ф', 'SN' || id, 'serial', "
                "'bench', 'bench', :now FROM numbers WHERE id > :e AND id <= :t"
            ),
            {"now": stamp, "e": employees, "t": employees + devices},
        )
        conn.execute(
            text(
                "UPDATE numbers SET status = 'pending_confirmation', sim_kind = 'employee' "
                "WHERE id <= :e"
            ),
            {"e": employees},
        )
        conn.execute(text("UPDATE numbers SET sim_kind = 'device' WHERE id > :e"), {"e": employees})
        # Every 20th person's verified name differs from what the company wrote.
        conn.execute(
            text(
                "INSERT INTO confirmation_requests (registration_id, number_id, operator_id, "
                "subscriber_id, doc_hash, status, portal_request_id, attempts, created_at, "
                "sent_at, expires_at, answered_at, answer, portal_subject, verified_name_key, "
                "verified_doc_hash, verified_birth_hash) "
                "SELECT r.id, r.number_id, n.operator_id, n.subscriber_id, r.doc_hash, "
                "'answered', 'p' || r.id, 1, :now, :now, :exp, :now, 'confirmed', 's' || r.id, "
                "CASE WHEN r.id % 20 = 0 THEN 'ПЕТРОВ ' || r.id ELSE r.name_key END, "
                "r.doc_hash, r.birth_date_hash "
                "FROM registrations r JOIN numbers n ON n.id = r.number_id "
                "WHERE r.kind = 'employee'"
            ),
            {"now": stamp, "exp": UtcDateTime().process_bind_param(NOW + WINDOW, engine.dialect)},
        )
    vacuum_analyze(engine)
    engine.dispose()


def _child(url: str) -> dict[str, Any]:
    from app.config import Environment, Settings
    from app.core.clock import FixedClock
    from app.core.runtime import Runtime
    from app.matching.jobs import run_matching_in_batches

    settings = Settings(
        env=Environment.DEV, database_url=url, scheduler_in_process=False, _env_file=None
    )
    runtime = Runtime.build(settings, clock=FixedClock(NOW + dt.timedelta(hours=1)))
    started = time.perf_counter()
    report = run_matching_in_batches(runtime)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "report": report.as_dict(), "peak_rss_mb": peak_rss_mb()}


def _naive(url: str, limit: str) -> dict[str, Any]:
    """Row by row: load each answered request, compare in Python, move the number by ORM."""
    from sqlalchemy import select

    from app.config import Environment, Settings
    from app.core.runtime import Runtime
    from app.matching.service import MATCHING_JOB
    from app.numbers import lifecycle
    from app.numbers.models import NumberStatus, PhoneNumber, Registration
    from app.portal.models import ConfirmationRequest, RequestStatus

    settings = Settings(env=Environment.DEV, database_url=url, _env_file=None)
    runtime = Runtime.build(settings)
    started = time.perf_counter()
    done = 0
    with runtime.sessions() as session:
        requests = session.scalars(
            select(ConfirmationRequest)
            .where(ConfirmationRequest.status == RequestStatus.ANSWERED)
            .limit(int(limit))
        ).all()
        for request in requests:
            registration = session.get_one(Registration, request.registration_id)
            number = session.get_one(PhoneNumber, request.number_id)
            equal = (
                registration.name_key == request.verified_name_key
                and registration.doc_hash == request.verified_doc_hash
                and registration.birth_date_hash == request.verified_birth_hash
            )
            target = NumberStatus.ACTIVE if equal else NumberStatus.MISMATCH
            lifecycle.transition(
                session, number, target, actor=MATCHING_JOB, reason="bench", at=NOW
            )
            request.status = RequestStatus.MATCHED
            done += 1
        session.commit()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": done, "rows_per_s": done / seconds}


def run(
    *, employees: int, devices: int, engines: list[str], naive_rows: int
) -> list[dict[str, Any]]:
    """Measure and print one run per engine."""
    figures = []
    for engine in engines:
        with bench_database(engine) as db:
            seed_company(db.url, numbers=employees + devices)
            seed_answers(db.url, employees=employees, devices=devices)
            result = run_child("app.benchmarks.match", "child", db.url)
            figure: dict[str, Any] = {
                "engine": engine, "employees": employees, "devices": devices,
                "seconds": result["seconds"], "peak_mb": result["peak_rss_mb"], **result["report"],
            }  # fmt: skip
            if naive_rows:
                with bench_database(engine) as fresh:
                    seed_company(fresh.url, numbers=naive_rows)
                    seed_answers(fresh.url, employees=naive_rows, devices=0)
                    naive = run_child("app.benchmarks.match", "naive", fresh.url, str(naive_rows))
                figure["naive_rows_s"] = naive["rows_per_s"]
                figure["set_based_rows_s"] = (employees + devices) / result["seconds"]
            figures.append(figure)
            line = (
                f"match  {engine:<10} {employees:,} answered employees + {devices:,} devices: "
                f"{result['seconds']:.2f} s (peak {result['peak_rss_mb']:.0f} MB): "
                f"active {figure['confirmed_active']:,}, mismatch {figure['mismatched']:,}, "
                f"devices {figure['devices_activated']:,}"
            )
            if naive_rows:
                line += (
                    f"; naive row by row {figure['naive_rows_s']:,.0f} rows/s vs "
                    f"{figure['set_based_rows_s']:,.0f} rows/s "
                    f"(×{figure['set_based_rows_s'] / figure['naive_rows_s']:.0f})"
                )
            print(line, flush=True)
    return figures


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    print(json.dumps(_child(*rest) if command == "child" else _naive(*rest)))
