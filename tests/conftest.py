"""Shared test fixtures: GA4 fixtures, the Pinterest request schema, a body validator, the emulator."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from dev.harness import Emulator, emulator_available, run_emulator
from lib import cli

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


def run_module(
    module: str, *args: str, stdin: str | None = None, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m module args` from the project's root, as a user runs it (text in, text out)."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ if env is None else env),
        check=False,
        timeout=120,
    )


def run_cli(*args: str) -> tuple[int, str, str]:
    """`lib.cli` in this process: its exit status, standard output and standard error."""
    out, err = io.StringIO(), io.StringIO()
    try:
        status = cli.main(list(args), out, err)
    except SystemExit as exit_:  # argparse's usage errors
        status = int(exit_.code or 0)
    return status, out.getvalue(), err.getvalue()


def wait_for(condition: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """The first truthy result of `condition()`, polled until `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="session")
def _running_emulator(tmp_path_factory) -> Iterator[Emulator]:
    why_not = emulator_available()
    if why_not:
        pytest.skip(f"Pub/Sub emulator unavailable: {why_not}")
    with run_emulator(log_path=tmp_path_factory.mktemp("emulator") / "emulator.log") as running:
        yield running


@pytest.fixture(scope="module")
def emulator(_running_emulator, request) -> Iterator[Emulator]:
    """The Pub/Sub emulator (started once per session), in a project of this module's own.

    Names never collide between modules, and the client library talks to the emulator
    (`PUBSUB_EMULATOR_HOST`) while the module runs.
    """
    project = request.module.__name__.rpartition(".")[2].replace("_", "-")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PUBSUB_EMULATOR_HOST", _running_emulator.host)
        yield dataclasses.replace(_running_emulator, project=project)
