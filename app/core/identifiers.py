"""Validation and normalisation of Russian identifiers, device and SIM identifiers.

Every function takes what a person typed or what a spreadsheet cell held, and returns the
canonical spelling the database stores, or raises :class:`InvalidIdentifier` with a stable
machine code and a message that tells a company admin what is wrong and how to fix it.

Messages never repeat passport, SNILS, issuer-code or birth-date values: they are personal data
and the messages end up in error reports and logs. Company identifiers (INN, OGRN, KPP) and
phone, IMEI, ICCID and MAC values may be repeated, which makes a bad row easy to find.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Literal

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

__all__ = [
    "InvalidIdentifier",
    "format_snils",
    "inn_kind",
    "luhn_valid",
    "normalize_iccid",
    "normalize_imei",
    "normalize_inn",
    "normalize_issuer_code",
    "normalize_kpp",
    "normalize_mac",
    "normalize_msisdn",
    "normalize_ogrn",
    "normalize_ogrnip",
    "normalize_passport_ru",
    "normalize_snils",
    "parse_date",
    "validate_birth_date",
]


class InvalidIdentifier(ValueError):
    """Carries a stable machine code and a human message that says how to fix the value."""

    code: str
    message: str

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"InvalidIdentifier(code={self.code!r}, message={self.message!r})"


_WHITESPACE = re.compile(r"\s+")


def _strip(value: str, separators: str = "") -> str:
    """Drop whitespace (including no-break spaces from spreadsheets) and the given separators."""
    compact = _WHITESPACE.sub("", value)
    for separator in separators:
        compact = compact.replace(separator, "")
    return compact


def _only_ascii_digits(value: str) -> bool:
    # str.isdigit() also accepts superscripts and Arabic-Indic digits, which int() or the
    # database would then choke on or store in a second spelling. An empty value passes here
    # so that it is reported by the length check, which says what is expected.
    return all("0" <= char <= "9" for char in value)


def _digit_count(subject: str, count: int) -> str:
    """Say how many digits ``subject`` has: ``INN 123 has 3 digits``, ``the SNILS is empty``."""
    if count == 0:
        return f"{subject.strip()} is empty"
    return f"{subject} has {count} digit{'' if count == 1 else 's'}"


def luhn_valid(digits: str) -> bool:
    """Return True when ``digits`` is a non-empty ASCII digit string that passes the Luhn check.

    The last digit is treated as the check digit, as in IMEI and ICCID numbers.
    """
    if not digits or not _only_ascii_digits(digits):
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


# --- Company identifiers -------------------------------------------------------------------

_INN10_WEIGHTS = (2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN12_WEIGHTS_1 = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN12_WEIGHTS_2 = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)


def _inn_check_digit(digits: str, weights: tuple[int, ...]) -> int:
    return sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11 % 10


def normalize_inn(value: str) -> str:
    """Return the INN as 10 digits (legal entity) or 12 digits (entrepreneur or person).

    Spaces are ignored. The check digits are verified with the Federal Tax Service algorithm.

    Raises:
        InvalidIdentifier: ``inn.format``, ``inn.length`` or ``inn.checksum``.
    """
    inn = _strip(value)
    if not _only_ascii_digits(inn):
        raise InvalidIdentifier(
            "inn.format",
            f"INN {value.strip()!r} contains characters other than digits; "
            "enter only the 10 or 12 digits of the INN",
        )
    if len(inn) == 10:
        if _inn_check_digit(inn[:9], _INN10_WEIGHTS) == int(inn[9]):
            return inn
    elif len(inn) == 12:
        first_ok = _inn_check_digit(inn[:10], _INN12_WEIGHTS_1) == int(inn[10])
        if first_ok and _inn_check_digit(inn[:11], _INN12_WEIGHTS_2) == int(inn[11]):
            return inn
    else:
        raise InvalidIdentifier(
            "inn.length",
            f"{_digit_count(f'INN {inn}', len(inn))}; an INN has 10 digits for a company "
            "or 12 digits for an individual entrepreneur, so check for missing or extra digits",
        )
    raise InvalidIdentifier(
        "inn.checksum",
        f"INN {inn} has a wrong check digit; "
        + (
            "check the last digit against the company's registration documents"
            if len(inn) == 10
            else "check the last two digits against the entrepreneur's INN certificate"
        ),
    )


def inn_kind(inn: str) -> Literal["legal_entity", "entrepreneur"]:
    """Tell whether a valid INN belongs to a legal entity (10 digits) or an entrepreneur (12).

    Raises:
        InvalidIdentifier: when ``inn`` is not a valid INN (see :func:`normalize_inn`).
    """
    return "legal_entity" if len(normalize_inn(inn)) == 10 else "entrepreneur"


def _normalize_state_registration_number(
    value: str, *, code: str, label: str, length: int, modulus: int
) -> str:
    number = _strip(value)
    if not _only_ascii_digits(number):
        raise InvalidIdentifier(
            f"{code}.format",
            f"{label} {value.strip()!r} contains characters other than digits; "
            f"enter only the {length} digits of the {label}",
        )
    if len(number) != length:
        raise InvalidIdentifier(
            f"{code}.length",
            f"{_digit_count(f'{label} {number}', len(number))}; an {label} has {length} "
            "digits, so check for missing or extra digits",
        )
    if int(number[:-1]) % modulus % 10 != int(number[-1]):
        raise InvalidIdentifier(
            f"{code}.checksum",
            f"{label} {number} has a wrong check digit; check the last digit against the "
            "extract from the state register",
        )
    return number


def normalize_ogrn(value: str) -> str:
    """Return the 13-digit OGRN of a legal entity after verifying its check digit.

    Raises:
        InvalidIdentifier: ``ogrn.format``, ``ogrn.length`` or ``ogrn.checksum``.
    """
    return _normalize_state_registration_number(
        value, code="ogrn", label="OGRN", length=13, modulus=11
    )


def normalize_ogrnip(value: str) -> str:
    """Return the 15-digit OGRNIP of an individual entrepreneur after verifying its check digit.

    Raises:
        InvalidIdentifier: ``ogrnip.format``, ``ogrnip.length`` or ``ogrnip.checksum``.
    """
    return _normalize_state_registration_number(
        value, code="ogrnip", label="OGRNIP", length=15, modulus=13
    )


_KPP = re.compile(r"[0-9]{4}[0-9A-Z]{2}[0-9]{3}")


def normalize_kpp(value: str) -> str:
    """Return the 9-character KPP: 4 digits, 2 digits or capital Latin letters, 3 digits.

    Spaces are ignored and letters are upper-cased.

    Raises:
        InvalidIdentifier: ``kpp.length`` or ``kpp.format``.
    """
    kpp = _strip(value).upper()
    if len(kpp) != 9:
        raise InvalidIdentifier(
            "kpp.length",
            (f"KPP {kpp} has {len(kpp)} characters" if kpp else "KPP is empty")
            + "; a KPP has 9 characters, so check for missing or extra characters",
        )
    if not _KPP.fullmatch(kpp):
        raise InvalidIdentifier(
            "kpp.format",
            f"KPP {kpp!r} is not in the KPP format; a KPP is 4 digits, then 2 digits or "
            "Latin capital letters, then 3 digits (for example 773601001)",
        )
    return kpp


# --- Personal documents --------------------------------------------------------------------

_SNILS_SEPARATORS = "-"


def _snils_check_number(first9: str) -> int:
    total = sum(int(d) * (9 - i) for i, d in enumerate(first9))
    if total > 101:
        total %= 101
    # Both 100 and 101 (and a remainder of 100) are written as 00 on the certificate.
    return 0 if total in (100, 101) else total


def normalize_snils(value: str) -> str:
    """Return the SNILS as 11 digits; accepts ``112-233-445 95`` and ``11223344595``.

    The two-digit check number is verified for every SNILS.

    Raises:
        InvalidIdentifier: ``snils.format``, ``snils.length`` or ``snils.checksum``.
    """
    snils = _strip(value, _SNILS_SEPARATORS)
    if not _only_ascii_digits(snils):
        raise InvalidIdentifier(
            "snils.format",
            "the SNILS contains characters other than digits, spaces and hyphens; "
            "enter it as on the insurance certificate, for example 123-456-789 01",
        )
    if len(snils) != 11:
        raise InvalidIdentifier(
            "snils.length",
            f"{_digit_count('the SNILS', len(snils))}; a SNILS has 11 digits "
            "(9 digits and a 2-digit check number), so check for missing or extra digits",
        )
    if _snils_check_number(snils[:9]) != int(snils[9:]):
        raise InvalidIdentifier(
            "snils.checksum",
            "the SNILS check number (the last 2 digits) does not match the first 9 digits; "
            "re-type the SNILS from the person's insurance certificate",
        )
    return snils


def format_snils(snils11: str) -> str:
    """Format a valid SNILS as written on the certificate: ``112-233-445 95``.

    Raises:
        InvalidIdentifier: when ``snils11`` is not a valid SNILS (see :func:`normalize_snils`).
    """
    s = normalize_snils(snils11)
    return f"{s[0:3]}-{s[3:6]}-{s[6:9]} {s[9:11]}"


def normalize_passport_ru(value: str) -> tuple[str, str]:
    """Return ``(series, number)`` of a Russian internal passport: 4 and 6 digits.

    Accepts ``45 12 345678``, ``4512345678``, ``4512 345678`` and ``45 12 № 345678``.

    Raises:
        InvalidIdentifier: ``passport.format`` or ``passport.length``.
    """
    passport = _strip(value, "№-")
    if not _only_ascii_digits(passport):
        raise InvalidIdentifier(
            "passport.format",
            "the passport series and number contain characters other than digits; "
            "enter the 4-digit series and the 6-digit number, for example 45 12 345678",
        )
    if len(passport) != 10:
        raise InvalidIdentifier(
            "passport.length",
            f"{_digit_count('the passport number', len(passport))}; a Russian passport has "
            "a 4-digit series and a 6-digit number (10 digits in total), so check for missing "
            "or extra digits",
        )
    return passport[:4], passport[4:]


def normalize_issuer_code(value: str) -> str:
    """Return the passport issuing-office code as ``123-456``; accepts ``123456`` too.

    Raises:
        InvalidIdentifier: ``issuer_code.format`` or ``issuer_code.length``.
    """
    code = _strip(value, "-")
    if not _only_ascii_digits(code):
        raise InvalidIdentifier(
            "issuer_code.format",
            "the issuing office code contains characters other than digits and a hyphen; "
            "enter the 6-digit code from the passport, for example 770-001",
        )
    if len(code) != 6:
        raise InvalidIdentifier(
            "issuer_code.length",
            f"{_digit_count('the issuing office code', len(code))}; it has 6 digits "
            "written as 3 digits, a hyphen and 3 digits, for example 770-001",
        )
    return f"{code[:3]}-{code[3:]}"


_RU_DATE = re.compile(r"([0-9]{1,2})\.([0-9]{1,2})\.([0-9]+)")
_ISO_DATE = re.compile(r"([0-9]+)-([0-9]{1,2})-([0-9]{1,2})")


def parse_date(value: str) -> date:
    """Parse ``31.12.1990`` (day first, Russian style) or ISO ``1990-12-31``.

    Only 4-digit years are accepted: ``31.12.90`` is ambiguous for birth dates.

    Raises:
        InvalidIdentifier: ``date.format`` or ``date.invalid``.
    """
    text = value.strip()
    if (match := _RU_DATE.fullmatch(text)) is not None:
        day, month, year = match.groups()
    elif (match := _ISO_DATE.fullmatch(text)) is not None:
        year, month, day = match.groups()
    else:
        raise InvalidIdentifier(
            "date.format",
            "the value is not a date; write dates as DD.MM.YYYY (for example 31.12.1990) "
            "or YYYY-MM-DD (for example 1990-12-31)",
        )
    if len(year) != 4:
        raise InvalidIdentifier(
            "date.format",
            "the date does not have a 4-digit year; write the year in full, "
            "for example 31.12.1990 rather than 31.12.90",
        )
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        raise InvalidIdentifier(
            "date.invalid",
            "the date is not a calendar date (no such day in that month); "
            "check the day and the month",
        ) from None


def _age_on(birth: date, today: date) -> int:
    had_birthday = (today.month, today.day) >= (birth.month, birth.day)
    return today.year - birth.year - (0 if had_birthday else 1)


def validate_birth_date(value: date, *, today: date, min_age: int = 14, max_age: int = 120) -> date:
    """Return ``value`` when it is not in the future and the age is within the limits.

    The age is counted in full years on ``today``; both limits are inclusive. A person born
    on 29 February turns a year older on 1 March in common years.

    Raises:
        InvalidIdentifier: ``birth_date.future``, ``birth_date.too_young`` or
            ``birth_date.too_old``.
    """
    if value > today:
        raise InvalidIdentifier(
            "birth_date.future",
            "the birth date is in the future; check the year, day and month",
        )
    age = _age_on(value, today)
    if age < min_age:
        raise InvalidIdentifier(
            "birth_date.too_young",
            f"the birth date makes the person younger than {min_age}; a SIM card user must "
            f"be at least {min_age} years old, so check the birth date or register "
            "another user",
        )
    if age > max_age:
        raise InvalidIdentifier(
            "birth_date.too_old",
            f"the birth date makes the person older than {max_age}; check the year of birth",
        )
    return value


# --- Devices and SIM cards -----------------------------------------------------------------


def normalize_imei(value: str) -> str:
    """Return the IMEI as 15 digits; spaces, hyphens and slashes are ignored.

    The 15th digit is the Luhn check digit.

    Raises:
        InvalidIdentifier: ``imei.format``, ``imei.length`` or ``imei.checksum``.
    """
    imei = _strip(value, "-/")
    if not _only_ascii_digits(imei):
        raise InvalidIdentifier(
            "imei.format",
            f"IMEI {value.strip()!r} contains characters other than digits; enter the 15 "
            "digits shown by dialling *#06# on the device",
        )
    if len(imei) != 15:
        raise InvalidIdentifier(
            "imei.length",
            f"{_digit_count(f'IMEI {imei}', len(imei))}; an IMEI has 15 digits "
            "(a 16-digit IMEISV is not accepted), so enter the 15 digits shown by "
            "dialling *#06#",
        )
    if not luhn_valid(imei):
        raise InvalidIdentifier(
            "imei.checksum",
            f"IMEI {imei} has a wrong check digit; re-type it from the device's box or from *#06#",
        )
    return imei


_MAC_PATTERNS = (
    re.compile(r"[0-9A-F]{2}(:[0-9A-F]{2}){5}"),
    re.compile(r"[0-9A-F]{2}(-[0-9A-F]{2}){5}"),
    re.compile(r"[0-9A-F]{4}\.[0-9A-F]{4}\.[0-9A-F]{4}"),
    re.compile(r"[0-9A-F]{12}"),
)


def normalize_mac(value: str) -> str:
    """Return the MAC address as ``00:1A:2B:3C:4D:5E``.

    Accepts colon- or hyphen-separated pairs, dotted groups of four (``001A.2B3C.4D5E``) and
    the 12 bare hex digits, in either case.

    Raises:
        InvalidIdentifier: ``mac.format``.
    """
    mac = value.strip().upper()
    if not any(pattern.fullmatch(mac) for pattern in _MAC_PATTERNS):
        raise InvalidIdentifier(
            "mac.format",
            f"MAC address {value.strip()!r} is not in a recognised format; enter 12 "
            "hexadecimal digits, for example 00:1A:2B:3C:4D:5E",
        )
    hex_digits = re.sub(r"[:.\-]", "", mac)
    return ":".join(hex_digits[i : i + 2] for i in range(0, 12, 2))


def normalize_iccid(value: str) -> str:
    """Return the SIM card ICCID as 19 or 20 digits; spaces and hyphens are ignored.

    The last digit is a Luhn check digit over all the others. Russian ICCIDs start with 897,
    but cards issued abroad are accepted too.

    Raises:
        InvalidIdentifier: ``iccid.format``, ``iccid.length`` or ``iccid.checksum``.
    """
    iccid = _strip(value, "-")
    if not _only_ascii_digits(iccid):
        raise InvalidIdentifier(
            "iccid.format",
            f"ICCID {value.strip()!r} contains characters other than digits; enter the "
            "19 or 20 digits printed on the SIM card (drop a trailing letter such as F)",
        )
    if len(iccid) not in (19, 20):
        raise InvalidIdentifier(
            "iccid.length",
            f"{_digit_count(f'ICCID {iccid}', len(iccid))}; an ICCID has 19 or 20 digits, "
            "so re-type it from the SIM card or its holder",
        )
    if not luhn_valid(iccid):
        raise InvalidIdentifier(
            "iccid.checksum",
            f"ICCID {iccid} has a wrong check digit; re-type it from the SIM card or its holder",
        )
    return iccid


# --- Phone numbers -------------------------------------------------------------------------

_PHONE_CHARS = re.compile(r"\+?[0-9\s().\-]+")
_MOBILE_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})


def normalize_msisdn(value: str) -> str:
    """Return a Russian mobile number in E.164 form, ``+79123456789``.

    Accepts the usual spellings: ``8 (912) 345-67-89``, ``+7 912 345 67 89``,
    ``79123456789``, ``9123456789``. Without a leading ``+``, 10 digits are read as a Russian
    number without the country code and 11 digits starting with 7 or 8 as a Russian number.

    Raises:
        InvalidIdentifier: ``phone.invalid`` when the value is not a phone number at all,
            ``phone.not_russian_mobile`` for landlines and foreign numbers.
    """
    text = value.strip()
    shown = text or "(empty)"
    invalid = InvalidIdentifier(
        "phone.invalid",
        f"{shown!r} is not a phone number; enter a Russian mobile number, "
        "for example +7 912 345-67-89",
    )
    # phonenumbers would read letters as a vanity keypad ("+7 912 FLOWERS"), which no
    # company means in a SIM registry.
    if not _PHONE_CHARS.fullmatch(text):
        raise invalid
    digits = re.sub(r"\D", "", text)
    if text.startswith("+"):
        candidate = "+" + digits
    elif len(digits) == 10:
        candidate = "+7" + digits
    elif len(digits) == 11 and digits[0] in "78":
        # A leading 8 is the domestic trunk prefix; it replaces +7 in Russian spelling.
        candidate = "+7" + digits[1:]
    else:
        raise invalid
    try:
        number = phonenumbers.parse(candidate, None)
    except NumberParseException:
        raise invalid from None
    if not phonenumbers.is_valid_number(number):
        raise invalid
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    region = phonenumbers.region_code_for_number(number)
    if region != "RU" or phonenumbers.number_type(number) not in _MOBILE_TYPES:
        kind = "a Russian landline" if region == "RU" else "not a Russian number"
        raise InvalidIdentifier(
            "phone.not_russian_mobile",
            f"{e164} is {kind}; corporate SIM cards have Russian mobile numbers, "
            "so enter the +7 9XX number of the SIM card",
        )
    return e164
