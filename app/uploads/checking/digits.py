"""Identifiers made of digits (ICCID, IMEI, SNILS, issuer code): format, length, check digits.

The check digits are computed by integer arithmetic on polars columns, the same sums as the
scalar checks of :mod:`app.core.identifiers`.
"""

from __future__ import annotations

import polars as pl

from app.core.identifiers import SNILS_UNCHECKED_UP_TO

__all__ = ["digits_verdict", "luhn_halves", "luhn_ok", "snils_ok", "snils_total"]


def luhn_halves(source: str, name: str) -> list[pl.Expr]:
    """``{name}__lo`` / ``{name}__hi``: a string of at most 20 ASCII digits as two integers.

    Left zero-padding does not change a Luhn sum, so every value is padded to 20 digits.
    Anything else (letters, longer strings) becomes null and fails the check.
    """
    padded = pl.col(source).str.zfill(20)
    return [
        padded.str.slice(10, 10).cast(pl.Int64, strict=False).alias(f"{name}__lo"),
        padded.str.slice(0, 10).cast(pl.Int64, strict=False).alias(f"{name}__hi"),
    ]


def luhn_ok(source: str, name: str) -> pl.Expr:
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


def snils_total(source: str) -> pl.Expr:
    """``snils__total``: the weighted sum of the first 9 digits, as in identifiers."""
    first9 = pl.col(source).cast(pl.Int64, strict=False) // 100
    total: pl.Expr = pl.lit(0, pl.Int64)
    for k in range(9):  # the k-th digit from the right has weight k + 1
        total = total + ((first9 // 10**k) % 10) * (k + 1)
    return total.alias("snils__total")


def snils_ok(source: str) -> pl.Expr:
    """The SNILS check number, as ``_snils_check_number`` in identifiers; numbers up to
    001-001-998 have none to check."""
    total = pl.col("snils__total")
    total = pl.when(total > 101).then(total % 101).otherwise(total)
    expected = pl.when(total.is_in([100, 101])).then(0).otherwise(total)
    number = pl.col(source).cast(pl.Int64, strict=False)
    return (number // 100 <= SNILS_UNCHECKED_UP_TO) | (expected == number % 100)


def digits_verdict(
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
