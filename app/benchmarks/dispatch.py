"""`simreg bench dispatch`: sending queued confirmation requests through the sandbox portal.

Two measurements:
- **throughput**: N queued employee requests (3 operators) sent with the rate limit off by
  one or more dispatcher processes side by side; requests/s (the sandbox portal's own writes
  included) and each process's peak memory;
- **pacing**: the default rate (10/s per operator), 3 operators and a backlog of M requests on
  the dev clock, moved one dispatch tick at a time: when the last request went out, read from
  the dispatcher's own "portal send" log lines, against M / (3 × rate).

Run as a module, it is the measured child process: `python -m app.benchmarks.dispatch
send|pace URL …`.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from typing import Any

from sqlalchemy import Connection, create_engine, func, insert, select, text

from app.benchmarks.common import NOW, bench_database, peak_rss_mb, vacuum_analyze
from app.companies.models import (
    Contract,
    CorporateSubscriber,
    Operator,
    SubscriberKind,
    SubscriberStatus,
)
from app.core.personal_data import PersonalDataVault
from app.db.base import UtcDateTime
from app.db.session import is_postgres

OPERATORS = 3
DISTINCT_PEOPLE = 1_000  # sealed documents, shared round-robin by the registrations


def _settings(url: str, **extra: Any) -> Any:
    from app.config import Environment, Settings

    return Settings(
        env=Environment.DEV,
        database_url=url,
        scheduler_in_process=False,
        _env_file=None,
        **extra,
    )


def seed_queue(url: str, *, requests: int) -> None:
    """3 operators, one company, `requests` employee numbers with a queued request each, the
    registrations' personal data sealed as in production (set-up, not measured)."""
    from app.core.runtime import Runtime

    runtime = Runtime.build(_settings(url))
    engine = create_engine(url)
    with engine.begin() as conn:
        _seed_companies(conn)
        _seed_people(conn, runtime.vault)
        _seed_requests(conn, runtime.vault, requests=requests)
    vacuum_analyze(engine)
    engine.dispose()
    runtime.engine.dispose()


def _seed_companies(conn: Connection) -> None:
    """One company holding a contract with each of the bench operators."""
    company_id = conn.execute(
        insert(CorporateSubscriber)
        .values(
            kind=SubscriberKind.LEGAL_ENTITY, name="Bench LLC", inn="7700042425",
            ogrn="1027700042424", kpp="770001001", status=SubscriberStatus.ACTIVE,
            created_at=NOW,
        )
        .returning(CorporateSubscriber.id)
    ).scalar_one()  # fmt: skip
    for k in range(OPERATORS):
        operator_id = conn.execute(
            insert(Operator)
            .values(code=f"bench{k}", name=f"Bench {k}", created_at=NOW)
            .returning(Operator.id)
        ).scalar_one()
        conn.execute(
            insert(Contract).values(
                subscriber_id=company_id, operator_id=operator_id, contract_no=f"B-{k}",
                signed_on=dt.date(2024, 1, 10), created_at=NOW,
            )
        )  # fmt: skip


def _seed_people(conn: Connection, vault: PersonalDataVault) -> None:
    """A temporary table of DISTINCT_PEOPLE sealed documents and their hashes."""
    from app.numbers.registration_rules import birth_date_hash, document_hash

    blob = "BYTEA" if is_postgres(conn) else "BLOB"
    conn.execute(
        text(f"CREATE TEMPORARY TABLE bench_people (k INTEGER, pd {blob}, dh TEXT, bh TEXT)")
    )
    people = []
    for k in range(DISTINCT_PEOPLE):
        series, number = f"{4500 + k % 100:04d}", f"{100000 + k:06d}"
        birth = dt.date(1970, 1, 1) + dt.timedelta(days=k * 7)
        people.append(
            {
                "k": k,
                "pd": vault.seal(
                    {
                        "birth_date": birth.isoformat(),
                        "doc_series": series,
                        "doc_number": number,
                        "snils": None,
                    }
                ),
                "dh": document_hash(vault, f"ru_passport:{series}{number}"),
                "bh": birth_date_hash(vault, birth),
            }
        )
    conn.execute(text("INSERT INTO bench_people VALUES (:k, :pd, :dh, :bh)"), people)


def _seed_requests(conn: Connection, vault: PersonalDataVault, *, requests: int) -> None:
    """`requests` numbers, each with a registration and a queued confirmation request."""
    stamp = UtcDateTime().process_bind_param(NOW, conn.dialect)
    expires = UtcDateTime().process_bind_param(NOW + dt.timedelta(days=30), conn.dialect)
    source = _series(conn, requests)
    conn.execute(
        text(
            "INSERT INTO numbers (operator_id, subscriber_id, contract_id, msisdn, status,"  # noqa: S608 (a row source built from a number)
            " sim_kind, deadline_stale, status_changed_at, created_at)"
            " SELECT c.operator_id, c.subscriber_id, c.id, '+79' || (100000000 + s.i),"
            " 'pending_confirmation', 'employee', false, :now, :now"
            f" FROM (SELECT row_number() OVER () - 1 AS i FROM {source}) AS s"
            " JOIN contracts c ON c.id = 1 + s.i % :ops"
        ),
        {"now": stamp, "ops": OPERATORS},
    )
    conn.execute(
        text(
            "INSERT INTO registrations (number_id, kind, last_name, first_name, patronymic,"
            " name_key, doc_type, doc_hash, birth_date_hash, pd_sealed, pd_key_id, source,"
            " submitted_by, created_at)"
            " SELECT n.id, 'employee', 'Иванов', 'Иван', 'Иванович', 'ИВАНОВ ИВАН ИВАНОВИЧ',"
            " 'ru_passport', p.dh, p.bh, p.pd, :kid, 'bench', 'bench', :now"
            " FROM numbers n JOIN bench_people p ON p.k = n.id % :people"
        ),
        {"now": stamp, "people": DISTINCT_PEOPLE, "kid": vault.active_key_id},
    )
    conn.execute(
        text(
            "INSERT INTO confirmation_requests (registration_id, number_id, operator_id,"
            " subscriber_id, doc_hash, status, attempts, created_at, expires_at)"
            " SELECT r.id, n.id, n.operator_id, n.subscriber_id, r.doc_hash, 'queued', 0,"
            " :now, :exp FROM registrations r JOIN numbers n ON n.id = r.number_id"
        ),
        {"now": stamp, "exp": expires},
    )


def _series(conn: Connection, count: int) -> str:
    if is_postgres(conn):
        return f"generate_series(1, {int(count)})"
    last = int(count)
    return f"(WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {last}) SELECT x FROM c)"  # noqa: S608, E501


def _send_child(url: str) -> dict[str, Any]:
    """One dispatcher with no rate limit, until nothing is due."""
    from app.core.clock import FixedClock
    from app.core.runtime import Runtime
    from app.portal.dispatch import dispatch
    from app.portal.sandbox_portal import SandboxPortal

    settings = _settings(url, portal_rate_per_operator=0.0)
    runtime = Runtime.build(settings, clock=FixedClock(NOW + dt.timedelta(hours=1)))
    started = time.perf_counter()
    report = dispatch(runtime, SandboxPortal.from_runtime(runtime), seconds=3600)
    return {
        "seconds": time.perf_counter() - started,
        "sent": report.sent,
        "peak_rss_mb": peak_rss_mb(),
    }


def _pace_child(url: str) -> dict[str, Any]:
    """The default rate on the dev clock, moved one dispatch tick at a time; the dispatcher's
    log lines are what the parent reads."""
    from app.core.clock import FixedClock
    from app.core.logging import configure_logging
    from app.core.runtime import Runtime
    from app.portal.dispatch import dispatch
    from app.portal.models import ConfirmationRequest, RequestStatus
    from app.portal.sandbox_portal import SandboxPortal

    settings = _settings(url)
    configure_logging("INFO")
    clock = FixedClock(NOW + dt.timedelta(hours=1))
    runtime = Runtime.build(settings, clock=clock)
    portal = SandboxPortal.from_runtime(runtime)
    tick = dt.timedelta(seconds=settings.dispatch_interval_seconds)
    started = clock.now()
    ticks = 0
    while True:
        dispatch(runtime, portal, seconds=0)
        with runtime.sessions() as session:
            left = session.scalar(
                select(func.count()).where(ConfirmationRequest.status == RequestStatus.QUEUED)
            )
        if not left:
            break
        clock.advance(tick)
        ticks += 1
    return {
        "started": started.isoformat(),
        "ticks": ticks,
        "rate": settings.portal_rate_per_operator,
        "tick_seconds": tick.total_seconds(),
    }


def _sent_count(url: str) -> int:
    engine = create_engine(url)
    with engine.connect() as conn:
        count = conn.execute(
            text("SELECT count(*) FROM confirmation_requests WHERE status = 'sent'")
        ).scalar_one()
    engine.dispose()
    return int(count)


def _run_children(mode: str, url: str, workers: int) -> tuple[float, list[dict[str, Any]], str]:
    started = time.perf_counter()
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "app.benchmarks.dispatch", mode, url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(workers)
    ]
    results = []
    logs = ""
    for child in children:
        out, err = child.communicate()
        if child.returncode != 0:
            raise RuntimeError(f"dispatch child failed:\n{err[-4000:]}")
        lines = out.strip().splitlines()
        results.append(json.loads(lines[-1]))
        logs += "\n".join(lines[:-1]) + "\n" + err
    return time.perf_counter() - started, results, logs


def last_send_from_log(logs: str) -> tuple[dt.datetime | None, int]:
    """The registry time of the dispatcher's last "portal send" line that sent something, and
    the requests its lines say were sent."""
    last = None
    total = 0
    for line in logs.splitlines():
        if '"portal send"' not in line:
            continue
        event = json.loads(line[line.index("{") :])
        if event.get("sent"):
            total += int(event["sent"])
            at = dt.datetime.fromisoformat(event["at"])
            last = at if last is None or at > last else last
    return last, total


def run(
    *, requests: int, workers: list[int], engines: list[str], pace: int
) -> list[dict[str, Any]]:
    """Measure and print throughput per engine and worker count, and the pacing run."""
    figures: list[dict[str, Any]] = []
    for engine in engines:
        for count in workers:
            if engine == "sqlite" and count > 1:
                continue  # one writer at a time: a second process only waits for the lock
            with bench_database(engine) as db:
                seed_queue(db.url, requests=requests)
                seconds, results, _ = _run_children("send", db.url, count)
                sent = _sent_count(db.url)
            figure = {
                "engine": engine, "workers": count, "requests": requests, "sent": sent,
                "seconds": seconds, "requests_per_s": sent / seconds,
                "peak_mb": max(r["peak_rss_mb"] for r in results),
            }  # fmt: skip
            figures.append(figure)
            print(
                f"dispatch {engine:<10} {count} worker(s), {requests:,} queued, rate off: "
                f"{sent:,} sent in {seconds:.1f} s = {figure['requests_per_s']:,.0f} requests/s "
                f"(peak {figure['peak_mb']:.0f} MB per worker)",
                flush=True,
            )
    if pace:
        engine = engines[-1]
        with bench_database(engine) as db:
            seed_queue(db.url, requests=pace)
            _, results, logs = _run_children("pace", db.url, 1)
        result = results[0]
        started = dt.datetime.fromisoformat(result["started"])
        last, logged = last_send_from_log(logs)
        took = (last - started).total_seconds() if last else float("nan")
        ideal = pace / (OPERATORS * result["rate"])
        figure = {
            "engine": engine, "pace_requests": pace, "logged_sent": logged,
            "last_sent_after_s": took, "ideal_s": ideal, "off_by": took / ideal - 1,
        }  # fmt: skip
        figures.append(figure)
        print(
            f"dispatch {engine:<10} pacing: {pace:,} queued, {OPERATORS} operators at "
            f"{result['rate']:g}/s, clock moved {result['tick_seconds']:g} s a tick: the log has "
            f"{logged:,} sent, the last {took:,.0f} s after the start; {pace:,} / "
            f"{OPERATORS * result['rate']:g} per s = {ideal:,.0f} s ({figure['off_by']:+.1%})",
            flush=True,
        )
    return figures


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    print(json.dumps(_send_child(*rest) if command == "send" else _pace_child(*rest)))
