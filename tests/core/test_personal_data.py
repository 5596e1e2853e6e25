"""Personal data at rest: sealed with rotating keys, looked up by keyed hashes, shown masked."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from typing import Any

import orjson
import pytest
from cryptography.exceptions import InvalidTag
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.core.personal_data import (
    KeyConfigError,
    PersonalDataVault,
    mask_birth_date,
    mask_passport,
    mask_snils,
    parse_keys,
)
from app.core.runtime import Runtime
from tests.builders import employee, make_company_with_numbers, staff_headers, valid_snils

OLD_KEY = base64.b64encode(b"o" * 32).decode()
NEW_KEY = base64.b64encode(b"n" * 32).decode()
HASH_KEY = "hash-key-for-tests-0123456789"
PAYLOAD = {"doc_series": "4512", "doc_number": "345678", "birth_date": "1985-04-12"}


def vault(keys: str, active: str, hash_key: str = HASH_KEY) -> PersonalDataVault:
    return PersonalDataVault.from_settings(keys=keys, active_key_id=active, hash_key=hash_key)


class TestSealing:
    def test_a_sealed_document_opens_to_the_same_document(self) -> None:
        v = vault(f"old:{OLD_KEY}", "old")

        assert v.open(v.seal(PAYLOAD)) == PAYLOAD

    def test_the_blob_does_not_contain_the_plaintext(self) -> None:
        blob = vault(f"old:{OLD_KEY}", "old").seal(PAYLOAD)

        for value in PAYLOAD.values():
            assert value.encode() not in blob
        assert b"doc_number" not in blob

    def test_sealing_twice_gives_different_blobs(self) -> None:
        v = vault(f"old:{OLD_KEY}", "old")

        assert v.seal(PAYLOAD) != v.seal(PAYLOAD)

    def test_sealed_in_bulk_opens_like_one_by_one_with_a_nonce_each(self) -> None:
        v = vault(f"old:{OLD_KEY}", "old")
        documents = [{**PAYLOAD, "doc_number": f"{n:06d}"} for n in range(3)]

        blobs = v.seal_many([orjson.dumps(d) for d in documents])

        assert [v.open(b) for b in blobs] == documents
        assert [v.key_id_of(b) for b in blobs] == ["old"] * 3
        assert len({b[4:16] for b in blobs}) == 3  # after the key id: 12 bytes of nonce

    def test_a_changed_byte_of_the_ciphertext_is_detected(self) -> None:
        v = vault(f"old:{OLD_KEY}", "old")
        blob = bytearray(v.seal(PAYLOAD))
        blob[-5] ^= 0x01

        with pytest.raises(InvalidTag):
            v.open(bytes(blob))

    def test_a_changed_key_id_is_detected(self) -> None:
        v = vault(f"old:{OLD_KEY},olx:{OLD_KEY}", "old")
        blob = bytearray(v.seal(PAYLOAD))
        blob[3] = ord("x")  # "old" -> "olx": same key, but the key id is authenticated data

        with pytest.raises(InvalidTag):
            v.open(bytes(blob))


class TestKeyRotation:
    def test_an_old_blob_opens_after_the_active_key_changes(self) -> None:
        blob = vault(f"old:{OLD_KEY}", "old").seal(PAYLOAD)
        rotated = vault(f"old:{OLD_KEY},new:{NEW_KEY}", "new")

        assert rotated.open(blob) == PAYLOAD
        assert PersonalDataVault.key_id_of(blob) == "old"
        assert PersonalDataVault.key_id_of(rotated.seal(PAYLOAD)) == "new"

    def test_a_blob_whose_key_left_the_ring_cannot_be_opened(self) -> None:
        blob = vault(f"old:{OLD_KEY}", "old").seal(PAYLOAD)
        without_old = vault(f"new:{NEW_KEY}", "new")

        with pytest.raises(KeyConfigError, match="'old'"):
            without_old.open(blob)

    def test_the_same_key_id_with_another_key_does_not_open(self) -> None:
        blob = vault(f"old:{OLD_KEY}", "old").seal(PAYLOAD)
        impostor = vault(f"old:{NEW_KEY}", "old")

        with pytest.raises(InvalidTag):
            impostor.open(blob)

    def test_the_key_ring_is_read_from_its_setting(self) -> None:
        ring = parse_keys(f" old:{OLD_KEY} , new:{NEW_KEY} ")

        assert ring == {"old": b"o" * 32, "new": b"n" * 32}


class TestLookupHash:
    def test_equal_input_gives_equal_hashes(self) -> None:
        v = vault(f"old:{OLD_KEY}", "old")

        assert v.lookup_hash("doc", "ru_passport:4512345678") == v.lookup_hash(
            "doc", "ru_passport:4512345678"
        )

    def test_different_input_gives_different_hashes(self) -> None:
        v = vault(f"old:{OLD_KEY}", "old")

        assert v.lookup_hash("doc", "ru_passport:4512345678") != v.lookup_hash(
            "doc", "ru_passport:4512345679"
        )

    def test_the_same_value_of_another_kind_hashes_differently(self) -> None:
        v = vault(f"old:{OLD_KEY}", "old")

        assert v.lookup_hash("doc", "1985-04-12") != v.lookup_hash("birth", "1985-04-12")

    def test_another_hash_key_gives_other_hashes(self) -> None:
        one = vault(f"old:{OLD_KEY}", "old", hash_key=HASH_KEY)
        two = vault(f"old:{OLD_KEY}", "old", hash_key=HASH_KEY + "-other")

        assert one.lookup_hash("birth", "1985-04-12") != two.lookup_hash("birth", "1985-04-12")

    def test_the_hash_does_not_depend_on_the_encryption_key(self) -> None:
        before = vault(f"old:{OLD_KEY}", "old")
        after = vault(f"old:{OLD_KEY},new:{NEW_KEY}", "new")

        assert before.lookup_hash("doc", "x") == after.lookup_hash("doc", "x")


class TestMasks:
    def test_passport(self) -> None:
        assert mask_passport("4512", "345678") == "45** ***678"

    def test_birth_date_as_text_and_as_date(self) -> None:
        assert mask_birth_date("1985-04-12") == "**.**.1985"
        assert mask_birth_date(dt.date(1985, 4, 12)) == "**.**.1985"

    def test_snils(self) -> None:
        assert mask_snils("11223344595") == "***-***-*** 95"


# --- Through the API ------------------------------------------------------------------------


def registered_employee(client: TestClient) -> dict[str, Any]:
    world = make_company_with_numbers(client, count=2)
    number_id = world["numbers"][0]["id"]
    response = client.put(
        f"/api/v1/companies/{world['company']['id']}/numbers/{number_id}/registration",
        json=employee(),
        headers=world["admin"],
    )
    assert response.status_code == 200, response.text
    return {**world, "number_id": number_id}


def as_text(value: object) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("latin-1")
    return str(value)


class TestPersonalDataAtRest:
    def test_no_column_of_a_registration_holds_personal_data_in_clear(
        self, client: TestClient, session: Session
    ) -> None:
        registered_employee(client)

        rows = session.execute(text("SELECT * FROM registrations")).mappings().all()

        assert len(rows) == 1
        [row] = rows
        secrets = ("345678", "1985-04-12", valid_snils(1), "770-001", "2010-05-20")
        for column, value in row.items():
            if value is None:
                continue
            for secret in secrets:
                assert secret not in as_text(value), f"{column} holds {secret!r}"
        assert row["pd_sealed"]
        assert len(bytes(row["pd_sealed"])) > 16
        assert row["doc_hash"]
        assert row["birth_date_hash"]
        assert row["last_name"] == "Иванов"

    def test_the_sealed_blob_opens_with_the_runtime_vault(
        self, client: TestClient, session: Session, runtime: Runtime
    ) -> None:
        registered_employee(client)

        blob = session.execute(text("SELECT pd_sealed, pd_key_id FROM registrations")).one()

        opened = runtime.vault.open(bytes(blob.pd_sealed))
        assert (opened["doc_series"], opened["doc_number"]) == ("4512", "345678")
        assert opened["birth_date"] == "1985-04-12"
        assert blob.pd_key_id == runtime.vault.active_key_id


class TestStaffReadsAreLogged:
    def test_staff_reading_a_registered_number_is_logged(
        self, client: TestClient, session: Session
    ) -> None:
        world = registered_employee(client)
        path = f"/api/v1/companies/{world['company']['id']}/numbers/{world['number_id']}"

        response = client.get(path, headers=staff_headers(client))

        assert response.status_code == 200, response.text
        assert response.json()["registrations"][0]["doc_number"] == "45** ***678"
        reads = (
            session.execute(
                text("SELECT staff_subject, resource, resource_id, route FROM personal_data_reads")
            )
            .mappings()
            .all()
        )
        assert [dict(r) for r in reads] == [
            {
                "staff_subject": "staff@registry",
                "resource": "number",
                "resource_id": str(world["number_id"]),
                "route": path,
            }
        ]

    def test_an_admin_read_is_not_logged(self, client: TestClient, session: Session) -> None:
        world = registered_employee(client)
        path = f"/api/v1/companies/{world['company']['id']}/numbers/{world['number_id']}"

        response = client.get(path, headers=world["admin"])

        assert response.status_code == 200, response.text
        assert response.json()["registrations"][0]["birth_date"] == "**.**.1985"
        assert session.execute(text("SELECT COUNT(*) FROM personal_data_reads")).scalar() == 0

    def test_staff_reading_a_number_without_personal_data_is_not_logged(
        self, client: TestClient, session: Session
    ) -> None:
        world = registered_employee(client)
        unregistered = world["numbers"][1]["id"]

        response = client.get(
            f"/api/v1/companies/{world['company']['id']}/numbers/{unregistered}",
            headers=staff_headers(client),
        )

        assert response.status_code == 200, response.text
        assert response.json()["registrations"] == []
        assert session.execute(text("SELECT COUNT(*) FROM personal_data_reads")).scalar() == 0

    def test_the_hash_is_keyed_blake2b_of_kind_and_value(self) -> None:
        # Stored hashes must keep matching: the hash is defined, not an accident of the code.
        v = vault(f"old:{OLD_KEY}", "old")
        expected = hashlib.blake2b(
            b"doc:ru_passport:4512345678", key=v.hash_key[:64], digest_size=16
        ).hexdigest()

        assert v.lookup_hash("doc", "ru_passport:4512345678") == expected
        assert v.raw_hash("doc:ru_passport:4512345678") == expected
