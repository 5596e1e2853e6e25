"""What every benchmark needs: a database per engine, a seeded company, a child process runner."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, insert, text

from app.companies.models import (
    Contract,
    CorporateSubscriber,
    Operator,
    SubscriberKind,
    SubscriberStatus,
)
from app.db.local_postgres import owned_scratch, start_server
from app.db.migrations import upgrade_to_head
from app.db.session import is_postgres
from app.numbers.models import NumberStatus, PhoneNumber

NOW = dt.datetime(2026, 11, 23, 7, 0, tzinfo=dt.UTC)


@dataclass(frozen=True)
class BenchDatabase:
    """A migrated, empty database for one benchmark run."""

    engine_name: str
    url: str
    workdir: Path


@contextlib.contextmanager
def bench_database(engine_name: str) -> Iterator[BenchDatabase]:
    """A fresh database on `engine_name` ("sqlite" or "postgresql"), removed afterwards.

    PostgreSQL: SIMREG_BENCH_PG_URL when set (a database that may be emptied), else a
    throwaway local server."""
    with scratch(engine_name) as workdir:
        if engine_name == "sqlite":
            url = f"sqlite:///{workdir / 'bench.db'}"
            upgrade_to_head(url)
            yield BenchDatabase(engine_name, url, workdir)
        else:
            with _postgres_database(workdir) as database:
                yield database


@contextlib.contextmanager
def scratch(name: str) -> Iterator[Path]:
    """A scratch folder for one bench (`simreg-bench-<name>-…`), removed afterwards, or by
    the next bench if this one is killed first."""
    workdir = owned_scratch(f"simreg-bench-{name}-")
    try:
        yield workdir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def _postgres_database(workdir: Path) -> Iterator[BenchDatabase]:
    given = os.environ.get("SIMREG_BENCH_PG_URL")
    server = None if given else start_server()
    admin = given or server.admin_url  # type: ignore[union-attr]
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    name = f"simreg_bench_{os.getpid()}"
    with engine.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    url = admin.rsplit("/", 1)[0] + "/" + name
    try:
        upgrade_to_head(url)
        yield BenchDatabase("postgresql", url, workdir)
    finally:
        with engine.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        engine.dispose()
        if server is not None:
            server.stop()


def seed_company(url: str, *, numbers: int, first_msisdn: int = 9_000_000_000) -> int:
    """One operator, one company, one contract and `numbers` unregistered numbers; the id of
    the company. Seeding is set-up, not what is measured, so it writes rows directly."""
    engine = create_engine(url)
    with engine.begin() as conn:
        operator_id = conn.execute(
            insert(Operator)
            .values(code="bench", name="Bench", created_at=NOW)
            .returning(Operator.id)
        ).scalar_one()
        company_id = conn.execute(
            insert(CorporateSubscriber)
            .values(
                kind=SubscriberKind.LEGAL_ENTITY,
                name="Bench LLC",
                inn="7700042425",
                ogrn="1027700042424",
                kpp="770001001",
                status=SubscriberStatus.ACTIVE,
                created_at=NOW,
            )
            .returning(CorporateSubscriber.id)
        ).scalar_one()
        contract_id = conn.execute(
            insert(Contract)
            .values(
                subscriber_id=company_id,
                operator_id=operator_id,
                contract_no="B-1",
                signed_on=dt.date(2024, 1, 10),
                created_at=NOW,
            )
            .returning(Contract.id)
        ).scalar_one()
        for start in range(0, numbers, 100_000):
            conn.execute(
                insert(PhoneNumber),
                [
                    {
                        "operator_id": operator_id,
                        "subscriber_id": company_id,
                        "contract_id": contract_id,
                        "msisdn": f"+7{first_msisdn + i}",
                        "iccid": None,
                        "status": NumberStatus.UNREGISTERED,
                        "sim_kind": None,
                        "deadline_at": None,
                        "status_changed_at": NOW,
                        "created_at": NOW,
                    }
                    for i in range(start, min(numbers, start + 100_000))
                ],
            )
    settle_seeded_deadlines(engine)
    fold_tallies(engine)
    vacuum_analyze(engine)
    engine.dispose()
    return int(company_id)


def fold_tallies(engine: Engine) -> None:
    """PostgreSQL: the seed inserts its rows one statement each (executemany), and each
    statement leaves a tally row; fold them as the `tallies` job would, before measuring."""
    from sqlalchemy.orm import Session

    from app.numbers.tallies import compact_tallies

    with Session(engine) as session:
        compact_tallies(session, min_rows=1)
        session.commit()


def settle_seeded_deadlines(engine: Engine) -> None:
    """Numbers carry their deadline from the moment they are added (the API works it out in
    the same request); seeded ones get theirs here, before anything is measured."""
    from sqlalchemy.orm import Session

    from app.core.actors import Actor, ActorKind
    from app.deadlines.recompute import settle_stale_deadlines

    with Session(engine) as session:
        settle_stale_deadlines(
            session, scope=[], actor=Actor(ActorKind.OPERATOR_JOB, "bench"), now=NOW
        )
        session.commit()


def vacuum_analyze(engine: Engine) -> None:
    """PostgreSQL: leave bulk-written tables as autovacuum would (statistics, hint bits), and
    their pages written out by a checkpoint, so a benchmark measures the work and not the
    first reader's clean-up of fresh rows or the write-back of the set-up's dirty pages."""
    if is_postgres(engine):
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
            conn.execute(text("CHECKPOINT"))
        os.sync()


def run_child(module: str, *args: str) -> dict[str, Any]:
    """Run `python -m module args…` and read the JSON line it prints last (its own figures,
    peak memory included, so each measurement has a process of its own)."""
    done = subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{module} failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def peak_rss_mb() -> float:
    """Peak resident memory of this process, in MB."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def process_env(**settings: str) -> dict[str, str]:
    """The environment of a `simreg` child process: this one's without any SIMREG_* of its own,
    plus `settings` as SIMREG_<NAME> (database_url="…" → SIMREG_DATABASE_URL)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIMREG_")}
    env.update({f"SIMREG_{name.upper()}": value for name, value in settings.items()})
    return env


def wait_until_answering(
    url: str, process: subprocess.Popen[bytes], *, timeout: float = 60
) -> str | None:
    """Poll `url` until it answers 200 (None), or say why not: the process ended, or time ran
    out. Callers add the process's output to their own error."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"it ended with exit code {process.returncode}"
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return None
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    return f"{url} did not answer 200 within {timeout} s"


def bench_runtime(url: str, upload_dir: str) -> Any:
    """A dev runtime on `url` with uploads under `upload_dir`, its clock standing at NOW and
    its log quiet: what a bench's child process measures with."""
    from app.config import Environment, Settings
    from app.core.clock import FixedClock
    from app.core.runtime import Runtime

    settings = Settings(
        env=Environment.DEV,
        database_url=url,
        upload_dir=upload_dir,
        log_level="WARNING",
        _env_file=None,
    )
    return Runtime.build(settings, clock=FixedClock(NOW))
