"""Validation and normalisation of Russian identifiers, device and SIM identifiers.

Every function takes what a person typed or what a spreadsheet cell held, and returns the
canonical spelling the database stores, or raises :class:`InvalidIdentifier` with a stable
machine code and a message that tells a company admin what is wrong and how to fix it.

Messages are :class:`Text` from the ``identifiers`` catalog, Russian unless the reader asks
for English. They never carry passport, SNILS, issuer-code or birth-date values: those are
personal data, and messages end up in error reports and logs. Company identifiers (INN, OGRN,
KPP) and phone, IMEI, ICCID and MAC values may be repeated, which makes a bad row easy to find.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Literal

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from app.core.messages import Text

__all__ = [
    "InvalidIdentifier",
    "clean_cell",
    "device_id_kind",
    "format_snils",
    "inn_kind",
    "luhn_valid",
    "normalize_device_id",
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
    """Carries a stable machine code and the words that say how to fix the value: a
    :class:`Text` from the ``identifiers`` catalog, worded in the reader's language."""

    code: str
    message: Text

    def __init__(self, code: str, message: str | None = None, /, **values: object) -> None:
        """``message`` names the catalog entry (``identifier.<message>``) when it differs
        from ``code``, as when one code has several explanations."""
        super().__init__(code)
        self.code = code
        self.message = Text(f"identifier.{message or code}", **values)

    def __str__(self) -> str:
        # English for logs and tracebacks; people read the message in their own language.
        return self.message("en")

    def __repr__(self) -> str:
        return f"InvalidIdentifier(code={self.code!r}, message={self.message.code!r})"


# Spreadsheets and HR systems put these inside values: zero-width spaces, joiners, word
# joiners, byte order marks and soft hyphens are invisible, so they are dropped; the dashes a
# word processor makes of a hyphen are read as the hyphen the person meant.
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212"
_UNSEEN = str.maketrans({**dict.fromkeys(INVISIBLE, ""), **dict.fromkeys(DASHES, "-")})

_WHITESPACE = re.compile(r"\s+")


def clean_cell(value: str) -> str:
    """``value`` without invisible characters, with every dash read as a hyphen, trimmed."""
    return value.translate(_UNSEEN).strip()


def _strip(value: str, separators: str = "") -> str:
    """Drop whitespace (including no-break spaces from spreadsheets), invisible characters and
    the given separators."""
    compact = _WHITESPACE.sub("", value.translate(_UNSEEN))
    for separator in separators:
        compact = compact.replace(separator, "")
    return compact


def _only_ascii_digits(value: str) -> bool:
    # str.isdigit() also accepts superscripts and Arabic-Indic digits, which int() or the
    # database would then choke on or store in a second spelling. An empty value passes here
    # so that it is reported by the length check, which says what is expected.
    return all("0" <= char <= "9" for char in value)


def _length_problem(code: str, count: int, **values: object) -> InvalidIdentifier:
    """A wrong number of digits: said as "is empty" when there are none."""
    if count == 0:
        return InvalidIdentifier(code, f"{code.partition('.')[0]}.empty")
    return InvalidIdentifier(code, count=count, **values)


def _without_label(value: str, label: str) -> str:
    """A value without the label people write before it (``ИНН 7707083893``)."""
    return re.sub(rf"^\s*{label}\s*[:№]?", "", value.translate(_UNSEEN), flags=re.IGNORECASE)


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

    Spaces and a leading ``ИНН`` label are ignored. The check digits are verified with the
    Federal Tax Service algorithm.

    Raises:
        InvalidIdentifier: ``inn.format``, ``inn.length`` or ``inn.checksum``.
    """
    inn = _strip(_without_label(value, "ИНН"))
    if not _only_ascii_digits(inn):
        raise InvalidIdentifier("inn.format", value=clean_cell(value))
    if len(inn) == 10:
        if _inn_check_digit(inn[:9], _INN10_WEIGHTS) == int(inn[9]):
            return inn
    elif len(inn) == 12:
        first_ok = _inn_check_digit(inn[:10], _INN12_WEIGHTS_1) == int(inn[10])
        if first_ok and _inn_check_digit(inn[:11], _INN12_WEIGHTS_2) == int(inn[11]):
            return inn
    else:
        raise _length_problem("inn.length", len(inn), inn=inn)
    raise InvalidIdentifier("inn.checksum", f"inn.checksum.{len(inn)}", inn=inn)


def inn_kind(inn: str) -> Literal["legal_entity", "entrepreneur"]:
    """Tell whether a valid INN belongs to a legal entity (10 digits) or an entrepreneur (12).

    Raises:
        InvalidIdentifier: when ``inn`` is not a valid INN (see :func:`normalize_inn`).
    """
    return "legal_entity" if len(normalize_inn(inn)) == 10 else "entrepreneur"


def _normalize_state_registration_number(
    value: str, *, code: str, label: str, length: int, modulus: int, first: str
) -> str:
    number = _strip(_without_label(value, label))
    if not _only_ascii_digits(number):
        raise InvalidIdentifier(f"{code}.format", value=clean_cell(value))
    if len(number) != length:
        raise _length_problem(f"{code}.length", len(number), number=number)
    # The first digit says whose number it is (1 or 5: a legal entity's OGRN; 3: an
    # entrepreneur's OGRNIP); 2 and 4 are numbers of later entries, not of a registration.
    if number[0] not in first:
        raise InvalidIdentifier(f"{code}.prefix", number=number)
    if int(number[:-1]) % modulus % 10 != int(number[-1]):
        raise InvalidIdentifier(f"{code}.checksum", number=number)
    return number


def normalize_ogrn(value: str) -> str:
    """Return the 13-digit OGRN of a legal entity, which starts with 1 or 5, after verifying
    its check digit.

    Raises:
        InvalidIdentifier: ``ogrn.format``, ``ogrn.length``, ``ogrn.prefix`` or
            ``ogrn.checksum``.
    """
    return _normalize_state_registration_number(
        value, code="ogrn", label="ОГРН", length=13, modulus=11, first="15"
    )


def normalize_ogrnip(value: str) -> str:
    """Return the 15-digit OGRNIP of an individual entrepreneur, which starts with 3, after
    verifying its check digit.

    Raises:
        InvalidIdentifier: ``ogrnip.format``, ``ogrnip.length``, ``ogrnip.prefix`` or
            ``ogrnip.checksum``.
    """
    return _normalize_state_registration_number(
        value, code="ogrnip", label="ОГРНИП", length=15, modulus=13, first="3"
    )


_KPP = re.compile(r"[0-9]{4}[0-9A-Z]{2}[0-9]{3}")


def normalize_kpp(value: str) -> str:
    """Return the 9-character KPP: 4 digits, 2 digits or capital Latin letters, 3 digits.

    Spaces and a leading ``КПП`` label are ignored and letters are upper-cased.

    Raises:
        InvalidIdentifier: ``kpp.length`` or ``kpp.format``.
    """
    kpp = _strip(_without_label(value, "КПП")).upper()
    if len(kpp) != 9:
        if not kpp:
            raise InvalidIdentifier("kpp.length", "kpp.empty")
        raise InvalidIdentifier("kpp.length", count=len(kpp), kpp=kpp)
    if not _KPP.fullmatch(kpp):
        raise InvalidIdentifier("kpp.format", kpp=kpp)
    return kpp


# --- Personal documents --------------------------------------------------------------------
# Their values are personal data: no message below carries them.

_SNILS_SEPARATORS = "-"
# The check number was introduced after these numbers had been given out: a SNILS up to
# 001-001-998 has no check number to verify.
SNILS_UNCHECKED_UP_TO = 1_001_998


def _snils_check_number(first9: str) -> int:
    total = sum(int(d) * (9 - i) for i, d in enumerate(first9))
    if total > 101:
        total %= 101
    # Both 100 and 101 (and a remainder of 100) are written as 00 on the certificate.
    return 0 if total in (100, 101) else total


def normalize_snils(value: str) -> str:
    """Return the SNILS as 11 digits; accepts ``112-233-445 95`` and ``11223344595``.

    The two-digit check number is verified for every SNILS above 001-001-998.

    Raises:
        InvalidIdentifier: ``snils.format``, ``snils.length`` or ``snils.checksum``.
    """
    snils = _strip(value, _SNILS_SEPARATORS)
    if not _only_ascii_digits(snils):
        raise InvalidIdentifier("snils.format")
    if len(snils) != 11:
        raise _length_problem("snils.length", len(snils))
    if int(snils[:9]) > SNILS_UNCHECKED_UP_TO and _snils_check_number(snils[:9]) != int(snils[9:]):
        raise InvalidIdentifier("snils.checksum")
    return snils


def format_snils(snils11: str) -> str:
    """Format a valid SNILS as written on the certificate: ``112-233-445 95``.

    Raises:
        InvalidIdentifier: when ``snils11`` is not a valid SNILS (see :func:`normalize_snils`).
    """
    s = normalize_snils(snils11)
    return f"{s[0:3]}-{s[3:6]}-{s[6:9]} {s[9:11]}"


# The words and signs people put between a passport's series and number: `серия 4506 номер
# 123456`, `45 06 № 123456`, `4506 N 123456`, `45 06 No 123456`, `4506/123456`.
PASSPORT_NOISE = r"(?i:серия|номер|№|no\.?|n|[/\-])"
_PASSPORT_NOISE = re.compile(PASSPORT_NOISE)


def normalize_passport_ru(value: str) -> tuple[str, str]:
    """Return ``(series, number)`` of a Russian internal passport: 4 and 6 digits.

    Accepts ``45 12 345678``, ``4512345678``, ``4512 345678``, ``45 12 № 345678``,
    ``4512 N 345678``, ``серия 4512 номер 345678`` and ``4512/345678``. Nine bare digits are
    a passport whose series starts with 0, a zero Excel dropped when it read the cell as a
    number: ``312345678`` is ``03 12 345678``.

    Raises:
        InvalidIdentifier: ``passport.format`` or ``passport.length``.
    """
    text = value.translate(_UNSEEN)
    passport = _PASSPORT_NOISE.sub("", _WHITESPACE.sub("", text))
    if not _only_ascii_digits(passport):
        raise InvalidIdentifier("passport.format")
    if len(passport) == 9 and text.strip() == passport:
        passport = "0" + passport
    if len(passport) != 10:
        raise _length_problem("passport.length", len(passport))
    return passport[:4], passport[4:]


def normalize_issuer_code(value: str) -> str:
    """Return the passport issuing-office code as ``123-456``; accepts ``123456`` too.

    Raises:
        InvalidIdentifier: ``issuer_code.format`` or ``issuer_code.length``.
    """
    code = _strip(value, "-")
    if not _only_ascii_digits(code):
        raise InvalidIdentifier("issuer_code.format")
    if len(code) != 6:
        raise _length_problem("issuer_code.length", len(code))
    return f"{code[:3]}-{code[3:]}"


# A date as Russian Excel and HR systems write it: day first with dots (or slashes), or ISO;
# then perhaps `г.` (года), and perhaps the midnight that a date cell exported with its time
# carries (`31.12.1990 0:00:00`, `1990-12-31T00:00:00.000`).
DATE_TAIL = r"(?:\s*г\.?)?(?:[ T]0?0:00(?::00(?:\.0+)?)?)?"
DATE_TIME = r"[ T][0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?"
_RU_DATE = re.compile(rf"([0-9]{{1,2}})([./])([0-9]{{1,2}})\2([0-9]+){DATE_TAIL}")
_ISO_DATE = re.compile(rf"([0-9]+)-([0-9]{{1,2}})-([0-9]{{1,2}}){DATE_TAIL}")
_TIMED_DATE = re.compile(rf"[0-9./\-]+(?:\s*г\.?)?{DATE_TIME}")


def parse_date(value: str) -> date:
    """Parse ``31.12.1990`` (day first, Russian style), ``31/12/1990`` or ISO ``1990-12-31``.

    ``г.`` after the date and a midnight time (``31.12.1990 0:00:00``) are allowed. Only
    4-digit years are accepted: ``31.12.90`` is ambiguous for birth dates. With slashes, the
    day comes first; when both of the first two numbers could be a month (``05/06/1990``), the
    file may have been written month first, so the date is refused rather than guessed.
    Another time of day is refused too: it may be the date of another time zone.

    Raises:
        InvalidIdentifier: ``date.format``, ``date.ambiguous`` or ``date.invalid``.
    """
    text = clean_cell(value)
    if (match := _RU_DATE.fullmatch(text)) is not None:
        first, separator, second, year = match.groups()
        day, month = first, second
        if separator == "/":
            day, month = _slashed_day_month(int(first), int(second))
    elif (match := _ISO_DATE.fullmatch(text)) is not None:
        year, month, day = match.groups()
    elif _TIMED_DATE.fullmatch(text):
        raise InvalidIdentifier("date.format", "date.time")
    else:
        raise InvalidIdentifier("date.format")
    if len(year) != 4:
        raise InvalidIdentifier("date.format", "date.year")
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        raise InvalidIdentifier("date.invalid") from None


def _slashed_day_month(first: int, second: int) -> tuple[int, int]:
    """Day and month of a date written with slashes: day first, unless only month first
    can be meant (``12/31/1990``)."""
    if first != second and first <= 12 and second <= 12:
        raise InvalidIdentifier("date.ambiguous")
    return (second, first) if second > 12 >= first else (first, second)


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
        raise InvalidIdentifier("birth_date.future")
    age = _age_on(value, today)
    if age < min_age:
        raise InvalidIdentifier("birth_date.too_young", min_age=min_age)
    if age > max_age:
        raise InvalidIdentifier("birth_date.too_old", max_age=max_age)
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
        raise InvalidIdentifier("imei.format", value=clean_cell(value))
    if len(imei) != 15:
        raise _length_problem("imei.length", len(imei), imei=imei)
    if not luhn_valid(imei):
        raise InvalidIdentifier("imei.checksum", imei=imei)
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
    mac = clean_cell(value).upper()
    if not any(pattern.fullmatch(mac) for pattern in _MAC_PATTERNS):
        raise InvalidIdentifier("mac.format", value=clean_cell(value))
    hex_digits = re.sub(r"[:.\-]", "", mac)
    return ":".join(hex_digits[i : i + 2] for i in range(0, 12, 2))


# Fewer letters and digits than this identify no device (`123`): a serial number is the
# string on the device's label, an IMEI 15 digits, a MAC address 12 hexadecimal digits.
SERIAL_MIN_LENGTH = 5


def device_id_kind(value: str) -> Literal["imei", "mac", "serial"]:
    """What a device identifier reads as: 15 digits (with spaces or hyphens) an IMEI, 12
    letters or digits with separators a MAC address, anything else a serial number."""
    raw = clean_cell(value)
    digits = "".join(ch for ch in raw if ch.isdigit())
    if len(digits) == 15 and digits == "".join(raw.replace("-", "").replace(" ", "").split()):
        return "imei"
    if len([ch for ch in raw if ch.isalnum()]) == 12 and any(sep in raw for sep in ":-."):
        return "mac"
    return "serial"


def normalize_device_id(value: str, kind: str | None = None) -> tuple[str, str]:
    """Return a device identifier in normal form and its kind (``imei``, ``mac``, ``serial``):
    an IMEI as 15 digits, a MAC address as ``00:1A:2B:3C:4D:5E``, a serial number in capitals.

    Raises:
        InvalidIdentifier: the IMEI's or MAC address's code, or ``device_id.too_short`` for a
            serial number of fewer than 5 letters or digits.
    """
    raw = clean_cell(value)
    kind = kind or device_id_kind(raw)
    if kind == "imei":
        return normalize_imei(raw), kind
    if kind == "mac":
        return normalize_mac(raw), kind
    if sum(ch.isalnum() for ch in raw) < SERIAL_MIN_LENGTH:
        raise InvalidIdentifier("device_id.too_short", value=raw, least=SERIAL_MIN_LENGTH)
    return raw.upper(), kind


# ITU-T E.118: an ICCID starts with the telecom industry identifier 89, then the country.
ICCID_PREFIX = "89"


def normalize_iccid(value: str) -> str:
    """Return the SIM card ICCID as 19 or 20 digits; spaces and hyphens are ignored.

    An ICCID starts with 89 (ITU-T E.118), so a digit written in front of a valid ICCID is
    refused. The last digit is a Luhn check digit over all the others. Russian ICCIDs start
    with 897, but cards issued abroad are accepted too.

    Raises:
        InvalidIdentifier: ``iccid.format``, ``iccid.length``, ``iccid.prefix`` or
            ``iccid.checksum``.
    """
    iccid = _strip(value, "-")
    if not _only_ascii_digits(iccid):
        raise InvalidIdentifier("iccid.format", value=clean_cell(value))
    if len(iccid) not in (19, 20):
        raise _length_problem("iccid.length", len(iccid), iccid=iccid)
    if not iccid.startswith(ICCID_PREFIX):
        raise InvalidIdentifier("iccid.prefix", iccid=iccid)
    if not luhn_valid(iccid):
        raise InvalidIdentifier("iccid.checksum", iccid=iccid)
    return iccid


# --- Phone numbers -------------------------------------------------------------------------

_PHONE_CHARS = re.compile(r"\+?[0-9\s().\-]+")
# An office extension after the number (`доб. 123`, `ext 12`): the SIM's number is the one
# before it, so the extension is dropped.
PHONE_EXTENSION = r"(?i:[\s,;]*(?:доб|ext|вн)\.?\s*[0-9]{1,6})$"
_PHONE_EXTENSION = re.compile(PHONE_EXTENSION)
_MOBILE_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})


def normalize_msisdn(value: str) -> str:
    """Return a Russian mobile number in E.164 form, ``+79123456789``.

    Accepts the usual spellings: ``8 (912) 345-67-89``, ``+7 912 345 67 89``,
    ``79123456789``, ``9123456789``, and an extension after it (``доб. 123``), which is
    dropped. Without a leading ``+``, 10 digits are read as a Russian number without the
    country code and 11 digits starting with 7 or 8 as a Russian number.

    Raises:
        InvalidIdentifier: ``phone.invalid`` when the value is not a phone number at all,
            ``phone.not_russian_mobile`` for landlines and foreign numbers.
    """
    shown = clean_cell(value)
    text = _PHONE_EXTENSION.sub("", shown)
    invalid = InvalidIdentifier("phone.invalid", "phone.empty" if not shown else None, value=shown)
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
        where = "landline" if region == "RU" else "foreign"
        raise InvalidIdentifier("phone.not_russian_mobile", f"phone.{where}", phone=e164)
    return e164
