"""Content-Disposition for any file name: an ASCII fallback and the exact name, percent-encoded."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from app.core.downloads import attachment
from tests.builders import disposition_name as exact_name
from tests.builders import parse_disposition as parse


class TestAttachment:
    def test_a_russian_name_goes_in_filename_star_with_an_ascii_fallback(self) -> None:
        value = attachment("errors-Сотрудники.csv", fallback="errors-7.csv")
        value.encode("ascii")  # what an HTTP header can carry
        kind, params = parse(value)
        assert kind == "attachment"
        assert params["filename"] == "errors-7.csv"
        assert exact_name(params) == "errors-Сотрудники.csv"

    def test_a_quote_and_semicolon_add_no_parameter(self) -> None:
        _, params = parse(attachment('errors-evil";x=1.csv'))
        assert set(params) == {"filename", "filename*"}
        assert params["filename"] == "errors-evil__x=1.csv"
        assert exact_name(params) == 'errors-evil";x=1.csv'

    def test_line_breaks_and_paths_never_reach_the_header(self) -> None:
        value = attachment("a\r\nSet-Cookie: x=1/../b\\c.csv")
        assert "\r" not in value
        assert "\n" not in value
        _, params = parse(value)
        assert "/" not in exact_name(params)
        assert "\\" not in exact_name(params)

    def test_an_empty_name(self) -> None:
        _, params = parse(attachment(""))
        assert params["filename"] == "download"
        assert exact_name(params) == "download"

    def test_a_lone_surrogate_is_replaced(self) -> None:
        _, params = parse(attachment("a\ud800.csv"))
        assert exact_name(params) == "a?.csv"

    @given(st.text())
    def test_any_name_gives_two_parameters_in_ascii(self, name: str) -> None:
        value = attachment(name)
        value.encode("ascii")
        kind, params = parse(value)
        assert kind == "attachment"
        assert set(params) == {"filename", "filename*"}
        decoded = exact_name(params)
        assert not re.search(r"[\x00-\x1f\x7f/\\]", decoded)
