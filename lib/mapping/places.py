"""Countries, subdivisions, languages and currencies, looked up in tables derived from pycountry.

The tables in `lib/mapping/data/` are written by `dev/build_tables.py` from the installed pycountry
(every name and every translation it ships) and read here on first use, so the function never loads
pycountry's databases: codes are one small file, names two larger ones read only when a value is not
a code. The few everyday names ISO does not have (`UAE`, `Calif.`, `NRW`) are the aliases below.
"""

from __future__ import annotations

import functools
import json
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

__all__ = [
    "COUNTRY_ALIASES",
    "DATA",
    "SUBDIVISION_ALIASES",
    "country_code",
    "currency_codes",
    "fold",
    "language_codes",
    "subdivision_code",
    "subdivision_codes",
]

DATA: Final = Path(__file__).parent / "data"
_ASCII_NON_ALNUM: Final = dict.fromkeys(c for c in range(128) if not chr(c).isalnum())

# Everyday country names that are neither ISO names nor pycountry translations (folded on lookup).
COUNTRY_ALIASES: Final[Mapping[str, str]] = {
    "UK": "gb",
    "Great Britain": "gb",
    "Britain": "gb",
    "England": "gb",
    "Scotland": "gb",
    "Wales": "gb",
    "Northern Ireland": "gb",
    "America": "us",
    "EE.UU.": "us",  # Spanish: Estados Unidos
    "EUA": "us",  # Portuguese: Estados Unidos da América
    "Holland": "nl",
    "The Netherlands": "nl",
    "UAE": "ae",
    "Emirates": "ae",
    "DR Congo": "cd",
    "DRC": "cd",
    "Congo-Kinshasa": "cd",
    "Congo-Brazzaville": "cg",
    "Ivory Coast": "ci",
    "Macedonia": "mk",
    "Burma": "mm",
    "Cape Verde": "cv",
    "Swaziland": "sz",
    "Turkey": "tr",
    "Russia": "ru",
    "Россия": "ru",
    "Vatican": "va",
    "KSA": "sa",
}

# Everyday abbreviations of subdivisions, per country (folded on lookup): US states as the AP
# stylebook and the US Postal Service's old abbreviations write them, and a few German and
# Dutch ones that shops see.
SUBDIVISION_ALIASES: Final[Mapping[str, Mapping[str, str]]] = {
    "us": {
        "Ala": "al", "Ariz": "az", "Ark": "ar", "Calif": "ca", "Cal": "ca", "Colo": "co",
        "Conn": "ct", "Del": "de", "Fla": "fl", "Ga": "ga", "Ill": "il", "Ind": "in", "Kan": "ks",
        "Kans": "ks", "Ky": "ky", "La": "la", "Md": "md", "Mass": "ma", "Mich": "mi", "Minn": "mn",
        "Miss": "ms", "Mo": "mo", "Mont": "mt", "Neb": "ne", "Nebr": "ne", "Nev": "nv", "N.H.": "nh",
        "N.J.": "nj", "N.M.": "nm", "N.Y.": "ny", "N.C.": "nc", "N.D.": "nd", "Okla": "ok",
        "Ore": "or", "Oreg": "or", "Pa": "pa", "Penn": "pa", "Penna": "pa", "R.I.": "ri", "S.C.": "sc",
        "S.D.": "sd", "Tenn": "tn", "Tex": "tx", "Vt": "vt", "Va": "va", "Wash": "wa", "W.Va": "wv",
        "Wis": "wi", "Wisc": "wi", "Wyo": "wy", "D.C.": "dc", "Washington D.C.": "dc",
        "Washington, D.C.": "dc",
    },
    "de": {"NRW": "nw", "BaWü": "bw", "BW": "bw", "Meck-Pomm": "mv", "MV": "mv"},
    "nl": {"North Holland": "nh", "South Holland": "zh", "Noord Holland": "nh", "Zuid Holland": "zh"},
}  # fmt: skip


def fold(value: str) -> str:
    """Lookup key: casefolded letters and digits, accents and punctuation gone, '&' read as 'and'.

    'Baden-Württemberg' -> 'badenwurttemberg', 'Bosnia & Herzegovina' -> 'bosniaandherzegovina'.
    """
    text = value.replace("&", "and")
    if text.isascii():
        return text.lower().translate(_ASCII_NON_ALNUM)
    return "".join(char for char in unicodedata.normalize("NFKD", text).casefold() if char.isalnum())


def country_code(value: str) -> str:
    """ISO-3166 alpha-2 code, lowercase, of a code, an alpha-3 or numeric code or a name; '' if none."""
    key = fold(value)
    if key in _codes()["countries"]:
        return key
    return _country_code_keys().get(key) or _country_name_keys().get(key, "")


def subdivision_code(value: str, country: str) -> str:
    """The two-character code of a name or alias of one of `country`'s subdivisions; '' if none."""
    key = fold(value)
    aliases = _subdivision_aliases().get(country, {})
    return aliases.get(key) or _subdivision_keys(country).get(key, "")


def subdivision_codes(country: str) -> frozenset[str]:
    """The two-character subdivision codes of a country (lowercase); empty for an unknown country."""
    return _subdivision_code_sets().get(country, frozenset())


@functools.cache
def language_codes() -> frozenset[str]:
    """ISO-639-1 two-letter language codes."""
    return frozenset(_codes()["languages"])


@functools.cache
def currency_codes() -> frozenset[str]:
    """ISO-4217 currency codes, uppercase."""
    return frozenset(_codes()["currencies"])


def _read(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


@functools.cache
def _codes() -> dict[str, Any]:
    return _read("codes.json")


@functools.cache
def _subdivision_code_sets() -> dict[str, frozenset[str]]:
    return {country: frozenset(codes) for country, codes in _codes()["subdivisions"].items()}


def _inverted(grouped: Mapping[str, list[str]]) -> dict[str, str]:
    """{code: [keys]} -> {key: code}."""
    return {key: code for code, keys in grouped.items() for key in keys}


@functools.cache
def _country_code_keys() -> dict[str, str]:
    """Folded alpha-3 and numeric codes and the aliases -> alpha-2."""
    aliases = {fold(alias): code for alias, code in COUNTRY_ALIASES.items()}
    return {**aliases, **_inverted(_codes()["countries"])}


@functools.cache
def _country_name_keys() -> dict[str, str]:
    """Folded names and translations -> alpha-2 (the larger table, read only when a name is given)."""
    return _inverted(_read("country_names.json"))


@functools.cache
def _subdivision_lines() -> dict[str, str]:
    """Each country's line of the subdivision names (JSON Lines), parsed only when asked for."""
    lines = (DATA / "subdivision_names.jsonl").read_text(encoding="utf-8").splitlines()
    return {line[2:4]: line for line in lines}


@functools.lru_cache(maxsize=64)
def _subdivision_keys(country: str) -> dict[str, str]:
    """Folded names and translations of one country's subdivisions -> their two-character codes."""
    line = _subdivision_lines().get(country)
    return _inverted(json.loads(line)[1]) if line else {}


@functools.cache
def _subdivision_aliases() -> dict[str, dict[str, str]]:
    return {
        country: {fold(alias): code for alias, code in aliases.items()}
        for country, aliases in SUBDIVISION_ALIASES.items()
    }
