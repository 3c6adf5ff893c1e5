"""`make run` (dev/run.py) and the README's "run the function on its own" path, run as a person runs them.

`make run` needs the Pub/Sub emulator and is skipped with the reason where it is absent; the
function on its own (functions-framework, the stand-in started from its command line, dev.push)
needs only Python.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from dev.harness import emulator_available, free_port, run_function
from tests.conftest import DATA, ROOT, run_module

_CREDENTIALS = ("PINTEREST_ACCESS_TOKEN", "PINTEREST_AD_ACCOUNT_ID")


def make_run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    why_not = emulator_available()
    if why_not:
        pytest.skip(f"Pub/Sub emulator unavailable: {why_not}")
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    base = {key: value for key, value in os.environ.items() if key not in _CREDENTIALS}
    result = subprocess.run(
        [sys.executable, "-m", "dev.run"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**base, "TMPDIR": str(temporary), **env},
        check=False,
        timeout=180,
    )
    assert list(temporary.iterdir()) == []  # no temporary folder left behind
    return result


@pytest.mark.e2e
def test_make_run_ends_with_the_report_and_one_summary_line(tmp_path):
    result = make_run(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "Summary: 2 delivered, 1 parked, 1 skipped; test mode off; all as expected."
    table = lines[lines.index("Stopped the emulator, the function and the stand-in.") + 2 :]
    assert [row.split()[:5] for row in table[:4]] == [
        ["event_name", "events", "processed", "rejected", "skipped"],
        ["checkout", "1", "1", "0", "0"],
        ["page_visit", "2", "1", "0", "1"],
        ["(none)", "1", "0", "1", "0"],
    ]
    assert lines[-3].startswith("Weakest: page_visit (1 of 2 processed): no email on 100%")


@pytest.mark.e2e
def test_make_run_prints_each_body_compactly_with_the_source_of_each_hashed_field(tmp_path):
    out = make_run(tmp_path).stdout
    received = out[out.index("What Pinterest received:") : out.index("What was dead-lettered:")]
    assert len(received.splitlines()) < 25
    assert re.search(r"\n +em +<- user_data\.email_address +sha256:[0-9a-f]{8}…\n", received)
    assert re.search(r"\n +zp +<- user_data\.address\.postal_code +sha256:[0-9a-f]{8}…\n", received)
    assert re.search(r"\n +external_id +<- user_id +sha256:[0-9a-f]{8}…\n", received)
    assert re.search(r"\n +click_id +<- page_location\?epik ", received)
    assert not re.search(r"[0-9a-f]{64}", out)  # digests are cut, never dumped whole
    assert "message 4: not_json" in out


@pytest.mark.e2e
def test_make_run_exits_1_when_an_expected_event_is_not_delivered(tmp_path):
    result = make_run(tmp_path, SKIP_EVENTS="purchase")
    assert result.returncode == 1
    assert "NOT AS EXPECTED: purchase: expected processed, got skipped" in result.stderr
    assert result.stdout.splitlines()[-1] == (
        "Summary: 1 delivered, 1 parked, 2 skipped; test mode off; 1 not as expected."
    )


@pytest.fixture
def function_on_its_own(tmp_path) -> Iterator[tuple[str, str]]:
    """The stand-in from its command line and the function pointed at it, as the README starts them."""
    port = free_port()
    standin = subprocess.Popen(
        [sys.executable, "-m", "dev.pinterest_standin", "--port", str(port), "--token", "local-token"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert standin.stdout is not None
        assert standin.stdout.readline().strip() == f"listening on http://127.0.0.1:{port}/v5"
        env = {
            "PINTEREST_AD_ACCOUNT_ID": "549000000000",
            "PINTEREST_ACCESS_TOKEN": "local-token",
            "PINTEREST_API_BASE_URL": f"http://127.0.0.1:{port}/v5",
        }
        with run_function(env, log_path=tmp_path / "function.log") as function:
            yield function.url, f"http://127.0.0.1:{port}"
    finally:
        standin.terminate()
        standin.wait(timeout=10)


def push(*args: str) -> subprocess.CompletedProcess[str]:
    return run_module("dev.push", *args)


def test_dev_push_delivers_a_sample_through_the_function_to_the_standin(function_on_its_own):
    url, standin = function_on_its_own
    result = push(str(DATA / "ga4" / "purchase.json"), "--url", f"{url}/")
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"message \d+ \(1 events\): HTTP 200, acknowledged\n", result.stdout)
    [event] = requests.get(f"{standin}/_standin/events", timeout=10).json()
    assert event["event_name"] == "checkout"
    assert abs(event["event_time"] - time.time()) < 60  # the sample's time was moved to now


def test_dev_push_keeping_the_samples_times_is_refused_as_too_old(function_on_its_own):
    url, standin = function_on_its_own
    result = push(str(DATA / "ga4" / "page_view.json"), "--url", url, "--keep-times")
    assert result.returncode == 1  # no dead-letter topic: the function leaves it to Pub/Sub's retries
    assert "HTTP 503, not acknowledged" in result.stdout
    assert requests.get(f"{standin}/_standin/events", timeout=10).json() == []


def test_dev_push_names_what_it_cannot_read_or_reach(tmp_path):
    missing = tmp_path / "missing.json"
    assert push(str(missing)).stderr == f"push: cannot read {missing}: No such file or directory\n"
    result = push(str(DATA / "ga4" / "purchase.json"), "--url", f"http://127.0.0.1:{free_port()}/")
    assert result.returncode == 2
    assert result.stderr.startswith("push: no answer from http://127.0.0.1:")
