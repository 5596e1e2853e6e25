"""The operator work queue: enqueue, lease, results, expiry, access, and four workers at once."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.clock import FixedClock
from app.core.runtime import Runtime
from app.numbers.models import PhoneNumber
from app.work import service as work
from app.work.models import WorkItem, WorkKind, WorkStatus
from app.work.results import ResultIn, ResultStatus, record_result, record_results
from app.work.router import router as work_router
from tests.builders import make_company_with_numbers, staff_headers
from tests.conftest import ENGINE

WORK = "/api/v1/operator/work"


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    """The application with the work endpoints, whether or not create_app mounts them yet."""
    if not any(getattr(route, "path", "").startswith(WORK) for route in app.routes):
        app.include_router(work_router)
    return app


def _key(setup: dict[str, Any]) -> dict[str, str]:
    return {"X-API-Key": setup["operator"]["api_key"]}


def _enqueue(
    session: Session, setup: dict[str, Any], now: dt.datetime, kind: WorkKind = WorkKind.ACTIVATE
) -> int:
    ids = select(PhoneNumber.id).where(PhoneNumber.operator_id == setup["operator"]["id"])
    count = work.enqueue(session, number_ids=ids, kind=kind, now=now)
    session.commit()
    return count


def _lease(client: TestClient, setup: dict[str, Any], **body: Any) -> list[dict[str, Any]]:
    response = client.post(f"{WORK}/lease", json=body, headers=_key(setup))
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _result(client: TestClient, setup: dict[str, Any], item_id: int, **body: Any) -> Any:
    return client.post(f"{WORK}/{item_id}/result", json=body, headers=_key(setup))


@pytest.fixture
def setup(client: TestClient) -> dict[str, Any]:
    return make_company_with_numbers(client, count=5)


def test_enqueue_skips_numbers_with_an_open_item_of_the_same_kind(
    client: TestClient, session: Session, clock: FixedClock, setup: dict[str, Any]
) -> None:
    assert _enqueue(session, setup, clock.now()) == 5
    assert _enqueue(session, setup, clock.now()) == 0
    # Another kind is other work.
    assert _enqueue(session, setup, clock.now(), WorkKind.SUSPEND) == 5
    # A leased item is still open; a finished one is not.
    leased = _lease(client, setup, limit=1)
    assert _enqueue(session, setup, clock.now()) == 0
    assert _result(client, setup, leased[0]["id"], outcome="done").status_code == 200
    assert _enqueue(session, setup, clock.now()) == 1
    item = session.scalars(select(WorkItem).order_by(WorkItem.id.desc()).limit(1)).one()
    assert (item.status, item.kind, item.attempts) == (WorkStatus.QUEUED, WorkKind.ACTIVATE, 0)
    assert item.operator_id == setup["operator"]["id"]


def test_lease_gives_only_the_callers_items_with_their_msisdn(
    client: TestClient,
    session: Session,
    clock: FixedClock,
    runtime: Runtime,
    setup: dict[str, Any],
) -> None:
    other = make_company_with_numbers(client, count=4)
    _enqueue(session, setup, clock.now())
    _enqueue(session, other, clock.now())
    items = _lease(client, setup, limit=100)
    own = {n["id"]: n["msisdn"] for n in setup["numbers"]}
    assert {i["number_id"]: i["msisdn"] for i in items} == own
    assert all(i["kind"] == "activate" and i["attempts"] == 1 for i in items)
    lease_until = dt.datetime.fromisoformat(items[0]["lease_until"])
    assert lease_until == clock.now() + dt.timedelta(seconds=runtime.settings.work_lease_seconds)
    assert len(_lease(client, other, limit=100)) == 4
    assert _lease(client, setup, limit=100) == []


def test_lease_limit_oldest_first_and_bounds(
    client: TestClient, session: Session, clock: FixedClock, setup: dict[str, Any]
) -> None:
    _enqueue(session, setup, clock.now())
    all_ids = sorted(session.scalars(select(WorkItem.id)))
    first = _lease(client, setup, limit=2)
    second = _lease(client, setup, limit=2)
    third = _lease(client, setup, limit=2)
    assert [i["id"] for i in first + second + third] == all_ids
    assert len(third) == 1
    assert _lease(client, setup) == []
    # The body is optional: no body leases up to the default limit.
    response = client.post(f"{WORK}/lease", headers=_key(setup))
    assert response.status_code == 200, response.text
    assert response.json() == {"items": []}
    assert client.get(WORK, params={"status": "lost"}, headers=_key(setup)).status_code == 422
    for bad in ({"limit": 0}, {"limit": 5001}, {"lease_seconds": 5}, {"lease_seconds": 3601}):
        response = client.post(f"{WORK}/lease", json=bad, headers=_key(setup))
        assert response.status_code == 422, bad


def test_an_expired_lease_returns_the_items_to_the_queue(
    client: TestClient,
    session: Session,
    clock: FixedClock,
    setup: dict[str, Any],
) -> None:
    _enqueue(session, setup, clock.now())
    first = _lease(client, setup, limit=3, lease_seconds=60, worker="w1")
    assert _lease(client, setup, limit=10, worker="w2") != []  # the other two
    assert _lease(client, setup, limit=10, worker="w2") == []
    clock.advance(dt.timedelta(seconds=61))
    # w2's lease (300 s) still runs; w1's three items are free again.
    again = _lease(client, setup, limit=10, worker="w3")
    assert [i["id"] for i in again] == [i["id"] for i in first]
    assert all(i["attempts"] == 2 for i in again)

    # The job puts expired items back to `queued`; lease() would take them regardless.
    clock.advance(dt.timedelta(seconds=600))
    assert work.release_expired(session, now=clock.now()) == 5
    session.commit()
    counts = client.get(WORK, headers=_key(setup)).json()
    assert counts["counts"]["queued"] == 5
    assert counts["expired_leases"] == 0


def test_a_result_is_idempotent(
    client: TestClient, session: Session, clock: FixedClock, setup: dict[str, Any]
) -> None:
    _enqueue(session, setup, clock.now())
    (item,) = _lease(client, setup, limit=1)
    first = _result(client, setup, item["id"], outcome="failed", detail="HLR: no such IMSI")
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["status"] == "failed"
    assert body["result"] == {"outcome": "failed", "detail": "HLR: no such IMSI"}
    assert body["done_at"] is not None
    clock.advance(dt.timedelta(minutes=5))
    again = _result(client, setup, item["id"], outcome="failed", detail="HLR: no such IMSI")
    assert again.status_code == 200
    assert again.json() == body  # unchanged, done_at included


def test_a_different_result_for_a_finished_item_is_a_conflict(
    client: TestClient, session: Session, clock: FixedClock, setup: dict[str, Any]
) -> None:
    _enqueue(session, setup, clock.now())
    (item,) = _lease(client, setup, limit=1)
    assert _result(client, setup, item["id"], outcome="done").status_code == 200
    response = _result(client, setup, item["id"], outcome="failed", detail="oops")
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["item_status"] == "done"
    # A different detail is a different result too.
    assert _result(client, setup, item["id"], outcome="done", detail="x").status_code == 409


def test_a_late_result_counts_unless_another_worker_took_the_item(
    client: TestClient, session: Session, clock: FixedClock, setup: dict[str, Any]
) -> None:
    _enqueue(session, setup, clock.now())
    one, two = _lease(client, setup, limit=2, lease_seconds=60, worker="w1")
    clock.advance(dt.timedelta(minutes=2))
    # Lease of `one` ended, nobody took it: the work was done, the result is accepted.
    late = _result(client, setup, one["id"], outcome="done", worker="w1")
    assert late.status_code == 200, late.text
    assert late.json()["status"] == "done"
    # Also after the job has put the item back in the queue.
    assert work.release_expired(session, now=clock.now()) == 1
    session.commit()
    # Now w2 leases `two`: w1's result for it belongs to w2's lease.
    (taken,) = _lease(client, setup, limit=1, worker="w2")
    assert taken["id"] == two["id"]
    refused = _result(client, setup, two["id"], outcome="done", worker="w1")
    assert refused.status_code == 409
    assert "другой обработчик" in refused.json()["detail"]
    assert _result(client, setup, two["id"], outcome="done", worker="w2").status_code == 200


def test_a_late_result_after_the_release_job_is_accepted(
    client: TestClient, session: Session, clock: FixedClock, setup: dict[str, Any]
) -> None:
    _enqueue(session, setup, clock.now())
    (item,) = _lease(client, setup, limit=1, lease_seconds=60, worker="w1")
    clock.advance(dt.timedelta(minutes=2))
    assert work.release_expired(session, now=clock.now()) == 1
    session.commit()
    response = _result(client, setup, item["id"], outcome="done", worker="w1")
    assert response.status_code == 200
    assert response.json()["attempts"] == 1


def test_a_result_for_an_item_never_leased_is_a_conflict(
    client: TestClient, session: Session, clock: FixedClock, setup: dict[str, Any]
) -> None:
    _enqueue(session, setup, clock.now())
    item_id = session.scalars(select(WorkItem.id).limit(1)).one()
    assert _result(client, setup, item_id, outcome="done").status_code == 409


def test_another_operators_item_and_an_unknown_item_are_not_found(
    client: TestClient, session: Session, clock: FixedClock, setup: dict[str, Any]
) -> None:
    other = make_company_with_numbers(client, count=1)
    _enqueue(session, other, clock.now())
    (theirs,) = _lease(client, other, limit=1)
    response = _result(client, setup, theirs["id"], outcome="done")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert _result(client, setup, 999_999, outcome="done").status_code == 404
    # Their item is untouched.
    assert _result(client, other, theirs["id"], outcome="done").status_code == 200


def test_batch_results(
    client: TestClient, session: Session, clock: FixedClock, setup: dict[str, Any]
) -> None:
    other = make_company_with_numbers(client, count=1)
    _enqueue(session, setup, clock.now())
    _enqueue(session, other, clock.now())
    items = _lease(client, setup, limit=4)
    queued_id = session.scalars(
        select(WorkItem.id).where(
            WorkItem.status == WorkStatus.QUEUED, WorkItem.operator_id == setup["operator"]["id"]
        )
    ).one()
    (theirs,) = _lease(client, other, limit=1)
    a, b, c, d = (i["id"] for i in items)
    body = {
        "results": [
            {"item_id": a, "outcome": "done"},
            {"item_id": b, "outcome": "failed", "detail": "SIM blocked by fraud team"},
            {"item_id": c, "outcome": "done"},
            {"item_id": c, "outcome": "done"},  # a repeat within the batch
            {"item_id": d, "outcome": "done"},
            {"item_id": d, "outcome": "failed"},  # contradicts the line before
            {"item_id": theirs["id"], "outcome": "done"},
            {"item_id": 999_999, "outcome": "done"},
            {"item_id": queued_id, "outcome": "done"},
        ]
    }
    response = client.post(f"{WORK}/results", json=body, headers=_key(setup))
    assert response.status_code == 200, response.text
    out = response.json()
    assert [r["status"] for r in out["results"]] == [
        "recorded",
        "recorded",
        "recorded",
        "unchanged",
        "recorded",
        "conflict",
        "not_found",
        "not_found",
        "conflict",
    ]
    assert [r["item_id"] for r in out["results"]] == [r["item_id"] for r in body["results"]]
    assert (out["recorded"], out["unchanged"], out["conflicts"], out["not_found"]) == (4, 1, 2, 2)
    assert out["results"][1]["item_status"] == "failed"

    again = client.post(f"{WORK}/results", json=body, headers=_key(setup)).json()
    assert [r["status"] for r in again["results"][:5]] == ["unchanged"] * 5
    stored = {i.id: i for i in session.scalars(select(WorkItem)).all()}
    assert stored[b].result == {"outcome": "failed", "detail": "SIM blocked by fraud team"}
    assert stored[theirs["id"]].status is WorkStatus.LEASED
    counts = client.get(WORK, headers=_key(setup)).json()["counts"]
    assert counts == {"queued": 1, "leased": 0, "done": 3, "failed": 1}
    only = client.get(WORK, params={"status": ["done", "failed"]}, headers=_key(setup)).json()
    assert only["counts"] == {"done": 3, "failed": 1}

    too_many = {"results": [{"item_id": a, "outcome": "done"}] * 5001}
    response = client.post(f"{WORK}/results", json=too_many, headers=_key(setup))
    assert response.status_code == 422


def test_only_operator_systems_may_call(
    client: TestClient, session: Session, clock: FixedClock, setup: dict[str, Any]
) -> None:
    _enqueue(session, setup, clock.now())
    item_id = session.scalars(select(WorkItem.id).limit(1)).one()
    calls = [
        ("POST", f"{WORK}/lease", {"limit": 1}),
        ("POST", f"{WORK}/{item_id}/result", {"outcome": "done"}),
        ("POST", f"{WORK}/results", {"results": [{"item_id": item_id, "outcome": "done"}]}),
        ("GET", WORK, None),
    ]
    for headers in (setup["admin"], staff_headers(client)):
        for method, url, body in calls:
            response = client.request(method, url, json=body, headers=headers)
            assert response.status_code == 403, (url, response.text)
    for method, url, body in calls:
        assert client.request(method, url, json=body).status_code == 401
    # Nothing was leased by the refused calls.
    assert session.scalar(select(func.max(WorkItem.attempts))) == 0


def test_worker_none_speaks_for_the_current_lease(
    client: TestClient, session: Session, clock: FixedClock, setup: dict[str, Any]
) -> None:
    _enqueue(session, setup, clock.now())
    operator_id = setup["operator"]["id"]
    (item,) = work.lease(
        session,
        operator_id=operator_id,
        worker="w1",
        limit=1,
        now=clock.now(),
        lease=dt.timedelta(minutes=1),
    )
    stored = record_result(
        session,
        operator_id=operator_id,
        item_id=item.id,
        worker=None,
        outcome="done",
        detail=None,
        now=clock.now(),
    )
    session.commit()
    assert (stored.status, stored.leased_by, stored.done_at) == (
        WorkStatus.DONE,
        "w1",
        clock.now(),
    )


# --- Four workers at once -------------------------------------------------------------------


def _seed_items(client: TestClient, runtime: Runtime, now: dt.datetime, count: int) -> int:
    """`count` numbers of one operator, each with one queued item (enqueued set-based)."""
    setup = make_company_with_numbers(client, count=1)
    operator_id: int = setup["operator"]["id"]
    template = setup["numbers"][0]
    with runtime.sessions() as session:
        number = session.get_one(PhoneNumber, template["id"])
        session.execute(
            PhoneNumber.__table__.insert(),
            [
                {
                    "operator_id": operator_id,
                    "subscriber_id": number.subscriber_id,
                    "contract_id": number.contract_id,
                    "msisdn": f"+7913{i:07d}",
                    "status": number.status,
                    "status_changed_at": now,
                    "created_at": now,
                }
                for i in range(count - 1)
            ],
        )
        ids = select(PhoneNumber.id).where(PhoneNumber.operator_id == operator_id)
        assert work.enqueue(session, number_ids=ids, kind=WorkKind.SUSPEND, now=now) == count
        session.commit()
    return operator_id


def _drain_with_four_workers(runtime: Runtime, operator_id: int, now: dt.datetime) -> None:
    """Four threads, each with its own session, lease 100 → report → commit until nothing is
    left; every item must be leased exactly once and done exactly once."""
    start = threading.Barrier(4)

    def worker(name: str) -> list[int]:
        got: list[int] = []
        with runtime.sessions() as session:
            start.wait()
            while True:
                items = work.lease(
                    session,
                    operator_id=operator_id,
                    worker=name,
                    limit=100,
                    now=now,
                    lease=dt.timedelta(minutes=5),
                )
                session.commit()
                if not items:
                    return got
                answers = record_results(
                    session,
                    operator_id=operator_id,
                    worker=name,
                    results=[ResultIn(item_id=i.id, outcome="done") for i in items],
                    now=now,
                )
                session.commit()
                assert {a.status for a in answers} == {ResultStatus.RECORDED}
                got.extend(i.id for i in items)

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(worker, f"worker-{n}") for n in range(4)]
        per_worker = [f.result(timeout=120) for f in futures]

    with runtime.sessions() as session:
        all_ids = set(session.scalars(select(WorkItem.id)))
        rows = session.execute(
            select(WorkItem.status, WorkItem.attempts, func.count()).group_by(
                WorkItem.status, WorkItem.attempts
            )
        ).all()
    leased = [item_id for got in per_worker for item_id in got]
    assert len(leased) == len(all_ids) == 4000  # nobody got an item twice
    assert set(leased) == all_ids  # and every item went to someone
    for n, mine in enumerate(per_worker):
        for other in per_worker[n + 1 :]:
            assert not set(mine) & set(other)
    assert [tuple(r) for r in rows] == [(WorkStatus.DONE, 1, 4000)]


@pytest.mark.postgres_only
def test_four_workers_on_postgresql_never_share_an_item(
    client: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    operator_id = _seed_items(client, runtime, clock.now(), 4000)
    _drain_with_four_workers(runtime, operator_id, clock.now())


@pytest.mark.skipif(ENGINE != "sqlite", reason="the SQLite path of the same proof")
def test_four_workers_on_sqlite_never_share_an_item(
    client: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    # SQLite lets one writer in at a time; the others wait out the busy timeout.
    operator_id = _seed_items(client, runtime, clock.now(), 4000)
    _drain_with_four_workers(runtime, operator_id, clock.now())
