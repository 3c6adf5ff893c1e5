"""End to end: Pub/Sub emulator → functions-framework serving main.handle_pubsub → Pinterest stand-in.

Real pushes, real retries and dead-letter policies, real HTTP. Skipped with the reason where the
emulator (Google Cloud CLI + Java) is absent. The last test reads every log line the function
wrote during the module and checks that nothing secret or personal is in it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dev.harness import Emulator, emulator_available, run_emulator, run_function
from dev.pinterest_standin import Delay, Drop, FailEvents, StandIn, Status
from tests.conftest import load_fixture

pytestmark = pytest.mark.e2e

TOKEN = "pina_e2e_secret_token_123"
AD_ACCOUNT = "549755885175"
_names = itertools.count()
_LOGS: list[Path] = []


def fresh(name: str, **changes: Any) -> dict[str, Any]:
    """A fixture event with its sGTM request time moved to now (the files date from 2025)."""
    event = load_fixture(name)
    event["x-sst-system_properties"]["request_start_time_ms"] = int(time.time() * 1000)
    return {**event, **changes}


def wait_for(condition: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Deployment:
    emulator: Emulator
    standin: StandIn
    topic: str
    dead_letter_subscription: str
    parked: list[dict[str, Any]] = field(default_factory=list)
    published: dict[bytes, str] = field(default_factory=dict)

    def publish(self, value: Any, raw: bytes | None = None) -> str:
        data = raw if raw is not None else json.dumps(value).encode()
        message_id = self.emulator.publish(self.topic, data, {"event_name": "test"})
        self.published[data] = message_id
        return message_id

    def _source_id(self, parked: dict[str, Any]) -> str | None:
        """Our letters name their message; Pub/Sub's own carry the original data unchanged."""
        return parked["attributes"].get("source_message_id") or self.published.get(parked["data"])

    def dead_letters(self, message_id: str, count: int = 1, timeout: float = 30.0) -> list[dict[str, Any]]:
        """The dead-lettered messages that came from `message_id` (ours or Pub/Sub's own)."""

        def mine() -> list[dict[str, Any]]:
            self.parked.extend(self.emulator.pull(self.dead_letter_subscription))
            found = [p for p in self.parked if self._source_id(p) == message_id]
            return found if len(found) >= count else []

        return wait_for(mine, timeout, f"{count} dead letter(s) of message {message_id}")

    def received(self, event_ids: set[str], timeout: float = 30.0) -> list[dict[str, Any]]:
        def got() -> list[dict[str, Any]]:
            events = [e for e in self.standin.events() if e["event_id"] in event_ids]
            return events if {e["event_id"] for e in events} >= event_ids else []

        return wait_for(got, timeout, f"events {sorted(event_ids)} at Pinterest")


@pytest.fixture(scope="module")
def emulator(tmp_path_factory) -> Iterator[Emulator]:
    why_not = emulator_available()
    if why_not:
        pytest.skip(f"Pub/Sub emulator unavailable: {why_not}")
    with run_emulator(log_path=tmp_path_factory.mktemp("emulator") / "emulator.log") as running:
        yield running


@pytest.fixture(scope="module")
def standin() -> Iterator[StandIn]:
    with StandIn(token=TOKEN) as running:
        yield running


@contextmanager
def deploy(emulator: Emulator, standin: StandIn, log_dir: Path, **env: str) -> Iterator[Deployment]:
    n = next(_names)
    topic = emulator.topic(f"ga4-events-{n}")
    dead_letter_topic = emulator.topic(f"ga4-dead-letter-{n}")
    dead_letter_subscription = emulator.subscription(f"ga4-dead-letter-{n}-pull", dead_letter_topic)
    log_path = log_dir / f"function-{n}.log"
    _LOGS.append(log_path)
    settings = {
        "PINTEREST_AD_ACCOUNT_ID": AD_ACCOUNT,
        "PINTEREST_ACCESS_TOKEN": TOKEN,
        "PINTEREST_API_BASE_URL": standin.base_url,
        "PINTEREST_READ_TIMEOUT_SECONDS": "1",
        "DELIVERY_DEADLINE_SECONDS": "20",
        "DEAD_LETTER_TOPIC": dead_letter_topic,
        "PUBSUB_EMULATOR_HOST": emulator.host,
        **env,
    }
    with run_function(settings, log_path=log_path) as function:
        emulator.push_subscription(f"ga4-push-{n}", topic, f"{function.url}/{topic}", dead_letter_topic)
        yield Deployment(emulator, standin, topic, dead_letter_subscription)


@pytest.fixture(scope="module")
def deployment(emulator, standin, tmp_path_factory) -> Iterator[Deployment]:
    with deploy(emulator, standin, tmp_path_factory.mktemp("logs")) as running:
        yield running


@pytest.fixture(autouse=True)
def _clean_standin(standin):
    standin.reset()


def test_both_fixtures_are_delivered_and_schema_valid(deployment, standin, validate_body):
    purchase_id = deployment.publish(fresh("purchase"))
    page_view_id = deployment.publish(fresh("page_view"))
    events = deployment.received({f"{purchase_id}-0", f"{page_view_id}-0"})
    assert sorted(e["event_name"] for e in events) == ["checkout", "page_visit"]
    for record in standin.requests:
        assert record.valid, record.errors
        validate_body(record.body)
        assert record.query == {}


def test_an_array_message_delivers_every_event(deployment):
    message_id = deployment.publish(
        [fresh("page_view"), fresh("purchase"), fresh("page_view", event_id="own-id")]
    )
    events = deployment.received({f"{message_id}-0", f"{message_id}-1", "own-id"})
    assert len(events) == 3


@pytest.mark.parametrize(
    ("raw", "reason"),
    [(b"\x00not json at all", "not_json"), (b"42", "not_an_event")],
    ids=["undecodable", "json-number"],
)
def test_bad_messages_are_dead_lettered_with_their_reason(deployment, raw, reason):
    message_id = deployment.publish(None, raw=raw)
    [parked] = deployment.dead_letters(message_id)
    assert parked["attributes"]["reason"] == reason
    assert parked["attributes"]["event_name"] == "test"  # the original attributes travel along
    assert parked["data"] == raw


def test_an_event_without_match_key_is_dead_lettered_and_the_others_delivered(deployment):
    bad = {"event_name": "purchase", "value": 10, "currency": "EUR"}
    message_id = deployment.publish([fresh("purchase"), bad])
    deployment.received({f"{message_id}-0"})
    [parked] = deployment.dead_letters(message_id)
    assert parked["attributes"]["reason"] == "no_match_key"
    assert parked["attributes"]["event_index"] == "1"
    assert json.loads(parked["data"]) == bad


@pytest.mark.parametrize(
    "faults",
    [
        (Status(429, retry_after=1),),
        (Status(500), Status(503)),
        (Delay(2.0),),
        (Drop(),),
    ],
    ids=["429-retry-after", "5xx", "slower-than-read-timeout", "dropped-connection"],
)
def test_transient_faults_still_deliver_with_the_same_event_id(deployment, standin, faults):
    standin.inject(*faults)
    message_id = deployment.publish(fresh("purchase"))
    [event] = deployment.received({f"{message_id}-0"})

    def attempts() -> list[dict[str, Any]]:
        # A delayed request is recorded when its (too late) answer is written.
        sent = [
            e
            for r in standin.requests
            if r.body
            for e in r.body["data"]
            if e["event_id"] == event["event_id"]
        ]
        return sent if len(sent) >= 2 else []

    sent = wait_for(attempts, 10, "a second attempt")
    assert all(e == event for e in sent)  # the same event_id each time, so Pinterest deduplicates


def test_a_failed_event_in_a_200_dead_letters_exactly_that_event(deployment, standin):
    standin.inject(FailEvents(indexes=(1,), message="Invalid event_time for a@b.co"))
    message_id = deployment.publish([fresh("page_view"), fresh("purchase"), fresh("page_view")])
    deployment.received({f"{message_id}-0", f"{message_id}-2"})
    [parked] = deployment.dead_letters(message_id)
    assert parked["attributes"]["reason"] == "pinterest_rejected"
    assert parked["attributes"]["event_index"] == "1"
    assert "a@b.co" not in parked["attributes"]["detail"]
    time.sleep(2)  # nothing is sent again: the push was acknowledged
    assert sum(len(r.body["data"]) for r in standin.requests if r.body) == 3


def test_401_is_not_acknowledged_until_pubsub_dead_letters_it(deployment, standin):
    standin.inject(*[Status(401)] * 10)
    message_id = deployment.publish(fresh("purchase"))
    [parked] = deployment.dead_letters(message_id, timeout=60)
    assert parked["attributes"]["CloudPubSubDeadLetterSourceDeliveryCount"] == "5"
    assert len(standin.requests) >= 5


def test_test_mode_sends_test_true(emulator, standin, tmp_path_factory):
    with deploy(emulator, standin, tmp_path_factory.mktemp("logs"), PINTEREST_TEST_MODE="true") as test_mode:
        message_id = test_mode.publish(fresh("purchase"))
        test_mode.received({f"{message_id}-0"})
    assert [r.query for r in standin.requests] == [{"test": "true"}]
    assert "pinterest test mode" in _LOGS[-1].read_text()


def _secrets_and_pii() -> dict[str, str]:
    """Everything that must never appear in a log line: the token, and each event's PII raw and hashed."""
    values = {"token": TOKEN}
    for name in ("purchase", "page_view"):
        event = load_fixture(name)
        user = event.get("user_data", {})
        values.update(
            {
                f"{name} ip": event["ip_override"],
                f"{name} user agent": event["user_agent"],
                f"{name} url": event["page_location"],
                f"{name} referrer": event["page_referrer"],
            }
        )
        if user:
            address = user["address"]
            raw = {
                "email": user["email_address"].strip(),
                "phone": user["phone_number"],
                "first name": address["first_name"],
                "last name": address["last_name"],
                "street": address["street"],
                "city": address["city"],
                "user id": event["user_id"],
            }
            values.update({f"{name} {k}": v for k, v in raw.items()})
            for normalised in (
                "jane.doe@example.com",
                "15551234567",
                "jane",
                "doe",
                "springfield",
                "cust_000123",
            ):
                values[f"hash of {normalised}"] = hashlib.sha256(normalised.encode()).hexdigest()
    values["click id"] = "dj0yJnU9RkFLRV9URVNUX0VQSUsmcD0xJm49dGVzdCZ0PUFBQUFBQQ"
    return values


def test_logs_hold_no_token_pii_ip_user_agent_or_url():
    """Runs last: every log line the functions wrote during this module."""
    if not _LOGS:
        pytest.skip(f"no function ran in this module: {emulator_available() or 'its tests were deselected'}")
    text = "\n".join(path.read_text() for path in _LOGS if path.exists())
    assert '"message":"event processed"' in text  # the logs were written, so the check means something
    leaks = {label for label, value in _secrets_and_pii().items() if value.lower() in text.lower()}
    assert not leaks
    for line in text.splitlines():
        if line.startswith("{"):
            assert {"severity", "message"} <= set(json.loads(line))
