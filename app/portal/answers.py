"""Taking in the persons' answers from the identity portal.

Answers are recorded as keyed hashes of the person's verified data, never the data themselves,
and recording one twice changes nothing: delivery is at least once (acknowledged after the
commit).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import structlog
from prometheus_client import Counter
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.names import normalize_full_name
from app.core.personal_data import PersonalDataVault
from app.core.runtime import Runtime
from app.db.session import unit_of_work
from app.numbers.registration_rules import birth_date_hash, document_hash
from app.portal.models import ConfirmationRequest, PortalAnswer, RequestStatus
from app.portal.port import IdentityPortal, PortalAnswerMessage

log = structlog.get_logger("simreg.portal")

ANSWERS_UNKNOWN = Counter(
    "simreg_portal_answers_unknown_total",
    "Answers from the identity portal for requests the registry does not know.",
)

AnswerOutcome = Literal["recorded", "unknown", "late", "duplicate", "invalid"]


@dataclass
class CollectReport:
    """What one collect_answers call did."""

    fetched: int = 0
    recorded: int = 0
    unknown: int = 0  # no request has this portal_request_id
    late: int = 0  # the request expired or was cancelled before the answer came
    duplicate: int = 0  # the answer was recorded before
    invalid: int = 0  # the verified data could not be read


def _clean_doc_part(value: str) -> str:
    # Stored the way registration_rules normalises a company's row: no spaces, upper case.
    return "".join(value.split()).upper()


def record_answer(
    session: Session, vault: PersonalDataVault, message: PortalAnswerMessage, *, now: dt.datetime
) -> AnswerOutcome:
    """Store one answer on its SENT request as keyed hashes; anything else leaves it alone."""
    request = session.scalars(
        select(ConfirmationRequest)
        .where(ConfirmationRequest.portal_request_id == message.portal_request_id)
        .with_for_update()
    ).one_or_none()
    if request is None:
        ANSWERS_UNKNOWN.inc()
        # The portal's id is not personal data; it lets the portal's team trace the answer.
        log.warning(
            "portal answer for an unknown request", portal_request_id=message.portal_request_id
        )
        return "unknown"
    if request.status in (RequestStatus.ANSWERED, RequestStatus.MATCHED):
        return "duplicate"
    if request.status is not RequestStatus.SENT:
        log.info(
            "portal answer came late", confirmation_request_id=request.id, status=request.status
        )
        return "late"
    verified = message.verified
    name_key = doc_hash = birth_hash = None
    if message.answer == "confirmed":
        if verified is None:
            return "invalid"
        try:
            birth = dt.date.fromisoformat(verified.birth_date)
        except ValueError:
            return "invalid"
        name_key = normalize_full_name(verified.last_name, verified.first_name, verified.patronymic)
        doc_key = (
            f"{verified.doc_type}:{_clean_doc_part(verified.doc_series)}"
            f"{_clean_doc_part(verified.doc_number)}"
        )
        doc_hash = document_hash(vault, doc_key)
        birth_hash = birth_date_hash(vault, birth)
    request.answer = PortalAnswer(message.answer)
    request.portal_subject = message.portal_subject
    request.answered_at = now
    request.verified_name_key = name_key
    request.verified_doc_hash = doc_hash
    request.verified_birth_hash = birth_hash
    request.status = RequestStatus.ANSWERED
    session.flush()
    return "recorded"


def collect_answers(
    runtime: Runtime, portal: IdentityPortal, *, limit: int = 1000
) -> CollectReport:
    """Fetch the portal's answers, record them in one transaction, then acknowledge them.

    Acknowledging after the commit makes delivery at least once: a crash in between means the
    same answers come again and are counted as duplicates.
    """
    report = CollectReport()
    messages = portal.fetch_answers(limit=limit)
    report.fetched = len(messages)
    if not messages:
        return report
    handled: list[str] = []
    with unit_of_work(runtime.sessions) as session:
        now = runtime.clock.now()
        for message in messages:
            outcome = record_answer(session, runtime.vault, message, now=now)
            if outcome == "invalid":
                # Left unacknowledged so the portal can see it was not taken.
                report.invalid += 1
                log.warning("portal answer without usable verified data")
                continue
            if outcome == "recorded":
                report.recorded += 1
            elif outcome == "unknown":
                report.unknown += 1
            elif outcome == "late":
                report.late += 1
            else:
                report.duplicate += 1
            handled.append(message.portal_request_id)
    portal.acknowledge(handled)
    log.info(
        "portal answers",
        fetched=report.fetched,
        recorded=report.recorded,
        unknown=report.unknown,
        late=report.late,
        duplicate=report.duplicate,
        invalid=report.invalid,
    )
    return report
