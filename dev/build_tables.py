"""Write the mapping's lookup tables (lib/mapping/data/*.json) from the installed pycountry.

    python -m dev.build_tables           # rewrite the tables
    python -m dev.build_tables --check   # exit 1 if they differ from what pycountry gives now

The function reads these small JSON files instead of pycountry's databases and its gettext
catalogues, which would cost tens of milliseconds and megabytes on every cold start. Keys are
folded with the same `fold` the lookups use. Countries and subdivisions are found by their ISO
names (also written "Republic of Korea" for "Korea, Republic of" and without a bracketed part) and
by the translations of those names in every locale pycountry ships; a translation that would name
two different places is left out, and ISO's own names and codes always win over translations.
tests/test_tables.py checks that the files match what this script derives.
"""

from __future__ import annotations

import argparse
import gettext
import json
import re
import sys
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

import pycountry

from lib.mapping.places import DATA, fold

_BRACKETED: Final = re.compile(r"\s*[(\[]([^)\]]*)[)\]]")


def _variants(name: str) -> Iterator[str]:
    """Other ways people write an ISO name: 'Korea, Republic of' as 'Republic of Korea' and 'Korea',
    'Bolivia (Plurinational State of)' as 'Bolivia', 'Catalunya [Cataluña]' as 'Catalunya' and 'Cataluña'.
    """
    bare = _BRACKETED.sub("", name).strip()
    alternatives = [m.group(1) for m in _BRACKETED.finditer(name) if m.group(0).lstrip().startswith("[")]
    for form in dict.fromkeys((name, bare, *alternatives)):
        yield form
        head, comma, tail = form.partition(", ")
        if comma:
            yield from (f"{tail} {head}", head)
            if tail.lower().startswith("the "):  # 'Congo, The Democratic Republic of the'
                yield f"{tail[4:]} {head}"


def _translators(domain: str) -> list[Callable[[str], str]]:
    """gettext of one ISO catalogue in every locale pycountry ships it for (sorted, so stable)."""
    found = Path(pycountry.LOCALES_DIR).glob(f"*/LC_MESSAGES/{domain}.mo")
    locales = sorted(path.parent.parent.name for path in found)
    return [gettext.translation(domain, pycountry.LOCALES_DIR, languages=[loc]).gettext for loc in locales]


def _names_by_code(
    places: list[tuple[str, list[str], list[str]]],
    translators: list[Callable[[str], str]],
    reserved: set[str],
) -> dict[str, set[str]]:
    """{code: folded keys} of places given as (code, ISO names, names to translate).

    An ISO name as written always counts; a variant or a translation only where it names one place
    alone and is neither a code nor another place's ISO name.
    """
    primary = {code: {fold(name) for name in names} - {""} for code, names, _ in places}
    taken = reserved.union(*primary.values())
    claims: defaultdict[str, set[str]] = defaultdict(set)
    for code, names, translated in places:
        written = [*names, *(translate(name) for translate in translators for name in translated)]
        for key in {fold(variant) for name in written for variant in _variants(name)}:
            claims[key].add(code)
    for key, codes in claims.items():
        if key and len(codes) == 1 and key not in taken:
            primary[next(iter(codes))].add(key)
    return primary


def _country_tables() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    countries = sorted(pycountry.countries, key=lambda c: c.alpha_2)
    codes = {c.alpha_2.lower(): [c.alpha_3.lower(), c.numeric] for c in countries}
    reserved = set(codes).union(*codes.values())
    places = [
        (
            c.alpha_2.lower(),
            [getattr(c, field) for field in ("name", "official_name", "common_name") if hasattr(c, field)],
            [getattr(c, field) for field in ("name", "common_name") if hasattr(c, field)],
        )
        for c in countries
    ]
    names = _names_by_code(places, _translators("iso3166-1"), reserved)
    return codes, {code: sorted(keys) for code, keys in names.items() if keys}


def _suffix(code: str) -> str:
    return code.partition("-")[2].lower()


def _subdivision_tables() -> tuple[dict[str, list[str]], dict[str, dict[str, list[str]]]]:
    """Two-character codes per country, and the names of those subdivisions per country."""
    by_country: defaultdict[str, list[Any]] = defaultdict(list)
    for sub in sorted(pycountry.subdivisions, key=lambda s: s.code):
        by_country[sub.country_code.lower()].append(sub)
    translators = _translators("iso3166-2")
    codes: dict[str, list[str]] = {}
    names: dict[str, dict[str, list[str]]] = {}
    for country, subs in sorted(by_country.items()):
        two = [_suffix(s.code) for s in subs if len(_suffix(s.code)) == 2]
        if not two:
            continue
        codes[country] = two
        found = _names_by_code([(_suffix(s.code), [s.name], [s.name]) for s in subs], translators, set())
        names[country] = {code: sorted(found[code]) for code in two if found[code]}
    return codes, names


def derive() -> dict[str, Any]:
    """Every table, by file name, as pycountry gives it now."""
    country_codes, country_names = _country_tables()
    subdivision_codes, subdivision_names = _subdivision_tables()
    codes = {
        "countries": country_codes,
        "subdivisions": subdivision_codes,
        "languages": sorted(lang.alpha_2 for lang in pycountry.languages if hasattr(lang, "alpha_2")),
        "currencies": sorted(currency.alpha_3 for currency in pycountry.currencies),
    }
    return {
        "codes.json": codes,
        "country_names.json": country_names,
        "subdivision_names.jsonl": subdivision_names,
    }


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def render(name: str, table: dict[str, Any]) -> str:
    """Compact UTF-8 JSON, one top-level entry per line (readable diffs after an upgrade).

    `.jsonl` tables are JSON Lines of `[key, value]`, so that a reader can parse one line alone.
    """
    if name.endswith(".jsonl"):
        return "".join(f"{_compact([key, value])}\n" for key, value in table.items())
    lines = (f"{json.dumps(key)}:{_compact(value)}" for key, value in table.items())
    return "{\n" + ",\n".join(lines) + "\n}\n"


def main() -> int:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when a table is stale")
    check = parser.parse_args().check
    stale = []
    for name, table in derive().items():
        path, text = DATA / name, render(name, table)
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(name)
        if not check:
            DATA.mkdir(exist_ok=True)
            path.write_text(text, encoding="utf-8")
    verb = "stale" if check else "written"
    print(f"{verb}: {', '.join(stale)}" if stale else f"up to date with pycountry {pycountry.__version__}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
