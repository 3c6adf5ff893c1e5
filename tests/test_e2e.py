"""End to end: Pub/Sub emulator → functions-framework serving main.handle_pubsub → Pinterest stand-in.

Real pushes, real retries and dead-letter policies, real HTTP. Skipped with the reason where the
emulator (Google Cloud CLI + Java) is absent. The last test reads every log line the function
wrote during the module and checks that nothing secret or personal is in it.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from dev.harness import Emulator, emulator_available, run_function
from dev.pinterest_standin import Delay, Drop, EventStatus, FailEvents, StandIn, Status
from lib.commands.replay import replay
from lib.mapping import derived_event_ids
from tests.conftest import load_fixture, wait_for

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


@dataclass
class Deployment:
    emulator: Emulator
    standin: StandIn
    topic: str
    dead_letter_topic: str
    dead_letter_subscription: str
    url: str
    parked: list[dict[str, Any]] = field(default_factory=list)
    published: dict[bytes, str] = field(default_factory=dict)
    ids: dict[str, list[str]] = field(default_factory=dict)  # message id -> its events' default ids

    def publish(self, value: Any, raw: bytes | None = None, attributes: dict[str, str] | None = None) -> str:
        data = raw if raw is not None else json.dumps(value).encode()
        message_id = self.emulator.publish(self.topic, data, attributes or {"event_name": "test"})
        self.published[data] = message_id
        if raw is None:
            self.ids[message_id] = derived_event_ids(value if isinstance(value, list) else [value])
        return message_id

    def sent_ids(self, message_id: str, *indexes: int) -> set[str]:
        """The ids Pinterest gets for events of a message that bring none of their own."""
        return {self.ids[message_id][index] for index in indexes or (0,)}

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
def standin() -> Iterator[StandIn]:
    with StandIn(token=TOKEN) as running:
        yield running


def _settings(standin: StandIn, emulator: Emulator) -> dict[str, str]:
    return {
        "PINTEREST_AD_ACCOUNT_ID": AD_ACCOUNT,
        "PINTEREST_ACCESS_TOKEN": TOKEN,
        "PINTEREST_API_BASE_URL": standin.base_url,
        "PINTEREST_READ_TIMEOUT_SECONDS": "1",
        "DELIVERY_DEADLINE_SECONDS": "20",
        "PUBSUB_EMULATOR_HOST": emulator.host,
    }


def _log(log_dir: Path) -> Path:
    """A new function log in `log_dir`, checked for leaks at the end of the module."""
    _LOGS.append(log_dir / f"function-{len(_LOGS)}.log")
    return _LOGS[-1]


@contextmanager
def deploy(emulator: Emulator, standin: StandIn, log_dir: Path, **env: str) -> Iterator[Deployment]:
    n = next(_names)
    topic = emulator.topic(f"ga4-events-{n}")
    dead_letter_topic = emulator.topic(f"ga4-dead-letter-{n}")
    dead_letter_subscription = emulator.subscription(f"ga4-dead-letter-{n}-pull", dead_letter_topic)
    settings = {**_settings(standin, emulator), "DEAD_LETTER_TOPIC": dead_letter_topic, **env}
    with run_function(settings, log_path=_log(log_dir), threads=80) as function:  # as Terraform deploys it
        emulator.push_subscription(f"ga4-push-{n}", topic, f"{function.url}/{topic}", dead_letter_topic)
        yield Deployment(emulator, standin, topic, dead_letter_topic, dead_letter_subscription, function.url)


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
    events = deployment.received(deployment.sent_ids(purchase_id) | deployment.sent_ids(page_view_id))
    assert sorted(e["event_name"] for e in events) == ["checkout", "page_visit"]
    for record in standin.requests:
        assert record.valid, record.errors
        validate_body(record.body)
        assert record.query == {}


def test_an_array_message_delivers_every_event(deployment):
    message_id = deployment.publish(
        [fresh("page_view"), fresh("purchase"), fresh("page_view", event_id="own-id")]
    )
    events = deployment.received(deployment.sent_ids(message_id, 0, 1) | {"own-id"})
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
    deployment.received(deployment.sent_ids(message_id))
    [parked] = deployment.dead_letters(message_id)
    assert parked["attributes"]["reason"] == "no_match_key"
    assert parked["attributes"]["event_index"] == "1"
    assert parked["attributes"]["pinterest_event_id"] == deployment.ids[message_id][1]
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
    [event] = deployment.received(deployment.sent_ids(message_id))

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
    deployment.received(deployment.sent_ids(message_id, 0, 2))
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
        test_mode.received(test_mode.sent_ids(message_id))
    assert [r.query for r in standin.requests] == [{"test": "true"}]
    assert "pinterest test mode" in _LOGS[-1].read_text()


# --- delivery integrity: one event's fault is that event's alone, nothing counted twice ----------


def function_lines(deployment_log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in deployment_log.read_text().splitlines() if line.startswith("{")]


def test_a_400_in_a_request_shared_by_many_pushes_parks_only_the_refused_events(deployment, standin):
    """Bursts of 60 single-event pushes at once; Pinterest refuses every request holding one of 3.

    Which pushes share a request is up to the batcher; bursts go on (at most 5) until a refused
    event has shared one, and every burst must keep the refusal to the refused events.
    """
    standin.refuse_events_with("REFUSE-ME")
    for burst in range(5):
        events = {
            f"b{burst}-{n}": fresh(
                "purchase", transaction_id=f"REFUSE-ME-{n}" if n in {5, 17, 42} else f"T-{n}"
            )
            for n in range(60)
        }
        refused = {f"b{burst}-{n}" for n in (5, 17, 42)}
        assert _burst(deployment, events) == dict.fromkeys(events, 200)  # every push acknowledged
        good = {derived_event_ids([event])[0] for key, event in events.items() if key not in refused}
        assert good <= {e["event_id"] for e in standin.events()}
        letters = [letter for key in sorted(refused) for letter in deployment.dead_letters(key)]
        assert {letter["attributes"]["reason"] for letter in letters} == {"pinterest_rejected"}
        assert all(
            letter["attributes"]["detail"].startswith("request refused: Invalid event") for letter in letters
        )
        parked = {deployment._source_id(p) for p in deployment.parked}
        assert parked & set(events) == refused
        if any(r.status == 400 and len(r.body["data"]) > 1 for r in standin.requests):
            break
    else:
        pytest.fail(f"no refused event shared a request: {[len(r.body['data']) for r in standin.requests]}")
    assert sorted(Counter(e["event_id"] for e in standin.events()).values())[-1] == 1  # none sent twice


def _burst(deployment: Deployment, events: dict[str, Any]) -> dict[str, int]:
    """Push every event at once, as Pub/Sub does under load; the status of each push."""
    start = threading.Barrier(len(events))

    def push(key: str) -> int:
        body = push_envelope(events[key], message_id=key)
        start.wait()
        return requests.post(f"{deployment.url}/push", json=body, timeout=30).status_code

    with ThreadPoolExecutor(len(events)) as pool:
        return dict(zip(events, pool.map(push, events), strict=True))


def push_envelope(event: Any, message_id: str) -> dict[str, Any]:
    """A Pub/Sub push request body, as the push subscription sends it."""
    data = base64.b64encode(json.dumps(event).encode()).decode()
    return {"message": {"data": data, "messageId": message_id}, "subscription": "projects/p/subscriptions/s"}


def test_a_letter_holds_the_event_byte_for_byte(deployment):
    raw = (
        json.dumps([fresh("purchase")]).encode()[:-1]
        + b', {"event_name": "purchase", "value": 1.10, "tax": 1e400, "note": "caf\\u00e9"}]'
    )
    message_id = deployment.publish(None, raw=raw)
    [parked] = deployment.dead_letters(message_id)
    assert parked["data"] == b'{"event_name": "purchase", "value": 1.10, "tax": 1e400, "note": "caf\\u00e9"}'
    assert parked["attributes"]["reason"] == "no_match_key"


def test_replay_after_pubsubs_own_dead_lettering_sends_the_same_id(emulator, standin, tmp_path):
    """Pinterest down until Pub/Sub gives up; replayed once it is back, the event keeps its id."""
    standin.random_faults(1.0, [Status(503)])
    with deploy(emulator, standin, tmp_path, DELIVERY_DEADLINE_SECONDS="1") as down:
        message_id = down.publish(fresh("purchase"))
        [parked] = down.dead_letters(message_id, timeout=60)
        assert "CloudPubSubDeadLetterSourceDeliveryCount" in parked["attributes"]  # Pub/Sub's own letter
        first_tried = {e["event_id"] for r in standin.requests if r.body for e in r.body["data"]}
        assert first_tried == down.sent_ids(message_id)
        standin.reset()
        down.emulator.publish(down.dead_letter_topic, parked["data"], parked["attributes"])
        assert replay(down.dead_letter_subscription, down.topic, wait=1).replayed.total() == 1
        [delivered] = down.received(first_tried)
    assert delivered["event_id"] in first_tried


def test_a_replayed_letter_is_sent_with_the_id_its_event_first_had(
    deployment, standin, emulator, monkeypatch
):
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", emulator.host)
    twins = [fresh("purchase")] * 2  # identical events in one message: distinct ids
    standin.inject(FailEvents(indexes=(0, 1), message="Try again later"))
    message_id = deployment.publish(twins)
    letters = deployment.dead_letters(message_id, count=2)
    for letter in letters:
        deployment.emulator.publish(deployment.dead_letter_topic, letter["data"], letter["attributes"])
    assert replay(deployment.dead_letter_subscription, deployment.topic, wait=1).replayed.total() == 2
    delivered = deployment.received(deployment.sent_ids(message_id, 0, 1))
    assert len(delivered) == 2


def test_without_a_dead_letter_topic_a_rejection_is_logged_with_its_reason(emulator, standin, tmp_path):
    with deploy(emulator, standin, tmp_path, DEAD_LETTER_TOPIC="") as alone:
        message_id = alone.publish({"event_name": "purchase", "value": 3})
        wait_for(lambda: _rejected(_LOGS[-1], message_id), 30, "the rejection's log line")
    [line, *_] = _rejected(_LOGS[-1], message_id)
    assert (line["reason"], line["event_name"]) == ("no_match_key", "checkout")
    assert line["detail"].startswith("needs em")


def _rejected(log: Path, message_id: str) -> list[dict[str, Any]]:
    return [
        line
        for line in function_lines(log)
        if line.get("message_id") == message_id and line.get("outcome") == "rejected"
    ]


def test_every_bad_variable_is_named_at_once(emulator, standin, tmp_path):
    settings = {
        "CONSENT_POLICY": "strict",
        "UNMAPPED_EVENTS": "keep",
        "DATA_OVERRIDES": '{"event_time": "yesterday", "currency": "euros"}',
    }
    with deploy(emulator, standin, tmp_path, **settings) as misconfigured:
        misconfigured.publish(fresh("purchase"))
        log = _LOGS[-1]
        wait_for(lambda: "CRITICAL" in log.read_text(), 30, "the configuration error")
    [line, *_] = [line for line in function_lines(log) if line["severity"] == "CRITICAL"]
    for named in (
        "CONSENT_POLICY",
        "UNMAPPED_EVENTS",
        "DATA_OVERRIDES event_time",
        "DATA_OVERRIDES currency",
    ):
        assert named in line["detail"]
    assert standin.requests == []


def test_a_wrong_ad_account_is_a_deployment_fault_that_says_so(emulator, tmp_path):
    with (
        StandIn(token=TOKEN, ad_account="549000000001") as strict,
        deploy(emulator, strict, tmp_path, PINTEREST_AD_ACCOUNT_ID="549000000002") as wrong,
    ):
        wrong.publish(fresh("purchase"))
        log = _LOGS[-1]
        wait_for(lambda: "PINTEREST_AD_ACCOUNT_ID is wrong" in log.read_text(), 30, "the 404's line")
        wait_for(lambda: len(strict.requests) >= 2, 30, "a redelivery")  # not acknowledged
    [line, *_] = [line for line in function_lines(log) if line["severity"] == "ERROR"]
    assert line["status"] == 404


def test_an_unknown_event_status_is_parked_once_not_retried(deployment, standin):
    standin.inject(EventStatus((0,), "queued_for_review"))
    message_id = deployment.publish(fresh("purchase"))
    [parked] = deployment.dead_letters(message_id)
    assert parked["attributes"]["reason"] == "pinterest_unknown_status"
    assert "queued_for_review" in parked["attributes"]["detail"]
    time.sleep(3)
    assert len(standin.requests) == 1


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
