"""The message catalogs: every code worded in both languages with the same placeholders,
Russian plurals in three forms, and the language a request asks for."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from app.core import messages
from app.core.messages import LANGUAGES, Text, codes, language_of, say, translations


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _texts(language: str, code: str) -> list[str]:
    catalog = translations(language)._catalog  # type: ignore[arg-type]
    if (code, 0) in catalog:
        return [text for key, text in catalog.items() if isinstance(key, tuple) and key[0] == code]
    return [catalog[code]]


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_code_lives_in_one_catalog(language: str) -> None:
    homes: dict[str, list[str]] = {}
    for path in sorted((Path(messages.__file__).parent / language).glob("*.po")):
        with path.open("rb") as po:
            for message in read_po(po):
                if message.id:
                    code = message.id if isinstance(message.id, str) else message.id[0]
                    homes.setdefault(code, []).append(path.name)
    assert not {code: files for code, files in homes.items() if len(files) > 1}


def test_every_code_is_worded_in_both_languages() -> None:
    assert codes("ru") == codes("en"), codes("ru") ^ codes("en")


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_text_is_filled(language: str) -> None:
    empty = [code for code in codes(language) if not all(_texts(language, code))]  # type: ignore[arg-type]
    assert not empty


def test_both_languages_fill_the_same_placeholders() -> None:
    differing = [
        code
        for code in codes("ru")
        if set().union(*map(_placeholders, _texts("ru", code)))
        != set().union(*map(_placeholders, _texts("en", code)))
    ]
    assert not differing


def test_russian_plurals_have_three_forms() -> None:
    assert say("problem.invalid-input.detail", "ru", count=1).startswith("1 поле ")
    assert say("problem.invalid-input.detail", "ru", count=3).startswith("3 поля ")
    assert say("problem.invalid-input.detail", "ru", count=11).startswith("11 полей ")
    assert say("problem.invalid-input.detail", "ru", count=21).startswith("21 поле ")
    assert say("problem.invalid-input.detail", "en", count=2).startswith("2 fields ")


def test_a_text_is_worded_when_read() -> None:
    text = Text("problem.not-found.detail", path="/x")
    assert text("ru") == "По адресу /x ничего нет; проверьте адрес."
    assert text("en") == "There is nothing at /x; check the address."
    assert Text.from_dict(text.as_dict()) == text


def test_an_unknown_code_is_an_error() -> None:
    with pytest.raises(KeyError):
        say("no.such.code")


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, "ru"),
        ("", "ru"),
        ("en", "en"),
        ("en-US,en;q=0.9", "en"),
        ("ru-RU,ru;q=0.9,en;q=0.8", "ru"),
        ("de, en;q=0.5", "en"),
        ("en;q=0.3, ru;q=0.7", "ru"),
        ("fr", "ru"),
    ],
)
def test_the_language_asked_for(header: str | None, language: str) -> None:
    assert language_of(header) == language
