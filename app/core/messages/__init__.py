"""Words people read, from message catalogs: Russian by default, English on request.

Codes (`me.status.active`) are stable and language-free; each catalog (`ru.json`,
`en.json`) maps them to a text with `{name}` placeholders. A code missing from English falls
back to Russian, and a code missing everywhere is a programming error (KeyError), caught by
the catalog test.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends, Request

Language = Literal["ru", "en"]
DEFAULT: Language = "ru"
_HERE = Path(__file__).parent


@cache
def catalog(language: Language) -> dict[str, str]:
    """Every text of one language, by code."""
    texts: dict[str, str] = json.loads((_HERE / f"{language}.json").read_text(encoding="utf-8"))
    return texts


def say(code: str, language: Language = DEFAULT, /, **values: object) -> str:
    """The text of `code` in `language`, with `values` filled in."""
    texts = catalog(language)
    template = texts[code] if code in texts else catalog(DEFAULT)[code]
    return template.format(**values)


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


def _request_language(request: Request) -> Language:
    return language_of(request.headers.get("accept-language"))


LanguageDep = Annotated[Language, Depends(_request_language)]
