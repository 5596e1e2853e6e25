"""The companies and operators that sign-in checks tokens and API keys against."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.companies.models import CorporateSubscriber, Operator


class RegisteredTenants:
    """The registry's answer to auth's `Tenants`: who may act for which company or operator."""

    def has_company(self, session: Session, company_id: int) -> bool:
        """Whether the registry holds the company (corporate subscriber)."""
        return session.get(CorporateSubscriber, company_id) is not None

    def has_operator(self, session: Session, operator_id: int) -> bool:
        """Whether the registry holds the operator."""
        return session.get(Operator, operator_id) is not None

    def operator_with_key(self, session: Session, key_hash: str) -> tuple[int, str] | None:
        """The id and code of the operator whose API key hashes to `key_hash`, if any."""
        operator = session.scalars(
            select(Operator).where(Operator.api_key_hash == key_hash)
        ).one_or_none()
        return (operator.id, operator.code) if operator is not None else None
