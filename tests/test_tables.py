"""The lookup tables shipped in lib/mapping/data: what dev/build_tables.py derives from pycountry.

A pycountry upgrade that changes any code, name or translation fails here until the tables are
regenerated (`python -m dev.build_tables`). The function itself never loads pycountry.
"""

from __future__ import annotations

import json
import subprocess
import sys

import email_validator
import pycountry
import pytest

from dev import build_tables
from lib.mapping import normalise, places
from tests.conftest import ROOT

DERIVED = build_tables.derive()


@pytest.mark.parametrize("name", sorted(DERIVED))
def test_each_table_is_what_the_installed_pycountry_gives(name):
    shipped = (places.DATA / name).read_text(encoding="utf-8")
    assert shipped == build_tables.render(name, DERIVED[name]), (
        f"{name} is stale for pycountry {pycountry.__version__}: run `python -m dev.build_tables`"
    )


def test_no_other_table_is_shipped():
    assert sorted(path.name for path in places.DATA.iterdir()) == sorted(DERIVED)


def test_tables_are_text_the_deployment_archive_can_read():
    for path in places.DATA.iterdir():
        path.read_bytes().decode("utf-8")  # Terraform's file() reads UTF-8 text only


def test_every_alias_names_a_known_code():
    codes = json.loads((places.DATA / "codes.json").read_text(encoding="utf-8"))
    assert set(places.COUNTRY_ALIASES.values()) <= set(codes["countries"])
    for country, aliases in places.SUBDIVISION_ALIASES.items():
        assert set(aliases.values()) <= set(codes["subdivisions"][country]), country


def test_the_codes_are_pycountrys():
    assert places.language_codes() == {
        lang.alpha_2 for lang in pycountry.languages if hasattr(lang, "alpha_2")
    }
    assert places.currency_codes() == {currency.alpha_3 for currency in pycountry.currencies}
    us = {sub.code[3:].lower() for sub in pycountry.subdivisions.get(country_code="US")}
    assert places.subdivision_codes("us") == {code for code in us if len(code) == 2}


def test_a_translation_naming_two_places_is_left_out():
    names = json.loads((places.DATA / "country_names.json").read_text(encoding="utf-8"))
    owners: dict[str, list[str]] = {}
    for code, keys in names.items():
        for key in keys:
            owners.setdefault(key, []).append(code)
    assert all(len(codes) == 1 for codes in owners.values())


def test_translations_in_many_locales_are_found():
    germany = pycountry.countries.get(alpha_2="DE")
    found = 0
    for translate in build_tables._translators("iso3166-1"):
        found += normalise.country(translate(germany.name)) == "de"
    assert found >= 100  # pycountry 26 ships about 160 locales; a few translate to ambiguous names


def test_the_special_use_domains_are_email_validators():
    assert set(email_validator.SPECIAL_USE_DOMAIN_NAMES) == normalise._SPECIAL_USE


def test_mapping_an_event_loads_neither_pycountry_nor_email_validator():
    code = (
        "import json, sys; from lib.mapping import MappingConfig, map_events; "
        "event = json.load(open('tests/data/ga4/purchase.json')); "
        "event['user_data']['address'].update(region='Illinois', country='United States'); "
        "[m] = map_events([event], config=MappingConfig(), now=1_764_317_200); "
        "assert m.error is None, m.error; "
        "print(sorted(name for name in ('pycountry', 'email_validator') if name in sys.modules))"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"
