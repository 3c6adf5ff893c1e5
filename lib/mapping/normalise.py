"""Pinterest's normalisation rules, one small pure function per field: each returns the clean text or None.

None means "omit the field": a normaliser never raises for bad data and never returns "", because the
SHA-256 of an empty or junk value would match nobody. The hard parts (phone numbers, country and
subdivision codes, languages, currencies) come from `phonenumbers` and `pycountry`, looked up through
indexes built once and cached, so a call is a dict access or one phone-number parse.
"""

from __future__ import annotations

import functools
import gettext
import ipaddress
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from operator import attrgetter
from typing import Final

import phonenumbers
import pycountry

__all__ = [
    "city",
    "country",
    "currency",
    "date_of_birth",
    "email",
    "gender",
    "ip_address",
    "language",
    "lowercase_id",
    "name",
    "phone",
    "postcode",
    "state",
    "text",
]

# Values that tags and spreadsheets write for "nothing" (compared casefolded, before and after a rule).
_PLACEHOLDERS: Final = frozenset({"undefined", "null", "none", "nil", "n/a"})

# Languages whose translations of country and subdivision names (shipped with pycountry) are also
# accepted; ISO's own names are local (`Bayern`), so English adds `Bavaria`, German `Deutschland`.
_NAME_LOCALES: Final = ("en", "de", "fr", "es", "it", "pt", "nl")

_EMAIL: Final = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")

# Gender spellings, folded (lowercase, no accents, letters only) -> Pinterest's f / m / n.
_GENDER_SPELLINGS: Final = {
    "f": ("f", "female", "feminine", "woman", "w", "girl", "lady", "frau", "weiblich", "femme", "feminin",
          "mujer", "femenino", "femenina", "donna", "femmina", "mulher", "feminino", "vrouw", "vrouwelijk"),
    "m": ("m", "male", "masculine", "man", "boy", "mann", "mannlich", "homme", "masculin", "hombre",
          "masculino", "uomo", "maschio", "homem", "mannelijk"),
    "n": ("n", "nonbinary", "nb", "enby", "x", "other", "d", "divers", "diverse", "genderqueer", "agender",
          "genderfluid", "nichtbinar", "nonbinaire", "autre", "nobinario", "otro", "naobinario", "outro",
          "altro", "nietbinair", "anders"),
}  # fmt: skip
_GENDERS: Final = {spelling: code for code, spellings in _GENDER_SPELLINGS.items() for spelling in spellings}

# Dates: 19900115, or three numbers split by one kind of separator, then maybe a time of day.
_TIME_OF_DAY: Final = r"(?:(?:[Tt]|\s+)\d{1,2}:\d{2}.*)?"
_COMPACT_DATE: Final = re.compile(r"(\d{4})(\d{2})(\d{2})" + _TIME_OF_DAY, re.ASCII | re.DOTALL)
_SEPARATED_DATE: Final = re.compile(
    r"(\d{1,4})([-/.])(\d{1,2})\2(\d{1,4})" + _TIME_OF_DAY, re.ASCII | re.DOTALL
)
# Year-last dates: positions of (month, day) among the first two numbers, the likelier reading first.
# "/" is read the US way (03/04/1990 is March 4th); "." and "-" day first (15.01.1990, 15-01-1990).
_YEAR_LAST_READINGS: Final = {"/": ((0, 1), (1, 0)), ".": ((1, 0), (0, 1)), "-": ((1, 0), (0, 1))}
_FIRST_BIRTH_YEAR: Final = 1900

# "+49…", "0049…", "(+49)…": written with an international prefix, so the country is in the number.
_INTERNATIONAL_PREFIX: Final = re.compile(r"[\s(\[]*(?:\+|00)")

_SUBDIVISION_CODE: Final = re.compile(r"[a-z]{2}-([a-z0-9]{1,3})")
_US_ZIP: Final = re.compile(r"([0-9]{5})(?:[0-9]{4})?")  # ZIP or ZIP+4, separators removed
_POSTCODE_SEPARATORS: Final = re.compile(r"[\s-]+")
_LANGUAGE_TAG: Final = re.compile(r"([a-z]{2})(?:[-_][a-z0-9]+)*")

# Everyday country names that are neither ISO names nor translations of them.
_COUNTRY_ALIASES: Final = {
    "UK": "GB",
    "Great Britain": "GB",
    "Britain": "GB",
    "England": "GB",
    "Scotland": "GB",
    "Wales": "GB",
    "Northern Ireland": "GB",
    "America": "US",
    "Holland": "NL",
    "The Netherlands": "NL",
    "Russia": "RU",
    "Turkey": "TR",
    "Ivory Coast": "CI",
    "Macedonia": "MK",
    "Burma": "MM",
    "Cape Verde": "CV",
    "Swaziland": "SZ",
}


def email(value: str) -> str | None:
    """Trimmed, lowercase, one '@' and a dotted domain: ' Jane.Doe@Example.com ' -> 'jane.doe@example.com'."""
    address = value.strip().lower()
    return address if _EMAIL.fullmatch(address) else None


def phone(value: str, country: str = "") -> str | None:
    """Digits of the E.164 number, country code first, no '+': '030 1234567' with 'de' -> '49301234567'.

    Readings, first possible one wins: a number written with '+' or '00' is international whatever the
    country; digits that start with the country's calling code and form a valid number with it already
    carry it; then the number as written in `country`; last, bare digits as code and number
    ('15551234567'). Numbers need only be possible (right length), not assigned, so 555 numbers pass.
    """
    for written, region, accept in _phone_readings(value.strip(), country.strip().upper()):
        number = _parse_phone(written, region)
        if number is not None and accept(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]
    return None


def gender(value: str) -> str | None:
    """'f', 'm' or 'n' from common spellings in several languages: 'Female', 'F', 'woman' -> 'f'."""
    return _GENDERS.get(_fold(value))


def date_of_birth(value: str) -> str | None:
    """YYYYMMDD of a real date from 1900 to this year: '1990-01-15', '15.01.1990', '01/15/1990' -> '19900115'.

    Four-digit years only. Year-last dates are read month first with '/' (US: 03/04/1990 is March 4th)
    and day first with '.' or '-', each falling back to the other order when the first is impossible.
    """
    readings = _date_readings(value.strip())
    return next(filter(None, (_calendar_date(*reading) for reading in readings)), None)


def name(value: str) -> str | None:
    """Lowercase letters only (accents kept, NFC); hyphens, apostrophes, spaces go: "O'Brien" -> 'obrien'."""
    return _clean(value, _letters)


def city(value: str) -> str | None:
    """Lowercase letters only, no spaces or punctuation, accents kept: 'Saint-Étienne' -> 'saintétienne'."""
    return _clean(value, _letters)


def state(value: str, country: str = "") -> str | None:
    """Two-character subdivision code, lowercase, from a code or (country known) a name: 'California' -> 'ca'.

    ISO codes keep the part after the dash ('US-CA' -> 'ca'); codes whose part is not two characters
    ('AU-NSW', 'GB-ENG') give None, as does a name when the country is not given.
    """
    region = country.strip().lower()
    return _clean(value, lambda trimmed: _subdivision(trimmed, region))


def postcode(value: str, country: str = "") -> str | None:
    """US (or unknown country and ZIP-shaped): first five digits; else lowercase without spaces or dashes.

    '94123-1234' -> '94123'; 'SW1A 1AA' -> 'sw1a1aa'.
    """
    region = country.strip().lower()
    return _clean(value, lambda trimmed: _postcode(trimmed, region))


def country(value: str) -> str | None:
    """ISO-3166 alpha-2 code, lowercase, from a code, an alpha-3 code or a name: 'United States' -> 'us'."""
    return _clean(value, lambda trimmed: _country_index().get(_fold(trimmed), ""))


def lowercase_id(value: str) -> str | None:
    """Trimmed and lowercase, as Pinterest's own tag treats ids: ' ABC-123 ' -> 'abc-123'."""
    return _clean(value, lambda trimmed: _with_alphanumeric(trimmed.lower()))


def text(value: str) -> str | None:
    """Trimmed, for plain (unhashed) string fields: '  Blue shoes ' -> 'Blue shoes'."""
    return _clean(value, str)


def language(value: str) -> str | None:
    """Two-letter ISO-639-1 code, lowercase, from a language tag: 'en_US' -> 'en'."""
    tag = _LANGUAGE_TAG.fullmatch(value.strip().lower())
    code = tag.group(1) if tag else ""
    return code if code in _language_codes() else None


def currency(value: str) -> str | None:
    """ISO-4217 code, uppercase: ' eur ' -> 'EUR'."""
    code = value.strip().upper()
    return code if code in _currency_codes() else None


def ip_address(value: str) -> str | None:
    """An IPv4 or IPv6 address in its standard text form: '2001:DB8:0::1' -> '2001:db8::1'."""
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


# --- small steps ---------------------------------------------------------------------------------


def _present(value: str) -> str | None:
    """The value trimmed, or None when that is empty or a placeholder such as 'undefined'."""
    trimmed = value.strip()
    return trimmed if trimmed and trimmed.casefold() not in _PLACEHOLDERS else None


def _clean(value: str, rule: Callable[[str], str]) -> str | None:
    """Apply a rule to a present value; None when the value or the rule's result is not present."""
    trimmed = _present(value)
    return None if trimmed is None else _present(rule(trimmed))


def _letters(value: str) -> str:
    """Lowercase letters (with their combining marks) only, in NFC: 'Mary-Jane 2' -> 'maryjane'."""
    kept = "".join(char for char in value.lower() if unicodedata.category(char)[0] in "LM")
    composed = unicodedata.normalize("NFC", kept)
    return composed if composed[:1].isalpha() else ""


def _with_alphanumeric(value: str) -> str:
    """The value if it has at least one letter or digit, else ''."""
    return value if any(char.isalnum() for char in value) else ""


def _fold(value: str) -> str:
    """Lookup key: casefolded letters and digits, no accents: 'Baden-Württemberg' -> 'badenwurttemberg'."""
    return "".join(char for char in unicodedata.normalize("NFKD", value).casefold() if char.isalnum())


def _first_wins(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """A dict of the pairs in which an earlier pair's key is never overwritten by a later one."""
    index: dict[str, str] = {}
    for key, code in pairs:
        index.setdefault(key, code)
    return index


def _translators(domain: str) -> tuple[Callable[[str], str], ...]:
    """pycountry's gettext translations of one ISO catalogue into `_NAME_LOCALES`."""
    catalogue = functools.partial(gettext.translation, domain, pycountry.LOCALES_DIR, fallback=True)
    return tuple(catalogue(languages=[locale]).gettext for locale in _NAME_LOCALES)


# --- phone -----------------------------------------------------------------------------------------

_PhoneCheck = Callable[[phonenumbers.PhoneNumber], bool]


def _phone_readings(written: str, region: str) -> Iterator[tuple[str, str | None, _PhoneCheck]]:
    """Ways to read a phone number as (text, region, acceptance test), the likeliest first."""
    prefix = _INTERNATIONAL_PREFIX.match(written)
    if prefix:
        yield "+" + written[prefix.end() :], None, phonenumbers.is_possible_number
        return
    digits_only = written.isdigit()
    calling_code = str(phonenumbers.country_code_for_region(region)) if region else ""
    if digits_only and calling_code and written.startswith(calling_code):
        yield "+" + written, None, phonenumbers.is_valid_number
    if region:
        yield written, region, phonenumbers.is_possible_number
    if digits_only:
        yield "+" + written, None, phonenumbers.is_possible_number


def _parse_phone(written: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    """The parsed number, or None when it does not parse or has a leading zero it cannot have."""
    try:
        number = phonenumbers.parse(written, region)
    except phonenumbers.NumberParseException:
        return None
    # Only some countries' assigned numbers (Italy's) keep a zero after the country code.
    keeps_zero = not number.italian_leading_zero or phonenumbers.is_valid_number(number)
    return number if keeps_zero and number.national_number else None


# --- dates -----------------------------------------------------------------------------------------


def _date_readings(written: str) -> Iterator[tuple[str, str, str]]:
    """Possible (year, month, day) readings of a date, the likeliest first."""
    if compact := _COMPACT_DATE.fullmatch(written):
        yield compact.group(1), compact.group(2), compact.group(3)
        return
    if not (parts := _SEPARATED_DATE.fullmatch(written)):
        return
    first, separator, second, last = parts.groups()
    if len(first) == 4:
        yield first, second, last
    elif len(last) == 4:
        pair = (first, second)
        yield from ((last, pair[month], pair[day]) for month, day in _YEAR_LAST_READINGS[separator])


def _calendar_date(year: str, month: str, day: str) -> str | None:
    try:
        born = date(int(year), int(month), int(day))
    except ValueError:
        return None
    return born.isoformat().replace("-", "") if _FIRST_BIRTH_YEAR <= born.year <= date.today().year else None


# --- places ----------------------------------------------------------------------------------------


def _subdivision(value: str, region: str) -> str:
    """Two-character subdivision code from an ISO code, a bare code or a name of `region`; '' if none."""
    iso = _SUBDIVISION_CODE.fullmatch(value.lower())
    if iso:
        return iso.group(1) if len(iso.group(1)) == 2 else ""
    key = _fold(value)
    if len(key) == 2 and key.isascii():
        return key
    return _subdivision_index(region).get(key, "") if region else ""


def _subdivision_names(region: str) -> Iterator[tuple[str, str]]:
    """(name, ISO code) pairs of one country's subdivisions, ISO's own names before translations."""
    found = pycountry.subdivisions.get(country_code=region.upper()) or ()
    subdivisions = sorted(found, key=attrgetter("code"))
    yield from ((sub.name, sub.code) for sub in subdivisions)
    for translate in _translators("iso3166-2"):
        yield from ((translate(sub.name), sub.code) for sub in subdivisions)


@functools.lru_cache(maxsize=256)
def _subdivision_index(region: str) -> dict[str, str]:
    """Folded subdivision names of one country -> the two-character part of their ISO code."""
    index = _first_wins(
        (_fold(label), code.partition("-")[2].lower()) for label, code in _subdivision_names(region)
    )
    return {key: code for key, code in index.items() if len(code) == 2}


def _postcode(value: str, region: str) -> str:
    """First five digits of a US ZIP; elsewhere lowercase without spaces or dashes; '' if unusable."""
    compact = _POSTCODE_SEPARATORS.sub("", value).lower()
    zip_code = _US_ZIP.fullmatch(compact)
    if region == "us" or (not region and zip_code):
        return zip_code.group(1) if zip_code else ""
    return _with_alphanumeric(compact)


def _country_names() -> Iterator[tuple[str, str]]:
    """(name or code, alpha-2) pairs, most authoritative first: codes, ISO names, aliases, translations."""
    countries = sorted(pycountry.countries, key=attrgetter("alpha_2"))
    for field in ("alpha_2", "alpha_3", "numeric", "name", "official_name", "common_name"):
        yield from ((getattr(item, field), item.alpha_2) for item in countries if hasattr(item, field))
    yield from _COUNTRY_ALIASES.items()
    for translate in _translators("iso3166-1"):
        yield from ((translate(item.name), item.alpha_2) for item in countries)


@functools.cache
def _country_index() -> dict[str, str]:
    return _first_wins((_fold(label), code.lower()) for label, code in _country_names())


# --- codes -----------------------------------------------------------------------------------------


@functools.cache
def _language_codes() -> frozenset[str]:
    return frozenset(item.alpha_2 for item in pycountry.languages if hasattr(item, "alpha_2"))


@functools.cache
def _currency_codes() -> frozenset[str]:
    return frozenset(item.alpha_3 for item in pycountry.currencies)
