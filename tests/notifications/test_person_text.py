"""What a person reads of a message about their number: what happened and what to do."""

from __future__ import annotations

import datetime as dt
import json

from app.notifications.channels import OutgoingMessage, person_text, webhook_body
from app.notifications.models import Audience

AT = dt.datetime(2026, 11, 23, 7, 0, tzinfo=dt.UTC)
DEADLINE = dt.datetime(2026, 12, 19, 20, 59, 59, tzinfo=dt.UTC)  # 19.12, 23:59:59 in Moscow


def message(
    event: str, *, audience: Audience = Audience.PERSON, **changes: object
) -> OutgoingMessage:
    fields: dict[str, object] = {
        "id": 7,
        "audience": audience,
        "event": event,
        "subscriber_id": 1,
        "number_id": 3,
        "threshold": 7,
        "deadline_at": DEADLINE,
        "created_at": AT,
        "attempts": 0,
        "lease_until": AT,
        "msisdn": "+79161234567",
        "company_name": 'ООО "Ромашка"',
    }
    fields.update(changes)
    return OutgoingMessage(**fields)  # type: ignore[arg-type]


class TestWords:
    def test_a_warning_says_to_confirm_on_the_portal_by_the_deadline(self) -> None:
        text = person_text(message("flag"))
        assert text == (
            'Номер +79161234567: компания «ООО "Ромашка"» указала вас его пользователем. '
            "Подтвердите это на Госуслугах до 19.12.2026 — иначе обслуживание номера будет "
            "приостановлено."
        )

    def test_a_suspension_says_how_service_comes_back(self) -> None:
        text = person_text(message("suspend"))
        assert text is not None
        assert text.startswith("Обслуживание номера +79161234567 приостановлено")
        assert "возобновится автоматически" in text

    def test_english_on_request(self) -> None:
        assert (person_text(message("flag"), "en") or "").startswith("Number +79161234567")


class TestInTheWebhook:
    def test_a_persons_message_carries_its_text(self) -> None:
        body = json.loads(webhook_body(message("flag")))
        assert "Подтвердите это на Госуслугах до 19.12.2026" in body["text"]

    def test_a_companys_message_does_not(self) -> None:
        body = json.loads(
            webhook_body(message("digest", audience=Audience.COMPANY, payload_json="{}"))
        )
        assert "text" not in body
