"""Phone numbers: a Russian mobile number, written in any of the ways people write one.

phonenumbers is far too slow to ask once per row of a million; it is asked once per distinct
number prefix that decides the answer (see `_prefix_depths`), and its verdict joined back.
"""

from __future__ import annotations

import functools
import importlib
import itertools
from collections.abc import Iterable
from typing import Any

import phonenumbers
import polars as pl

from app.core.identifiers import PHONE_EXTENSION, InvalidIdentifier, normalize_msisdn
from app.uploads.checking.checks import REQUIRED, WS, Check, Derived, Rules, map_distinct
from app.uploads.reading.columns import Column

__all__ = ["derived", "lookups", "rules"]


def _digit_class(items: Iterable[tuple[Any, Any]], parser: Any) -> frozenset[str]:
    """The ASCII digits a regex character class (``[...]``) admits."""
    allowed: set[str] = set()
    for op, arg in items:
        if op is parser.LITERAL:
            allowed.add(chr(arg))
        elif op is parser.RANGE:
            allowed.update(chr(code) for code in range(arg[0], arg[1] + 1))
        elif op is parser.CATEGORY and arg is parser.CATEGORY_DIGIT:
            allowed.update("0123456789")
        else:
            raise ValueError(f"unsupported character class item {op}")
    return frozenset(allowed & set("0123456789"))


_Sequence = tuple[frozenset[str], ...]


def _expand(tree: Any, parser: Any, limit: int = 50_000) -> list[_Sequence]:
    """Every sequence of digit classes a (bounded, digit-only) regex can match."""
    sequences: list[_Sequence] = [()]
    options: list[_Sequence]
    for op, arg in tree:
        if op is parser.LITERAL:
            options = [(frozenset({chr(arg)}),)]
        elif op is parser.IN:
            options = [(_digit_class(arg, parser),)]
        elif op is parser.SUBPATTERN:
            options = _expand(arg[-1], parser, limit)
        elif op is parser.BRANCH:
            options = [seq for branch in arg[1] for seq in _expand(branch, parser, limit)]
        elif op in (parser.MAX_REPEAT, parser.MIN_REPEAT):
            low, high, sub = arg
            if high is parser.MAXREPEAT or high > 20:
                raise ValueError("unbounded repeat")
            inner = _expand(sub, parser, limit)
            options = []
            for count in range(low, high + 1):
                for combo in itertools.product(inner, repeat=count):
                    options.append(tuple(itertools.chain.from_iterable(combo)))
        else:
            raise ValueError(f"unsupported regex construct {op}")
        sequences = [seq + option for seq in sequences for option in options]
        if len(sequences) > limit:
            raise ValueError("regex too large to expand")
    return sequences


_NATIONAL_LENGTH = 10  # a +7 number has 10 national digits


_HEAD = 3


@functools.cache
def _prefix_depths() -> dict[str, int]:
    """For each 3-digit head of a +7 national number, how many leading digits decide it.

    phonenumbers judges a +7 number (region, validity, type) only by matching its national
    number against the metadata patterns of Russia and Kazakhstan. Each pattern is a union
    of fixed-length sequences of digit classes; from the last position at which a sequence
    is not "any digit" on, the digits cannot change the answer. So two numbers that share
    the first ``depth[head]`` digits get the same answer, and the scalar validator needs to
    run only once per such prefix: exact, and a few hundred calls for a million numbers.
    If a pattern uses a construct this reading does not handle, every digit counts.
    """
    heads = ["".join(digits) for digits in itertools.product("0123456789", repeat=_HEAD)]
    depths = dict.fromkeys(heads, _HEAD)
    parser = importlib.import_module("re._parser")
    full: list[str] = []
    prefix: list[str] = []
    for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[7]:
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        if metadata is None:
            return dict.fromkeys(heads, _NATIONAL_LENGTH)
        for value in vars(metadata).values():
            pattern = getattr(value, "national_number_pattern", None)
            if isinstance(pattern, str):
                full.append(pattern)
        prefix.extend(
            p
            for p in (metadata.leading_digits, metadata.national_prefix_for_parsing)
            if isinstance(p, str)
        )
    try:
        parsed = [(p, True) for p in full] + [(p, False) for p in prefix]
        for pattern, whole in parsed:
            for seq in _expand(parser.parse(pattern), parser):
                if whole and len(seq) != _NATIONAL_LENGTH:
                    continue
                if not whole and len(seq) > _NATIONAL_LENGTH:
                    continue
                # A prefix pattern (re.match) looks at exactly len(seq) digits.
                decisive = (
                    len(seq)
                    if not whole
                    else max((i + 1 for i, c in enumerate(seq) if len(c) != 10), default=0)
                )
                classes = list(seq[:_HEAD]) + [frozenset("0123456789")] * (_HEAD - len(seq))
                for combo in itertools.product(*(sorted(c) for c in classes[:_HEAD])):
                    head = "".join(combo)
                    depths[head] = max(depths[head], decisive)
    except ValueError:
        return dict.fromkeys(heads, _NATIONAL_LENGTH)
    return depths


@functools.lru_cache(maxsize=200_000)
def _phone_verdict(candidate: str) -> tuple[str | None, str | None, str | None]:
    """``(code, E.164 form, variant)`` of a phone candidate such as ``+79120000000``.

    ``code`` is None for a Russian mobile number; the other two describe a
    ``phone.not_russian_mobile`` number for its words (``landline`` or ``foreign``).
    """
    try:
        normalize_msisdn(candidate)
    except InvalidIdentifier as exc:
        if exc.code != "phone.not_russian_mobile":
            return exc.code, None, None
        e164 = str(exc.message.values["phone"])
        return exc.code, e164, exc.message.code.rpartition(".")[2]
    return None, None, None


def derived() -> Derived:
    """The number's digits (an extension after it dropped), its +7 candidate, and the key it
    is judged by."""
    msisdn = pl.col("phone__number")
    digits = pl.col("phone__digits")
    n_digits = digits.str.len_bytes()
    candidate = (
        pl.when(~pl.col("phone__chars"))
        .then(pl.lit(None, pl.String))
        .when(msisdn.str.starts_with("+"))
        .then(pl.lit("+") + digits)
        .when(n_digits == 10)
        .then(pl.lit("+7") + digits)
        .when((n_digits == 11) & digits.str.slice(0, 1).is_in(["7", "8"]))
        .then(pl.lit("+7") + digits.str.slice(1))
        .otherwise(pl.lit(None, pl.String))
    )
    depths = _prefix_depths()
    head_depth = pl.col("phone__head").replace_strict(
        list(depths), list(depths.values()), default=_NATIONAL_LENGTH, return_dtype=pl.Int64
    )
    return Derived(
        steps=(
            [_without_extension().alias("phone__number")],
            [
                msisdn.str.contains(rf"^\+?[0-9{WS}().\-]+$").alias("phone__chars"),
                msisdn.str.replace_all(r"[^0-9]", "").alias("phone__digits"),
            ],
            [candidate.alias("phone__candidate")],
            [
                pl.col("phone__candidate")
                .str.contains(r"^\+7[0-9]{10}$")
                .fill_null(False)
                .alias("phone__standard"),
                pl.col("phone__candidate").str.slice(2, _HEAD).alias("phone__head"),
            ],
            [
                pl.when(pl.col("phone__standard"))
                .then(pl.lit("~") + pl.col("phone__candidate").str.head(head_depth + 2))
                .otherwise(pl.col("phone__candidate"))
                .alias("phone__key")
            ],
        ),
        scratch=("phone__number", "phone__chars", "phone__digits"),
    )


def _without_extension() -> pl.Expr:
    """The cell without an extension after the number (`доб. 123`), as normalize_msisdn."""
    # Python's \s is str.isspace(); the regex engine behind polars has its own idea of it.
    extension = PHONE_EXTENSION.replace(r"[\s,;]", f"[{WS},;]").replace(r"\s", f"[{WS}]")
    return pl.col(Column.MSISDN).str.replace(extension, "")


_VERDICT = pl.Struct({"code": pl.String, "e164": pl.String, "variant": pl.String})


def _representative_verdict(key: str) -> dict[str, Any]:
    # "~" marks the prefix of a +7 number with 10 national digits: any completion stands for
    # all of them. Other candidates are judged whole.
    full = key[1:].ljust(12, "0") if key.startswith("~") else key
    code, e164, variant = _phone_verdict(full)
    return {"code": code, "e164": e164, "variant": variant}


def lookups(work: pl.DataFrame) -> list[pl.Expr]:
    """``phone__v``: phonenumbers' verdict, asked once per distinct key."""
    return [map_distinct(work["phone__key"], _representative_verdict, _VERDICT).alias("phone__v")]


def rules() -> Rules:
    """Every row needs a Russian mobile number; it is kept in E.164."""
    phone_code = (
        pl.when(pl.col(Column.MSISDN).is_null())
        .then(REQUIRED)
        .when(pl.col("phone__candidate").is_null())
        .then(pl.lit("phone.invalid"))
        .otherwise(pl.col("phone__v").struct.field("code"))
    )
    check = Check(
        Column.MSISDN,
        "c_msisdn",
        verdict=phone_code,
        values={
            "value": pl.col("phone__shown"),
            "variant": pl.col("phone__v").struct.field("variant"),
        },
    )
    shown = (
        # A landline or foreign number is shown in E.164; a prefix stands for a standard
        # number, so its own digits are shown, not those of the prefix's representative.
        pl.when(phone_code != "phone.not_russian_mobile")
        .then(pl.col(Column.MSISDN))
        .when(pl.col("phone__standard"))
        .then(pl.col("phone__candidate"))
        .otherwise(pl.col("phone__v").struct.field("e164"))
        .alias("phone__shown")
    )
    normal = pl.when(pl.col("phone__standard")).then(pl.col("phone__candidate")).alias("o_msisdn")
    return Rules([check], [shown, normal])
