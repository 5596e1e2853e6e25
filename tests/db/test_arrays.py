"""Array literals read back by PostgreSQL as the values they were made from."""

from __future__ import annotations

import polars as pl
import pytest
from sqlalchemy import Connection, text

from app.db.arrays import array_literal

AWKWARD = ["plain", 'a "quoted" word', "back\\slash", "a,b", "{braces}", " spaced ", "", "NULL"]
# Safe to write bare, each alone: only together with one of these must they be quoted.
BARE = ["+79001234567", "pending_confirmation", "0f3a9c", "2026-11-23"]
NOT_BARE = ["null", "Null", "a b", "x{", ""]


class TestArrayLiteral:
    def test_integers_and_nulls(self) -> None:
        assert array_literal([1, None, 30]) == "{1,NULL,30}"
        assert array_literal(pl.Series([7, 8], dtype=pl.Int64)) == "{7,8}"

    def test_strings_are_quoted_and_escaped(self) -> None:
        assert array_literal(['a"b', "c\\d", None]) == '{"a\\"b","c\\\\d",NULL}'

    def test_numbers_hashes_and_statuses_go_bare(self) -> None:
        assert array_literal([*BARE, None]) == "{" + ",".join(BARE) + ",NULL}"

    @pytest.mark.parametrize("odd", NOT_BARE)
    def test_one_string_that_cannot_go_bare_quotes_them_all(self, odd: str) -> None:
        assert array_literal([*BARE, odd]) == "{" + ",".join(f'"{v}"' for v in [*BARE, odd]) + "}"

    def test_empty(self) -> None:
        assert array_literal([]) == "{}"
        assert array_literal(pl.Series([], dtype=pl.String)) == "{}"

    def test_other_types_are_refused(self) -> None:
        with pytest.raises(TypeError, match="integers or strings"):
            array_literal(pl.Series([1.5]))

    @pytest.mark.postgres_only
    def test_postgresql_reads_back_every_value(self, connection: Connection) -> None:
        strings, numbers = connection.execute(
            text("SELECT CAST(:s AS TEXT[]), CAST(:n AS BIGINT[])"),
            {"s": array_literal([*AWKWARD, None]), "n": array_literal([2**62, None, -1])},
        ).one()
        assert strings == [*AWKWARD, None]
        assert numbers == [2**62, None, -1]

    @pytest.mark.postgres_only
    @pytest.mark.parametrize("odd", [None, *NOT_BARE])
    def test_postgresql_reads_back_bare_values(
        self, connection: Connection, odd: str | None
    ) -> None:
        values = [*BARE, odd]
        read = connection.scalar(text("SELECT CAST(:s AS TEXT[])"), {"s": array_literal(values)})
        assert read == values
