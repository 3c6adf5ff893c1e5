"""The operator commands on a real deployment: emulator → function → Pinterest stand-in.

`report` reads the lines the function really wrote for a known mix of events (a push redelivered
after a fault included), as written and as a `gcloud logging read --format=json` export, and gives
exact counts and shares. `publish` and `replay` need no Google credentials with the emulator.
Skipped with the reason where the emulator (Google Cloud CLI + Java) is absent.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dev.harness import Emulator, run_function
from dev.pinterest_standin import StandIn, Status
from dev.push import refreshed
from tests.conftest import DATA, load_fixture, run_module, wait_for

pytestmark = pytest.mark.e2e

TOKEN = "pina_report_e2e_token"
UA = "Mozilla/5.0 (X11; Linux x86_64) report-e2e"


def fresh(event: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**refreshed(event, time.time()), **changes}


def mix() -> tuple[list[dict[str, Any]], list[Any]]:
    """The redelivered message's events, and the messages published after it (b"..." is not JSON)."""
    redelivered = [
        {"event_name": "add_to_cart", "ip_override": "198.51.100.10", "user_agent": UA,
         "user_data": {"phone_number": "+44 20 7946 0018"}},
        {"event_name": "add_to_cart", "ip_override": "198.51.100.11", "user_agent": UA,
         "user_data": {"phone_number": "+1 (555) 123-4567"}},
        {"event_name": "purchase", "value": 5, "currency": "EUR"},  # no match key
    ]  # fmt: skip
    others = [
        fresh(load_fixture("purchase")),  # email, phone, external id (user_id), IP and user agent
        {"event_name": "purchase", "value": 10, "currency": "EUR",
         "user_data": {"email_address": "a1@example.com"}},
        {"event_name": "purchase", "event_id": "order-1001", "value": "20", "currency": "EUR",
         "ip_override": "198.51.100.12", "user_agent": UA, "user_data": {"email_address": "b2@example.com"}},
        fresh(load_fixture("page_view")),  # IP, user agent and a click id (epik)
        fresh(load_fixture("page_view"), **{"x-ga-gcs": "G100"}),  # consent denied
        b"{not json",
    ]  # fmt: skip
    return redelivered, others


def shares(**given: float) -> dict[str, float]:
    keys = ("em", "ph", "external_id", "click_id", "hashed_maids", "ip_ua")
    return {key: given.get(key, 0.0) for key in keys}


EXPECTED = {
    "event_names": {
        "checkout": {
            "events": 4,
            "processed": 3,
            "rejected": 1,
            "skipped": 0,
            "match_keys": shares(em=1.0, ph=1 / 3, external_id=1 / 3, ip_ua=2 / 3),
            "own_event_id": 1 / 3,
        },
        "add_to_cart": {
            "events": 2,
            "processed": 2,
            "rejected": 0,
            "skipped": 0,
            "match_keys": shares(ph=1.0, ip_ua=1.0),
            "own_event_id": 0.0,
        },
        "page_visit": {
            "events": 2,
            "processed": 1,
            "rejected": 0,
            "skipped": 1,
            "match_keys": shares(click_id=1.0, ip_ua=1.0),
            "own_event_id": 0.0,
        },
        "(none)": {
            "events": 1,
            "processed": 0,
            "rejected": 1,
            "skipped": 0,
            "match_keys": shares(),
            "own_event_id": 0.0,
        },
    },
    "reasons": {"consent_denied": 1, "no_match_key": 1, "not_json": 1},
}


@pytest.fixture(scope="module")
def function_log(emulator, tmp_path_factory) -> Path:
    """The log of a function that handled the mix, once every event in it has a final outcome."""
    log = tmp_path_factory.mktemp("function") / "function.log"
    topic, dead_letter_topic = emulator.topic("report-events"), emulator.topic("report-dead-letter")
    with StandIn(token=TOKEN) as standin:
        env = {
            "PINTEREST_AD_ACCOUNT_ID": "549755885175",
            "PINTEREST_ACCESS_TOKEN": TOKEN,
            "PINTEREST_API_BASE_URL": standin.base_url,
            "DELIVERY_DEADLINE_SECONDS": "5",
            "DEAD_LETTER_TOPIC": dead_letter_topic,
            "PUBSUB_EMULATOR_HOST": emulator.host,
        }
        with run_function(env, log_path=log) as function:
            emulator.push_subscription("report-push", topic, f"{function.url}/{topic}", dead_letter_topic)
            redelivered, others = mix()
            # Retry-After beyond the delivery deadline: the push is answered 503 and comes back.
            standin.inject(Status(429, retry_after=60))
            emulator.publish_json(topic, redelivered)
            wait_for(lambda: log.read_text().count('"message":"event deferred"') >= 2, 30, "a deferred push")
            for message in others:
                raw = message if isinstance(message, bytes) else json.dumps(message).encode()
                emulator.publish(topic, raw)
            wait_for(lambda: report_of(log) == EXPECTED, 60, "every event to end as planned")
    return log


def report_of(path: Path) -> dict[str, Any] | None:
    result = run_module("lib.cli", "report", "--json", str(path))
    return json.loads(result.stdout) if result.returncode == 0 else None


def test_the_report_of_real_log_lines_counts_each_event_once_with_exact_shares(function_log):
    text = function_log.read_text()
    assert text.count('"message":"event deferred"') == 2  # the redelivered push was logged twice...
    assert text.count('"reason":"no_match_key"') == 2
    assert report_of(function_log) == EXPECTED  # ...and counted once


def gcloud_export(log: Path, start: float = 1_764_317_200.0) -> str:
    """The log as `gcloud logging read --format=json` lists it: newest first, severity moved out of
    the payload, and the lines that are not JSON as textPayload entries."""
    entries = []
    for n, line in enumerate(log.read_text().splitlines()):
        when = datetime.fromtimestamp(start + n * 0.25, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        entry: dict[str, Any] = {"insertId": str(n), "timestamp": when, "logName": "projects/p/logs/run"}
        try:
            payload = json.loads(line)
        except ValueError:
            entry["textPayload"] = line
        else:
            entry["severity"] = payload.pop("severity")
            entry["jsonPayload"] = payload
        entries.append(entry)
    return json.dumps(entries[::-1], indent=2)


def test_the_report_of_a_gcloud_logging_export_is_the_same(function_log, tmp_path):
    exported = tmp_path / "export.json"
    exported.write_text(gcloud_export(function_log))
    assert report_of(exported) == EXPECTED


def test_the_text_report_is_best_first_names_the_weakest_and_holds_no_user_data(function_log):
    result = run_module("lib.cli", "report", "-", stdin=function_log.read_text())
    assert result.returncode == 0, result.stderr
    rows = result.stdout.splitlines()
    assert [row.split()[0] for row in rows[1:5]] == ["checkout", "add_to_cart", "page_visit", "(none)"]
    assert rows[1].split() == ["checkout", "4", "3", "1", "0", "100%", "33%", "33%", "0%", "0%", "67%", "33%"]
    assert rows[-1] == (
        "Weakest: page_visit (1 of 2 processed): no email on 100%, no phone on 100%, "
        "no external_id on 100%, no own event_id on 100%, 1 not sent (consent_denied 1)"
    )
    purchase, page_view = load_fixture("purchase"), load_fixture("page_view")
    personal = ["a1@example.com", "b2@example.com", "198.51.100", "7946", "555", UA, purchase["user_id"]]
    personal += [purchase["user_data"]["email_address"].strip(), page_view["page_location"], "Mozilla"]
    assert [value for value in personal if value.lower() in result.stdout.lower()] == []


def without_credentials(tmp_path: Path, emulator: Emulator) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "GOOGLE_APPLICATION_CREDENTIALS"}
    return {
        **env,
        "CLOUDSDK_CONFIG": str(tmp_path),
        "NO_GCE_CHECK": "True",
        "PUBSUB_EMULATOR_HOST": emulator.host,
    }


def test_publish_and_replay_need_no_credentials_with_the_emulator(emulator, tmp_path):
    source, target = emulator.topic("cli-source"), emulator.topic("cli-target")
    parked = emulator.subscription("cli-parked", source)
    arrived = emulator.subscription("cli-arrived", target)
    env = without_credentials(tmp_path, emulator)
    published = run_module(
        "lib.cli", "publish", "--topic", source, str(DATA / "ga4" / "purchase.json"), env=env
    )
    assert (published.returncode, published.stderr) == (0, "")
    started = time.monotonic()
    replayed = run_module(
        "lib.cli", "replay", "--subscription", parked, "--topic", target, "--wait", "1", env=env
    )
    assert (replayed.returncode, replayed.stderr) == (0, ""), replayed.stdout
    assert time.monotonic() - started < 30
    assert replayed.stdout.splitlines()[-1].split()[:2] == ["total", "1"]
    [message] = wait_for(lambda: emulator.pull(arrived), 10, "the replayed message")
    assert message["message_id"] != published.stdout.strip()
    assert json.loads(message["data"]) == load_fixture("purchase")
