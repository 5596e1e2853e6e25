"""The status machine: every pair of statuses, allowed or forbidden, and the event it writes."""

from __future__ import annotations

import datetime as dt
import itertools

import polars as pl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.core.actors import Actor, ActorKind
from app.core.errors import Conflict
from app.numbers import lifecycle
from app.numbers.lifecycle import ALLOWED_TRANSITIONS, IllegalTransition
from app.numbers.models import NumberStatus, PhoneNumber, StatusEvent
from tests.builders import make_company_with_numbers

S = NumberStatus
ALL_PAIRS = list(itertools.product(S, S))

# The table as the domain states it, written out independently of the code's table.
EXPECTED_ALLOWED = {
    (S.UNREGISTERED, S.PENDING_CONFIRMATION),
    (S.UNREGISTERED, S.ACTIVE),
    (S.UNREGISTERED, S.SUSPENDED),
    (S.UNREGISTERED, S.TERMINATED),
    (S.UNREGISTERED, S.TRANSFERRED),
    (S.PENDING_CONFIRMATION, S.ACTIVE),
    (S.PENDING_CONFIRMATION, S.MISMATCH),
    (S.PENDING_CONFIRMATION, S.DECLINED),
    (S.PENDING_CONFIRMATION, S.EXPIRED),
    (S.PENDING_CONFIRMATION, S.UNREGISTERED),
    (S.PENDING_CONFIRMATION, S.SUSPENDED),
    (S.PENDING_CONFIRMATION, S.TERMINATED),
    (S.PENDING_CONFIRMATION, S.TRANSFERRED),
    (S.ACTIVE, S.PENDING_CONFIRMATION),
    (S.ACTIVE, S.UNREGISTERED),
    (S.ACTIVE, S.SUSPENDED),
    (S.ACTIVE, S.TERMINATED),
    (S.ACTIVE, S.TRANSFERRED),
    (S.SUSPENDED, S.ACTIVE),
    (S.SUSPENDED, S.TERMINATED),
    (S.SUSPENDED, S.TRANSFERRED),
} | {
    (source, target)
    for source in (S.MISMATCH, S.DECLINED, S.EXPIRED)
    for target in (
        S.PENDING_CONFIRMATION,
        S.ACTIVE,
        S.UNREGISTERED,
        S.SUSPENDED,
        S.TERMINATED,
        S.TRANSFERRED,
    )
}

ACTOR = Actor(ActorKind.OPERATOR_STAFF, "staff@test")
AT = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)


def _number_in(session: Session, number_id: int, status: NumberStatus) -> PhoneNumber:
    # Test set-up only: put the number straight into the starting state.
    session.execute(update(PhoneNumber).where(PhoneNumber.id == number_id).values(status=status))
    session.commit()
    number = session.get(PhoneNumber, number_id)
    assert number is not None
    session.refresh(number)
    return number


class TestTransitionTable:
    def test_table_matches_the_domain(self) -> None:
        table = {(s, t) for s, targets in ALLOWED_TRANSITIONS.items() for t in targets}
        assert table == EXPECTED_ALLOWED

    def test_final_statuses_have_no_exit(self) -> None:
        assert ALLOWED_TRANSITIONS[S.TERMINATED] == frozenset()
        assert ALLOWED_TRANSITIONS[S.TRANSFERRED] == frozenset()

    @pytest.mark.parametrize(("source", "target"), ALL_PAIRS)
    def test_is_allowed_for_every_pair(self, source: NumberStatus, target: NumberStatus) -> None:
        assert lifecycle.is_allowed(source, target) == ((source, target) in EXPECTED_ALLOWED)


class TestTransitionOnTheDatabase:
    @pytest.fixture
    def number_id(self, client: TestClient) -> int:
        world = make_company_with_numbers(client, count=1)
        number_id: int = world["numbers"][0]["id"]
        return number_id

    @pytest.mark.parametrize(("source", "target"), ALL_PAIRS)
    def test_every_pair(
        self, session: Session, number_id: int, source: NumberStatus, target: NumberStatus
    ) -> None:
        number = _number_in(session, number_id, source)
        before = session.scalar(
            select(text("count(*)"))
            .select_from(StatusEvent)
            .where(StatusEvent.number_id == number_id)
        )
        if (source, target) in EXPECTED_ALLOWED:
            event = lifecycle.transition(session, number, target, actor=ACTOR, reason="test", at=AT)
            session.commit()
            assert (event.from_status, event.to_status) == (source, target)
            assert event.actor_kind is ActorKind.OPERATOR_STAFF
            assert session.get(PhoneNumber, number_id).status is target  # type: ignore[union-attr]
        else:
            with pytest.raises(IllegalTransition) as error:
                lifecycle.transition(session, number, target, actor=ACTOR, reason="test", at=AT)
            assert error.value.status == 409
            session.rollback()
            session.expire_all()
            assert session.get(PhoneNumber, number_id).status is source  # type: ignore[union-attr]
            after = session.scalar(
                select(text("count(*)"))
                .select_from(StatusEvent)
                .where(StatusEvent.number_id == number_id)
            )
            assert after == before


class TestBulkTransition:
    def test_moves_only_numbers_allowed_to_move(self, client: TestClient, session: Session) -> None:
        world = make_company_with_numbers(client, count=3)
        ids = [n["id"] for n in world["numbers"]]
        _number_in(session, ids[0], S.PENDING_CONFIRMATION)
        _number_in(session, ids[1], S.TERMINATED)
        moved = lifecycle.transition_many(
            session, ids, S.SUSPENDED, actor=ACTOR, reason="deadline passed", at=AT
        )
        session.commit()
        assert moved == 2
        statuses = dict(session.execute(select(PhoneNumber.id, PhoneNumber.status)).all())
        assert statuses == {ids[0]: S.SUSPENDED, ids[1]: S.TERMINATED, ids[2]: S.SUSPENDED}
        events = session.scalars(
            select(StatusEvent).where(StatusEvent.to_status == S.SUSPENDED)
        ).all()
        assert sorted((e.number_id, e.from_status) for e in events) == [
            (ids[0], S.PENDING_CONFIRMATION),
            (ids[2], S.UNREGISTERED),
        ]


class TestEventLogIsAppendOnly:
    def test_update_and_delete_are_refused_by_the_database(
        self, client: TestClient, session: Session
    ) -> None:
        make_company_with_numbers(client, count=1)
        event_id = session.scalar(select(StatusEvent.id))
        assert event_id is not None
        with pytest.raises(DBAPIError):
            session.execute(
                update(StatusEvent).where(StatusEvent.id == event_id).values(reason="rewritten")
            )
        session.rollback()
        with pytest.raises(DBAPIError):
            session.execute(text("DELETE FROM status_events"))
        session.rollback()
        assert session.get(StatusEvent, event_id).reason == "number added to the registry"  # type: ignore[union-attr]


class TestNumbersAreNeverDeleted:
    @pytest.mark.parametrize("table", ["numbers", "operators"])
    def test_delete_is_refused_by_the_database(
        self, client: TestClient, session: Session, table: str
    ) -> None:
        world = make_company_with_numbers(client, count=2)
        with pytest.raises(DBAPIError, match="never deleted"):
            session.execute(text(f"DELETE FROM {table}"))
        session.rollback()
        number = session.get(PhoneNumber, world["numbers"][0]["id"])
        assert number is not None
        assert number.operator_id == world["operator"]["id"]


class TestSetBasedTransition:
    def test_moves_the_selected_numbers_and_logs_each_once(
        self, client: TestClient, session: Session
    ) -> None:
        world = make_company_with_numbers(client, count=4)
        ids = [n["id"] for n in world["numbers"]]
        _number_in(session, ids[0], S.PENDING_CONFIRMATION)
        _number_in(session, ids[1], S.TRANSFERRED)
        _number_in(session, ids[2], S.ACTIVE)
        chosen = select(PhoneNumber.id).where(PhoneNumber.id.in_(ids[:3]))
        moved = lifecycle.transition_selected(
            session,
            chosen,
            S.SUSPENDED,
            actor=ACTOR,
            reason="deadline passed",
            at=AT,
            only_from=[S.PENDING_CONFIRMATION, S.UNREGISTERED, S.TRANSFERRED],
        )
        session.commit()
        assert moved == 1
        session.expire_all()
        statuses = dict(session.execute(select(PhoneNumber.id, PhoneNumber.status)).all())
        assert statuses == {
            ids[0]: S.SUSPENDED,
            ids[1]: S.TRANSFERRED,
            ids[2]: S.ACTIVE,
            ids[3]: S.UNREGISTERED,
        }
        event = session.scalars(
            select(StatusEvent).where(StatusEvent.to_status == S.SUSPENDED)
        ).one()
        assert (event.number_id, event.from_status, event.reason) == (
            ids[0],
            S.PENDING_CONFIRMATION,
            "deadline passed",
        )
        assert event.at == AT

    def test_running_it_again_changes_nothing(self, client: TestClient, session: Session) -> None:
        world = make_company_with_numbers(client, count=2)
        chosen = select(PhoneNumber.id)
        first = lifecycle.transition_selected(
            session, chosen, S.SUSPENDED, actor=ACTOR, reason="deadline", at=AT
        )
        second = lifecycle.transition_selected(
            session, chosen, S.SUSPENDED, actor=ACTOR, reason="deadline", at=AT
        )
        session.commit()
        assert (first, second) == (2, 0)
        total = session.scalar(select(func.count()).select_from(StatusEvent))
        assert total == len(world["numbers"]) * 2


class TestLeavingTheRegistry:
    """Every way the status machine moves numbers marks those that leave (terminated,
    transferred), and only those: the mark frees the msisdn for another operator."""

    def _left(self, session: Session, ids: list[int]) -> dict[int, bool]:
        session.expire_all()
        rows = session.execute(
            select(PhoneNumber.id, PhoneNumber.left_registry).where(PhoneNumber.id.in_(ids))
        )
        return dict(rows.all())

    @pytest.mark.parametrize("target", [S.TERMINATED, S.TRANSFERRED, S.SUSPENDED])
    def test_one_number(self, client: TestClient, session: Session, target: NumberStatus) -> None:
        [number] = make_company_with_numbers(client, count=1)["numbers"]
        row = session.get_one(PhoneNumber, number["id"])
        lifecycle.transition(session, row, target, actor=ACTOR, reason="test", at=AT)
        session.commit()
        assert self._left(session, [number["id"]]) == {number["id"]: target in lifecycle.LEAVING}

    @pytest.mark.parametrize("target", [S.TERMINATED, S.SUSPENDED])
    def test_a_list_of_numbers(
        self, client: TestClient, session: Session, target: NumberStatus
    ) -> None:
        ids = [n["id"] for n in make_company_with_numbers(client, count=2)["numbers"]]
        lifecycle.transition_many(session, ids, target, actor=ACTOR, reason="test", at=AT)
        session.commit()
        assert set(self._left(session, ids).values()) == {target is S.TERMINATED}

    @pytest.mark.parametrize("target", [S.TRANSFERRED, S.SUSPENDED])
    def test_a_selection_of_numbers(
        self, client: TestClient, session: Session, target: NumberStatus
    ) -> None:
        world = make_company_with_numbers(client, count=2)
        ids = [n["id"] for n in world["numbers"]]
        lifecycle.transition_selected(
            session,
            select(PhoneNumber.id).where(PhoneNumber.subscriber_id == world["company"]["id"]),
            target,
            actor=ACTOR,
            reason="test",
            at=AT,
        )
        session.commit()
        assert set(self._left(session, ids).values()) == {target is S.TRANSFERRED}

    @pytest.mark.postgres_only
    def test_numbers_whose_statuses_were_read(self, client: TestClient, session: Session) -> None:
        ids = [n["id"] for n in make_company_with_numbers(client, count=2)["numbers"]]
        _number_in(session, ids[1], S.TERMINATED)
        lifecycle.transition_read(
            session, ids, [S.UNREGISTERED.value, S.TERMINATED.value], S.TRANSFERRED,
            actor=ACTOR, reason="test", at=AT, only_from=[S.UNREGISTERED],
        )  # fmt: skip
        session.commit()
        # The first moved and left; the second had not left by this move (the test set its
        # status by hand, without the mark) and keeps what it had.
        assert self._left(session, ids) == {ids[0]: True, ids[1]: False}


@pytest.mark.postgres_only
class TestTransitionOfStatusesRead:
    def test_moves_the_numbers_in_a_source_status_and_sets_the_values_of_all(
        self, client: TestClient, session: Session
    ) -> None:
        world = make_company_with_numbers(client, count=3)
        ids = [n["id"] for n in world["numbers"]]
        _number_in(session, ids[1], S.SUSPENDED)
        moved = lifecycle.transition_read(
            session,
            ids[:2],
            [S.UNREGISTERED.value, S.SUSPENDED.value],
            S.PENDING_CONFIRMATION,
            actor=ACTOR,
            reason="employee named",
            at=AT,
            only_from=[S.UNREGISTERED],
            also_set={"sim_kind": "employee", "deadline_stale": True},
        )
        session.commit()
        assert moved == 1
        session.expire_all()
        rows = {
            n.id: (n.status, n.sim_kind)
            for n in session.scalars(select(PhoneNumber).where(PhoneNumber.id.in_(ids)))
        }
        assert rows == {
            ids[0]: (S.PENDING_CONFIRMATION, "employee"),
            ids[1]: (S.SUSPENDED, "employee"),  # not a source: keeps its status
            ids[2]: (S.UNREGISTERED, None),  # not listed
        }
        event = session.scalars(
            select(StatusEvent).where(StatusEvent.to_status == S.PENDING_CONFIRMATION)
        ).one()
        assert (event.number_id, event.from_status, event.reason) == (
            ids[0],
            S.UNREGISTERED,
            "employee named",
        )

    def test_a_status_changed_since_it_was_read_is_a_conflict(
        self, client: TestClient, session: Session
    ) -> None:
        world = make_company_with_numbers(client, count=2)
        ids = [n["id"] for n in world["numbers"]]
        _number_in(session, ids[1], S.ACTIVE)  # read as unregistered below
        with pytest.raises(Conflict, match="1 of the numbers changed status"):
            lifecycle.transition_read(
                session,
                ids,
                [S.UNREGISTERED.value, S.UNREGISTERED.value],
                S.PENDING_CONFIRMATION,
                actor=ACTOR,
                reason="employee named",
                at=AT,
            )
        session.rollback()

    def test_a_name_that_is_not_a_column_is_refused(self, session: Session) -> None:
        with pytest.raises(ValueError, match="not columns of numbers"):
            lifecycle.transition_read(
                session, [1], ["unregistered"], S.ACTIVE, actor=ACTOR, reason="r", at=AT,
                also_set={"status; DROP TABLE numbers": 1},
            )  # fmt: skip

    def test_takes_the_columns_of_a_frame(self, client: TestClient, session: Session) -> None:
        world = make_company_with_numbers(client, count=2)
        ids = pl.Series("number_id", [n["id"] for n in world["numbers"]], pl.Int64)
        moved = lifecycle.transition_read(
            session, ids, pl.Series("old", [S.UNREGISTERED.value] * 2), S.PENDING_CONFIRMATION,
            actor=ACTOR, reason="employee named", at=AT,
        )  # fmt: skip
        session.commit()
        assert moved == 2
        statuses = session.scalars(select(PhoneNumber.status).where(PhoneNumber.id.in_(ids)))
        assert set(statuses) == {S.PENDING_CONFIRMATION}

    def test_a_move_with_a_new_user_writes_no_index_entry(
        self, client: TestClient, session: Session
    ) -> None:
        # Migration 0017: no index of numbers holds what a move changes, and pages keep room,
        # so PostgreSQL writes each new version beside the old one (a HOT update).
        world = make_company_with_numbers(client, count=5)
        ids = [n["id"] for n in world["numbers"]]
        # As after a deadline run: the deadline is known, the mark cleared.
        session.execute(
            update(PhoneNumber)
            .where(PhoneNumber.id.in_(ids))
            .values(deadline_stale=False, deadline_at=AT + dt.timedelta(days=30))
        )
        session.commit()
        # Counts of this backend (its transactions not yet reported, and the current one):
        # read before and after, within one transaction.
        counted = text(
            "SELECT pg_stat_get_xact_tuples_updated(CAST('numbers' AS regclass)),"
            " pg_stat_get_xact_tuples_hot_updated(CAST('numbers' AS regclass))"
        )
        written_before, hot_before = session.execute(counted).one()
        moved = lifecycle.transition_read(
            session, ids, [S.UNREGISTERED.value] * 5, S.PENDING_CONFIRMATION, actor=ACTOR,
            reason="employee named", at=AT,
            also_set={"sim_kind": "employee", "deadline_stale": True, "user_changed_on": AT.date()},
        )  # fmt: skip
        written, hot = session.execute(counted).one()
        session.commit()
        assert (moved, written - written_before, hot - hot_before) == (5, 5, 5)

    def test_one_status_read_per_number(self, session: Session) -> None:
        with pytest.raises(ValueError, match="one status read per number"):
            lifecycle.transition_read(
                session, [1, 2], ["unregistered"], S.ACTIVE, actor=ACTOR, reason="r", at=AT
            )
