"""Checking a batch of uploaded rows (employees and devices), every rule at once.

A company admin uploads up to a million rows; every problem of every row is reported at
once, and the rows without problems come back in normal form. The rules are those of the
scalar validators in :mod:`app.core.identifiers` and :mod:`app.core.names` and of
:func:`app.numbers.registration_rules.check_employee` / ``check_device``, re-expressed as
polars expressions so that a million rows take seconds rather than minutes.

Each field group (`kinds`, `phones`, `names`, `dates`, `documents`, `devices`) contributes
its columns to the same few steps, so polars evaluates a step's expressions of every group
together: cells derived, values looked up once per distinct value, the row's kind, then the
verdicts. Where a rule cannot be written as an exact polars expression (Unicode name
normalisation, phone number metadata, non-ASCII device identifiers, foreign document
numbers), the scalar function runs once per *distinct* value, or per distinct phone number
prefix, and its answer is joined back.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import polars as pl

from app.uploads.checking import dates, devices, documents, kinds, names, phones
from app.uploads.checking.checks import Check, Rules, unseen_removed
from app.uploads.checking.kinds import DEVICE, EMPLOYEE
from app.uploads.checking.names import NAME_COLUMNS
from app.uploads.problems import Problem, problem
from app.uploads.reading.columns import WHITESPACE, Column

__all__ = ["CLEAN_SCHEMA", "RowProblem", "validate_batch"]


@dataclass(frozen=True)
class RowProblem:
    """One problem of one uploaded row: its code and the values its words need.

    ``column`` is the canonical column name, or ``"row"`` when the row as a whole is wrong.
    ``values`` never hold passport, SNILS or birth-date values.
    """

    row_no: int
    column: str
    code: str
    values: dict[str, Any] = field(default_factory=dict)

    def as_problem(self) -> Problem:
        """The problem as it is stored, to be worded by `app.uploads.problems.word_problem`."""
        return problem(self.column, self.code, **self.values)


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

# Problems of a row are listed in the order of its columns, the row as a whole first.
_POSITION = {column: position for position, column in enumerate(["row", *Column])}


def validate_batch(
    frame: pl.DataFrame, *, today: date, min_age: int = 14, max_age: int = 120
) -> tuple[pl.DataFrame, list[RowProblem]]:
    """Validate uploaded rows; return the clean rows in normal form and every problem.

    ``frame`` has ``row_no`` (Int64) and any of the :class:`Column` values as String cells
    (absent columns count as empty). ``clean`` holds only the rows without any problem,
    with the columns of :data:`CLEAN_SCHEMA`; ``problems`` lists every problem of every
    row, ordered by row number and then by column.
    """
    work = _derive(_prepare(frame))
    # Python runs once per distinct value (or phone prefix) here; the answers are joined
    # back by replace_strict, which is a hash join inside polars.
    work = work.with_columns(
        *phones.lookups(work),
        *kinds.lookups(work),
        *devices.lookups(work),
        *documents.lookups(work),
        *names.lookups(work),
    )
    work = work.with_columns(*kinds.kind_columns(), documents.doc_type_column())
    work = documents.read_documents(work)
    rules = [
        kinds.rules(),
        phones.rules(),
        names.rules(),
        dates.rules(today=today, min_age=min_age, max_age=max_age),
        documents.rules(work),
        devices.rules(),
    ]
    return _verdicts(work, rules)


# Identifiers and dates are read without invisible characters and with any dash as a hyphen,
# as app.core.identifiers reads them; names and addresses are kept as written.
_IDENTIFIERS = frozenset(
    {
        Column.MSISDN, Column.ICCID, Column.BIRTH_DATE, Column.PASSPORT,
        Column.PASSPORT_SERIES, Column.PASSPORT_NUMBER, Column.DOC_ISSUED_ON,
        Column.DOC_ISSUER_CODE, Column.SNILS, Column.DEVICE_ID,
    }
)  # fmt: skip


def _prepare(frame: pl.DataFrame) -> pl.DataFrame:
    """Every canonical column as trimmed String, empty cells as null."""
    exprs = [pl.col("row_no").cast(pl.Int64)]
    for column in Column:
        if column.value in frame.columns:
            cell = pl.col(column.value).cast(pl.String)
            if column in _IDENTIFIERS:
                cell = unseen_removed(cell)
            cell = cell.str.strip_chars(WHITESPACE)
            exprs.append(pl.when(cell != "").then(cell).alias(column.value))
        else:
            exprs.append(pl.lit(None, pl.String).alias(column.value))
    return frame.select(exprs)


def _derive(cells: pl.DataFrame) -> pl.DataFrame:
    """The columns every field group derives from the cells, step by step."""
    derived = [
        phones.derived(),
        names.derived(),
        devices.derived(),
        documents.derived(),
        dates.derived(),
    ]
    work = cells
    for step in range(max(len(group.steps) for group in derived)):
        work = work.with_columns(
            *itertools.chain.from_iterable(
                group.steps[step] for group in derived if step < len(group.steps)
            )
        )
    return work.drop(*itertools.chain.from_iterable(group.scratch for group in derived))


def _verdicts(work: pl.DataFrame, rules: list[Rules]) -> tuple[pl.DataFrame, list[RowProblem]]:
    """Every check's code column, the normal forms, and the split into clean rows and
    problems."""
    checks = sorted(
        itertools.chain.from_iterable(group.checks for group in rules),
        key=lambda check: _POSITION[check.column],
    )
    work = work.with_columns(
        *(check.verdict.alias(check.code) for check in checks),
        *itertools.chain.from_iterable(group.columns for group in rules),
    )
    code_columns = [check.code for check in checks]
    outputs = _clean_columns()
    # Filtering copies every column it keeps: keep only what the two outputs read.
    needed = {"row_no", *code_columns}
    for check in checks:
        for value in check.values.values():
            needed.update(value.meta.root_names())
    for expr in outputs:
        needed.update(expr.meta.root_names())
    work = work.select(sorted(needed)).with_columns(
        pl.any_horizontal([pl.col(c).is_not_null() for c in code_columns]).alias("__bad")
    )
    problems = _problems(work.filter(pl.col("__bad")), checks)
    clean = work.filter(~pl.col("__bad")).select(outputs)
    return clean, problems


def _clean_columns() -> list[pl.Expr]:
    """The output columns; employee fields are null for devices and the other way round."""

    def employee(expr: pl.Expr) -> pl.Expr:
        return pl.when(pl.col("kind") == EMPLOYEE).then(expr)

    def device(expr: pl.Expr) -> pl.Expr:
        return pl.when(pl.col("kind") == DEVICE).then(expr)

    def part(column: Column) -> pl.Expr:
        norm = pl.col(f"{column.value}__norm")
        return pl.when(norm != "").then(norm)

    exprs = {
        "row_no": pl.col("row_no"),
        "kind": pl.col("kind"),
        "msisdn": pl.col("o_msisdn"),
        "iccid": pl.col("o_iccid"),
        **{c.value: employee(pl.col(f"{c.value}__clean")) for c in NAME_COLUMNS},
        "name_key": employee(
            pl.concat_str([part(c) for c in NAME_COLUMNS], separator=" ", ignore_nulls=True)
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


def _problems(bad: pl.DataFrame, checks: list[Check]) -> list[RowProblem]:
    """RowProblems of the rows that have any, in row order and then column order."""
    found: list[tuple[int, int, RowProblem]] = []
    for index, check in enumerate(checks):
        names = list(check.values)
        hits = bad.filter(pl.col(check.code).is_not_null()).select(
            pl.col("row_no"),
            pl.col(check.code),
            *(expr.alias(f"v_{name}") for name, expr in check.values.items()),
        )
        column = str(check.column)
        for row_no, code, *values in hits.iter_rows():
            kept = {name: v for name, v in zip(names, values, strict=True) if v is not None}
            found.append((row_no, index, RowProblem(row_no, column, code, kept)))
    found.sort(key=lambda item: (item[0], item[1]))
    return [found_problem for _, _, found_problem in found]
