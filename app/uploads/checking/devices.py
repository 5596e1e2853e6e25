"""Hardware identifiers and devices: the SIM card's ICCID on every row, and a device's type,
model and identifier (IMEI, MAC address or serial number) on a device row.

ASCII identifiers are classified by polars exactly as
:func:`app.numbers.registration_rules.check_device` classifies them; others, where
str.isdigit()/isalnum() have no exact regex counterpart, go through check_device itself.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from app.core.identifiers import ICCID_PREFIX, SERIAL_MIN_LENGTH
from app.numbers.registration_rules import check_device
from app.numbers.schemas import DeviceIn, DeviceType
from app.uploads.checking.checks import (
    NO_PROBLEM,
    REQUIRED,
    WS,
    Check,
    Derived,
    Rules,
    compact,
    map_distinct,
)
from app.uploads.checking.digits import digits_verdict, luhn_halves, luhn_ok
from app.uploads.checking.kinds import IS_DEVICE
from app.uploads.reading.columns import DEVICE_TYPES, Column, header_key

__all__ = ["derived", "lookups", "rules"]

_MAC_PATTERN = (
    r"^(?:[0-9A-F]{2}(?::[0-9A-F]{2}){5}|[0-9A-F]{2}(?:-[0-9A-F]{2}){5}"
    r"|[0-9A-F]{4}\.[0-9A-F]{4}\.[0-9A-F]{4}|[0-9A-F]{12})$"
)

# Keyed through header_key as the row kinds are (see kinds._ROW_KINDS).
_DEVICE_KINDS = {header_key(key): value for key, value in DEVICE_TYPES.items()}

_SCALAR = pl.Struct({"id": pl.String, "kind": pl.String, "code": pl.String})


def derived() -> Derived:
    """The ICCID without separators and its Luhn check; the device identifier's forms and
    whether it reads as an IMEI (with its Luhn check) or a MAC address."""
    device_id = pl.col(Column.DEVICE_ID)
    rest = pl.col("device_id__rest")
    return Derived(
        steps=(
            [
                device_id.str.contains(r"^[\x00-\x7f]*$").alias("device_id__ascii"),
                device_id.str.replace_all(f"[{WS}\\-]", "").alias("device_id__rest"),
                device_id.str.to_uppercase().alias("device_id__upper"),
                device_id.str.count_matches(r"[0-9]").alias("device_id__digits"),
                device_id.str.count_matches(r"[0-9A-Za-z]").alias("device_id__alnum"),
                compact(Column.ICCID, "-").alias("iccid__c"),
            ],
            [
                ((pl.col("device_id__digits") == 15) & rest.str.contains(r"^[0-9]*$")).alias(
                    "device_id__imei"
                ),
                ((pl.col("device_id__alnum") == 12) & device_id.str.contains(r"[:\-.]")).alias(
                    "device_id__mac"
                ),
                *luhn_halves("iccid__c", "iccid"),
                *luhn_halves("device_id__rest", "imei"),
            ],
            [luhn_ok("iccid__c", "iccid"), luhn_ok("device_id__rest", "imei")],
        ),
        scratch=(
            "device_id__digits",
            *(f"{name}__{part}" for name in ("iccid", "imei") for part in ("lo", "hi")),
        ),
    )


def _device_type(value: str) -> str | None:
    return _DEVICE_KINDS.get(header_key(value))


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


def lookups(work: pl.DataFrame) -> list[pl.Expr]:
    """``device_type__canon`` once per spelling; ``device_id__scalar``, check_device's
    verdict, once per distinct identifier that is not ASCII."""
    return [
        map_distinct(work[Column.DEVICE_TYPE], _device_type, pl.String()).alias(
            "device_type__canon"
        ),
        map_distinct(
            work[Column.DEVICE_ID].filter(~work["device_id__ascii"].fill_null(True)),
            _device_id_scalar,
            _SCALAR,
        ).alias("device_id__scalar"),
    ]


def _device_required(column: Column, otherwise: pl.Expr) -> pl.Expr:
    return (
        pl.when(~IS_DEVICE)
        .then(NO_PROBLEM)
        .when(pl.col(column).is_null())
        .then(REQUIRED)
        .otherwise(otherwise)
    )


def _iccid_code() -> pl.Expr:
    """normalize_iccid's code: digits, 19 or 20 of them, starting with 89, Luhn."""
    iccid = pl.col("iccid__c")
    code = digits_verdict(iccid, "iccid", (19, 20), None)
    return (
        pl.when(code.is_not_null() | iccid.is_null())
        .then(code)
        .when(~iccid.str.starts_with(ICCID_PREFIX))
        .then(pl.lit("iccid.prefix"))
        .when(~pl.col("iccid__luhn"))
        .then(pl.lit("iccid.checksum"))
        .otherwise(NO_PROBLEM)
    )


def rules() -> Rules:
    """A well-formed ICCID on any row; a device row's type, model and identifier."""
    kind, value, code = _identifier()
    checks = [
        Check(
            Column.ICCID,
            "c_iccid",
            verdict=_iccid_code(),
            values={"value": pl.col(Column.ICCID)},
        ),
        Check(
            Column.DEVICE_TYPE,
            "c_device_type",
            verdict=_device_required(
                Column.DEVICE_TYPE,
                pl.when(pl.col("device_type__canon").is_null()).then(pl.lit("device_type.unknown")),
            ),
            values={"value": pl.col(Column.DEVICE_TYPE)},
        ),
        Check(
            Column.DEVICE_MODEL,
            "c_device_model",
            verdict=_device_required(Column.DEVICE_MODEL, NO_PROBLEM),
        ),
        Check(
            Column.DEVICE_ID,
            "c_device_id",
            verdict=_device_required(Column.DEVICE_ID, code),
            values={
                "value": pl.col(Column.DEVICE_ID),
                "least": pl.when(pl.col("c_device_id") == "device_id.too_short").then(
                    SERIAL_MIN_LENGTH
                ),
            },
        ),
    ]
    normal_forms = [
        pl.when(pl.col(Column.ICCID).is_not_null()).then(pl.col("iccid__c")).alias("o_iccid"),
        value.alias("o_device_id"),
        kind.alias("o_device_id_kind"),
    ]
    return Rules(checks, normal_forms)


def _identifier() -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """The device identifier's kind, its normal form and its code (null when valid)."""
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
        .when(~imei_like & ~mac_like & (pl.col("device_id__alnum") < SERIAL_MIN_LENGTH))
        .then(pl.lit("device_id.too_short"))
        .otherwise(NO_PROBLEM)
    )
    return id_kind, id_value, id_code
