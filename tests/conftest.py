"""Shared test fixtures: GA4 fixtures, the Pinterest request schema, a body validator."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
SHARED = ROOT.parent / "shared"
VENDORED_SCHEMA = ROOT / "dev" / "schema" / "conversions-request.schema.json"
SHARED_SCHEMA = SHARED / "pinterest" / "conversions-request.schema.json"

# The fixtures' sGTM request times are fixed in November 2025; mapping "now" sits just after.
FIXTURE_NOW = 1_764_317_200


def load_fixture(name: str) -> dict[str, Any]:
    return json.loads((DATA / "ga4" / f"{name}.json").read_text())


def _validator(path: Path) -> jsonschema.Draft202012Validator:
    schema = json.loads(path.read_text())
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture(scope="session")
def validate_body() -> Callable[[dict[str, Any]], None]:
    """Check a request body against the vendored schema, and against ../shared's when present."""
    validators = [_validator(VENDORED_SCHEMA)]
    if SHARED_SCHEMA.exists():
        validators.append(_validator(SHARED_SCHEMA))

    def validate(body: dict[str, Any]) -> None:
        for validator in validators:
            errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
            assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]

    return validate


@pytest.fixture(scope="session")
def shared_schema() -> dict[str, Any]:
    if not SHARED_SCHEMA.exists():
        pytest.skip("../shared is absent: the comparison with Pinterest's published schema is skipped")
    return json.loads(SHARED_SCHEMA.read_text())
