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
    assert caught.value.message
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
        assert "7707083894" in error.message
        assert "check digit" in error.message

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
        assert "1027700132196" in error.message

    @pytest.mark.parametrize("value", ["", "102770013219", "10277001321950", "304500116000157"])
    def test_length(self, value: str) -> None:
        assert_code("ogrn.length", normalize_ogrn, value)

    @pytest.mark.parametrize("value", ["102770013219x", "1027-700132195"])
    def test_format(self, value: str) -> None:
        assert_code("ogrn.format", normalize_ogrn, value)

    @given(digit_strings(12))
    def test_check_digit(self, first12: str) -> None:
        check = str(int(first12) % 11 % 10)
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

    @given(digit_strings(14))
    def test_check_digit(self, first14: str) -> None:
        check = str(int(first14) % 13 % 10)
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
        assert "112" not in error.message
        assert "96" not in error.message

    @pytest.mark.parametrize("value", ["", "112-233-445 9", "112-233-445 955"])
    def test_length(self, value: str) -> None:
        error = assert_code("snils.length", normalize_snils, value)
        assert "445" not in error.message

    @pytest.mark.parametrize("value", ["112/233/445 95", "112-233-445 9S", "СНИЛС 11223344595"])
    def test_format(self, value: str) -> None:
        error = assert_code("snils.format", normalize_snils, value)
        assert "445" not in error.message

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
        check = ref_snils_check(first9)
        assert normalize_snils(first9 + check) == first9 + check
        for wrong in range(100):
            if f"{wrong:02d}" != check:
                assert_code("snils.checksum", normalize_snils, f"{first9}{wrong:02d}")

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
        ],
    )
    def test_valid_spellings(self, value: str) -> None:
        assert normalize_passport_ru(value) == ("4512", "345678")

    @pytest.mark.parametrize("value", ["45 12 34567", "4512 3456789", "", "45 12"])
    def test_length_without_echo(self, value: str) -> None:
        error = assert_code("passport.length", normalize_passport_ru, value)
        assert "4-digit series" in error.message
        assert "6-digit number" in error.message
        assert "4512" not in error.message
        assert "3456" not in error.message

    def test_length_message_counts_digits(self) -> None:
        error = assert_code("passport.length", normalize_passport_ru, "45 12 34567")
        assert "9 digits" in error.message

    @pytest.mark.parametrize("value", ["45 12 34567X", "серия 4512 номер 345678", "4512/345678"])
    def test_format(self, value: str) -> None:
        error = assert_code("passport.format", normalize_passport_ru, value)
        assert "4512" not in error.message

    @given(digit_strings(4), digit_strings(6))
    def test_round_trip(self, series: str, number: str) -> None:
        for spelling in (
            series + number,
            f"{series} {number}",
            f"{series[:2]} {series[2:]} {number}",
            f"{series[:2]} {series[2:]} № {number}",
        ):
            assert normalize_passport_ru(spelling) == (series, number)


class TestIssuerCode:
    @pytest.mark.parametrize("value", ["770-001", "770001", " 770 - 001 "])
    def test_valid(self, value: str) -> None:
        assert normalize_issuer_code(value) == "770-001"

    @pytest.mark.parametrize("value", ["", "770-01", "7700011", "770--0011"])
    def test_length(self, value: str) -> None:
        error = assert_code("issuer_code.length", normalize_issuer_code, value)
        assert "770" not in error.message.replace("770-001", "")

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
        ],
    )
    def test_valid(self, value: str, expected: date) -> None:
        assert parse_date(value) == expected

    @pytest.mark.parametrize("value", ["31.02.1990", "29.02.1900", "1990-13-01", "00.01.1990"])
    def test_not_a_calendar_date(self, value: str) -> None:
        error = assert_code("date.invalid", parse_date, value)
        assert "not a calendar date" in error.message

    def test_message_does_not_echo_the_date(self) -> None:
        # Dates are often birth dates: personal data stays out of messages.
        error = assert_code("date.invalid", parse_date, "31.02.1990")
        assert "1990" not in error.message
        assert "check the day and the month" in error.message

    @pytest.mark.parametrize("value", ["31.12.90", "90-12-31", "31.12.19900"])
    def test_two_digit_year(self, value: str) -> None:
        error = assert_code("date.format", parse_date, value)
        assert "4-digit year" in error.message

    @pytest.mark.parametrize(
        "value", ["", "yesterday", "31/12/1990", "1990.12.31", "31.12.1990 г."]
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
        assert "14" in caught.value.message

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
        assert "2010" not in caught.value.message

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
        assert "490154203237519" in error.message

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

    @given(st.sampled_from([18, 19]).flatmap(digit_strings))
    def test_check_digit(self, payload: str) -> None:
        iccid = payload + ref_luhn_check_digit(payload)
        assert normalize_iccid(iccid) == iccid
        for wrong in other_digits(iccid[-1]):
            assert_code("iccid.checksum", normalize_iccid, payload + wrong)


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
        assert "mobile" in error.message

    def test_landline_message_names_number(self) -> None:
        error = assert_code("phone.not_russian_mobile", normalize_msisdn, "+7 495 123 45 67")
        assert "+74951234567" in error.message
        assert "landline" in error.message

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
            "89123456789 доб. 12",
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
