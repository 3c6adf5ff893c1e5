"""Dates as people write them: birth dates (YYYYMMDD) and event times in ISO 8601 text."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Final

__all__ = ["MONTH_FIRST_COUNTRIES", "birth_date", "iso_seconds"]

# Countries that write a numeric date month first (03/04/1990 is March 4th); elsewhere day first.
MONTH_FIRST_COUNTRIES: Final = frozenset({"us", "as", "gu", "mp", "pr", "um", "vi", "ph", "fm", "mh", "pw"})

_FIRST_BIRTH_YEAR: Final = 1900
_TIME_OF_DAY: Final = re.compile(r"(?:[Tt]|\s+)\d{1,2}:\d{2}.*$", re.DOTALL)
_CJK_DATE: Final = re.compile(r"(\d{4})\s*[年년]\s*(\d{1,2})\s*[月월]\s*(\d{1,2})\s*[日일]?")
_COMPACT_DATE: Final = re.compile(r"(\d{4})(\d{2})(\d{2})")
_TOKEN: Final = re.compile(r"\d+|[^\W\d_]+")
_SEPARATOR: Final = re.compile(r"[^\w\s]|\s")

# English month names and their three-letter abbreviations; ordinal suffixes and "of" say nothing.
_MONTH_NAMES: Final = ("january", "february", "march", "april", "may", "june", "july", "august",
                       "september", "october", "november", "december")  # fmt: skip
_MONTHS: Final = {
    **{name: number for number, name in enumerate(_MONTH_NAMES, 1)},
    **{name[:3]: number for number, name in enumerate(_MONTH_NAMES, 1)},
    "sept": 9,
}
_FILLERS: Final = frozenset({"st", "nd", "rd", "th", "of"})

# Year-last numeric dates: (month, day) positions among the first two numbers, likelier first.
_MONTH_FIRST: Final = ((0, 1), (1, 0))
_DAY_FIRST: Final = ((1, 0), (0, 1))


def birth_date(value: str, country: str = "") -> str | None:
    """YYYYMMDD of a real date from 1900 to this year, or None.

    ISO and compact forms, CJK (1990年12月29日), month names (December 31, 1990; 29 Dec 1990) and
    numbers with any separators. A year-last date whose day and month could swap is read as the
    country writes dates; with no country, '/' is read month first and other separators day first.
    """
    written = _TIME_OF_DAY.sub("", unicodedata.normalize("NFKC", value).strip())
    return next(filter(None, (_calendar_date(*ymd) for ymd in _readings(written, country))), None)


def iso_seconds(value: str) -> float | None:
    """Unix seconds of an ISO 8601 date or time ('2026-11-28T08:05:00Z'); UTC when it has no offset."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _readings(written: str, country: str) -> Iterator[tuple[int, int, int]]:
    """Possible (year, month, day) readings, the likeliest first."""
    for pattern in (_CJK_DATE, _COMPACT_DATE):
        if found := pattern.fullmatch(written):
            yield int(found.group(1)), int(found.group(2)), int(found.group(3))
            return
    tokens = [token for token in _TOKEN.findall(written.casefold()) if token not in _FILLERS]
    if len(tokens) != 3 or not all(token.isdigit() or token in _MONTHS for token in tokens):
        return
    named = [token for token in tokens if not token.isdigit()]
    if len(named) == 1:
        yield from _with_month_name(tokens, _MONTHS[named[0]])
    elif not named:
        yield from _numeric(tokens, _numeric_order(written, country))


def _with_month_name(tokens: list[str], month: int) -> Iterator[tuple[int, int, int]]:
    numbers = [token for token in tokens if token.isdigit()]
    years = [n for n in numbers if len(n) == 4]
    days = [n for n in numbers if len(n) <= 2]
    if len(years) == 1 and len(days) == 1:
        yield int(years[0]), month, int(days[0])


def _numeric(tokens: list[str], order: tuple[tuple[int, int], ...]) -> Iterator[tuple[int, int, int]]:
    first, second, last = tokens
    if len(first) == 4 and len(second) <= 2 and len(last) <= 2:
        yield int(first), int(second), int(last)
    elif len(last) == 4 and len(first) <= 2 and len(second) <= 2:
        pair = (int(first), int(second))
        yield from ((int(last), pair[month], pair[day]) for month, day in order)


def _numeric_order(written: str, country: str) -> tuple[tuple[int, int], ...]:
    if country:
        return _MONTH_FIRST if country in MONTH_FIRST_COUNTRIES else _DAY_FIRST
    separator = _SEPARATOR.search(written)
    return _MONTH_FIRST if separator and separator.group() == "/" else _DAY_FIRST


def _calendar_date(year: int, month: int, day: int) -> str | None:
    try:
        born = date(year, month, day)
    except ValueError:
        return None
    return f"{born:%Y%m%d}" if _FIRST_BIRTH_YEAR <= born.year <= date.today().year else None
