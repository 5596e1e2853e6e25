"""Normalisation of personal names for comparison with the identity portal's verified name.

Company admins type names by hand or paste them from spreadsheets, so the same name arrives
with ё or е, in any case, with assorted dashes and with Latin letters that look Cyrillic.
:func:`normalize_person_name` maps all those spellings to one string so that only real
differences make a comparison fail.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["is_cyrillic_name", "normalize_full_name", "normalize_person_name"]

_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212"
# Typographic apostrophes (Д’Артаньян, Дʼартаньян) are the typed one (Д'Артаньян) in a name.
_APOSTROPHE_LOOKALIKES = "\u2019\u02bc\u2018\u0060"
_DASH_TO_HYPHEN = str.maketrans(
    {**dict.fromkeys(_DASHES, "-"), **dict.fromkeys(_APOSTROPHE_LOOKALIKES, "'")}
)

# Only letters whose shapes are the same in both alphabets; keyboard layout slips and OCR
# produce exactly these, while a deliberately Latin word must stay Latin.
_LATIN_TO_CYRILLIC = str.maketrans(
    {
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
        "a": "а",
        "c": "с",
        "e": "е",
        "o": "о",
        "p": "р",
        "x": "х",
        "y": "у",
        # Latin E with diaeresis stands for Ё, which is compared as Е.
        "Ë": "Е",
        "ë": "е",
    }
)

_WHITESPACE = re.compile(r"\s+")
_SPACED_HYPHEN = re.compile(r" ?- ?")
_LETTER_RUN = re.compile(r"[^\W\d_]+")
_APOSTROPHES = frozenset("'\u2019\u02bc")


def _is_cyrillic_letter(char: str) -> bool:
    # The Cyrillic and Cyrillic Supplement blocks cover Russian and the other languages
    # whose names appear in Russian passports (Ukrainian, Tatar, Kazakh and so on).
    return "\u0400" <= char <= "\u052f" and char.isalpha()


def _fix_lookalikes(match: re.Match[str]) -> str:
    word = match.group(0)
    if any(_is_cyrillic_letter(char) for char in word):
        return word.translate(_LATIN_TO_CYRILLIC)
    return word


def normalize_person_name(value: str) -> str:
    """Return the comparison form of a name or one part of it.

    Applies NFKC, removes invisible format characters (soft hyphens, zero-width spaces),
    upper-cases (after case folding, so ß and ẞ match), writes Ё as Е, turns every dash into
    a hyphen with no spaces around it and every apostrophe into ``'``, collapses runs of
    whitespace into one space and, inside words that contain Cyrillic letters, replaces Latin
    look-alike letters with Cyrillic ones.
    A wholly Latin word stays Latin.

    >>> normalize_person_name("  салтыков — щедрин ")
    'САЛТЫКОВ-ЩЕДРИН'
    >>> normalize_person_name("Фёдоров") == normalize_person_name("ФЕДОРОВ")
    True
    """
    # Format characters go first so that NFKC can compose the letters they separated.
    text = "".join(char for char in value if unicodedata.category(char) != "Cf")
    text = unicodedata.normalize("NFKC", text).translate(_DASH_TO_HYPHEN)
    # Upper-casing can leave decomposed sequences that a second call would compose.
    text = unicodedata.normalize("NFKC", text.casefold().upper())
    text = _WHITESPACE.sub(" ", text).strip()
    text = _SPACED_HYPHEN.sub("-", text)
    text = _LETTER_RUN.sub(_fix_lookalikes, text)
    return text.replace("Ё", "Е")


def normalize_full_name(last: str, first: str, patronymic: str | None) -> str:
    """Return ``LAST FIRST PATRONYMIC`` in comparison form, skipping empty parts.

    A missing patronymic (``None`` or blank) is normal: many people have none.
    """
    parts = (normalize_person_name(part) for part in (last, first, patronymic or ""))
    return " ".join(part for part in parts if part)


def is_cyrillic_name(value: str) -> bool:
    """Tell whether a name is written in Cyrillic, as a Russian passport row must be.

    True when the name, after :func:`normalize_person_name`, has at least one Cyrillic
    letter and otherwise only Cyrillic letters, spaces, hyphens and apostrophes. A stray
    look-alike Latin letter inside a Cyrillic word is therefore accepted, while a name with
    any wholly Latin word, a digit or other punctuation is not.
    """
    name = normalize_person_name(value)
    has_letter = False
    for char in name:
        if _is_cyrillic_letter(char):
            has_letter = True
        elif char not in _APOSTROPHES and char not in " -":
            return False
    return has_letter
