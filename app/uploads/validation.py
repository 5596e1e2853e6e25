"""Vectorised validation of an uploaded batch of rows (employees and devices).

A company admin uploads up to a million rows; every problem of every row is reported at
once, and the rows without problems come back in normal form. The rules are those of the
scalar validators in :mod:`app.core.identifiers` and :mod:`app.core.names` and of
:func:`app.numbers.registration_rules.check_employee` / ``check_device``, re-expressed as
polars expressions so that a million rows take seconds rather than minutes.

Where a rule cannot be written as an exact polars expression (Unicode name normalisation,
phone number metadata, non-ASCII device identifiers, foreign document numbers), the scalar
function runs once per *distinct* value, or per distinct phone number prefix, and its
answer is joined back. Messages of problems come from the scalar functions too (once per
distinct bad value), so a row and an API request get the same words.
"""

from __future__ import annotations

import functools
import importlib
import itertools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import phonenumbers
import polars as pl

from app.core.identifiers import (
    InvalidIdentifier,
    normalize_iccid,
    normalize_issuer_code,
    normalize_msisdn,
    normalize_passport_ru,
    normalize_snils,
    parse_date,
    validate_birth_date,
)
from app.core.names import is_cyrillic_name, normalize_person_name
from app.numbers.registration_rules import check_device
from app.numbers.schemas import DeviceIn, DeviceType
from app.uploads.reading.columns import (
    DEVICE_MARKERS,
    DEVICE_TYPES,
    DOC_TYPES,
    EMPLOYEE_MARKERS,
    EMPLOYEE_REQUIRED,
    ROW_TYPES,
    WHITESPACE,
    Column,
    header_key,
)

__all__ = ["CLEAN_SCHEMA", "RowProblem", "validate_batch"]


@dataclass(frozen=True)
class RowProblem:
    """One problem of one uploaded row.

    ``column`` is the canonical column name, or ``"row"`` when the row as a whole is wrong.
    ``message`` never repeats passport, SNILS or birth-date values.
    """

    row_no: int
    column: str
    code: str
    message: str


CLEAN_SCHEMA: dict[str, pl.DataType] = {
    "row_no": pl.Int64(),
    "kind": pl.String(),
    "msisdn": pl.String(),
    "iccid": pl.String(),
    "last_name": pl.String(),
    "first_name": pl.String(),
    "patronymic": pl.String(),
    "name_key": pl.String(),
    "doc_type": pl.String(),
    "doc_series": pl.String(),
    "doc_number": pl.String(),
    "birth_date": pl.Date(),
    "doc_issued_on": pl.Date(),
    "doc_issuer": pl.String(),
    "doc_issuer_code": pl.String(),
    "snils": pl.String(),
    "device_type": pl.String(),
    "device_model": pl.String(),
    "device_id": pl.String(),
    "device_id_kind": pl.String(),
    "install_address": pl.String(),
}
"""Columns and dtypes of the ``clean`` frame returned by :func:`validate_batch`."""

# --- Character classes ----------------------------------------------------------------------

# The validators' `\s` and str.strip() use str.isspace(): see WHITESPACE.
_WS_CHARS = WHITESPACE
_WS = "".join(f"\\x{{{ord(char):x}}}" for char in _WS_CHARS)

_EMPLOYEE = "employee"
_DEVICE = "device"
_RU_PASSPORT = "ru_passport"

_NAME_COLUMNS = (Column.LAST_NAME, Column.FIRST_NAME, Column.PATRONYMIC)
# Names made only of Russian letters, single spaces and hyphens normalise to their upper
# case with Ё written as Е, and are Cyrillic; everything else goes through app.core.names.
_PLAIN_CYRILLIC_NAME = r"^[А-ЯЁа-яё]+(?:[ \-][А-ЯЁа-яё]+)*$"

_MAC_PATTERN = (
    r"^(?:[0-9A-F]{2}(?::[0-9A-F]{2}){5}|[0-9A-F]{2}(?:-[0-9A-F]{2}){5}"
    r"|[0-9A-F]{4}\.[0-9A-F]{4}\.[0-9A-F]{4}|[0-9A-F]{12})$"
)

_LABELS: dict[str, str] = {
    Column.MSISDN: "phone number",
    Column.LAST_NAME: "last name",
    Column.FIRST_NAME: "first name",
    Column.BIRTH_DATE: "birth date",
    Column.PASSPORT: "passport series and number",
    Column.PASSPORT_SERIES: "passport series",
    Column.PASSPORT_NUMBER: "passport number",
    Column.DEVICE_TYPE: "device type",
    Column.DEVICE_MODEL: "device model",
    Column.DEVICE_ID: "device identifier (IMEI, MAC address or serial number)",
}

# --- Phone numbers: which prefix decides -----------------------------------------------------


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
    """``(code, E.164 form, region phrase)`` of a phone candidate such as ``+79120000000``.

    ``code`` is None for a Russian mobile number; the other two describe a
    ``phone.not_russian_mobile`` number for its message.
    """
    try:
        normalize_msisdn(candidate)
    except InvalidIdentifier as exc:
        if exc.code != "phone.not_russian_mobile":
            return exc.code, None, None
        number = phonenumbers.parse(candidate, None)
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        region = phonenumbers.region_code_for_number(number)
        phrase = "a Russian landline" if region == "RU" else "not a Russian number"
        return exc.code, e164, phrase
    return None, None, None


def _phone_message(code: str, raw: str | None, extra: str | None) -> str:
    # The same words as normalize_msisdn, which is too slow to call once per bad row.
    if code == "phone.not_russian_mobile":
        return (
            f"{raw} is {extra}; corporate SIM cards have Russian mobile numbers, "
            "so enter the +7 9XX number of the SIM card"
        )
    shown = raw or "(empty)"
    return (
        f"{shown!r} is not a phone number; enter a Russian mobile number, "
        "for example +7 912 345-67-89"
    )


# --- Values computed once per distinct value ------------------------------------------------


def _map_distinct(series: pl.Series, function: Callable[[str], Any], dtype: pl.DataType) -> pl.Expr:
    """``function`` applied once per distinct non-null value of ``series``, as an expression
    that maps the column of the same name (nulls and unseen values map to null)."""
    keys = series.drop_nulls().unique()
    values = pl.Series([function(key) for key in keys.to_list()], dtype=dtype)
    if keys.is_empty():
        return pl.lit(None, dtype)
    return pl.col(series.name).replace_strict(keys, values, default=None, return_dtype=dtype)


# The value maps are keyed for header_key, but some keys ("payment_terminal") keep an
# underscore that header_key removes from a cell; keying them through header_key too makes
# the canonical spellings match as well as the Russian ones.
_ROW_KINDS = {header_key(key): value for key, value in ROW_TYPES.items()}
_DEVICE_KINDS = {header_key(key): value for key, value in DEVICE_TYPES.items()}
_DOC_KINDS = {header_key(key): value for key, value in DOC_TYPES.items()}


def _row_kind(value: str) -> str | None:
    return _ROW_KINDS.get(header_key(value))


def _device_type(value: str) -> str | None:
    return _DEVICE_KINDS.get(header_key(value))


def _doc_type(value: str) -> str | None:
    return _DOC_KINDS.get(header_key(value))


def _name_forms(value: str) -> dict[str, Any]:
    return {"norm": normalize_person_name(value), "cyr": is_cyrillic_name(value)}


def _foreign_doc(value: str) -> str | None:
    # check_employee's rule for documents other than a Russian passport.
    number = "".join(value.split()).upper()
    return number if 5 <= len(number) <= 20 and number.isalnum() else None


def _device_id_scalar(value: str) -> dict[str, Any]:
    """check_device on one identifier: used for values with non-ASCII characters, where
    str.isdigit()/isalnum() have no exact regex counterpart."""
    data = DeviceIn.model_construct(
        kind="device", device_type=DeviceType.OTHER, model="-", identifier=value
    )
    clean, problems = check_device(data)
    if clean is None:
        return {"id": None, "kind": None, "code": problems[0].code}
    return {"id": clean.identifier, "kind": clean.identifier_kind, "code": None}


# --- Messages -------------------------------------------------------------------------------

_MessageFn = Callable[[str, str | None, str | None], str]


def _from_scalar(function: Callable[[str], object]) -> _MessageFn:
    """A message function that asks the scalar validator what it says about the value."""

    @functools.lru_cache(maxsize=100_000)
    def message(code: str, raw: str | None, extra: str | None) -> str:
        try:
            function(raw or "")
        except InvalidIdentifier as exc:
            return exc.message
        return f"the value is not accepted ({code})"

    return message


def _required(kind: str) -> _MessageFn:
    def message(code: str, raw: str | None, extra: str | None) -> str:
        return f"the {_LABELS[extra or '']} is empty; fill it in, {kind} needs it"

    return message


def _date_message(today: date, min_age: int, max_age: int) -> _MessageFn:
    def check(raw: str) -> object:
        return validate_birth_date(parse_date(raw), today=today, min_age=min_age, max_age=max_age)

    scalar = _from_scalar(check)

    def message(code: str, raw: str | None, extra: str | None) -> str:
        if code == "required":
            return _required("an employee row")(code, raw, extra)
        return scalar(code, raw, None)

    return message


def _issued_message(code: str, raw: str | None, extra: str | None) -> str:
    if code == "date.future":
        return "the issue date is in the future; check the issue date in the document"
    if code == "date.before_birth":
        return "the issue date is before the birth date; check the issue date and the birth date"
    return _from_scalar(parse_date)(code, raw, None)


def _kind_message(code: str, raw: str | None, extra: str | None) -> str:
    if extra == "row_type":
        return (
            f"row type {raw!r} is not recognised; write 'employee' (сотрудник) for a person's "
            "SIM card or 'device' (устройство) for a device's SIM card"
        )
    if extra == "both":
        return (
            "the row has both a person's columns (name, birth date) and a device's columns "
            "(device type, model, identifier); fill either the person's columns or the "
            "device's columns, or say which one in the row type column"
        )
    return (
        "the row has neither a person's columns (last name, first name, birth date) nor a "
        "device's columns (device type, model, identifier); fill either the person's columns "
        "or the device's columns"
    )


def _name_message(code: str, raw: str | None, extra: str | None) -> str:
    if code == "required":
        return _required("an employee row")(code, raw, extra)
    return "write the name in Cyrillic letters, as in the Russian passport"


def _doc_type_message(code: str, raw: str | None, extra: str | None) -> str:
    return (
        f"document type {raw!r} is not recognised; write 'паспорт РФ' (ru_passport), "
        "'иностранный паспорт' (foreign_passport) or 'ВНЖ' (residence_permit), "
        "or leave it empty for a Russian passport"
    )


def _passport_message(code: str, raw: str | None, extra: str | None) -> str:
    if code == "required":
        return _required("an employee row")(code, raw, extra)
    if code == "document.invalid":
        return (
            "a foreign document number has 5 to 20 letters or digits; re-type it from the document"
        )
    return _from_scalar(lambda value: normalize_passport_ru(value))(code, raw, None)


def _device_type_message(code: str, raw: str | None, extra: str | None) -> str:
    if code == "required":
        return _required("a device row")(code, raw, extra)
    accepted = ", ".join(device_type.value for device_type in DeviceType)
    return (
        f"device type {raw!r} is not recognised; write one of {accepted} "
        "(or the Russian name, such as терминал, касса, модем, счётчик)"
    )


def _device_id_message(code: str, raw: str | None, extra: str | None) -> str:
    if code == "required":
        return _required("a device row")(code, raw, extra)
    data = DeviceIn.model_construct(
        kind="device", device_type=DeviceType.OTHER, model="-", identifier=raw or ""
    )
    problems = check_device(data)[1]
    return problems[0].message if problems else f"the identifier is not accepted ({code})"


@dataclass(frozen=True)
class _Check:
    """One check column: which code column holds the verdict and how to word it."""

    column: str
    code: str  # name of the code column in the work frame
    value: str | None  # column passed to the message as the value
    extra: pl.Expr | None  # further detail for the message
    message: _MessageFn


# --- Vectorised pieces ----------------------------------------------------------------------


def _col(name: str) -> pl.Expr:
    return pl.col(name)


def _compact(name: str, separators: str) -> pl.Expr:
    """The cell without whitespace and the given separators (as ``_strip`` in identifiers)."""
    return _col(name).str.replace_all(f"[{_WS}{re.escape(separators)}]", "")


def _luhn_halves(source: str, name: str) -> list[pl.Expr]:
    """``{name}__lo`` / ``{name}__hi``: a string of at most 20 ASCII digits as two integers.

    Left zero-padding does not change a Luhn sum, so every value is padded to 20 digits.
    Anything else (letters, longer strings) becomes null and fails the check.
    """
    padded = pl.col(source).str.zfill(20)
    return [
        padded.str.slice(10, 10).cast(pl.Int64, strict=False).alias(f"{name}__lo"),
        padded.str.slice(0, 10).cast(pl.Int64, strict=False).alias(f"{name}__hi"),
    ]


def _luhn_ok(source: str, name: str) -> pl.Expr:
    """``{name}__luhn``: the Luhn check of ``source``, by integer arithmetic on its halves."""
    total: pl.Expr = pl.lit(0, pl.Int64)
    for half_no, half in enumerate((pl.col(f"{name}__lo"), pl.col(f"{name}__hi"))):
        for k in range(10):
            digit = (half // 10**k) % 10
            if (half_no * 10 + k) % 2 == 1:
                digit = digit * 2 - (digit >= 5).cast(pl.Int64) * 9
            total = total + digit
    ok = (total % 10 == 0) & (pl.col(source).str.len_bytes() > 0)
    return ok.fill_null(False).alias(f"{name}__luhn")


def _snils_total(source: str) -> pl.Expr:
    """``snils__total``: the weighted sum of the first 9 digits, as in identifiers."""
    first9 = pl.col(source).cast(pl.Int64, strict=False) // 100
    total: pl.Expr = pl.lit(0, pl.Int64)
    for k in range(9):  # the k-th digit from the right has weight k + 1
        total = total + ((first9 // 10**k) % 10) * (k + 1)
    return total.alias("snils__total")


def _snils_ok(source: str) -> pl.Expr:
    """The SNILS check number, as ``_snils_check_number`` in identifiers."""
    total = pl.col("snils__total")
    total = pl.when(total > 101).then(total % 101).otherwise(total)
    expected = pl.when(total.is_in([100, 101])).then(0).otherwise(total)
    return expected == pl.col(source).cast(pl.Int64, strict=False) % 100


def _digits_code(
    compact: pl.Expr, prefix: str, lengths: tuple[int, ...], checksum: pl.Expr | None
) -> pl.Expr:
    """format / length / checksum code of a compacted identifier (null when valid)."""
    only_digits = compact.str.contains(r"^[0-9]*$")
    right_length = compact.str.len_bytes().is_in(list(lengths))
    expr = (
        pl.when(compact.is_null())
        .then(pl.lit(None, pl.String))
        .when(~only_digits)
        .then(pl.lit(f"{prefix}.format"))
        .when(~right_length)
        .then(pl.lit(f"{prefix}.length"))
    )
    if checksum is not None:
        expr = expr.when(~checksum).then(pl.lit(f"{prefix}.checksum"))
    return expr.otherwise(pl.lit(None, pl.String))


def _date_groups(name: str) -> list[pl.Expr]:
    """Step 1 of parse_date: the two spellings' groups, as structs."""
    return [
        _col(name)
        .str.extract_groups(r"^([0-9]{1,2})\.([0-9]{1,2})\.([0-9]+)$")
        .alias(f"{name}__ru"),
        _col(name)
        .str.extract_groups(r"^([0-9]+)-([0-9]{1,2})-([0-9]{1,2})$")
        .alias(f"{name}__iso"),
    ]


def _date_numbers(name: str) -> list[pl.Expr]:
    """Step 2: year text, month and day."""
    ru, iso = pl.col(f"{name}__ru").struct, pl.col(f"{name}__iso").struct
    return [
        pl.coalesce(ru.field("3"), iso.field("1")).alias(f"{name}__year"),
        pl.coalesce(ru.field("2"), iso.field("2")).cast(pl.Int32).alias(f"{name}__month"),
        pl.coalesce(ru.field("1"), iso.field("3")).cast(pl.Int32).alias(f"{name}__day"),
    ]


def _date_values(name: str) -> list[pl.Expr]:
    """Step 3: ``{name}__date`` (Date) and ``{name}__err`` (parse_date's code)."""
    year_text = pl.col(f"{name}__year")
    month, day = pl.col(f"{name}__month"), pl.col(f"{name}__day")
    year = pl.when(year_text.str.len_bytes() == 4).then(year_text).cast(pl.Int32)
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    month_days = (
        pl.when(month == 2)
        .then(28 + leap.cast(pl.Int32))
        .when(month.is_in([4, 6, 9, 11]))
        .then(30)
        .otherwise(31)
    )
    calendar = ((year >= 1) & month.is_between(1, 12) & day.is_between(1, month_days)).fill_null(
        False
    )
    error = (
        pl.when(_col(name).is_null())
        .then(pl.lit(None, pl.String))
        .when(year_text.is_null() | (year_text.str.len_bytes() != 4))
        .then(pl.lit("date.format"))
        .when(~calendar)
        .then(pl.lit("date.invalid"))
        .otherwise(pl.lit(None, pl.String))
    )
    parsed = pl.date(
        pl.when(calendar).then(year), pl.when(calendar).then(month), pl.when(calendar).then(day)
    )
    return [parsed.alias(f"{name}__date"), error.alias(f"{name}__err")]


# --- The batch ------------------------------------------------------------------------------


def _prepare(frame: pl.DataFrame) -> pl.DataFrame:
    """Every canonical column as trimmed String, empty cells as null."""
    exprs = [pl.col("row_no").cast(pl.Int64)]
    for column in Column:
        if column.value in frame.columns:
            cell = pl.col(column.value).cast(pl.String).str.strip_chars(_WS_CHARS)
            exprs.append(pl.when(cell != "").then(cell).alias(column.value))
        else:
            exprs.append(pl.lit(None, pl.String).alias(column.value))
    return frame.select(exprs)


def _stage_one(cells: pl.DataFrame) -> pl.DataFrame:
    """Derived columns, in steps: polars does not share a sub-expression between the
    branches that use it, so each piece is stored once and then referred to by name."""
    msisdn = _col(Column.MSISDN)
    device_id = _col(Column.DEVICE_ID)
    dates = (Column.BIRTH_DATE, Column.DOC_ISSUED_ON)
    step1 = cells.with_columns(
        msisdn.str.contains(rf"^\+?[0-9{_WS}().\-]+$").alias("phone__chars"),
        msisdn.str.replace_all(r"[^0-9]", "").alias("phone__digits"),
        *(
            _col(c).str.replace_all(f"[{_WS}]+", " ").alias(f"{c.value}__clean")
            for c in _NAME_COLUMNS
        ),
        device_id.str.contains(r"^[\x00-\x7f]*$").alias("device_id__ascii"),
        device_id.str.replace_all(f"[{_WS}\\-]", "").alias("device_id__rest"),
        device_id.str.to_uppercase().alias("device_id__upper"),
        device_id.str.count_matches(r"[0-9]").alias("device_id__digits"),
        device_id.str.count_matches(r"[0-9A-Za-z]").alias("device_id__alnum"),
        _compact(Column.ICCID, "-").alias("iccid__c"),
        _compact(Column.SNILS, "-").alias("snils__c"),
        _compact(Column.DOC_ISSUER_CODE, "-").alias("issuer__c"),
        *itertools.chain.from_iterable(_date_groups(c) for c in dates),
    )
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
    rest = pl.col("device_id__rest")
    step2 = step1.with_columns(
        candidate.alias("phone__candidate"),
        *(
            pl.col(f"{c.value}__clean")
            .str.contains(_PLAIN_CYRILLIC_NAME)
            .alias(f"{c.value}__plain")
            for c in _NAME_COLUMNS
        ),
        ((pl.col("device_id__digits") == 15) & rest.str.contains(r"^[0-9]*$")).alias(
            "device_id__imei"
        ),
        ((pl.col("device_id__alnum") == 12) & device_id.str.contains(r"[:\-.]")).alias(
            "device_id__mac"
        ),
        *_luhn_halves("iccid__c", "iccid"),
        *_luhn_halves("device_id__rest", "imei"),
        _snils_total("snils__c"),
        *itertools.chain.from_iterable(_date_numbers(c) for c in dates),
    )
    return step2.with_columns(
        pl.col("phone__candidate")
        .str.contains(r"^\+7[0-9]{10}$")
        .fill_null(False)
        .alias("phone__standard"),
        pl.col("phone__candidate").str.slice(2, _HEAD).alias("phone__head"),
        _luhn_ok("iccid__c", "iccid"),
        _luhn_ok("device_id__rest", "imei"),
        *itertools.chain.from_iterable(_date_values(c) for c in dates),
    ).drop(
        "phone__chars",
        "phone__digits",
        "device_id__digits",
        "device_id__alnum",
        *(f"{name}__{part}" for name in ("iccid", "imei") for part in ("lo", "hi")),
        *(f"{c.value}__{part}" for c in dates for part in ("ru", "iso", "year", "month", "day")),
    )


def validate_batch(
    frame: pl.DataFrame, *, today: date, min_age: int = 14, max_age: int = 120
) -> tuple[pl.DataFrame, list[RowProblem]]:
    """Validate uploaded rows; return the clean rows in normal form and every problem.

    ``frame`` has ``row_no`` (Int64) and any of the :class:`Column` values as String cells
    (absent columns count as empty). ``clean`` holds only the rows without any problem,
    with the columns of :data:`CLEAN_SCHEMA`; ``problems`` lists every problem of every
    row, ordered by row number and then by column.
    """
    work = _stage_one(_prepare(frame))

    # Python runs once per distinct value (or phone prefix) below; the answers are joined
    # back by replace_strict, which is a hash join inside polars.
    depths = _prefix_depths()
    head_depth = pl.col("phone__head").replace_strict(
        list(depths), list(depths.values()), default=_NATIONAL_LENGTH, return_dtype=pl.Int64
    )
    work = work.with_columns(
        pl.when(pl.col("phone__standard"))
        .then(pl.lit("~") + pl.col("phone__candidate").str.head(head_depth + 2))
        .otherwise(pl.col("phone__candidate"))
        .alias("phone__key")
    )

    def phone_representative(key: str) -> dict[str, Any]:
        # "~" marks the prefix of a +7 number with 10 national digits: any completion
        # stands for all of them. Other candidates are judged whole.
        full = key[1:].ljust(12, "0") if key.startswith("~") else key
        code, e164, phrase = _phone_verdict(full)
        return {"code": code, "e164": e164, "phrase": phrase}

    phone_dtype = pl.Struct({"code": pl.String, "e164": pl.String, "phrase": pl.String})

    name_dtype = pl.Struct({"norm": pl.String, "cyr": pl.Boolean})
    device_dtype = pl.Struct({"id": pl.String, "kind": pl.String, "code": pl.String})

    def odd_names(column: Column) -> pl.Series:
        series = work[f"{column.value}__clean"]
        return series.filter(~work[f"{column.value}__plain"].fill_null(True))

    work = work.with_columns(
        _map_distinct(work["phone__key"], phone_representative, phone_dtype).alias("phone__v"),
        _map_distinct(work[Column.ROW_TYPE], _row_kind, pl.String()).alias("row_type__kind"),
        _map_distinct(work[Column.DEVICE_TYPE], _device_type, pl.String()).alias(
            "device_type__canon"
        ),
        _map_distinct(work[Column.DOC_TYPE], _doc_type, pl.String()).alias("doc_type__canon"),
        _map_distinct(
            work[Column.DEVICE_ID].filter(~work["device_id__ascii"].fill_null(True)),
            _device_id_scalar,
            device_dtype,
        ).alias("device_id__scalar"),
        *(
            _map_distinct(odd_names(c), _name_forms, name_dtype).alias(f"{c.value}__forms")
            for c in _NAME_COLUMNS
        ),
    )
    return _finish(work, today=today, min_age=min_age, max_age=max_age)


def _finish(
    work: pl.DataFrame, *, today: date, min_age: int, max_age: int
) -> tuple[pl.DataFrame, list[RowProblem]]:
    """Everything that needs no Python per value: codes, normal forms, the split."""
    # Kind of row.
    row_type = _col(Column.ROW_TYPE)
    employee_marks = pl.any_horizontal([_col(c).is_not_null() for c in EMPLOYEE_MARKERS])
    device_marks = pl.any_horizontal([_col(c).is_not_null() for c in DEVICE_MARKERS])
    kind = (
        pl.when(row_type.is_not_null())
        .then(pl.col("row_type__kind"))
        .when(employee_marks & ~device_marks)
        .then(pl.lit(_EMPLOYEE))
        .when(device_marks & ~employee_marks)
        .then(pl.lit(_DEVICE))
        .otherwise(pl.lit(None, pl.String))
    )
    work = work.with_columns(
        kind.alias("kind"),
        pl.when(employee_marks).then(pl.lit("both")).otherwise(pl.lit("none")).alias("row__why"),
        pl.coalesce(
            pl.when(_col(Column.DOC_TYPE).is_null()).then(pl.lit(_RU_PASSPORT)),
            pl.col("doc_type__canon"),
        ).alias("doc__type"),
    )
    # Rows of unknown kind get only the checks every row needs.
    is_employee = (pl.col("kind") == _EMPLOYEE).fill_null(False)
    is_device = (pl.col("kind") == _DEVICE).fill_null(False)
    null_code = pl.lit(None, pl.String)

    # Document: one cell, or series and number in two.
    passport, series, number = (
        _col(Column.PASSPORT),
        _col(Column.PASSPORT_SERIES),
        _col(Column.PASSPORT_NUMBER),
    )
    russian = pl.col("doc__type") == _RU_PASSPORT
    foreign = pl.col("doc__type").is_not_null() & ~russian
    doc_raw = (
        pl.when(passport.is_not_null())
        .then(passport)
        .when(series.is_not_null() & number.is_not_null())
        .then(series + pl.lit(" ") + number)
        .when(foreign & number.is_not_null())
        .then(number)
        .otherwise(null_code)
    )
    work = work.with_columns(doc_raw.alias("doc__raw"))
    doc_compact = pl.col("doc__compact")
    ru_code = (
        pl.when(~doc_compact.str.contains(r"^[0-9]*$"))
        .then(pl.lit("passport.format"))
        .when(doc_compact.str.len_bytes() != 10)
        .then(pl.lit("passport.length"))
        .otherwise(null_code)
    )
    work = work.with_columns(
        _compact("doc__raw", "№-").alias("doc__compact"),
        _map_distinct(
            work.filter(pl.col("doc__type").is_in(["foreign_passport", "residence_permit"]))[
                "doc__raw"
            ],
            _foreign_doc,
            pl.String(),
        ).alias("doc__foreign"),
    )
    work = work.with_columns(
        pl.when(~is_employee | pl.col("doc__raw").is_null())
        .then(null_code)
        .when(russian)
        .then(ru_code)
        .when(foreign & pl.col("doc__foreign").is_null())
        .then(pl.lit("document.invalid"))
        .otherwise(null_code)
        .alias("doc__code"),
        (~_compact(Column.PASSPORT_SERIES, "№-").str.contains(r"^[0-9]{4}$")).alias(
            "doc__series_bad"
        ),
    )
    doc_code = pl.col("doc__code")
    split_series_bad = pl.col("doc__series_bad")
    doc_missing = is_employee & pl.col("doc__raw").is_null()
    has_split = work[Column.PASSPORT_SERIES].is_not_null().any() or (
        work[Column.PASSPORT_NUMBER].is_not_null().any()
    )
    required = pl.lit("required")
    # A missing document is reported on the column(s) the upload has for it.
    passport_code = (
        pl.when(passport.is_not_null())
        .then(doc_code)
        .when(doc_missing & pl.lit(not has_split))
        .then(required)
        .otherwise(null_code)
    )
    series_code = (
        pl.when(passport.is_not_null())
        .then(null_code)
        .when(doc_missing & series.is_null() & (russian | number.is_null()))
        .then(required if has_split else null_code)
        .when(split_series_bad.fill_null(False))
        .then(doc_code)
    )
    number_code = (
        pl.when(passport.is_not_null())
        .then(null_code)
        .when(doc_missing & number.is_null())
        .then(required if has_split else null_code)
        .when(~split_series_bad.fill_null(True) | series.is_null())
        .then(doc_code)
    )

    # Phone and SIM.
    phone_code = (
        pl.when(_col(Column.MSISDN).is_null())
        .then(required)
        .when(pl.col("phone__candidate").is_null())
        .then(pl.lit("phone.invalid"))
        .otherwise(pl.col("phone__v").struct.field("code"))
    )
    iccid_compact = pl.col("iccid__c")
    iccid_code = _digits_code(iccid_compact, "iccid", (19, 20), pl.col("iccid__luhn"))
    snils_compact = pl.col("snils__c")
    snils_code = _digits_code(snils_compact, "snils", (11,), _snils_ok("snils__c"))
    issuer_compact = pl.col("issuer__c")
    issuer_code = _digits_code(issuer_compact, "issuer_code", (6,), None)

    # Names: plain Cyrillic spellings are normalised here, the rest came from app.core.names.
    def name_norm(column: Column) -> pl.Expr:
        clean = pl.col(f"{column.value}__clean")
        plain = pl.col(f"{column.value}__plain")
        return (
            pl.when(plain)
            .then(clean.str.to_uppercase().str.replace_all("Ё", "Е", literal=True))
            .otherwise(pl.col(f"{column.value}__forms").struct.field("norm"))
        )

    def name_code(column: Column) -> pl.Expr:
        clean = pl.col(f"{column.value}__clean")
        cyrillic = pl.col(f"{column.value}__plain") | pl.col(f"{column.value}__forms").struct.field(
            "cyr"
        )
        return (
            pl.when(~is_employee)
            .then(null_code)
            .when(clean.is_null() & pl.lit(column in EMPLOYEE_REQUIRED))
            .then(required)
            .when(russian & ~cyrillic)
            .then(pl.lit("name.not_cyrillic"))
            .otherwise(null_code)
        )

    # Dates.
    birth = pl.col(f"{Column.BIRTH_DATE}__date")
    had_birthday = (birth.dt.month() < today.month) | (
        (birth.dt.month() == today.month) & (birth.dt.day() <= today.day)
    )
    age = today.year - birth.dt.year() - (~had_birthday).cast(pl.Int32)
    birth_code = (
        pl.when(~is_employee)
        .then(null_code)
        .when(_col(Column.BIRTH_DATE).is_null())
        .then(required)
        .when(pl.col(f"{Column.BIRTH_DATE}__err").is_not_null())
        .then(pl.col(f"{Column.BIRTH_DATE}__err"))
        .when(birth > today)
        .then(pl.lit("birth_date.future"))
        .when(age < min_age)
        .then(pl.lit("birth_date.too_young"))
        .when(age > max_age)
        .then(pl.lit("birth_date.too_old"))
        .otherwise(null_code)
    )
    issued = pl.col(f"{Column.DOC_ISSUED_ON}__date")
    issued_code = (
        pl.when(~is_employee)
        .then(null_code)
        .when(pl.col(f"{Column.DOC_ISSUED_ON}__err").is_not_null())
        .then(pl.col(f"{Column.DOC_ISSUED_ON}__err"))
        .when(issued > today)
        .then(pl.lit("date.future"))
        .when(issued < birth)
        .then(pl.lit("date.before_birth"))
        .otherwise(null_code)
    )

    # Devices. ASCII identifiers are classified here exactly as check_device does; others
    # were sent through check_device itself.
    id_rest = pl.col("device_id__rest")
    imei_like = pl.col("device_id__imei")
    mac_like = pl.col("device_id__mac")
    upper_id = pl.col("device_id__upper")
    hex12 = upper_id.str.replace_all(r"[:.\-]", "")
    mac_text = pl.concat_str([hex12.str.slice(i, 2) for i in range(0, 12, 2)], separator=":")
    ascii_id = pl.col("device_id__ascii").fill_null(True)
    scalar_id = pl.col("device_id__scalar")
    id_kind = (
        pl.when(~ascii_id)
        .then(scalar_id.struct.field("kind"))
        .when(imei_like)
        .then(pl.lit("imei"))
        .when(mac_like)
        .then(pl.lit("mac"))
        .otherwise(pl.lit("serial"))
    )
    id_value = (
        pl.when(~ascii_id)
        .then(scalar_id.struct.field("id"))
        .when(imei_like)
        .then(id_rest)
        .when(mac_like)
        .then(mac_text)
        .otherwise(upper_id)
    )
    id_code = (
        pl.when(~ascii_id)
        .then(scalar_id.struct.field("code"))
        .when(imei_like & ~pl.col("imei__luhn"))
        .then(pl.lit("imei.checksum"))
        .when(mac_like & ~upper_id.str.contains(_MAC_PATTERN))
        .then(pl.lit("mac.format"))
        .otherwise(null_code)
    )

    def device_required(column: Column, otherwise: pl.Expr) -> pl.Expr:
        return (
            pl.when(~is_device)
            .then(null_code)
            .when(_col(column).is_null())
            .then(required)
            .otherwise(otherwise)
        )

    device_type_code = device_required(
        Column.DEVICE_TYPE,
        pl.when(pl.col("device_type__canon").is_null()).then(pl.lit("device_type.unknown")),
    )

    dates = _date_message(today, min_age, max_age)
    checks: list[tuple[_Check, pl.Expr]] = [
        (
            _Check("row", "c_row", None, pl.col("row__why"), _kind_message),
            pl.when(row_type.is_null() & pl.col("kind").is_null()).then(pl.lit("row.kind_unknown")),
        ),
        (
            _Check(
                Column.ROW_TYPE, "c_row_type", Column.ROW_TYPE, pl.lit("row_type"), _kind_message
            ),
            pl.when(row_type.is_not_null() & pl.col("kind").is_null()).then(
                pl.lit("row.kind_unknown")
            ),
        ),
        (
            _Check(
                Column.MSISDN,
                "c_msisdn",
                "phone__shown",
                pl.col("phone__v").struct.field("phrase"),
                lambda code, raw, extra: (
                    _required("every row")(code, raw, Column.MSISDN)
                    if code == "required"
                    else _phone_message(code, raw, extra)
                ),
            ),
            phone_code,
        ),
        (
            _Check(Column.ICCID, "c_iccid", Column.ICCID, None, _from_scalar(normalize_iccid)),
            iccid_code,
        ),
        *(
            (_Check(c, f"c_{c.value}", None, pl.lit(c.value), _name_message), name_code(c))
            for c in _NAME_COLUMNS
        ),
        (
            _Check(
                Column.BIRTH_DATE, "c_birth", Column.BIRTH_DATE, pl.lit(Column.BIRTH_DATE), dates
            ),
            birth_code,
        ),
        (
            _Check(Column.DOC_TYPE, "c_doc_type", Column.DOC_TYPE, None, _doc_type_message),
            pl.when(is_employee & pl.col("doc__type").is_null()).then(pl.lit("doc_type.unknown")),
        ),
        (
            _Check(
                Column.PASSPORT,
                "c_passport",
                "doc__raw",
                pl.lit(Column.PASSPORT),
                _passport_message,
            ),
            passport_code,
        ),
        (
            _Check(
                Column.PASSPORT_SERIES,
                "c_series",
                "doc__raw",
                pl.lit(Column.PASSPORT_SERIES),
                _passport_message,
            ),
            series_code,
        ),
        (
            _Check(
                Column.PASSPORT_NUMBER,
                "c_number",
                "doc__raw",
                pl.lit(Column.PASSPORT_NUMBER),
                _passport_message,
            ),
            number_code,
        ),
        (
            _Check(Column.DOC_ISSUED_ON, "c_issued", Column.DOC_ISSUED_ON, None, _issued_message),
            issued_code,
        ),
        (
            _Check(
                Column.DOC_ISSUER_CODE,
                "c_issuer_code",
                Column.DOC_ISSUER_CODE,
                None,
                _from_scalar(normalize_issuer_code),
            ),
            pl.when(is_employee).then(issuer_code),
        ),
        (
            _Check(Column.SNILS, "c_snils", Column.SNILS, None, _from_scalar(normalize_snils)),
            pl.when(is_employee).then(snils_code),
        ),
        (
            _Check(
                Column.DEVICE_TYPE,
                "c_device_type",
                Column.DEVICE_TYPE,
                pl.lit(Column.DEVICE_TYPE),
                _device_type_message,
            ),
            device_type_code,
        ),
        (
            _Check(
                Column.DEVICE_MODEL,
                "c_device_model",
                None,
                pl.lit(Column.DEVICE_MODEL),
                lambda code, raw, extra: _required("a device row")(code, raw, extra),
            ),
            device_required(Column.DEVICE_MODEL, null_code),
        ),
        (
            _Check(
                Column.DEVICE_ID,
                "c_device_id",
                Column.DEVICE_ID,
                pl.lit(Column.DEVICE_ID),
                _device_id_message,
            ),
            device_required(Column.DEVICE_ID, id_code),
        ),
    ]
    work = work.with_columns(
        # A landline or foreign number is shown in E.164; a prefix stands for a standard
        # number, so its own digits are shown, not those of the prefix's representative.
        pl.when(phone_code != "phone.not_russian_mobile")
        .then(_col(Column.MSISDN))
        .when(pl.col("phone__standard"))
        .then(pl.col("phone__candidate"))
        .otherwise(pl.col("phone__v").struct.field("e164"))
        .alias("phone__shown"),
        *(expr.alias(check.code) for check, expr in checks),
        pl.when(pl.col("phone__standard")).then(pl.col("phone__candidate")).alias("o_msisdn"),
        pl.when(_col(Column.ICCID).is_not_null()).then(iccid_compact).alias("o_iccid"),
        *(name_norm(c).alias(f"{c.value}__norm") for c in _NAME_COLUMNS),
        pl.when(russian)
        .then(pl.col("doc__compact").str.slice(0, 4))
        .otherwise(pl.lit(""))
        .alias("o_series"),
        pl.when(russian)
        .then(pl.col("doc__compact").str.slice(4))
        .otherwise(pl.col("doc__foreign"))
        .alias("o_number"),
        pl.when(_col(Column.DOC_ISSUER_CODE).is_not_null())
        .then(issuer_compact.str.slice(0, 3) + pl.lit("-") + issuer_compact.str.slice(3))
        .alias("o_issuer_code"),
        pl.when(_col(Column.SNILS).is_not_null()).then(snils_compact).alias("o_snils"),
        id_value.alias("o_device_id"),
        id_kind.alias("o_device_id_kind"),
    )
    code_columns = [check.code for check, _ in checks]
    outputs = _clean_columns()
    # Filtering copies every column it keeps: keep only what the two outputs read.
    needed = {"row_no", *code_columns}
    for check, _ in checks:
        needed.update([check.value] if check.value else [])
        needed.update(check.extra.meta.root_names() if check.extra is not None else [])
    for expr in outputs:
        needed.update(expr.meta.root_names())
    work = work.select(sorted(needed)).with_columns(
        pl.any_horizontal([pl.col(c).is_not_null() for c in code_columns]).alias("__bad")
    )
    problems = _problems(work.filter(pl.col("__bad")), [check for check, _ in checks])
    clean = work.filter(~pl.col("__bad")).select(outputs)
    return clean, problems


def _clean_columns() -> list[pl.Expr]:
    """The output columns; employee fields are null for devices and the other way round."""

    def employee(expr: pl.Expr) -> pl.Expr:
        return pl.when(pl.col("kind") == _EMPLOYEE).then(expr)

    def device(expr: pl.Expr) -> pl.Expr:
        return pl.when(pl.col("kind") == _DEVICE).then(expr)

    def part(column: Column) -> pl.Expr:
        norm = pl.col(f"{column.value}__norm")
        return pl.when(norm != "").then(norm)

    exprs = {
        "row_no": pl.col("row_no"),
        "kind": pl.col("kind"),
        "msisdn": pl.col("o_msisdn"),
        "iccid": pl.col("o_iccid"),
        **{c.value: employee(pl.col(f"{c.value}__clean")) for c in _NAME_COLUMNS},
        "name_key": employee(
            pl.concat_str([part(c) for c in _NAME_COLUMNS], separator=" ", ignore_nulls=True)
        ),
        "doc_type": employee(pl.col("doc__type")),
        "doc_series": employee(pl.col("o_series")),
        "doc_number": employee(pl.col("o_number")),
        "birth_date": employee(pl.col(f"{Column.BIRTH_DATE}__date")),
        "doc_issued_on": employee(pl.col(f"{Column.DOC_ISSUED_ON}__date")),
        "doc_issuer": employee(pl.col(Column.DOC_ISSUER)),
        "doc_issuer_code": employee(pl.col("o_issuer_code")),
        "snils": employee(pl.col("o_snils")),
        "device_type": device(pl.col("device_type__canon")),
        "device_model": device(pl.col(Column.DEVICE_MODEL)),
        "device_id": device(pl.col("o_device_id")),
        "device_id_kind": device(pl.col("o_device_id_kind")),
        "install_address": device(pl.col(Column.INSTALL_ADDRESS)),
    }
    return [expr.cast(CLEAN_SCHEMA[name]).alias(name) for name, expr in exprs.items()]


def _problems(bad: pl.DataFrame, checks: list[_Check]) -> list[RowProblem]:
    """RowProblems of the rows that have any, in row order and then column order."""
    found: list[tuple[int, int, RowProblem]] = []
    for index, check in enumerate(checks):
        hits = bad.filter(pl.col(check.code).is_not_null()).select(
            pl.col("row_no"),
            pl.col(check.code),
            (pl.col(check.value) if check.value else pl.lit(None, pl.String)).alias("value"),
            (check.extra if check.extra is not None else pl.lit(None, pl.String))
            .cast(pl.String)
            .alias("extra"),
        )
        for row_no, code, value, extra in hits.iter_rows():
            message = check.message(code, value, extra)
            found.append((row_no, index, RowProblem(row_no, str(check.column), code, message)))
    found.sort(key=lambda item: (item[0], item[1]))
    return [problem for _, _, problem in found]
