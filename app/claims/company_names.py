"""Company names as a person writes them and as the state register has them.

A person claiming a number names the company; the claim stands only when that name is the
company's, whatever the case, the quotes or the spelling of the legal form.
"""

from __future__ import annotations

import re
import unicodedata

from app.core.names import normalize_person_name

# Full spellings of legal forms, each mapped to the abbreviation the register also uses.
# Longer forms come first so that "непубличное акционерное общество" is not read as
# "публичное акционерное общество" or plain "акционерное общество".
_LEGAL_FORMS: tuple[tuple[str, str], ...] = (
    ("ОБЩЕСТВО С ОГРАНИЧЕННОЙ ОТВЕТСТВЕННОСТЬЮ", "ООО"),
    ("ИНДИВИДУАЛЬНЫЙ ПРЕДПРИНИМАТЕЛЬ", "ИП"),
    ("НЕПУБЛИЧНОЕ АКЦИОНЕРНОЕ ОБЩЕСТВО", "НАО"),
    ("ПУБЛИЧНОЕ АКЦИОНЕРНОЕ ОБЩЕСТВО", "ПАО"),
    ("ЗАКРЫТОЕ АКЦИОНЕРНОЕ ОБЩЕСТВО", "ЗАО"),
    ("ОТКРЫТОЕ АКЦИОНЕРНОЕ ОБЩЕСТВО", "ОАО"),
    ("АКЦИОНЕРНОЕ ОБЩЕСТВО", "АО"),
)
_LEGAL_FORM = re.compile(
    r"(?<!\w)(" + "|".join(re.escape(full) for full, _ in _LEGAL_FORMS) + r")(?!\w)"
)
_ABBREVIATION = dict(_LEGAL_FORMS)
# Abbreviations typed wholly in Latin look-alike letters (a keyboard-layout slip); the person
# name normal form leaves wholly Latin words alone, so these are mapped here.
_LATIN_ABBREVIATIONS = {"OOO": "ООО", "AO": "АО", "OAO": "ОАО"}
_LATIN_ABBREVIATION = re.compile(r"(?<!\w)(OOO|OAO|AO)(?!\w)")
# Straight, typographic and guillemet quotes, and the backtick people type for an apostrophe.
_QUOTES = re.compile("[\"'`«»„“”‟‘’‚‛‹›]")
_SPACES = re.compile(r"\s+")
_SPACE_AROUND_PUNCTUATION = re.compile(r"\s*([.,])\s*")


def normalize_company_name(name: str) -> str:
    """Return the comparison form of a company's name.

    Case, ё/е, quotes of any kind, runs of spaces (and spaces around dots and commas, as in
    "П. П." against "П.П.") and the spelling of the legal form do not count:
    "Общество с ограниченной ответственностью "Ромашка"" and "ООО «РОМАШКА»" give the same
    result, as do "Индивидуальный предприниматель" and "ИП", and the joint-stock forms
    (АО, ПАО, ЗАО, ОАО, НАО). Everything else, such as a different word, still differs.

    >>> normalize_company_name('Общество с ограниченной ответственностью "Ромашка"')
    'ООО РОМАШКА'
    >>> normalize_company_name("ООО «Рёмашка»") == normalize_company_name("ооо ремашка")
    True
    """
    # Quotes become spaces, not nothing: 'ООО"Ромашка"' must still read as two words.
    text = _QUOTES.sub(" ", unicodedata.normalize("NFKC", name))
    # The person-name normal form already handles case, ё, dashes, invisible characters and
    # Latin look-alike letters inside Cyrillic words.
    text = normalize_person_name(text)
    text = _LEGAL_FORM.sub(lambda m: _ABBREVIATION[m.group(1)], text)
    text = _LATIN_ABBREVIATION.sub(lambda m: _LATIN_ABBREVIATIONS[m.group(1)], text)
    text = _SPACE_AROUND_PUNCTUATION.sub(r"\1", text)
    return _SPACES.sub(" ", text).strip()
