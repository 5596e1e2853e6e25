"""Tests of app.core.names."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.names import is_cyrillic_name, normalize_full_name, normalize_person_name

RUSSIAN_LOWER = "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"
RUSSIAN_UPPER = RUSSIAN_LOWER.upper()
LATIN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
DASHES = ["-", "\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2015", "\u2212"]
LOOKALIKES = {
    "A": "А",
    "B": "В",
    "C": "С",
    "E": "Е",
    "H": "Н",
    "K": "К",
    "M": "М",
    "O": "О",
    "P": "Р",
    "T": "Т",
    "X": "Х",
    "Y": "У",
    "a": "А",
    "c": "С",
    "e": "Е",
    "o": "О",
    "p": "Р",
    "x": "Х",
    "y": "У",
}

russian_words = st.text(alphabet=RUSSIAN_LOWER + RUSSIAN_UPPER, min_size=1, max_size=12)
name_like = st.text(
    alphabet=st.sampled_from(
        [*RUSSIAN_LOWER, *RUSSIAN_UPPER, *LATIN, *DASHES, " ", "\t", "\u00a0", "'", "’", "ë", "Ë"]
    ),
    max_size=40,
)


class TestBasicNormalisation:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("Иванов", "ИВАНОВ"),
            ("  иванов\t", "ИВАНОВ"),
            ("Анна  Мария", "АННА МАРИЯ"),
            ("Анна\u00a0Мария", "АННА МАРИЯ"),
            ("Анна\n\n Мария", "АННА МАРИЯ"),
            ("Smith", "SMITH"),
            ("", ""),
            ("   ", ""),
            ("Ива\u00adнов", "ИВАНОВ"),  # soft hyphen pasted from a document
            ("Ива\u200bнов", "ИВАНОВ"),
        ],
    )
    def test_examples(self, value: str, expected: str) -> None:
        assert normalize_person_name(value) == expected

    def test_nfkc(self) -> None:
        # Decomposed ё (е + combining diaeresis) and full-width Latin letters.
        assert normalize_person_name("Фе\u0308доров") == "ФЕДОРОВ"
        assert normalize_person_name("\uff33\uff4d\uff49\uff54\uff48") == "SMITH"

    def test_sharp_s_matches_capital_sharp_s(self) -> None:
        assert normalize_person_name("Strauß") == normalize_person_name("STRAUẞ") == "STRAUSS"


class TestIdempotence:
    @given(name_like)
    def test_name_like_text(self, value: str) -> None:
        once = normalize_person_name(value)
        assert normalize_person_name(once) == once

    @given(st.text(max_size=40))
    def test_any_text(self, value: str) -> None:
        once = normalize_person_name(value)
        assert normalize_person_name(once) == once


class TestYoEquivalence:
    @pytest.mark.parametrize(
        ("with_yo", "with_ye"),
        [("Фёдоров", "Федоров"), ("ЁЛКИН", "ЕЛКИН"), ("Пётр", "Петр"), ("Артём", "артем")],
    )
    def test_examples(self, with_yo: str, with_ye: str) -> None:
        assert normalize_person_name(with_yo) == normalize_person_name(with_ye)

    @given(russian_words)
    def test_yo_never_survives(self, word: str) -> None:
        result = normalize_person_name(word)
        assert "Ё" not in result
        assert "ё" not in result
        assert result == normalize_person_name(word.replace("ё", "е").replace("Ё", "Е"))


class TestCaseInsensitivity:
    @given(russian_words)
    def test_lower_upper_title(self, word: str) -> None:
        expected = normalize_person_name(word)
        assert normalize_person_name(word.lower()) == expected
        assert normalize_person_name(word.upper()) == expected
        assert normalize_person_name(word.title()) == expected
        assert expected == expected.upper()


class TestDashes:
    @pytest.mark.parametrize("dash", DASHES)
    @pytest.mark.parametrize("spacing", ["", " ", "  ", "\t"])
    def test_variants(self, dash: str, spacing: str) -> None:
        value = f"Салтыков{spacing}{dash}{spacing}Щедрин"
        assert normalize_person_name(value) == "САЛТЫКОВ-ЩЕДРИН"

    def test_space_on_one_side(self) -> None:
        assert normalize_person_name("Салтыков -Щедрин") == "САЛТЫКОВ-ЩЕДРИН"
        assert normalize_person_name("Салтыков– Щедрин") == "САЛТЫКОВ-ЩЕДРИН"

    @given(russian_words, russian_words, st.sampled_from(DASHES), st.sampled_from(["", " "]))
    def test_any_dash_equals_hyphen(self, left: str, right: str, dash: str, space: str) -> None:
        assert normalize_person_name(f"{left}{space}{dash}{space}{right}") == normalize_person_name(
            f"{left}-{right}"
        )


class TestLookalikes:
    @pytest.mark.parametrize(
        ("mixed", "cyrillic"),
        [
            ("Ивaнов", "Иванов"),  # Latin a
            ("Cергей", "Сергей"),  # Latin C
            ("ПETPOB", "ПЕТРОВ"),
            ("Kyзнецов", "Кузнецов"),
            ("Пoпoв-Cмирнов", "Попов-Смирнов"),
            ("Фëдоров", "Федоров"),  # Latin e with diaeresis
        ],
    )
    def test_mixed_words_become_cyrillic(self, mixed: str, cyrillic: str) -> None:
        assert normalize_person_name(mixed) == normalize_person_name(cyrillic)

    @pytest.mark.parametrize("latin", ["Smith", "Cooper", "AXE", "Ivanov", "Zoë"])
    def test_wholly_latin_word_stays_latin(self, latin: str) -> None:
        result = normalize_person_name(latin)
        assert result == latin.upper()
        assert all(char.isascii() or char == "Ë" for char in result)

    def test_latin_word_next_to_cyrillic_word_stays_latin(self) -> None:
        assert normalize_person_name("Иван Cooper") == "ИВАН COOPER"
        assert normalize_person_name("Cooper-Иванов") == "COOPER-ИВАНОВ"

    @given(russian_words, st.data())
    def test_replacing_letters_with_lookalikes(self, word: str, data: st.DataObject) -> None:
        reverse = {cyr: lat for lat, cyr in LOOKALIKES.items() if lat.isupper()}
        upper = word.upper()
        swappable = [i for i, char in enumerate(upper) if char in reverse]
        # Keep at least one genuinely Cyrillic letter so the word counts as Cyrillic.
        positions = data.draw(st.sets(st.sampled_from(swappable))) if swappable else set()
        chars = list(upper)
        for i in positions:
            chars[i] = reverse[chars[i]]
        if all(char.isascii() for char in chars):
            chars.append("Ж")
            upper += "Ж"
        disguised = "".join(chars)
        assert normalize_person_name(disguised) == normalize_person_name(upper)


class TestFullName:
    def test_three_parts(self) -> None:
        assert normalize_full_name(" Фёдоров ", "пётр", "Ильич") == "ФЕДОРОВ ПЕТР ИЛЬИЧ"

    @pytest.mark.parametrize("patronymic", [None, "", "   "])
    def test_without_patronymic(self, patronymic: str | None) -> None:
        assert normalize_full_name("Иванова", "Анна", patronymic) == "ИВАНОВА АННА"

    def test_empty_first_name_is_skipped(self) -> None:
        assert normalize_full_name("Иванова", "", "Петровна") == "ИВАНОВА ПЕТРОВНА"

    def test_hyphenated_last_name(self) -> None:
        assert normalize_full_name("Римская — Корсакова", "Анна", None) == (
            "РИМСКАЯ-КОРСАКОВА АННА"
        )

    @given(russian_words, russian_words, st.none() | russian_words)
    def test_matches_joined_parts(self, last: str, first: str, patronymic: str | None) -> None:
        parts = [last, first] + ([patronymic] if patronymic else [])
        assert normalize_full_name(last, first, patronymic) == normalize_person_name(
            " ".join(parts)
        )


class TestIsCyrillicName:
    @pytest.mark.parametrize(
        "value",
        [
            "Иванов",
            "Салтыков-Щедрин",
            "Салтыков — Щедрин",
            "Анна Мария",
            "Д’Артаньян",
            "Д'Артаньян",
            "Фёдор",
            "Ивaнов",  # a stray look-alike inside a Cyrillic word is normalised away
            "Гюльнара",
            "Олександр Ґудзь",
        ],
    )
    def test_cyrillic(self, value: str) -> None:
        assert is_cyrillic_name(value)

    @pytest.mark.parametrize(
        "value",
        [
            "Ivanov",
            "Иван Smith",
            "Иванов2",
            "Иванов.",
            "Иванов (Петров)",
            "",
            "   ",
            "-",
            "'",
        ],
    )
    def test_not_cyrillic(self, value: str) -> None:
        assert not is_cyrillic_name(value)

    @given(st.lists(russian_words, min_size=1, max_size=3), st.sampled_from([" ", "-", " - "]))
    def test_random_russian_names(self, words: list[str], separator: str) -> None:
        assert is_cyrillic_name(separator.join(words))

    @given(st.text(alphabet=LATIN, min_size=1, max_size=12))
    def test_latin_words(self, word: str) -> None:
        assert not is_cyrillic_name(word)
