"""Operators, corporate subscribers and the contracts between them."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base, BigIntPK, UtcDateTime, str_enum

# DOMAIN.md: contracts signed before 1 June 2021 are "legacy" and carry the 2021 deadlines.
LEGACY_CONTRACT_CUTOFF = dt.date(2021, 6, 1)


class SubscriberKind(enum.StrEnum):
    """A legal entity (юрлицо) or an individual entrepreneur (ИП)."""

    LEGAL_ENTITY = "legal_entity"
    ENTREPRENEUR = "entrepreneur"


class SubscriberStatus(enum.StrEnum):
    """Whether the subscriber still exists."""

    ACTIVE = "active"
    LIQUIDATED = "liquidated"


class Operator(Base):
    """A mobile network operator; its systems authenticate with their own API key."""

    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    api_key_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class CorporateSubscriber(Base):
    """A company or entrepreneur holding corporate SIM contracts."""

    __tablename__ = "corporate_subscribers"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    kind: Mapped[SubscriberKind] = mapped_column(str_enum(SubscriberKind, 20))
    name: Mapped[str] = mapped_column(String(500))
    inn: Mapped[str] = mapped_column(String(12), unique=True)
    ogrn: Mapped[str] = mapped_column(String(15), unique=True)
    kpp: Mapped[str | None] = mapped_column(String(9))
    status: Mapped[SubscriberStatus] = mapped_column(str_enum(SubscriberStatus, 20))
    liquidated_on: Mapped[dt.date | None] = mapped_column(Date)
    # Where the company's notifications go (log only when neither is set).
    notify_email: Mapped[str | None] = mapped_column(String(320))
    notify_webhook_url: Mapped[str | None] = mapped_column(String(2000))
    webhook_secret: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)

    contracts: Mapped[list[Contract]] = relationship(back_populates="subscriber", lazy="raise")


class Contract(Base):
    """A subscriber's contract with one operator; its signing date sets the deadline regime."""

    __tablename__ = "contracts"
    __table_args__ = (UniqueConstraint("operator_id", "contract_no"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("corporate_subscribers.id"), index=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id"), index=True)
    contract_no: Mapped[str] = mapped_column(String(64))
    signed_on: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)

    subscriber: Mapped[CorporateSubscriber] = relationship(back_populates="contracts", lazy="raise")
    operator: Mapped[Operator] = relationship(lazy="raise")

    @property
    def is_legacy(self) -> bool:
        """Signed before 1 June 2021, when 533-FZ came into force."""
        return self.signed_on < LEGACY_CONTRACT_CUTOFF
