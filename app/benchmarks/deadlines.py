"""`simreg bench deadlines`: one deadline run (recompute, suspend, flag, person messages, company
digests) over a registry in a realistic mix: 1,000 companies, 70% employee and 30% device SIMs,
80% active; of the rest, deadlines from 30 days ago to 90 days ahead (a quarter overdue, a
quarter within the 30-day flags). Events, network work items, notices and outbox rows included.

Run as a module, it is the measured child process: `python -m app.benchmarks.deadlines
child|naive URL [ROWS]`.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from typing import Any

from sqlalchemy import create_engine, text

from app.benchmarks.common import NOW, bench_database, peak_rss_mb, run_child, vacuum_analyze
from app.db.base import UtcDateTime
from app.db.session import is_postgres

COMPANIES = 1_000


def seed(url: str, *, numbers: int) -> None:
    """Companies, a contract and `numbers` numbers in the mix, written by the database itself
    (set-up, not measured)."""
    engine = create_engine(url)
    stamp = UtcDateTime().process_bind_param(NOW, engine.dialect)
    pg = is_postgres(engine)
    series = (
        "SELECT generate_series(1, CAST(:n AS bigint)) AS i"
        if pg
        else "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n) "
        "SELECT i FROM s"
    )
    # Deadline offsets in days from NOW: -30 … +89, spread over the numbers.
    if pg:
        deadline = "CAST(:now AS timestamptz) + ((i * 7919) % 120 - 30) * INTERVAL '1 day'"
    else:
        deadline = "strftime('%Y-%m-%d %H:%M:%f', :now, ((i * 7919) % 120 - 30) || ' days')"
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO operators (code, name, created_at) VALUES ('bench', 'Bench', :now)"),
            {"now": stamp},
        )
        conn.execute(
            text(
                "INSERT INTO corporate_subscribers (kind, name, inn, ogrn, status, created_at) "  # noqa: S608
                f"SELECT 'legal_entity', 'Company ' || i, 'INN' || i, 'OGRN' || i, 'active', :now "
                f"FROM ({series}) AS s"
            ),
            {"now": stamp, "n": COMPANIES},
        )
        conn.execute(
            text(
                "INSERT INTO contracts (subscriber_id, operator_id, contract_no, signed_on, "
                "created_at) VALUES (1, 1, 'B-1', :signed, :now)"
            ),
            {"now": stamp, "signed": dt.date(2024, 1, 10)},
        )
        conn.execute(
            text(
                "INSERT INTO numbers (operator_id, subscriber_id, contract_id, msisdn, status, "  # noqa: S608
                "sim_kind, deadline_at, deadline_stale, service_start_on, status_changed_at, "
                "created_at) "
                # Numbers spread over the companies by a multiplicative hash of their index.
                f"SELECT 1, 1 + (i * 2654435761 % 1000003) % {COMPANIES}, 1, "
                "'+79' || (100000000 + i), "
                "CASE WHEN i % 100 < 80 THEN 'active' WHEN i % 100 < 92 THEN "
                "'pending_confirmation' WHEN i % 100 < 96 THEN 'unregistered' "
                "WHEN i % 100 < 98 THEN 'mismatch' ELSE 'expired' END, "
                "CASE WHEN i % 10 < 7 THEN 'employee' ELSE 'device' END, "
                f"{deadline}, false, :today, :now, :now FROM ({series}) AS s"
            ),
            {"now": stamp, "n": numbers, "today": NOW.date()},
        )
    vacuum_analyze(engine)
    engine.dispose()


def _runtime(url: str) -> Any:
    from app.config import Environment, Settings
    from app.core.clock import FixedClock
    from app.core.runtime import Runtime

    settings = Settings(
        env=Environment.DEV, database_url=url, scheduler_in_process=False, _env_file=None
    )
    return Runtime.build(settings, clock=FixedClock(NOW))


def _child(url: str) -> dict[str, Any]:
    from app.deadlines.service import run_deadlines

    runtime = _runtime(url)
    started = time.perf_counter()
    report = run_deadlines(runtime)
    seconds = time.perf_counter() - started
    again_started = time.perf_counter()
    again = run_deadlines(runtime)
    repeat_seconds = time.perf_counter() - again_started
    # A change of policy: every number's deadline is worked out again (and logged if moved).
    from app.db.session import unit_of_work
    from app.deadlines.policy import request_recompute
    from app.deadlines.service import DEADLINE_JOB, recompute_deadlines

    with unit_of_work(runtime.sessions) as session:
        request_recompute(session, reason="bench", actor=DEADLINE_JOB, now=NOW)
    recompute_started = time.perf_counter()
    moved = recompute_deadlines(runtime, now=NOW, actor=DEADLINE_JOB)
    return {
        "recompute_seconds": time.perf_counter() - recompute_started,
        "recompute_moved": moved,
        "seconds": seconds,
        "report": report.as_dict(),
        "repeat_seconds": repeat_seconds,
        "repeat": again.as_dict(),
        "peak_rss_mb": peak_rss_mb(),
    }


def _naive(url: str, limit: str) -> dict[str, Any]:
    """The same run one number at a time: load each number, decide in Python, move it through
    the status machine, write its notice and message by ORM."""
    from sqlalchemy import select

    from app.deadlines.models import DeadlineNotice, NoticeKind
    from app.deadlines.service import AT_RISK, DEADLINE_JOB
    from app.notifications.models import Audience, Notification, NotificationStatus
    from app.numbers import lifecycle
    from app.numbers.models import NumberStatus, PhoneNumber

    runtime = _runtime(url)
    thresholds = sorted(runtime.settings.deadline_flag_days)
    started = time.perf_counter()
    examined = 0
    with runtime.sessions() as session:
        numbers = session.scalars(select(PhoneNumber).order_by(PhoneNumber.id).limit(int(limit)))
        for number in numbers:
            examined += 1
            if number.status not in AT_RISK or number.deadline_at is None:
                continue
            left = number.deadline_at - NOW
            kind: NoticeKind | None = None
            threshold = 0
            if left < dt.timedelta(0):
                lifecycle.transition(
                    session, number, NumberStatus.SUSPENDED, actor=DEADLINE_JOB,
                    reason="deadline passed", at=NOW,
                )  # fmt: skip
                kind = NoticeKind.SUSPEND
            else:
                crossed = [t for t in thresholds if left <= dt.timedelta(days=t)]
                if crossed and (number.flag_days is None or crossed[0] < number.flag_days):
                    number.flag_days = threshold = crossed[0]
                    kind = NoticeKind.FLAG
            if kind is None:
                continue
            notice = DeadlineNotice(
                number_id=number.id, subscriber_id=number.subscriber_id, kind=kind,
                threshold=threshold, deadline_at=number.deadline_at, run_id="naive", created_at=NOW,
            )  # fmt: skip
            session.add(notice)
            session.flush()
            if number.sim_kind is not None and number.sim_kind.value == "employee":
                session.add(
                    Notification(
                        dedupe_key=f"notice:{notice.id}", audience=Audience.PERSON,
                        event=kind.value, subscriber_id=number.subscriber_id,
                        number_id=number.id, msisdn=number.msisdn, threshold=threshold,
                        deadline_at=number.deadline_at, status=NotificationStatus.PENDING,
                        attempts=0, next_attempt_at=NOW, created_at=NOW,
                    )
                )  # fmt: skip
        session.commit()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "numbers": examined, "numbers_per_s": examined / seconds}


def run(*, sizes: dict[str, int], naive_rows: int) -> list[dict[str, Any]]:
    """Measure and print one run per engine and size."""
    figures = []
    for engine, numbers in sizes.items():
        with bench_database(engine) as db:
            seed(db.url, numbers=numbers)
            result = run_child("app.benchmarks.deadlines", "child", db.url)
        report = result["report"]
        figure: dict[str, Any] = {
            "engine": engine, "numbers": numbers, "seconds": result["seconds"],
            "peak_mb": result["peak_rss_mb"], "repeat_seconds": result["repeat_seconds"],
            **report,
        }  # fmt: skip
        line = (
            f"deadlines {engine:<10} {numbers:,} numbers: {result['seconds']:.2f} s "
            f"(peak {result['peak_rss_mb']:.0f} MB): suspended {report['suspended']:,}, "
            f"flagged {report['flagged']:,}, person messages {report['person_messages']:,}, "
            f"digests {report['company_digests']:,}, {report['batches']} batches; "
            f"repeat run {result['repeat_seconds']:.2f} s changes "
            f"{result['repeat']['suspended'] + result['repeat']['flagged']}; every deadline "
            f"recomputed after a policy change {result['recompute_seconds']:.2f} s "
            f"({result['recompute_moved']:,} moved, each logged)"
        )
        if naive_rows:
            with bench_database(engine) as fresh:
                seed(fresh.url, numbers=naive_rows)
                naive = run_child("app.benchmarks.deadlines", "naive", fresh.url, str(naive_rows))
            set_based = numbers / result["seconds"]
            figure["naive_numbers_s"] = naive["numbers_per_s"]
            figure["set_based_numbers_s"] = set_based
            line += (
                f"; one number at a time {naive['numbers_per_s']:,.0f} numbers/s vs "
                f"{set_based:,.0f} numbers/s (×{set_based / naive['numbers_per_s']:.0f}; "
                f"{numbers / naive['numbers_per_s']:.0f} s for {numbers:,})"
            )
        figures.append(figure)
        print(line, flush=True)
    return figures


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    print(json.dumps(_child(*rest) if command == "child" else _naive(*rest)))
