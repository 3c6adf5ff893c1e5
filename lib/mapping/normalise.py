"""Pinterest's normalisation rules, one small pure function per field: each returns the clean text or None.

None means "omit the field": a normaliser never raises for bad data and never returns "", because the
SHA-256 of an empty or junk value would match nobody. Values are read as people and shop systems write
them (invisible characters, `mailto:`, numbers with separators, names of places in any language). The
hard parts come from libraries: `email_validator` (syntax only, no network), `phonenumbers`, and the
pycountry-derived tables of `lib.mapping.places`.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Callable, Iterator
from decimal import Decimal, InvalidOperation
from typing import Final

import phonenumbers

from lib.mapping import dates, places

__all__ = [
    "amount",
    "city",
    "country",
    "currency",
    "date_of_birth",
    "email",
    "format_decimal",
    "gender",
    "ip_address",
    "language",
    "lowercase_id",
    "name",
    "phone",
    "postcode",
    "state",
    "text",
    "tidy",
]

# Values that tags and spreadsheets write for "nothing" (compared casefolded, before and after a rule).
_PLACEHOLDERS: Final = frozenset({"undefined", "null", "none", "nil", "n/a"})
_LONGEST_PLACEHOLDER: Final = max(map(len, _PLACEHOLDERS))

# Characters that show as nothing, which copy and paste leaves in values: zero-width space, word
# joiner, byte-order mark, soft hyphen, direction marks. (Zero-width joiners stay: emoji and some
# scripts need them; letter-only rules drop them anyway.) Every kind of space becomes a plain one.
_INVISIBLE: Final = "\u00ad\u180e\u200b\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff"  # noqa: E501
_SPACES: Final = "\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"  # noqa: E501
_ASCII_NON_LETTERS: Final = dict.fromkeys(c for c in range(128) if not chr(c).isalpha())
_ASCII_NON_ALNUM: Final = dict.fromkeys(c for c in range(128) if not chr(c).isalnum())
_TIDY: Final = {**dict.fromkeys(map(ord, _INVISIBLE)), **dict.fromkeys(map(ord, _SPACES), " ")}

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

_MAILTO: Final = re.compile(r"^mailto:", re.IGNORECASE)
# The usual address, plain lowercase ASCII, that email_validator accepts as it is (a property test
# checks that): dot-atoms of common characters, letter-digit-hyphen labels without '--' (IDNA's
# reserved form), a letter TLD that is not special-use, within the length limits. It skips the
# validator's Unicode checks; every other address goes through the validator.
_PLAIN_EMAIL: Final = re.compile(
    r"([a-z0-9_%+-]+(?:\.[a-z0-9_%+-]+)*)@((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+([a-z]{2,63}))"
)
_EMAIL_MAX, _LOCAL_MAX = 254, 64
# email_validator's SPECIAL_USE_DOMAIN_NAMES (a test keeps them equal), here so that the usual
# address never loads email_validator (about 50 ms of regular expressions on a cold start).
_SPECIAL_USE: Final = frozenset({"arpa", "invalid", "local", "localhost", "onion", "test"})

_TEL: Final = re.compile(r"^tel:", re.IGNORECASE)
# "+49…", "0049…", "(+49)…", "+001…": written with an international prefix, so the country is in the number.
_INTERNATIONAL_PREFIX: Final = re.compile(r"[\s(\[]*(?:\+|00)[\s0]*")
_EXTENSION: Final = re.compile(r"\s*(?:ext\.?|extension|x|#)\s*\d+\s*$", re.IGNORECASE)
_PHONE_SEPARATORS: Final = re.compile(r"[^\d+()A-Za-z]+")
_FIRST_GROUP: Final = re.compile(r"\d+")
_LETTER: Final = re.compile(r"[^\W\d_]")

_SUBDIVISION_CODE: Final = re.compile(r"([a-z]{2})-([a-z0-9]{1,3})")
_US_ZIP: Final = re.compile(r"([0-9]{5})(?:[0-9]{4})?")  # ZIP or ZIP+4, separators removed
_LANGUAGE_TAG: Final = re.compile(r"([a-z]{2})(?:[-_][a-z0-9]+)*")
_QUALITY: Final = re.compile(r";\s*q\s*=\s*([0-9.]+)")

# Amounts: a number with any grouping, between currency signs or codes ("$12.50", "12,50 €", "12.5 USD").
_AMOUNT: Final = re.compile(r"([^\d+\-−]*)([+\-−]?)([^\d]*?)(\d(?:[\d.,' ’]*\d)?)(\D*)", re.DOTALL)
_GROUP_MARKS: Final = re.compile(r"[.,' ’]")
# Longer text is no date or amount; the limits keep the regular expressions linear on junk.
_LONGEST_DATE, _LONGEST_AMOUNT = 64, 64


def tidy(value: str) -> str:
    """The value without invisible characters and surrounding blanks: 'a@b.co\\u200b' -> 'a@b.co'."""
    return (value if value.isascii() else value.translate(_TIDY)).strip()


def email(value: str) -> str | None:
    """A valid address, lowercase: ' Jane.Doe@Example.com ' -> 'jane.doe@example.com'.

    `mailto:` and `Name <address>` give the address; validity is `email_validator`'s (syntax and
    domain rules, no DNS look-up), so 'test..test@example.com' and 'test@example.com.' are not.
    """
    written = _present(value)
    if written is None:
        return None
    if written.endswith(">") and "<" in written:  # Jane Doe <jane@example.com>
        written = written[written.rfind("<") + 1 : -1]
    written = _MAILTO.sub("", written, count=1).partition("?")[0].strip()
    if len(written) > _EMAIL_MAX:
        return None
    if _plainly_valid(lowered := written.lower()):
        return lowered
    from email_validator import EmailNotValidError, validate_email

    try:
        checked = validate_email(written, check_deliverability=False)
    except EmailNotValidError:
        return None
    return checked.normalized.lower()


def phone(value: str, country: str = "") -> str | None:
    """Digits of the E.164 number, country code first, no '+': '030 1234567' with 'de' -> '49301234567'.

    Readings, first possible one wins: a number written with '+' or '00' (then any zeros) is
    international whatever the country; digits that start with the country's calling code and form a
    valid number with it already carry it; then the number as written in `country`; last, digits
    whose first group is a calling code ('15551234567', '1-555-123-4567'). A number inside other text
    ('Call +1 555 123 4567') is found by phonenumbers' matcher. Numbers need only be possible (right
    length), not assigned, so 555 numbers pass.
    """
    written = _present(value)
    if written is None:
        return None
    written = _TEL.sub("", written, count=1).partition(";")[0]
    region = country.strip().upper()
    bare = _EXTENSION.sub("", written) if _LETTER.search(written) or "#" in written else written
    if _LETTER.search(bare):
        return _phone_in_text(written, region)
    for reading, in_region, accept in _phone_readings(_PHONE_SEPARATORS.sub(" ", bare).strip(), region):
        number = _parse_phone(reading, in_region)
        if number is not None and accept(number):
            return _e164_digits(number)
    return None


def gender(value: str) -> str | None:
    """'f', 'm' or 'n' from common spellings in several languages: 'Female', 'F', 'woman' -> 'f'."""
    return _GENDERS.get(places.fold(tidy(value)))


def date_of_birth(value: str, country: str = "") -> str | None:
    """YYYYMMDD: '1990-01-15', '19900115', 'December 31, 1990', '1990年12月29日' -> a date (see dates)."""
    written = _present(value)
    if written is None or len(written) > _LONGEST_DATE:
        return None
    return dates.birth_date(written, country.strip().lower())


def name(value: str) -> str | None:
    """Lowercase letters only (accents kept, NFC); hyphens, apostrophes, spaces go: "O'Brien" -> 'obrien'."""
    return _clean(value, _letters)


def city(value: str) -> str | None:
    """Lowercase letters only, no spaces or punctuation, accents kept: 'Saint-Étienne' -> 'saintétienne'."""
    return _clean(value, _letters)


def state(value: str, country: str = "") -> str | None:
    """Two-character subdivision code, lowercase: 'California', 'Calif.', 'CA', 'US-CA' with 'us' -> 'ca'.

    Names and abbreviations need the country; a bare code is checked against it when it is known
    ('XY' in the US gives None). Subdivisions whose ISO code is not two characters ('AU-NSW') give None.
    """
    region = country.strip().lower()
    return _clean(value, lambda written: _subdivision(written, region))


def postcode(value: str, country: str = "") -> str | None:
    """Lowercase letters and digits only; US (or ZIP-shaped with no country): five digits.

    '94123-1234' -> '94123', 'SW1A 1AA' -> 'sw1a1aa', '〒100-0001' -> '1000001', '2101' in the US -> '02101'.
    """
    region = country.strip().lower()
    return _clean(value, lambda written: _postcode(written, region))


def country(value: str) -> str | None:
    """ISO-3166 alpha-2 code, lowercase, of a code or a name in any language: 'Polska' -> 'pl'."""
    return _clean(value, places.country_code)


def lowercase_id(value: str) -> str | None:
    """Trimmed and lowercase, as Pinterest's own tag treats ids: ' ABC-123 ' -> 'abc-123'."""
    return _clean(value, lambda written: _with_alphanumeric(written.lower()))


def text(value: str) -> str | None:
    """Trimmed, for plain (unhashed) string fields: '  Blue shoes ' -> 'Blue shoes'."""
    return _clean(value, str)


def language(value: str) -> str | None:
    """Two-letter ISO-639-1 code of a language tag or the preferred one of an Accept-Language value.

    'en_US' -> 'en'; 'fr-CH, fr;q=0.9, en;q=0.8' -> 'fr'.
    """
    for tag in _preferred_tags(value.lower()):
        found = _LANGUAGE_TAG.fullmatch(tag)
        if found and found.group(1) in places.language_codes():
            return found.group(1)
    return None


def currency(value: str) -> str | None:
    """ISO-4217 code, uppercase: ' eur ' -> 'EUR'."""
    code = tidy(value).upper()
    return code if code in places.currency_codes() else None


def ip_address(value: str) -> str | None:
    """The first IPv4 or IPv6 address of a value or forwarded list, in standard form.

    '2001:DB8:0::1' -> '2001:db8::1'; '203.0.113.7, 10.0.0.1' -> '203.0.113.7'.
    """
    for entry in tidy(value).split(","):
        try:
            return ipaddress.ip_address(entry.strip()).compressed
        except ValueError:
            continue
    return None


def amount(value: str) -> str | None:
    """A finite number in plain notation, as people write amounts: '1,299.00', '1.299,00' -> '1299'.

    '12,50' -> '12.5', '$12.50' and '12.5 USD' -> '12.5'. One comma or point is the decimal mark,
    except a comma followed by exactly three digits ('1,299'), which groups thousands like repeated
    marks, spaces and apostrophes do. Currency signs and ISO codes around the number are ignored.
    """
    written = tidy(value)
    try:
        number = Decimal(written)
    except InvalidOperation:
        number = _written_amount(written) if len(written) <= _LONGEST_AMOUNT else None
    return format_decimal(number) if number is not None and number.is_finite() else None


def format_decimal(number: Decimal) -> str:
    """`Decimal('110.00')` -> `'110'`, `Decimal('0.30')` -> `'0.3'`: plain notation, no exponent."""
    plain = format(number.normalize(), "f")
    return "0" if plain in {"-0", ""} else plain


# --- small steps ---------------------------------------------------------------------------------


def _present(value: str) -> str | None:
    """The value tidied, or None when that is empty or a placeholder such as 'undefined'."""
    trimmed = tidy(value)
    placeholder = len(trimmed) <= _LONGEST_PLACEHOLDER and trimmed.casefold() in _PLACEHOLDERS
    return trimmed if trimmed and not placeholder else None


def _clean(value: str, rule: Callable[[str], str]) -> str | None:
    """Apply a rule to a present value; None when the value or the rule's result is not present."""
    trimmed = _present(value)
    return None if trimmed is None else _present(rule(trimmed))


def _letters(value: str) -> str:
    """Lowercase letters (with their combining marks) only, in NFC: 'Mary-Jane 2' -> 'maryjane'."""
    if value.isascii():
        return value.lower().translate(_ASCII_NON_LETTERS)
    kept = "".join(char for char in value.lower() if unicodedata.category(char)[0] in "LM")
    composed = unicodedata.normalize("NFC", kept)
    return composed if composed[:1].isalpha() else ""


def _plainly_valid(address: str) -> bool:
    parts = _PLAIN_EMAIL.fullmatch(address)
    return bool(
        parts
        and len(parts.group(1)) <= _LOCAL_MAX
        and "--" not in parts.group(2)
        and parts.group(3) not in _SPECIAL_USE
    )


def _with_alphanumeric(value: str) -> str:
    """The value if it has at least one letter or digit, else ''."""
    return value if any(char.isalnum() for char in value) else ""


# --- phone -----------------------------------------------------------------------------------------

_PhoneCheck = Callable[[phonenumbers.PhoneNumber], bool]


def _phone_readings(written: str, region: str) -> Iterator[tuple[str, str | None, _PhoneCheck]]:
    """Ways to read a phone number as (text, region, acceptance test), the likeliest first."""
    prefix = _INTERNATIONAL_PREFIX.match(written)
    digits = "".join(filter(str.isdecimal, written[prefix.end() :] if prefix else written))
    if prefix:  # digits alone parse faster, and phonenumbers drops a trunk '(0)' after the code itself
        yield "+" + digits, None, phonenumbers.is_possible_number
        return
    calling_code = str(phonenumbers.country_code_for_region(region)) if region else ""
    if calling_code and digits.startswith(calling_code):
        yield "+" + digits, None, phonenumbers.is_valid_number
    if region:
        yield written, region, phonenumbers.is_possible_number
    first_group = _FIRST_GROUP.match(written)
    if first_group and (first_group.end() == len(written) or _is_calling_code(first_group.group())):
        yield "+" + digits, None, phonenumbers.is_possible_number


def _is_calling_code(digits: str) -> bool:
    return int(digits) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE


def _phone_in_text(written: str, region: str) -> str | None:
    """The first possible number that phonenumbers' matcher finds in text ('Call +1 555 123 4567')."""
    leniency = phonenumbers.Leniency.POSSIBLE
    for match in phonenumbers.PhoneNumberMatcher(written, region or None, leniency=leniency):
        return _e164_digits(match.number)
    return None


def _parse_phone(written: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    """The parsed number, or None when it does not parse or has a leading zero it cannot have."""
    try:
        number = phonenumbers.parse(written, region)
    except phonenumbers.NumberParseException:
        return None
    # Only some countries' assigned numbers (Italy's) keep a zero after the country code.
    keeps_zero = not number.italian_leading_zero or phonenumbers.is_valid_number(number)
    return number if keeps_zero and number.national_number else None


def _e164_digits(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]


# --- places ----------------------------------------------------------------------------------------


def _subdivision(value: str, region: str) -> str:
    """Two-character subdivision code from an ISO code, a code or a name of `region`; '' if none."""
    iso = _SUBDIVISION_CODE.fullmatch(value.lower())
    if iso:  # 'US-CA': its own country must be the event's, when that is known
        known = iso.group(2) in places.subdivision_codes(iso.group(1))
        return iso.group(2) if known and region in {"", iso.group(1)} else ""
    key = places.fold(value)
    if not region:
        return key if len(key) == 2 and key.isascii() else ""
    if key in places.subdivision_codes(region):
        return key
    return places.subdivision_code(value, region)


def _postcode(value: str, region: str) -> str:
    """Five digits of a US ZIP (leading zeros restored); elsewhere lowercase letters and digits."""
    if value.isascii():
        compact = value.lower().translate(_ASCII_NON_ALNUM)
    else:
        compact = "".join(char for char in unicodedata.normalize("NFKC", value).lower() if char.isalnum())
    if region == "us" and compact.isdigit() and 3 <= len(compact) <= 4:
        compact = compact.zfill(5)  # spreadsheets drop the leading zeros of New England's ZIP codes
    zip_code = _US_ZIP.fullmatch(compact)
    if region == "us" or (not region and zip_code):
        return zip_code.group(1) if zip_code else ""
    return compact


# --- languages ---------------------------------------------------------------------------------------


def _preferred_tags(value: str) -> list[str]:
    """The tags of an Accept-Language value, highest quality first (ties keep their order)."""
    weighted = []
    for entry in tidy(value).split(","):
        tag, _, parameters = entry.partition(";")
        quality = _QUALITY.match(";" + parameters) if parameters else None
        try:
            weight = float(quality.group(1)) if quality else 1.0
        except ValueError:
            weight = 0.0
        weighted.append((-weight, tag.strip()))
    return [tag for _, tag in sorted(weighted, key=lambda pair: pair[0])]


# --- amounts -------------------------------------------------------------------------------------------


def _written_amount(written: str) -> Decimal | None:
    """The number of an amount with currency and grouping marks, or None."""
    parts = _AMOUNT.fullmatch(written)
    if not parts or not _is_currency("".join(parts.group(1, 3, 5))):
        return None
    plain = _ungrouped(parts.group(4))
    sign = "-" if parts.group(2) in {"-", "−"} else ""
    return Decimal(sign + plain) if plain else None


def _is_currency(around: str) -> bool:
    """Whether the text around a number is only currency: signs ('$', '€'), ISO codes, 'US$'."""
    compact = "".join(around.split())
    letters = "".join(char for char in compact if char.isalpha())
    signs = "".join(char for char in compact if unicodedata.category(char) == "Sc")
    if len(letters) + len(signs) != len(compact):
        return False
    return not letters or letters.upper() in places.currency_codes() or (bool(signs) and len(letters) <= 3)


def _ungrouped(number: str) -> str:
    """'1.299,00' -> '1299.00'; '' when the grouping marks are not where thousands would be."""
    mark = _decimal_mark(number)
    whole, fraction = number.rsplit(mark, 1) if mark else (number, "")
    groups = _GROUP_MARKS.split(whole)
    if (len(groups) > 1 and not _grouped(groups)) or not (fraction.isdigit() or not fraction):
        return ""
    return "".join(groups) + (f".{fraction}" if fraction else "")


def _decimal_mark(number: str) -> str:
    """The decimal mark of a written number: the last of ',' and '.', unless it only groups digits."""
    last = max(number.rfind("."), number.rfind(","))
    if last < 0:
        return ""
    mark = number[last]
    if ("," if mark == "." else ".") in number:
        return mark
    grouping = number.count(mark) > 1 or (mark == "," and len(number) - last - 1 == 3)
    return "" if grouping else mark


def _grouped(groups: list[str]) -> bool:
    """Thousands groups: 1-3 digits first, 3 digits last, 2 or 3 between (Indian lakhs: 1,00,000)."""
    first, *middle, last = groups
    return 1 <= len(first) <= 3 and len(last) == 3 and all(len(group) in {2, 3} for group in middle)
