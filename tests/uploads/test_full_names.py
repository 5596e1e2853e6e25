"""Lists that name people in one "ФИО" column, as HR systems export them."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.numbers.models import Registration
from app.uploads.reading.columns import Column, column_for_header
from app.uploads.reading.full_names import split_full_names
from tests.builders import make_company_with_numbers
from tests.uploads.builders import csv_bytes, problem_codes, upload, upload_result

HEADER = [
    "Номер телефона", "ФИО", "Дата рождения", "Серия и номер паспорта", "Дата выдачи",
    "Кем выдан", "Код подразделения",
]  # fmt: skip


def row(msisdn: str, full_name: str, n: int) -> list[str]:
    return [
        msisdn, full_name, f"{1 + n:02d}.03.1985", f"45 1{n} 30000{n}", "20.05.2015",
        "ОВД района Тверской", "770-001",
    ]  # fmt: skip


def split(*names: str) -> list[tuple[str, str, str, str | None]]:
    frame = split_full_names(pl.Series(names, dtype=pl.String))
    return [tuple(r) for r in frame.rows()]  # type: ignore[misc]


class TestTheHeader:
    @pytest.mark.parametrize(
        "header", ["ФИО", "Ф.И.О.", "фио", "Фамилия Имя Отчество", "Сотрудник", "СОТРУДНИК"]
    )
    def test_names_the_full_name(self, header: str) -> None:
        assert column_for_header(header) is Column.FULL_NAME


class TestSplit:
    def test_three_words_two_words(self) -> None:
        assert split("Иванов Иван Иванович", "  Ёжикова\u00a0 Алёна ") == [
            ("Иванов", "Иван", "Иванович", None),
            ("Ёжикова", "Алёна", "", None),
        ]

    def test_double_barrelled_surnames(self) -> None:
        assert split("Петрова-Водкина Анна Сергеевна", "Салтыков - Щедрин Михаил Евграфович") == [
            ("Петрова-Водкина", "Анна", "Сергеевна", None),
            ("Салтыков-Щедрин", "Михаил", "Евграфович", None),
        ]

    def test_turkic_patronymics_written_apart(self) -> None:
        assert split("Алиев Рашид Гейдар оглы", "Мамедова Айгюн Эльдар кызы") == [
            ("Алиев", "Рашид", "Гейдар оглы", None),
            ("Мамедова", "Айгюн", "Эльдар кызы", None),
        ]

    @pytest.mark.parametrize(
        ("name", "code"),
        [
            ("Иванов", "one_word"),
            ("Иванов Иван Иванович Петров Сидор", "too_many_words"),
            ("Иванов Иван Иванович Петров", "too_many_words"),
            ("Иванов И.И.", "initials"),
            ("Иванов И. И.", "initials"),
            ("Алиев Рашид оглы", "ending_alone"),
        ],
    )
    def test_what_cannot_be_split_safely_is_not_guessed(self, name: str, code: str) -> None:
        assert split(name) == [("", "", "", code)]

    def test_an_empty_cell_is_left_to_the_row_rules(self) -> None:
        assert split("", "   ") == [("", "", "", None)] * 2

    @given(
        st.lists(
            st.text(alphabet="абвгдеёжзийклмнопрстуфхцчшщъыьэюя-", min_size=2, max_size=8).filter(
                lambda w: w.strip("-") == w and "--" not in w
            ),
            min_size=3,
            max_size=3,
        )
    )
    def test_three_words_come_back_as_they_were(self, words: list[str]) -> None:
        words = [w.capitalize() for w in words]
        last, first, patronymic, verdict = split(" ".join(words))[0]
        if words[2].lower() in ("оглы", "огли", "улы", "уулу", "угли", "кызы", "гызы", "кизи"):
            assert verdict == "ending_alone"
        else:
            assert (last, first, patronymic, verdict) == (*words, None)


@pytest.fixture
def world(client: TestClient) -> dict[str, Any]:
    return make_company_with_numbers(client, count=8)


def _send(client: TestClient, world: dict[str, Any], content: bytes, **kw: Any) -> dict[str, Any]:
    cid = world["company"]["id"]
    response = upload(client, cid, world["admin"], content, **kw)
    assert response.status_code == 202, response.text
    return upload_result(client, cid, world["admin"], response.json()["id"])


class TestAnHrExport:
    def test_a_cp1251_semicolon_list_is_accepted(
        self, client: TestClient, world: dict[str, Any], session: Session
    ) -> None:
        phones = [n["msisdn"] for n in world["numbers"]]
        names = [
            "Петрова-Водкина Анна Сергеевна",
            "Салтыков-Щедрин Михаил Евграфович",
            "Алиев Рашид Гейдар оглы",
            "Ёлкина Алёна",
        ]
        content = csv_bytes(
            HEADER,
            [row(p, name, n) for n, (p, name) in enumerate(zip(phones, names, strict=False))],
        )
        result = _send(client, world, content)
        assert result["encoding"] == "cp1251"
        assert result["delimiter"] == ";"
        assert result["counts"]["accepted"] == 4, result["first_errors"]
        found = session.execute(
            select(Registration.last_name, Registration.first_name, Registration.patronymic)
        ).all()
        assert sorted(found, key=str) == sorted(
            [
                ("Петрова-Водкина", "Анна", "Сергеевна"),
                ("Салтыков-Щедрин", "Михаил", "Евграфович"),
                ("Алиев", "Рашид", "Гейдар оглы"),
                ("Ёлкина", "Алёна", None),
            ],
            key=str,
        )

    def test_names_that_cannot_be_split_are_refused_naming_the_column(
        self, client: TestClient, world: dict[str, Any], session: Session
    ) -> None:
        phones = [n["msisdn"] for n in world["numbers"]]
        names = ["Иванов", "Иванов И.И.", "Иванов Иван Иванович Петров Сидор", "Сидоров Пётр"]
        rows = [row(p, name, n) for n, (p, name) in enumerate(zip(phones, names, strict=False))]
        rows[3][2] = "31.02.1990"  # a good name, a bad date: only the date is said
        result = _send(client, world, csv_bytes(HEADER, rows), mode="validate")
        assert problem_codes(session, result["id"]) == {
            2: ["full_name.one_word"],
            3: ["full_name.initials"],
            4: ["full_name.too_many_words"],
            5: [result["first_errors"][-1]["code"]],
        }
        first = result["first_errors"][0]
        assert (first["column"], first["header"]) == ("full_name", "ФИО")
        assert first["message"].startswith("В столбце «ФИО» одно слово")
        assert result["first_errors"][-1]["column"] == "birth_date"

    def test_full_name_beside_last_name_is_refused_clearly(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        header = [*HEADER, "Фамилия"]
        rows = [[*row(world["numbers"][0]["msisdn"], "Иванов Иван", 0), "Иванов"]]
        result = _send(client, world, csv_bytes(header, rows), mode="validate")
        assert result["status"] == "failed"
        assert result["failure_code"] == "header.full_name_and_parts"
        assert "«ФИО»" in result["failure_message"]
        assert "«Фамилия»" in result["failure_message"]
