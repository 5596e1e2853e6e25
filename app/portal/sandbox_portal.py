"""The sandbox identity portal (dev and test): behaves like the real one, on the local database.

It delivers requests to the sandbox's test people (found by the keyed hash of their document),
lets them answer, and hands the answers out with the person's own verified data, exactly as
the real portal would. A process-wide :data:`BEHAVIOUR` switches on the real portal's bad days:
downtime, slowness, delayed or lost answers.

It stands for a system outside the registry with storage of its own: each of its calls is a
unit of work of its own sessions (`unit_of_work`), made durable when the call returns, as the
real portal's would be, whatever the caller's transaction does next.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.core.clock import Clock
from app.core.errors import Conflict, NotFound
from app.core.messages import Text
from app.core.personal_data import PersonalDataVault
from app.db.session import unit_of_work
from app.numbers.registration_rules import document_hash
from app.numbers.schemas import DocumentType
from app.people.models import Person
from app.portal import repository
from app.portal.models import ConfirmationRequest, RequestStatus, SandboxDelivery
from app.portal.port import (
    AnswerKind,
    PortalAnswerMessage,
    PortalRequest,
    PortalUnavailable,
    SendOutcome,
    VerifiedIdentity,
)

if TYPE_CHECKING:
    from app.core.runtime import Runtime

# The only parts of a request the sandbox keeps: what a person is shown, nothing they prove.
PAYLOAD_FIELDS = ("msisdn", "company_name", "company_inn", "last_name", "first_name", "patronymic")


class DeliveryState:
    """States of a SandboxDelivery."""

    DELIVERED = "delivered"  # waits for the person
    ANSWERED = "answered"  # the person answered; waits to be fetched
    FETCHED = "fetched"  # the registry acknowledged the answer
    LOST = "lost"  # the answer never reaches the registry (BEHAVIOUR.lose_answers)


@dataclass
class SandboxBehaviour:
    """How the sandbox portal misbehaves; tests and the sandbox API change it."""

    delay_seconds: float = 0.0  # every send takes this long
    fail_sends: bool = False  # the portal is down: every send raises PortalUnavailable
    lose_answers: bool = False  # answers fetched now are lost on the way
    answers_delayed: bool = False  # answers are held back until this is switched off

    def reset(self) -> None:
        """Back to a well-behaved portal."""
        for item in fields(self):
            setattr(self, item.name, item.default)


BEHAVIOUR = SandboxBehaviour()


class SandboxPortal:
    """IdentityPortal over the sandbox_portal_deliveries table."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        vault: PersonalDataVault,
        clock: Clock,
        behaviour: SandboxBehaviour = BEHAVIOUR,
    ) -> None:
        self._sessions = sessions
        self._vault = vault
        self._clock = clock
        self.behaviour = behaviour

    @classmethod
    def from_runtime(cls, runtime: Runtime) -> SandboxPortal:
        """The sandbox portal of a running registry, with the process-wide behaviour."""
        return cls(runtime.sessions, runtime.vault, runtime.clock, BEHAVIOUR)

    def send(self, requests: Sequence[PortalRequest]) -> list[SendOutcome]:
        """Deliver each request once: a request_id delivered before keeps its portal id."""
        if self.behaviour.fail_sends:
            raise PortalUnavailable("the sandbox portal is down (fail_sends)")
        if self.behaviour.delay_seconds > 0:
            time.sleep(self.behaviour.delay_seconds)
        now = self._clock.now()
        with unit_of_work(self._sessions) as session:
            deliverable = [r for r in requests if r.doc_number]
            delivered = repository.insert_deliveries(
                session,
                [self._delivery(r) for r in deliverable],
                state=DeliveryState.DELIVERED,
                at=now,
            )
            # Sent before (by a sender that died before it recorded the answer): the first
            # delivery stands, with its portal id.
            again = [r.request_id for r in deliverable if r.request_id not in delivered]
            if again:
                delivered.update(self._known(session, again))
        return [
            SendOutcome(r.request_id, delivered[r.request_id], None, False)
            if r.request_id in delivered
            else SendOutcome(r.request_id, None, "the document is missing", False)
            for r in requests
        ]

    def _delivery(self, request: PortalRequest) -> dict[str, object]:
        doc_key = f"{request.doc_type}:{request.doc_series}{request.doc_number}"
        return {
            "portal_request_id": "sbx-" + secrets.token_hex(12),
            "request_id": request.request_id,
            "doc_hash": document_hash(self._vault, doc_key),
            "payload": {name: getattr(request, name) for name in PAYLOAD_FIELDS},
        }

    @staticmethod
    def _known(session: Session, request_ids: Sequence[str]) -> dict[str, str]:
        rows = session.execute(
            select(SandboxDelivery.request_id, SandboxDelivery.portal_request_id).where(
                SandboxDelivery.request_id.in_(list(request_ids))
            )
        )
        return {row.request_id: row.portal_request_id for row in rows}

    def fetch_answers(self, *, limit: int = 1000) -> list[PortalAnswerMessage]:
        """Answered, unacknowledged deliveries with the answering person's verified data."""
        if self.behaviour.answers_delayed:
            return []
        with unit_of_work(self._sessions) as session:
            rows = session.execute(
                select(SandboxDelivery, Person)
                .join(Person, Person.portal_subject == SandboxDelivery.portal_subject)
                .where(SandboxDelivery.state == DeliveryState.ANSWERED)
                .order_by(SandboxDelivery.id)
                .limit(limit)
            ).all()
            if self.behaviour.lose_answers:
                for delivery, _ in rows:
                    delivery.state = DeliveryState.LOST
                return []
            return [self._message(delivery, person) for delivery, person in rows]

    def _message(self, delivery: SandboxDelivery, person: Person) -> PortalAnswerMessage:
        answer: AnswerKind = "confirmed" if delivery.answer == "confirmed" else "declined"
        verified = None
        if answer == "confirmed":
            # The person's own data as the portal verified them, not what the company typed.
            pd = self._vault.open(person.pd_sealed)
            verified = VerifiedIdentity(
                last_name=person.last_name,
                first_name=person.first_name,
                patronymic=person.patronymic,
                birth_date=str(pd["birth_date"]),
                doc_type=DocumentType.RU_PASSPORT.value,
                doc_series=str(pd["doc_series"]),
                doc_number=str(pd["doc_number"]),
            )
        return PortalAnswerMessage(
            portal_request_id=delivery.portal_request_id,
            request_id=delivery.request_id,
            answer=answer,
            portal_subject=person.portal_subject,
            verified=verified,
        )

    def acknowledge(self, portal_request_ids: Sequence[str]) -> None:
        """The registry stored these answers: they are not handed out again."""
        if not portal_request_ids:
            return
        with unit_of_work(self._sessions) as session:
            for delivery in session.scalars(
                select(SandboxDelivery).where(
                    SandboxDelivery.portal_request_id.in_(list(portal_request_ids)),
                    SandboxDelivery.state == DeliveryState.ANSWERED,
                )
            ):
                delivery.state = DeliveryState.FETCHED

    def answer(
        self, portal_request_id: str, *, person: Person, answer: AnswerKind
    ) -> SandboxDelivery:
        """The person answers a request delivered to them.

        Only the person whose document the request names sees it (404 for anyone else). The
        same answer again is harmless; a different one, or any answer to a request the
        registry expired or cancelled, is a 409.
        """
        now = self._clock.now()
        with unit_of_work(self._sessions) as session:
            delivery = session.scalars(
                select(SandboxDelivery)
                .where(SandboxDelivery.portal_request_id == portal_request_id)
                .with_for_update()
            ).one_or_none()
            if delivery is None or delivery.doc_hash != person.doc_hash:
                raise NotFound(Text("confirmation.not_delivered_to_you"))
            if delivery.answer is not None:
                if delivery.answer != answer:
                    raise Conflict(
                        Text("confirmation.already_answered", answer=delivery.answer),
                        answer=delivery.answer,
                    )
                return delivery
            request = session.scalars(
                select(ConfirmationRequest).where(
                    ConfirmationRequest.portal_request_id == portal_request_id
                )
            ).one_or_none()
            if request is not None and (
                request.status in (RequestStatus.EXPIRED, RequestStatus.CANCELLED)
                or request.expires_at <= now
            ):
                raise Conflict(
                    Text("confirmation.closed"),
                    request_status=request.status.value,
                )
            delivery.answer = answer
            delivery.portal_subject = person.portal_subject
            delivery.answered_at = now
            delivery.state = DeliveryState.ANSWERED
            return delivery
