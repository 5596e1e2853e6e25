"""Words people read, from message catalogs: Russian by default, English on request.

The catalogs are gettext `.po` files, one per area, under `ru/` and `en/` (read with Babel, so
there is no compile step). Each `msgid` is a stable, language-free code (`me.status.active`,
`problem.not-found`); each `msgstr` the text, with `{name}` placeholders. Russian plurals (1
номер, 2 номера, 5 номеров) are catalog entries with a `msgid_plural`, chosen by `count`.

A code missing from English falls back to Russian; a code missing everywhere is a programming
error (KeyError), caught by the catalog tests. Code that must say something later, in a
language not known yet (an error raised deep in a service, a row's problem stored for any
reader), holds a :class:`Text`: the code and its values, worded when read.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from fastapi import Depends, Request

Language = Literal["ru", "en"]
DEFAULT: Language = "ru"
LANGUAGES: tuple[Language, ...] = ("ru", "en")
_HERE = Path(__file__).parent


@cache
def translations(language: Language) -> gettext.GNUTranslations:
    """Every catalog of one language, merged, as gettext translations (for the plurals)."""
    merged: gettext.GNUTranslations | None = None
    for path in sorted((_HERE / language).glob("*.po")):
        with path.open("rb") as po:
            catalog = read_po(po, locale=language)
        mo = io.BytesIO()
        write_mo(mo, catalog, use_fuzzy=False)
        mo.seek(0)
        part = gettext.GNUTranslations(mo)
        if merged is None:
            merged = part
        else:
            merged._catalog.update(part._catalog)  # type: ignore[attr-defined]
    if merged is None:
        raise FileNotFoundError(f"no message catalog for {language!r}")
    return merged


@cache
def codes(language: Language) -> frozenset[str]:
    """Every code the catalogs of `language` word (plural entries once)."""
    keys = translations(language)._catalog  # type: ignore[attr-defined]
    return frozenset(key[0] if isinstance(key, tuple) else key for key in keys if key)


def say(code: str, language: Language = DEFAULT, /, **values: object) -> str:
    """The text of `code` in `language`, with `values` filled in; a `count` value picks the
    plural form where the entry has one."""
    for tongue in (language, DEFAULT):
        if code in codes(tongue):
            return _template(translations(tongue), code, values.get("count")).format(**values)
    raise KeyError(code)


def _template(words: gettext.GNUTranslations, code: str, count: object) -> str:
    catalog = words._catalog  # type: ignore[attr-defined]
    if (code, 0) in catalog:
        return words.ngettext(code, code, count if isinstance(count, int) else 0)
    text: str = catalog[code]
    return text


class Text:
    """Words to be said later: a code and its values, worded in the reader's language."""

    __slots__ = ("code", "values")

    def __init__(self, code: str, /, **values: object) -> None:
        self.code = code
        self.values: Mapping[str, object] = values

    def __call__(self, language: Language = DEFAULT) -> str:
        return say(self.code, language, **self.values)

    def __str__(self) -> str:
        return self()

    def __repr__(self) -> str:
        return f"Text({self.code!r})"

    def as_dict(self) -> dict[str, Any]:
        """The code and values, to store and word later (`from_dict`)."""
        return {"code": self.code, "values": dict(self.values)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Text:
        return cls(data["code"], **data.get("values", {}))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Text) and (self.code, self.values) == (other.code, other.values)

    def __hash__(self) -> int:
        return hash(self.code)


def word(text: str | Text, language: Language = DEFAULT) -> str:
    """`text` in `language`: a Text is worded, a plain string is said as it is."""
    return text(language) if isinstance(text, Text) else text


def language_of(accept_language: str | None) -> Language:
    """The language a person asked for (`Accept-Language`), of those there are: English only
    when it comes before Russian in their preferences; Russian otherwise."""
    best: tuple[float, Language] = (0.0, DEFAULT)
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in ("ru", "en"):
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        # Earlier tags win ties, as browsers list them in order of preference.
        score = quality - position * 1e-6
        if score > best[0]:
            best = (score, "en" if primary == "en" else "ru")
    return best[1]


def request_language(request: Request) -> Language:
    """The language the request asked for."""
    return language_of(request.headers.get("accept-language"))


async def _language(request: Request) -> Language:
    # Async: a plain function of the headers runs in the event loop, not in the thread pool.
    return request_language(request)


LanguageDep = Annotated[Language, Depends(_language)]
