"""Builders for tests: valid identifiers, parties, numbers and tokens, in the domain's words."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
from typing import Any
from urllib.parse import unquote

import httpx

from app.core.identifiers import luhn_valid

_seq = itertools.count(1)


def _inn_digit(digits: str, weights: tuple[int, ...]) -> str:
    return str(sum(int(d) * w for d, w in zip(digits, weights, strict=False)) % 11 % 10)


def valid_inn10(seed: int) -> str:
    """A 10-digit INN (legal entity) with a correct check digit."""
    body = f"77{seed:07d}"[-9:]
    return body + _inn_digit(body, (2, 4, 10, 3, 5, 9, 4, 6, 8))


def valid_inn12(seed: int) -> str:
    """A 12-digit INN (entrepreneur) with both check digits."""
    body = f"50{seed:08d}"[-10:]
    first = _inn_digit(body, (7, 2, 4, 10, 3, 5, 9, 4, 6, 8))
    second = _inn_digit(body + first, (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8))
    return body + first + second


def valid_ogrn(seed: int) -> str:
    """A 13-digit OGRN with its check digit."""
    body = f"10277{seed:07d}"[-12:]
    return body + str(int(body) % 11 % 10)


def valid_ogrnip(seed: int) -> str:
    """A 15-digit OGRNIP with its check digit."""
    body = f"3047700{seed:07d}"[-14:]
    return body + str(int(body) % 13 % 10)


def valid_imei(seed: int) -> str:
    """A 15-digit IMEI with its Luhn check digit."""
    body = f"35{seed:012d}"[-14:]
    return next(body + d for d in "0123456789" if luhn_valid(body + d))


def valid_snils(seed: int) -> str:
    """An 11-digit SNILS with its checksum."""
    body = f"{100_000_000 + seed * 7919 % 800_000_000:09d}"
    total = sum(int(d) * (9 - i) for i, d in enumerate(body))
    while total > 101:
        total %= 101
    check = 0 if total in (100, 101) else total
    return body + f"{check:02d}"


def mobile(seed: int) -> str:
    """A Russian mobile number in E.164."""
    return f"+7912{seed % 10_000_000:07d}"


def staff_headers(client: httpx.Client) -> dict[str, str]:
    """Bearer header of an operator staff member."""
    return token_headers(client, role="operator_staff", subject="staff@registry")


def token_headers(client: httpx.Client, **body: Any) -> dict[str, str]:
    """Bearer header minted by the sandbox identity provider."""
    response = client.post("/api/v1/sandbox/tokens", json=body)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def make_operator(client: httpx.Client, *, code: str | None = None) -> dict[str, Any]:
    """An operator (with its one-time API key)."""
    n = next(_seq)
    response = client.post(
        "/api/v1/operators",
        json={"code": code or f"op{n}", "name": f"Operator {n}"},
        headers=staff_headers(client),
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def make_company(
    client: httpx.Client, *, entrepreneur: bool = False, name: str | None = None
) -> dict[str, Any]:
    """A corporate subscriber with valid registration data."""
    n = next(_seq)
    body = (
        {"name": name or f"ИП Петров {n}", "inn": valid_inn12(n), "ogrn": valid_ogrnip(n)}
        if entrepreneur
        else {
            "name": name or f'ООО "Ромашка {n}"',
            "inn": valid_inn10(n),
            "ogrn": valid_ogrn(n),
            "kpp": "773601001",
        }
    )
    response = client.post("/api/v1/companies", json=body, headers=staff_headers(client))
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def make_contract(
    client: httpx.Client, *, company_id: int, operator_id: int, signed_on: dt.date | None = None
) -> dict[str, Any]:
    """A contract between a company and an operator (a new-regime one by default)."""
    response = client.post(
        f"/api/v1/companies/{company_id}/contracts",
        json={
            "operator_id": operator_id,
            "contract_no": f"C-{next(_seq)}",
            "signed_on": (signed_on or dt.date(2024, 3, 1)).isoformat(),
        },
        headers=staff_headers(client),
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def add_numbers(
    client: httpx.Client,
    *,
    contract_id: int,
    msisdns: list[str],
    starts_on: dt.date | None = None,
) -> list[dict[str, Any]]:
    """Add numbers under a contract as operator staff (service starting on `starts_on`, by
    default the day they are added)."""
    start = {"service_start_on": starts_on.isoformat()} if starts_on else {}
    response = client.post(
        f"/api/v1/contracts/{contract_id}/numbers",
        json={"numbers": [{"msisdn": m, **start} for m in msisdns]},
        headers=staff_headers(client),
    )
    assert response.status_code == 201, response.text
    numbers: list[dict[str, Any]] = response.json()["numbers"]
    return numbers


def make_company_with_numbers(
    client: httpx.Client, *, count: int = 3, starts_on: dt.date | None = None
) -> dict[str, Any]:
    """A company, its operator, a contract and `count` unregistered numbers (service starting
    on `starts_on`, by default today: their deadline is then already behind them)."""
    operator = make_operator(client)
    company = make_company(client)
    contract = make_contract(client, company_id=company["id"], operator_id=operator["id"])
    base = next(_seq) * 1000
    numbers = add_numbers(
        client,
        contract_id=contract["id"],
        msisdns=[mobile(base + i) for i in range(count)],
        starts_on=starts_on,
    )
    admin = token_headers(client, role="company_admin", company_id=company["id"])
    return {
        "operator": operator,
        "company": company,
        "contract": contract,
        "numbers": numbers,
        "admin": admin,
    }


def employee(**overrides: Any) -> dict[str, Any]:
    """A valid employee registration body."""
    body: dict[str, Any] = {
        "kind": "employee",
        "last_name": "Иванов",
        "first_name": "Иван",
        "patronymic": "Иванович",
        "birth_date": "1985-04-12",
        "doc_number": "45 12 345678",
        "doc_issued_on": "2010-05-20",
        "doc_issuer": "ОВД Тверского района",
        "doc_issuer_code": "770-001",
        "snils": valid_snils(1),
    }
    body.update(overrides)
    return body


def device(**overrides: Any) -> dict[str, Any]:
    """A valid device registration body."""
    body: dict[str, Any] = {
        "kind": "device",
        "device_type": "payment_terminal",
        "model": "Verifone VX520",
        "identifier": "490154203237518",
        "install_address": "Москва, ул. Тверская, 1",
    }
    body.update(overrides)
    return body


def make_person(client: httpx.Client, **overrides: Any) -> dict[str, Any]:
    """A person in the sandbox identity portal, matching `employee()` by default."""
    body: dict[str, Any] = {
        "last_name": "Иванов",
        "first_name": "Иван",
        "patronymic": "Иванович",
        "birth_date": "1985-04-12",
        "passport": "4512 345678",
        "snils": valid_snils(1),
    }
    body.update(overrides)
    response = client.post("/api/v1/sandbox/people", json=body, headers=staff_headers(client))
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


# Written by the logger itself: a clock reading and a random id, never data of a request.
_GENERATED_LOG_FIELDS = ("timestamp", "request_id")


def logged_data(captured: str) -> str:
    """Captured log output with the logger's own timestamps and random request ids blanked, so
    a search for personal data in it is not tripped by their digits (".345678Z")."""
    lines = []
    for line in captured.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            for name in _GENERATED_LOG_FIELDS:
                if name in record:
                    record[name] = "-"
            line = json.dumps(record, ensure_ascii=False)
        lines.append(line)
    return "\n".join(lines)


# RFC 6266 parameters: a token name, then a token or a quoted string (no escapes needed here).
_PARAM = re.compile(r';\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)=("[^"\\]*"|[^\s;"]+)')


def parse_disposition(value: str) -> tuple[str, dict[str, str]]:
    """The disposition type and its parameters, refusing anything outside the grammar."""
    kind, _, rest = value.partition(";")
    rest = ";" + rest
    params: dict[str, str] = {}
    position = 0
    for match in _PARAM.finditer(rest):
        assert match.start() == position, f"stray text in {value!r}"
        name, raw = match.groups()
        assert name not in params, f"{name} twice in {value!r}"
        params[name] = raw[1:-1] if raw.startswith('"') else raw
        position = match.end()
    assert position == len(rest), f"stray text in {value!r}"
    return kind, params


def disposition_name(params: dict[str, str]) -> str:
    """The exact file name a Content-Disposition's filename* gives."""
    charset, _, encoded = params["filename*"].partition("''")
    assert charset == "UTF-8"
    return unquote(encoded, encoding="utf-8", errors="strict")


def unmarked(cells: list[str]) -> list[str]:
    """CSV cells as Excel and simreg's reader take them: one leading text marker (') dropped."""
    return [cell[1:] if cell.startswith("'") else cell for cell in cells]
