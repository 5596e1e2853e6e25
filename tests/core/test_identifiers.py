"""Tests of app.core.identifiers.

Check digits in the property tests come from reference implementations written here, in a
different style from the production code, so that a shared mistake is unlikely.
"""

from __future__ import annotations

from datetime import date, timedelta

import phonenumbers
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from app.core.identifiers import (
    InvalidIdentifier,
    format_snils,
    inn_kind,
    luhn_valid,
    normalize_device_id,
    normalize_iccid,
    normalize_imei,
    normalize_inn,
    normalize_issuer_code,
    normalize_kpp,
    normalize_mac,
    normalize_msisdn,
    normalize_ogrn,
    normalize_ogrnip,
    normalize_passport_ru,
    normalize_snils,
    parse_date,
    validate_birth_date,
)

DIGITS = "0123456789"


def digit_strings(size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=DIGITS, min_size=size, max_size=size)


def other_digits(digit: str) -> list[str]:
    return [d for d in DIGITS if d != digit]


def assert_code(code: str, func: object, value: str) -> InvalidIdentifier:
    assert callable(func)
    with pytest.raises(InvalidIdentifier) as caught:
        func(value)
    assert caught.value.code == code
    assert caught.value.message("ru")
    assert caught.value.message("en")
    return caught.value


# --- Reference implementations ---------------------------------------------------------------


def ref_inn_check(digits: str, weights: list[int]) -> str:
    total = 0
    for i in range(len(weights)):
        total += weights[i] * int(digits[i])
    return str((total % 11) % 10)


def ref_inn10(first9: str) -> str:
    return first9 + ref_inn_check(first9, [2, 4, 10, 3, 5, 9, 4, 6, 8])


def ref_inn12(first10: str) -> str:
    eleven = first10 + ref_inn_check(first10, [7, 2, 4, 10, 3, 5, 9, 4, 6, 8])
    return eleven + ref_inn_check(eleven, [3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8])


def ref_snils_check(first9: str) -> str:
    total = 0
    for position, char in enumerate(first9):
        total += int(char) * (9 - position)
    while total > 101:
        total = total % 101
    if total >= 100:
        total = 0
    return f"{total:02d}"


def ref_luhn_check_digit(payload: str) -> str:
    # Double every second digit counting from the right of the full number, i.e. the
    # digits at even distance from the right end of the payload.
    total = 0
    for distance, char in enumerate(payload[::-1]):
        value = int(char)
        if distance % 2 == 0:
            value = sum(divmod(value * 2, 10))
        total += value
    return str((10 - total % 10) % 10)


# --- Luhn ------------------------------------------------------------------------------------


class TestLuhn:
    @pytest.mark.parametrize("digits", ["79927398713", "490154203237518", "0", "18"])
    def test_known_valid(self, digits: str) -> None:
        assert luhn_valid(digits)

    @pytest.mark.parametrize("digits", ["79927398710", "490154203237517", "1", ""])
    def test_known_invalid(self, digits: str) -> None:
        assert not luhn_valid(digits)

    @pytest.mark.parametrize("digits", ["4901 5420", "49015420323751x", "٤٩٠", "-18"])
    def test_rejects_non_digits(self, digits: str) -> None:
        assert not luhn_valid(digits)

    @given(st.text(alphabet=DIGITS, min_size=1, max_size=30))
    def test_exactly_one_check_digit_fits(self, payload: str) -> None:
        check = ref_luhn_check_digit(payload)
        assert luhn_valid(payload + check)
        for wrong in other_digits(check):
            assert not luhn_valid(payload + wrong)


# --- INN -------------------------------------------------------------------------------------


class TestInnKnownValues:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("7707083893", "7707083893"),  # Sberbank
            ("500100732259", "500100732259"),
            (" 7707 083 893 ", "7707083893"),
            ("5001\u00a000732259", "500100732259"),
        ],
    )
    def test_valid(self, value: str, expected: str) -> None:
        assert normalize_inn(value) == expected

    def test_wrong_check_digit_message_names_value_and_fix(self) -> None:
        error = assert_code("inn.checksum", normalize_inn, "7707083894")
        assert "7707083894" in error.message("en")
        assert "check digit" in error.message("en")

    def test_wrong_second_check_digit_of_12(self) -> None:
        assert_code("inn.checksum", normalize_inn, "500100732258")

    def test_wrong_first_check_digit_of_12(self) -> None:
        assert_code("inn.checksum", normalize_inn, "500100732269")

    @pytest.mark.parametrize("value", ["", "770708389", "77070838931", "5001007322590"])
    def test_length(self, value: str) -> None:
        assert_code("inn.length", normalize_inn, value)

    @pytest.mark.parametrize(
        "value", ["77070838-93", "770708389O", "INN7707083893", "７７０７０８３８９３"]
    )
    def test_format(self, value: str) -> None:
        assert_code("inn.format", normalize_inn, value)

    def test_is_a_value_error(self) -> None:
        with pytest.raises(ValueError, match="check digit"):
            normalize_inn("7707083894")


class TestInnProperties:
    @given(digit_strings(9))
    def test_10_digit_check_digit(self, first9: str) -> None:
        inn = ref_inn10(first9)
        assert normalize_inn(inn) == inn
        for wrong in other_digits(inn[-1]):
            assert_code("inn.checksum", normalize_inn, first9 + wrong)

    @given(digit_strings(10))
    def test_12_digit_check_digits(self, first10: str) -> None:
        inn = ref_inn12(first10)
        assert normalize_inn(inn) == inn
        for wrong in other_digits(inn[-1]):
            assert_code("inn.checksum", normalize_inn, inn[:11] + wrong)
        for wrong in other_digits(inn[10]):
            # The second check digit is recomputed so only the first one is wrong.
            eleven = first10 + wrong
            last = ref_inn_check(eleven, [3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8])
            assert_code("inn.checksum", normalize_inn, eleven + last)


class TestInnKind:
    def test_legal_entity(self) -> None:
        assert inn_kind("7707083893") == "legal_entity"

    def test_entrepreneur(self) -> None:
        assert inn_kind("500100732259") == "entrepreneur"

    def test_invalid_inn_raises(self) -> None:
        assert_code("inn.checksum", inn_kind, "7707083894")

    @given(digit_strings(9), digit_strings(10))
    def test_kind_follows_length(self, first9: str, first10: str) -> None:
        assert inn_kind(ref_inn10(first9)) == "legal_entity"
        assert inn_kind(ref_inn12(first10)) == "entrepreneur"


# --- OGRN / OGRNIP ---------------------------------------------------------------------------


class TestOgrn:
    @pytest.mark.parametrize("value", ["1027700132195", " 1027700132195 ", "1 027 700 132 195"])
    def test_valid(self, value: str) -> None:
        assert normalize_ogrn(value) == "1027700132195"

    def test_checksum(self) -> None:
        error = assert_code("ogrn.checksum", normalize_ogrn, "1027700132196")
        assert "1027700132196" in error.message("en")

    @pytest.mark.parametrize("value", ["", "102770013219", "10277001321950", "304500116000157"])
    def test_length(self, value: str) -> None:
        assert_code("ogrn.length", normalize_ogrn, value)

    @pytest.mark.parametrize("value", ["102770013219x", "1027-700132195"])
    def test_format(self, value: str) -> None:
        assert_code("ogrn.format", normalize_ogrn, value)

    @pytest.mark.parametrize("value", ["ОГРН 1027700132195", "огрн: 1027700132195"])
    def test_label(self, value: str) -> None:
        assert normalize_ogrn(value) == "1027700132195"

    @pytest.mark.parametrize("value", ["0027700132195", "3027700132195", "2027700132195"])
    def test_first_digit(self, value: str) -> None:
        error = assert_code("ogrn.prefix", normalize_ogrn, value)
        assert "1 или 5" in error.message("ru")
        assert "1 or 5" in error.message("en")

    @given(digit_strings(12))
    def test_check_digit(self, first12: str) -> None:
        # A legal entity's OGRN starts with 1 or 5 (a state registration number's kind).
        check = str(int(first12) % 11 % 10)
        if first12[0] not in ("1", "5"):
            assert_code("ogrn.prefix", normalize_ogrn, first12 + check)
            return
        assert normalize_ogrn(first12 + check) == first12 + check
        for wrong in other_digits(check):
            assert_code("ogrn.checksum", normalize_ogrn, first12 + wrong)


class TestOgrnip:
    def test_valid(self) -> None:
        assert normalize_ogrnip(" 304500116000157 ") == "304500116000157"

    def test_checksum(self) -> None:
        assert_code("ogrnip.checksum", normalize_ogrnip, "304500116000158")

    @pytest.mark.parametrize("value", ["", "1027700132195", "3045001160001570"])
    def test_length(self, value: str) -> None:
        assert_code("ogrnip.length", normalize_ogrnip, value)

    def test_format(self) -> None:
        assert_code("ogrnip.format", normalize_ogrnip, "30450011600015O")

    @pytest.mark.parametrize("value", ["104500116000157", "504500116000157"])
    def test_first_digit(self, value: str) -> None:
        error = assert_code("ogrnip.prefix", normalize_ogrnip, value)
        assert "с 3" in error.message("ru")

    @given(digit_strings(14))
    def test_check_digit(self, first14: str) -> None:
        # An entrepreneur's OGRNIP starts with 3.
        check = str(int(first14) % 13 % 10)
        if first14[0] != "3":
            assert_code("ogrnip.prefix", normalize_ogrnip, first14 + check)
            return
        assert normalize_ogrnip(first14 + check) == first14 + check
        for wrong in other_digits(check):
            assert_code("ogrnip.checksum", normalize_ogrnip, first14 + wrong)


# --- KPP -------------------------------------------------------------------------------------


class TestKpp:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("773601001", "773601001"),
            (" 7736 01 001 ", "773601001"),
            ("7736AB001", "7736AB001"),
            ("7736ab001", "7736AB001"),
            ("77360Z001", "77360Z001"),
        ],
    )
    def test_valid(self, value: str, expected: str) -> None:
        assert normalize_kpp(value) == expected

    @pytest.mark.parametrize("value", ["", "77360100", "7736010011"])
    def test_length(self, value: str) -> None:
        assert_code("kpp.length", normalize_kpp, value)

    @pytest.mark.parametrize("value", ["A73601001", "7736010A1", "7736-1001", "7736ЖЖ001"])
    def test_format(self, value: str) -> None:
        assert_code("kpp.format", normalize_kpp, value)

    @given(
        digit_strings(4),
        st.text(alphabet=DIGITS + "ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=2),
        digit_strings(3),
    )
    def test_any_well_formed_kpp(self, head: str, reason: str, tail: str) -> None:
        kpp = head + reason + tail
        assert normalize_kpp(kpp.lower()) == kpp


# --- SNILS -----------------------------------------------------------------------------------


class TestSnilsKnownValues:
    @pytest.mark.parametrize(
        "value", ["112-233-445 95", "11223344595", " 112 233 445 95 ", "112-233-445-95"]
    )
    def test_valid(self, value: str) -> None:
        assert normalize_snils(value) == "11223344595"

    def test_checksum_message_does_not_echo_value(self) -> None:
        error = assert_code("snils.checksum", normalize_snils, "112-233-445 96")
        assert "112" not in error.message("en")
        assert "96" not in error.message("en")

    @pytest.mark.parametrize("value", ["", "112-233-445 9", "112-233-445 955"])
    def test_length(self, value: str) -> None:
        error = assert_code("snils.length", normalize_snils, value)
        assert "445" not in error.message("en")

    @pytest.mark.parametrize("value", ["112/233/445 95", "112-233-445 9S", "СНИЛС 11223344595"])
    def test_format(self, value: str) -> None:
        error = assert_code("snils.format", normalize_snils, value)
        assert "445" not in error.message("en")

    @pytest.mark.parametrize(
        ("first9", "check"),
        [
            ("000000000", "00"),  # sum 0
            ("000000011", "03"),  # 1*2 + 1*1
            ("920000002", "99"),  # 81 + 16 + 2 = 99, the largest check number
            ("920000003", "00"),  # sum 100
            ("920000004", "00"),  # sum 101
            ("920000005", "01"),  # sum 102 -> 102 mod 101
            ("996100000", "00"),  # sum 201 -> 201 mod 101 = 100 -> 00
            ("999999999", "01"),  # sum 405 -> 405 mod 101
        ],
    )
    def test_check_number_rule(self, first9: str, check: str) -> None:
        assert ref_snils_check(first9) == check
        assert normalize_snils(first9 + check) == first9 + check


class TestSnilsProperties:
    @given(digit_strings(9))
    def test_only_the_reference_check_number_fits(self, first9: str) -> None:
        assume(int(first9) > 1_001_998)
        check = ref_snils_check(first9)
        assert normalize_snils(first9 + check) == first9 + check
        for wrong in range(100):
            if f"{wrong:02d}" != check:
                assert_code("snils.checksum", normalize_snils, f"{first9}{wrong:02d}")

    @given(st.integers(min_value=0, max_value=1_001_998), st.integers(0, 99))
    def test_numbers_up_to_001_001_998_have_no_check_number(self, first: int, check: int) -> None:
        snils = f"{first:09d}{check:02d}"
        assert normalize_snils(snils) == snils

    def test_the_check_number_applies_from_001_001_999(self) -> None:
        assert normalize_snils("001-001-998 00") == "00100199800"
        right = ref_snils_check("001001999")
        assert normalize_snils(f"001-001-999 {right}") == f"001001999{right}"
        wrong = "00" if right != "00" else "01"
        assert_code("snils.checksum", normalize_snils, f"001-001-999 {wrong}")

    @given(digit_strings(9))
    def test_format_round_trip(self, first9: str) -> None:
        snils = first9 + ref_snils_check(first9)
        formatted = format_snils(snils)
        assert formatted == f"{snils[:3]}-{snils[3:6]}-{snils[6:9]} {snils[9:]}"
        assert normalize_snils(formatted) == snils
        assert format_snils(formatted) == formatted


class TestFormatSnils:
    def test_known(self) -> None:
        assert format_snils("11223344595") == "112-233-445 95"

    def test_rejects_invalid(self) -> None:
        assert_code("snils.checksum", format_snils, "11223344596")


# --- Passport --------------------------------------------------------------------------------


class TestPassport:
    @pytest.mark.parametrize(
        "value",
        [
            "45 12 345678",
            "4512345678",
            "4512 345678",
            "45 12 № 345678",
            " 4512№345678 ",
            "45-12 345678",
            "4512 N 345678",
            "45 12 No 345678",
            "45 12 no. 345678",
            "серия 4512 номер 345678",
            "Серия 45 12 Номер 345678",
            "4512/345678",
            "4512\u2013345678",
            "4512\u200b345678",
            "\ufeff4512 345678",
        ],
    )
    def test_valid_spellings(self, value: str) -> None:
        assert normalize_passport_ru(value) == ("4512", "345678")

    def test_the_leading_zero_excel_dropped(self) -> None:
        # Excel reads 0312345678 as a number and writes 312345678.
        assert normalize_passport_ru("312345678") == ("0312", "345678")
        assert normalize_passport_ru(" 312345678 ") == ("0312", "345678")

    @pytest.mark.parametrize("value", ["3 12 345678", "0312 34567", "31234567"])
    def test_nine_digits_written_apart_are_a_digit_short(self, value: str) -> None:
        assert_code("passport.length", normalize_passport_ru, value)

    @pytest.mark.parametrize("value", ["45 12 34567", "4512 3456789", "", "45 12"])
    def test_length_without_echo(self, value: str) -> None:
        error = assert_code("passport.length", normalize_passport_ru, value)
        assert "4-digit series" in error.message("en")
        assert "6-digit number" in error.message("en")
        assert "серия из 4 цифр" in error.message("ru") or "серию из 4 цифр" in error.message("ru")
        digits = "".join(char for char in value if char.isdigit())
        for language in ("ru", "en"):
            assert not digits or digits not in error.message(language)

    def test_length_message_counts_digits(self) -> None:
        error = assert_code("passport.length", normalize_passport_ru, "45 12 34567")
        assert "9 digits" in error.message("en")

    @pytest.mark.parametrize("value", ["45 12 34567X", "45 12 #345678", "паспорт 4512 345678"])
    def test_format(self, value: str) -> None:
        error = assert_code("passport.format", normalize_passport_ru, value)
        assert "4512" not in error.message("en")

    @given(digit_strings(4), digit_strings(6))
    def test_round_trip(self, series: str, number: str) -> None:
        for spelling in (
            series + number,
            f"{series} {number}",
            f"{series[:2]} {series[2:]} {number}",
            f"{series[:2]} {series[2:]} № {number}",
            f"{series} N {number}",
            f"{series[:2]} {series[2:]} No {number}",
            f"серия {series} номер {number}",
            f"{series}/{number}",
            f"{series}\u2013{number}",
        ):
            assert normalize_passport_ru(spelling) == (series, number)

    @given(digit_strings(3), digit_strings(6))
    def test_series_starting_with_zero_as_excel_writes_it(self, rest: str, number: str) -> None:
        bare = str(int("0" + rest + number))  # what Excel shows of a number cell
        if len(bare) == 9:
            assert normalize_passport_ru(bare) == ("0" + rest, number)
        else:
            assert_code("passport.length", normalize_passport_ru, bare)


class TestIssuerCode:
    @pytest.mark.parametrize("value", ["770-001", "770001", " 770 - 001 "])
    def test_valid(self, value: str) -> None:
        assert normalize_issuer_code(value) == "770-001"

    @pytest.mark.parametrize("value", ["", "770-01", "7700011", "770--0011"])
    def test_length(self, value: str) -> None:
        error = assert_code("issuer_code.length", normalize_issuer_code, value)
        assert "770" not in error.message("en").replace("770-001", "")

    @pytest.mark.parametrize("value", ["770_001", "77O-001"])
    def test_format(self, value: str) -> None:
        assert_code("issuer_code.format", normalize_issuer_code, value)

    @given(digit_strings(6))
    def test_round_trip(self, code: str) -> None:
        formatted = normalize_issuer_code(code)
        assert formatted == f"{code[:3]}-{code[3:]}"
        assert normalize_issuer_code(formatted) == formatted


# --- Dates -----------------------------------------------------------------------------------


class TestParseDate:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("31.12.1990", date(1990, 12, 31)),
            ("1990-12-31", date(1990, 12, 31)),
            (" 01.02.2003 ", date(2003, 2, 1)),
            ("1.2.2003", date(2003, 2, 1)),
            ("29.02.2000", date(2000, 2, 29)),
            ("31.12.1990 0:00:00", date(1990, 12, 31)),
            ("31.12.1990 00:00", date(1990, 12, 31)),
            ("1990-12-31 00:00:00", date(1990, 12, 31)),
            ("1990-12-31T00:00:00.000", date(1990, 12, 31)),
            ("31.12.1990 г.", date(1990, 12, 31)),
            ("31.12.1990г", date(1990, 12, 31)),
            ("31.12.1990 г. 0:00:00", date(1990, 12, 31)),
            ("31/12/1990", date(1990, 12, 31)),
            ("12/31/1990", date(1990, 12, 31)),
            ("05/05/1990", date(1990, 5, 5)),
            ("1990\u201312\u201331", date(1990, 12, 31)),
            ("\ufeff31.12.1990", date(1990, 12, 31)),
        ],
    )
    def test_valid(self, value: str, expected: date) -> None:
        assert parse_date(value) == expected

    @pytest.mark.parametrize("value", ["05/06/1990", "1/2/2003", "12/11/1990", "05/06/90"])
    def test_slashes_that_could_be_either_way(self, value: str) -> None:
        error = assert_code("date.ambiguous", parse_date, value)
        assert "день первым" in error.message("ru")
        assert "day first" in error.message("en")

    @pytest.mark.parametrize(
        "value", ["31.12.1990 13:45", "31.12.1990 23:00:00", "1990-12-31T03:00"]
    )
    def test_a_time_other_than_midnight(self, value: str) -> None:
        # 30.12.1990 23:00 may be 31.12.1990 in another time zone: the day is not certain.
        error = assert_code("date.format", parse_date, value)
        assert "только дату" in error.message("ru")

    @given(st.dates(min_value=date(1000, 1, 1)))
    def test_slashes_day_first_unless_ambiguous(self, value: date) -> None:
        written = f"{value.day}/{value.month}/{value.year:04d}"
        if value.day <= 12 and value.day != value.month:
            assert_code("date.ambiguous", parse_date, written)
        else:
            assert parse_date(written) == value

    @pytest.mark.parametrize("value", ["31.02.1990", "29.02.1900", "1990-13-01", "00.01.1990"])
    def test_not_a_calendar_date(self, value: str) -> None:
        error = assert_code("date.invalid", parse_date, value)
        assert "not a calendar date" in error.message("en")

    def test_message_does_not_echo_the_date(self) -> None:
        # Dates are often birth dates: personal data stays out of messages.
        error = assert_code("date.invalid", parse_date, "31.02.1990")
        assert "1990" not in error.message("en")
        assert "check the day and the month" in error.message("en")

    @pytest.mark.parametrize("value", ["31.12.90", "90-12-31", "31.12.19900"])
    def test_two_digit_year(self, value: str) -> None:
        error = assert_code("date.format", parse_date, value)
        assert "4-digit year" in error.message("en")

    @pytest.mark.parametrize(
        "value", ["", "yesterday", "31/12.1990", "1990.12.31", "31.12.1990 года", "31 12 1990"]
    )
    def test_format(self, value: str) -> None:
        assert_code("date.format", parse_date, value)

    @given(st.dates(min_value=date(1000, 1, 1)))
    def test_round_trip(self, value: date) -> None:
        assert parse_date(f"{value.day:02d}.{value.month:02d}.{value.year:04d}") == value
        assert parse_date(value.isoformat()) == value


class TestBirthDate:
    TODAY = date(2024, 6, 15)

    def check(self, value: date) -> date:
        return validate_birth_date(value, today=self.TODAY)

    def test_exactly_14_today(self) -> None:
        assert self.check(date(2010, 6, 15)) == date(2010, 6, 15)

    def test_one_day_short_of_14(self) -> None:
        with pytest.raises(InvalidIdentifier) as caught:
            self.check(date(2010, 6, 16))
        assert caught.value.code == "birth_date.too_young"
        assert "14" in caught.value.message("en")

    def test_future(self) -> None:
        with pytest.raises(InvalidIdentifier) as caught:
            self.check(self.TODAY + timedelta(days=1))
        assert caught.value.code == "birth_date.future"

    def test_born_today_is_too_young_not_future(self) -> None:
        with pytest.raises(InvalidIdentifier) as caught:
            self.check(self.TODAY)
        assert caught.value.code == "birth_date.too_young"

    def test_121_years_old(self) -> None:
        with pytest.raises(InvalidIdentifier) as caught:
            self.check(date(1903, 6, 15))
        assert caught.value.code == "birth_date.too_old"

    def test_120_years_and_364_days_is_allowed(self) -> None:
        assert self.check(date(1903, 6, 16)) == date(1903, 6, 16)

    def test_message_does_not_echo_date(self) -> None:
        with pytest.raises(InvalidIdentifier) as caught:
            self.check(date(2010, 6, 16))
        assert "2010" not in caught.value.message("en")

    def test_custom_limits(self) -> None:
        assert validate_birth_date(date(2006, 6, 15), today=self.TODAY, min_age=18)
        with pytest.raises(InvalidIdentifier) as caught:
            validate_birth_date(date(2006, 6, 16), today=self.TODAY, min_age=18)
        assert caught.value.code == "birth_date.too_young"
        with pytest.raises(InvalidIdentifier) as caught:
            validate_birth_date(date(1924, 6, 14), today=self.TODAY, max_age=99)
        assert caught.value.code == "birth_date.too_old"

    def test_leap_day_birthday(self) -> None:
        born = date(2008, 2, 29)
        with pytest.raises(InvalidIdentifier):
            validate_birth_date(born, today=date(2022, 2, 28))
        assert validate_birth_date(born, today=date(2022, 3, 1)) == born

    @given(st.dates(min_value=date(1850, 1, 1), max_value=date(2100, 12, 31)), st.dates())
    def test_accepts_iff_age_in_range(self, born: date, today: date) -> None:
        def nth_birthday(years: int) -> date:
            try:
                return born.replace(year=born.year + years)
            except ValueError:  # 29 February in a common year
                return date(born.year + years, 3, 1)

        assume(born.year + 121 <= 9999)
        in_range = born <= today and nth_birthday(14) <= today < nth_birthday(121)
        try:
            validate_birth_date(born, today=today)
        except InvalidIdentifier:
            assert not in_range
        else:
            assert in_range


# --- IMEI ------------------------------------------------------------------------------------


class TestImei:
    @pytest.mark.parametrize(
        "value",
        ["490154203237518", "49 015420 323751 8", "49-015420-323751-8", "49/015420/323751/8"],
    )
    def test_valid(self, value: str) -> None:
        assert normalize_imei(value) == "490154203237518"

    def test_checksum(self) -> None:
        error = assert_code("imei.checksum", normalize_imei, "490154203237519")
        assert "490154203237519" in error.message("en")

    @pytest.mark.parametrize("value", ["", "49015420323751", "4901542032375180"])
    def test_length(self, value: str) -> None:
        assert_code("imei.length", normalize_imei, value)

    @pytest.mark.parametrize("value", ["49015420323751X", "IMEI:490154203237518"])
    def test_format(self, value: str) -> None:
        assert_code("imei.format", normalize_imei, value)

    @given(digit_strings(14))
    def test_check_digit(self, first14: str) -> None:
        imei = first14 + ref_luhn_check_digit(first14)
        assert normalize_imei(imei) == imei
        spaced = f"{imei[:2]} {imei[2:8]} {imei[8:14]} {imei[14]}"
        assert normalize_imei(spaced) == imei
        for wrong in other_digits(imei[-1]):
            assert_code("imei.checksum", normalize_imei, first14 + wrong)


# --- ICCID -----------------------------------------------------------------------------------


class TestIccid:
    VALID_19 = "8970100123456789010"
    VALID_20 = "89701991234567890127"

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (VALID_19, VALID_19),
            (VALID_20, VALID_20),
            ("8970 1991 2345 6789 0127", VALID_20),
        ],
    )
    def test_valid(self, value: str, expected: str) -> None:
        assert normalize_iccid(value) == expected

    def test_foreign_prefix_is_accepted(self) -> None:
        payload = "894400000000000000"
        iccid = payload + ref_luhn_check_digit(payload)
        assert normalize_iccid(iccid) == iccid

    def test_checksum(self) -> None:
        assert_code("iccid.checksum", normalize_iccid, "89701991234567890128")

    @pytest.mark.parametrize("value", ["", "897010012345678901", "897019912345678901270"])
    def test_length(self, value: str) -> None:
        assert_code("iccid.length", normalize_iccid, value)

    @pytest.mark.parametrize("value", ["8970199123456789012F", "ICCID 89701991234567890127"])
    def test_format(self, value: str) -> None:
        assert_code("iccid.format", normalize_iccid, value)

    @pytest.mark.parametrize(
        "value", ["0" + VALID_19, "9970100123456789010", "1234567890123456789"]
    )
    def test_prefix(self, value: str) -> None:
        # ITU-T E.118: every ICCID starts with 89; a 0 in front of a valid one is a typo.
        error = assert_code("iccid.prefix", normalize_iccid, value)
        assert value in error.message("ru")
        assert "89" in error.message("en")

    @given(st.sampled_from([18, 19]).flatmap(digit_strings))
    def test_check_digit(self, payload: str) -> None:
        iccid = payload + ref_luhn_check_digit(payload)
        if not iccid.startswith("89"):
            assert_code("iccid.prefix", normalize_iccid, iccid)
            return
        assert normalize_iccid(iccid) == iccid
        for wrong in other_digits(iccid[-1]):
            assert_code("iccid.checksum", normalize_iccid, payload + wrong)

    @given(st.sampled_from([16, 17]).flatmap(digit_strings))
    def test_check_digit_of_89(self, rest: str) -> None:
        payload = "89" + rest
        iccid = payload + ref_luhn_check_digit(payload)
        assert normalize_iccid(iccid) == iccid
        if len(iccid) == 19:
            assert_code("iccid.prefix", normalize_iccid, "0" + iccid)


# --- MAC -------------------------------------------------------------------------------------


class TestMac:
    @pytest.mark.parametrize(
        "value",
        [
            "00:1A:2B:3C:4D:5E",
            "00-1a-2b-3c-4d-5e",
            "001A.2B3C.4D5E",
            "001A2B3C4D5E",
            " 001a2b3c4d5e ",
        ],
    )
    def test_valid(self, value: str) -> None:
        assert normalize_mac(value) == "00:1A:2B:3C:4D:5E"

    @pytest.mark.parametrize(
        "value",
        [
            "",
            "00:1A:2B:3C:4D",
            "00:1A:2B:3C:4D:5E:6F",
            "00:1A:2B:3C:4D:5G",
            "00:1A-2B:3C:4D:5E",
            "0:1A:2B:3C:4D:5E",
            "001A2B3C4D5",
            "001A.2B3C4D5E",
        ],
    )
    def test_format(self, value: str) -> None:
        assert_code("mac.format", normalize_mac, value)

    @given(st.binary(min_size=6, max_size=6), st.booleans())
    def test_all_spellings_agree(self, raw: bytes, lower: bool) -> None:
        hex12 = raw.hex().upper()
        expected = ":".join(hex12[i : i + 2] for i in range(0, 12, 2))
        spellings = [
            expected,
            expected.replace(":", "-"),
            f"{hex12[:4]}.{hex12[4:8]}.{hex12[8:]}",
            hex12,
        ]
        for spelling in spellings:
            assert normalize_mac(spelling.lower() if lower else spelling) == expected


# --- Phone numbers ---------------------------------------------------------------------------


MOBILE_PREFIXES = [f"9{n:02d}" for n in [*range(0, 40), *range(50, 100)]]


def is_ru_mobile(e164: str) -> bool:
    number = phonenumbers.parse(e164, None)
    return (
        phonenumbers.is_valid_number(number)
        and phonenumbers.region_code_for_number(number) == "RU"
        and phonenumbers.number_type(number)
        in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)
    )


class TestMsisdnKnownValues:
    @pytest.mark.parametrize(
        "value",
        [
            "8 (912) 345-67-89",
            "+7 912 345 67 89",
            "79123456789",
            "9123456789",
            "8-912-345-67-89",
            "+7(912)3456789",
            " +7 (912) 345-67-89 ",
            "+7.912.345.67.89",
            "+7 912 345\u201367\u201389",
            "+7 912\u200b345 67 89",
            "8 (912) 345-67-89 доб. 123",
            "+7 912 345 67 89, доб 12",
            "+7 912 345 67 89 ДОБ.1",
            "+7 912 345 67 89 ext. 5",
        ],
    )
    def test_spellings(self, value: str) -> None:
        assert normalize_msisdn(value) == "+79123456789"

    @pytest.mark.parametrize(
        "value",
        [
            "+7 495 123 45 67",
            "8 (495) 123-45-67",
            "4951234567",
            "+380 50 123 4567",
            "+7 701 123 4567",
        ],
    )
    def test_not_russian_mobile(self, value: str) -> None:
        error = assert_code("phone.not_russian_mobile", normalize_msisdn, value)
        assert "mobile" in error.message("en")

    def test_landline_message_names_number(self) -> None:
        error = assert_code("phone.not_russian_mobile", normalize_msisdn, "+7 495 123 45 67")
        assert "+74951234567" in error.message("en")
        assert "landline" in error.message("en")

    @pytest.mark.parametrize(
        "value",
        [
            "",
            "abc",
            "+7 912 FLOWERS",
            "12345",
            "912345678",
            "891234567890",
            "59123456789",
            "+7 912 345 67 8",
            "+7 912 345 67 899",
            "++79123456789",
            "7+9123456789",
            "+8 912 345 67 89",
            "доб. 123",
            "89123456789 доб. 1234567",
            "89123456789 доб.",
        ],
    )
    def test_invalid(self, value: str) -> None:
        assert_code("phone.invalid", normalize_msisdn, value)


class TestMsisdnProperties:
    @given(st.sampled_from(MOBILE_PREFIXES), digit_strings(7))
    def test_every_spelling_gives_the_same_e164(self, prefix: str, rest: str) -> None:
        national = prefix + rest
        e164 = "+7" + national
        assume(is_ru_mobile(e164))
        a, b, c, d = national[:3], national[3:6], national[6:8], national[8:]
        spellings = [
            e164,
            "7" + national,
            "8" + national,
            national,
            f"8 ({a}) {b}-{c}-{d}",
            f"+7 {a} {b} {c} {d}",
            f"8-{a}-{b}-{c}-{d}",
            f"+7({a}){b}{c}{d}",
            f"+7 ({a}) {b}-{c}{d}",
        ]
        for spelling in spellings:
            assert normalize_msisdn(spelling) == e164

    @given(st.sampled_from(MOBILE_PREFIXES), digit_strings(7))
    def test_result_is_a_fixed_point(self, prefix: str, rest: str) -> None:
        e164 = "+7" + prefix + rest
        assume(is_ru_mobile(e164))
        assert normalize_msisdn(normalize_msisdn(e164)) == e164

    @given(st.text(max_size=30))
    def test_never_raises_anything_else(self, value: str) -> None:
        code = None
        try:
            result = normalize_msisdn(value)
        except InvalidIdentifier as error:
            code = error.code
        if code is None:
            assert result.startswith("+79")
            assert len(result) == 12
        else:
            assert code in ("phone.invalid", "phone.not_russian_mobile")


# --- Labels, invisible characters and dashes in real exports -----------------------------------


class TestWhatExportsWrite:
    @pytest.mark.parametrize("value", ["ИНН 7707083893", "ИНН: 7707083893", "инн №7707083893"])
    def test_inn_with_its_label(self, value: str) -> None:
        assert normalize_inn(value) == "7707083893"

    @pytest.mark.parametrize(
        ("function", "value", "expected"),
        [
            (normalize_snils, "465\u2013959\u2013583\u201366", "46595958366"),
            (normalize_snils, "\ufeff465-959-583 66", "46595958366"),
            (normalize_issuer_code, "770\u2013001", "770-001"),
            (normalize_issuer_code, "770\u200b-001", "770-001"),
            (normalize_inn, "7707\u200b083893", "7707083893"),
            (
                normalize_imei,
                "49-015420-323751\u20138".replace("-", "\u2013", 1),
                "490154203237518",
            ),
            (normalize_iccid, "\ufeff8970100123456789010", "8970100123456789010"),
            (normalize_mac, "00\u201311\u201322\u201333\u201344\u201355", "00:11:22:33:44:55"),
        ],
    )
    def test_invisible_characters_and_dashes(
        self, function: object, value: str, expected: str
    ) -> None:
        assert callable(function)
        assert function(value) == expected


class TestDeviceIdentifier:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("490154203237518", ("490154203237518", "imei")),
            ("00-1a-2b-3c-4d-5e", ("00:1A:2B:3C:4D:5E", "mac")),
            ("sn12345", ("SN12345", "serial")),
            ("ab-12 3", ("AB-12 3", "serial")),
        ],
    )
    def test_kinds(self, value: str, expected: tuple[str, str]) -> None:
        assert normalize_device_id(value) == expected

    @pytest.mark.parametrize("value", ["123", "A-1", "12 34", "1"])
    def test_too_short_to_identify_a_device(self, value: str) -> None:
        error = assert_code("device_id.too_short", normalize_device_id, value)
        words = error.message("ru")
        assert "IMEI" in words
        assert "MAC-адрес" in words
        assert "серийный номер" in words
        assert "serial number" in error.message("en")


class TestInvalidIdentifierWords:
    def test_russian_by_default_english_on_request(self) -> None:
        error = assert_code("inn.checksum", normalize_inn, "7707083894")
        assert error.message() == error.message("ru")
        assert "контрольная цифра" in error.message("ru")
        assert "check digit" in error.message("en")
        # Logs read English.
        assert str(error) == error.message("en")

    def test_the_message_is_a_code_with_values(self) -> None:
        error = assert_code("inn.length", normalize_inn, "123")
        assert error.message.code == "identifier.inn.length"
        assert dict(error.message.values) == {"count": 3, "inn": "123"}
        assert error.message("ru").startswith("В ИНН 123 3 цифры,")
        assert error.message("en").startswith("INN 123 has 3 digits;")

    def test_an_empty_value_is_said_to_be_empty(self) -> None:
        error = assert_code("inn.length", normalize_inn, " ")
        assert error.message("ru").startswith("ИНН не указан")
