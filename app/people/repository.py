"""The statement of a person's numbers and statuses, and its form for each engine's reader.

It touches no personal data (nothing to decrypt): the person's document hash leads to their
current registrations, and those to the numbers and companies.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, bindparam, func, literal_column, make_url, select
from sqlalchemy.orm import aliased

from app.companies.models import CorporateSubscriber
from app.numbers.models import PhoneNumber, Registration
from app.people.models import Person
from app.portal.models import ConfirmationRequest

# One number as the readers hand it on: id, msisdn, status, deadline, company, request state.
Row = tuple[int, str, str, dt.datetime | None, str, str | None]

# Constants written into the SQL: the asyncpg statement takes the subject as its only parameter.
_BAR: ColumnElement[str] = literal_column("'|'")
_EMPTY: ColumnElement[str] = literal_column("''")
# The latest confirmation request of the current registration, as 'status|outcome|fields':
# what the person is told depends on whether it was sent, answered, or did not match.
_EARLIER = aliased(ConfirmationRequest)
_LATEST_REQUEST = (
    select(
        ConfirmationRequest.status
        + _BAR
        + func.coalesce(ConfirmationRequest.outcome, _EMPTY)
        + _BAR
        + func.coalesce(ConfirmationRequest.mismatch_fields, _EMPTY)
    )
    .where(
        ConfirmationRequest.id
        == select(func.max(_EARLIER.id))
        .where(
            _EARLIER.number_id == PhoneNumber.id,
            _EARLIER.registration_id == Registration.id,
        )
        .correlate(PhoneNumber, Registration)
        .scalar_subquery()
    )
    .correlate(PhoneNumber, Registration)
    .scalar_subquery()
)

# One indexed query; the subject is its only parameter. A person's numbers are those whose
# current registration names their document: a birth date the company mistyped must not hide
# the number from the person it belongs to (they are told what to have corrected).
PERSON_NUMBERS = (
    select(
        PhoneNumber.id,
        PhoneNumber.msisdn,
        PhoneNumber.status,
        PhoneNumber.deadline_at,
        CorporateSubscriber.name,
        _LATEST_REQUEST.label("request"),
    )
    .select_from(Person)
    .join(
        Registration,
        (Registration.doc_hash == Person.doc_hash) & Registration.ended_at.is_(None),
    )
    .join(PhoneNumber, PhoneNumber.id == Registration.number_id)
    .join(CorporateSubscriber, CorporateSubscriber.id == PhoneNumber.subscriber_id)
    .where(Person.portal_subject == bindparam("subject"))
    .order_by(PhoneNumber.id)
)
# The same statement as asyncpg takes it ($1), compiled once: asyncpg runs it without
# SQLAlchemy, inside the event loop.
PERSON_NUMBERS_ASYNCPG = str(
    PERSON_NUMBERS.compile(dialect=make_url("postgresql+asyncpg://").get_dialect()())
)
