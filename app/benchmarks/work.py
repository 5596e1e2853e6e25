"""`simreg bench work`: operator systems draining the work queue through the service layer.

One worker leases 1,000 items, reports 1,000 results, and goes again until the queue is empty;
the figure is items per second for lease and result together. The baseline leases and reports
one item per transaction, as a worker that ignores batching would. Run as a module for a quick
look: `python -m app.benchmarks.work [items] [engines]`.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.benchmarks.common import NOW, bench_database, seed_company
from app.companies.models import Operator
from app.db.session import build_engine, build_sessionmaker
from app.numbers.models import PhoneNumber
from app.work import service as work
from app.work.models import WorkItem, WorkKind, WorkStatus
from app.work.results import ResultIn, ResultStatus, record_result, record_results

LEASE = dt.timedelta(minutes=5)
WORKER = "bench-worker"


def _drain(sessions: sessionmaker[Session], *, operator_id: int, batch: int) -> int:
    """Lease `batch` items, report them all done, repeat until nothing is left; items done.
    Lease and results are separate transactions, as they are separate requests over HTTP."""
    done = 0
    with sessions() as session:
        while True:
            items = work.lease(
                session, operator_id=operator_id, worker=WORKER, limit=batch, now=NOW, lease=LEASE
            )
            session.commit()
            if not items:
                return done
            answers = record_results(
                session,
                operator_id=operator_id,
                worker=WORKER,
                results=[ResultIn(item_id=item.id, outcome="done") for item in items],
                now=NOW,
            )
            session.commit()
            done += sum(a.status is ResultStatus.RECORDED for a in answers)


def _one_at_a_time(sessions: sessionmaker[Session], *, operator_id: int) -> int:
    """The baseline: one item leased and reported per transaction."""
    done = 0
    with sessions() as session:
        while True:
            items = work.lease(
                session, operator_id=operator_id, worker=WORKER, limit=1, now=NOW, lease=LEASE
            )
            if not items:
                session.commit()
                return done
            record_result(
                session,
                operator_id=operator_id,
                item_id=items[0].id,
                worker=WORKER,
                outcome="done",
                detail=None,
                now=NOW,
            )
            session.commit()
            done += 1


def _enqueue(sessions: sessionmaker[Session], *, kind: WorkKind, limit: int | None) -> int:
    with sessions() as session:
        ids = select(PhoneNumber.id).order_by(PhoneNumber.id)
        if limit is not None:
            ids = ids.limit(limit)
        count = work.enqueue(session, number_ids=ids, kind=kind, now=NOW)
        session.commit()
    return count


def run(
    *, items: int = 200_000, batch: int = 1000, engines: list[str], naive_items: int = 5_000
) -> list[dict[str, Any]]:
    """Measure and print one line per engine; returns the figures."""
    figures: list[dict[str, Any]] = []
    for engine_name in engines:
        figure = _measure(engine_name, items=items, batch=batch, naive_items=naive_items)
        figures.append(figure)
        _print(figure)
    return figures


def _measure(engine_name: str, *, items: int, batch: int, naive_items: int) -> dict[str, Any]:
    """Enqueue `items`, drain them in batches, then `naive_items` one at a time; the figures."""
    with bench_database(engine_name) as db:
        seed_company(db.url, numbers=items)
        engine = build_engine(db.url)
        sessions = build_sessionmaker(engine)
        with sessions() as session:
            operator_id = session.scalars(select(Operator.id).where(Operator.code == "bench")).one()

        started = time.perf_counter()
        queued = _enqueue(sessions, kind=WorkKind.ACTIVATE, limit=None)
        enqueue_s = time.perf_counter() - started

        started = time.perf_counter()
        done = _drain(sessions, operator_id=operator_id, batch=batch)
        batched_s = time.perf_counter() - started

        # The baseline runs on the same table (now full of finished items), on other work.
        naive_queued = _enqueue(sessions, kind=WorkKind.SUSPEND, limit=naive_items)
        started = time.perf_counter()
        naive_done = _one_at_a_time(sessions, operator_id=operator_id)
        naive_s = time.perf_counter() - started

        with sessions() as session:
            finished = session.scalar(
                select(func.count()).where(WorkItem.status == WorkStatus.DONE)
            )
        engine.dispose()
    if (queued, done, naive_done, finished) != (items, items, naive_queued, items + naive_queued):
        raise RuntimeError(
            f"work bench {engine_name}: queued {queued}, done {done}, "
            f"one at a time {naive_done} of {naive_queued}, finished {finished}"
        )
    items_s = items / batched_s
    naive_items_s = naive_done / naive_s
    return {
        "engine": engine_name,
        "items": items,
        "batch": batch,
        "enqueue_s": enqueue_s,
        "enqueue_items_s": items / enqueue_s,
        "batched_s": batched_s,
        "items_s": items_s,
        "naive_items": naive_done,
        "naive_items_s": naive_items_s,
        "speedup_vs_naive": items_s / naive_items_s,
    }


def _print(f: dict[str, Any]) -> None:
    print(
        f"work {f['engine']} {f['items']:,} items: {f['items_s']:,.0f} items/s "
        f"(lease+result, batches of {f['batch']:,}); one at a time "
        f"{f['naive_items_s']:,.0f} items/s (×{f['speedup_vs_naive']:.0f}); "
        f"enqueue {f['enqueue_items_s']:,.0f} items/s",
        flush=True,
    )


if __name__ == "__main__":
    count = int(sys.argv[1].replace("_", "")) if len(sys.argv) > 1 else 200_000
    names = sys.argv[2].split(",") if len(sys.argv) > 2 else ["sqlite", "postgresql"]
    run(items=count, engines=names)
