"""A person's full name in one cell ("ФИО", as HR systems such as 1C:ЗУП export it), read into
last name, first name and patronymic.

Russian order is last name, first name, patronymic: "Петрова-Водкина Анна Сергеевна". A double-
barrelled surname is one word with a hyphen ("Салтыков-Щедрин", also written "Салтыков -
Щедрин"); a Turkic patronymic may end in a separate word (оглы, кызы: "Алиев Рашид Гейдар
оглы"); the patronymic may be absent ("Иванов Иван"). Anything else (one word, five words,
initials) cannot be read safely and is refused, never guessed.

The split runs in polars over a whole batch, so a list with one "ФИО" column is read about
as fast as one with three name columns.
"""

from __future__ import annotations

import polars as pl

from app.uploads.reading.columns import WHITESPACE, Column

__all__ = ["NAME_PARTS", "PART_NAMES", "SPLIT_CODES", "split_full_names"]

NAME_PARTS = (Column.LAST_NAME, Column.FIRST_NAME, Column.PATRONYMIC)
# The frame columns `split_full_names` gives, one per part, then the verdict.
PART_NAMES = ("last", "first", "patronymic")
VERDICT = "verdict"

# The last word of a Turkic patronymic written apart: оглы/улы/уулу/угли (son of), кызы/кизи
# (daughter of). Compared in lower case, ё as е.
PATRONYMIC_ENDINGS = ("оглы", "огли", "улы", "уулу", "угли", "кызы", "гызы", "кизи")

# Why a name cannot be read: the catalog words `row.full_name.<code>`.
SPLIT_CODES = ("one_word", "too_many_words", "initials", "ending_alone")

_SPACE = "".join(f"\\x{{{ord(char):x}}}" for char in WHITESPACE)


def split_full_names(cells: pl.Series) -> pl.DataFrame:
    """The full names of `cells` (as written) read into `last`, `first` and `patronymic`
    (String; empty where absent or unreadable) and `verdict`: null when the name was read
    or the cell is empty, else the code of why it cannot be read."""
    spaced = (
        pl.col("cell")
        .str.replace_all(f"[{_SPACE},]+", " ")
        .str.strip_chars(" ")
        .str.replace_all(" ?- ?", "-")
    )
    frame = pl.DataFrame({"cell": cells.cast(pl.String).fill_null("")}).select(
        spaced.str.split(" ").alias("words")
    )
    words = pl.col("words")
    count = pl.when(words.list.first() == "").then(0).otherwise(words.list.len())
    ending = words.list.last().str.to_lowercase().str.replace_all("ё", "е")
    turkic = ending.is_in(PATRONYMIC_ENDINGS)
    initials = words.list.eval(pl.element().str.contains(r"^\w\.?$|\.")).list.any()
    verdict = (
        pl.when(count == 0)
        .then(None)
        .when(initials)
        .then(pl.lit("initials"))
        .when(count == 1)
        .then(pl.lit("one_word"))
        .when(turkic & (count == 3))
        .then(pl.lit("ending_alone"))
        .when((count == 4) & turkic)
        .then(None)
        .when(count >= 4)
        .then(pl.lit("too_many_words"))
        .otherwise(None)
    )
    readable = (count > 0) & verdict.is_null()
    patronymic = (
        pl.when(count == 4)
        .then(
            pl.concat_str(
                [words.list.get(2, null_on_oob=True), words.list.get(3, null_on_oob=True)],
                separator=" ",
            )
        )
        .otherwise(words.list.get(2, null_on_oob=True))
    )
    parts = [
        words.list.get(0, null_on_oob=True),
        words.list.get(1, null_on_oob=True),
        patronymic,
    ]
    return frame.select(
        *(
            pl.when(readable).then(part).otherwise(pl.lit("")).fill_null("").alias(name)
            for part, name in zip(parts, PART_NAMES, strict=True)
        ),
        verdict.alias(VERDICT),
    )
