"""The operations commands, `publish` and `replay`: their pure parts, then against the Pub/Sub emulator."""

from __future__ import annotations

import io
import itertools
import json
import sys
from collections import Counter
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from dev.harness import Emulator
from lib.commands.publish import InputError, message_for, read_events
from lib.commands.replay import (
    DELIVERY_ATTEMPTS_EXHAUSTED,
    Report,
    format_report,
    letter_key,
    original_attributes,
    reason_of,
    replay,
    select,
)
from lib.delivery.deadletter import DEAD_LETTER_ATTRIBUTES, letter_for
from lib.delivery.publishing import Outgoing, Published, publish_all
from lib.errors import Reason
from tests.conftest import load_fixture, run_cli, run_module

PUBSUB_DEAD_LETTER = {
    "CloudPubSubDeadLetterSourceDeliveryCount": "5",
    "CloudPubSubDeadLetterSourceSubscription": "ga4-push",
    "CloudPubSubDeadLetterSourceSubscriptionProject": "p",
    "CloudPubSubDeadLetterSourceTopicPublishTime": "2026-11-28T10:00:00.000Z",
}
LOOK_ALIKES = {"reasons": "kept", "Reason": "kept", "x-ga-gcs": "G111", "PubSubDeadLetter": "kept"}
OURS = {"reason": "no_match_key", "detail": "needs em", "source_message_id": "17", "event_index": "2"}


# --- pure parts ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({"event_name": "purchase", **OURS}, {"event_name": "purchase"}),
        ({"event_name": "purchase", **PUBSUB_DEAD_LETTER}, {"event_name": "purchase"}),
        ({**OURS, **PUBSUB_DEAD_LETTER}, {}),
        (LOOK_ALIKES, LOOK_ALIKES),
        ({}, {}),
    ],
    ids=["ours", "pubsub", "both", "look-alikes-kept", "none"],
)
def test_original_attributes(attributes, expected):
    assert original_attributes(attributes) == expected


def test_every_dead_letter_attribute_of_ours_is_stripped():
    assert not set(original_attributes(dict.fromkeys(DEAD_LETTER_ATTRIBUTES, "x")))


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        (OURS, "no_match_key"),
        (PUBSUB_DEAD_LETTER, DELIVERY_ATTEMPTS_EXHAUSTED),
        ({"reason": ""}, DELIVERY_ATTEMPTS_EXHAUSTED),
    ],
    ids=["ours", "pubsub", "empty"],
)
def test_reason_of(attributes, expected):
    assert reason_of(attributes) == expected


@pytest.mark.parametrize(
    ("wanted", "room", "expected"),
    [
        (None, None, [True, True, True, True]),
        ("a", None, [True, False, True, False]),
        (None, 3, [True, True, True, False]),
        ("a", 1, [True, False, False, False]),
        ("b", 5, [False, True, False, True]),
        ("c", None, [False, False, False, False]),
    ],
)
def test_select(wanted, room, expected):
    assert select(["a", "b", "a", "b"], wanted, room) == expected


def test_format_report_counts_per_reason_and_in_total():
    report = Report(
        replayed=Counter({"no_match_key": 3, DELIVERY_ATTEMPTS_EXHAUSTED: 2}),
        failed=Counter({"no_match_key": 1}),
        left=Counter({"not_json": 4}),
        duplicates=Counter({"no_match_key": 1}),
    )
    rows = [line.split() for line in format_report(report).splitlines()]
    assert rows == [
        ["reason", "replayed", "failed", "left", "duplicate"],
        [DELIVERY_ATTEMPTS_EXHAUSTED, "2", "0", "0", "0"],
        ["no_match_key", "3", "1", "0", "1"],
        ["not_json", "0", "0", "4", "0"],
        ["total", "5", "1", "4", "1"],
    ]
    assert format_report(Report(dry_run=True)).split()[:2] == ["reason", "would_replay"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"event_name": "purchase"}', [{"event_name": "purchase"}]),
        (b'[{"a": 1}, {"b": 2}]', [{"a": 1}, {"b": 2}]),
        (b'{"a": 1}\n\n  \n{"b": "\xc3\xa9"}\n', [{"a": 1}, {"b": "é"}]),
        (b'  {"a": 1}\n', [{"a": 1}]),
    ],
    ids=["object", "array", "json-lines", "one-line"],
)
def test_read_events(raw, expected):
    assert read_events(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "holds no events"),
        (b"[]", "holds no events"),
        (b'{"a": 1}\n{"b": \n', "line 2 is not JSON"),
        (b"[1, {}]", "event 0 is not a JSON object"),
        (b'{"a": 1}\n"text"\n', "event 1 is not a JSON object"),
        (b"\xff\xfe{}", "not UTF-8"),
    ],
    ids=["empty", "empty-array", "bad-line", "number-in-array", "string-line", "not-utf8"],
)
def test_read_events_says_what_is_wrong(raw, message):
    with pytest.raises(InputError, match=message):
        read_events(raw)


@pytest.mark.parametrize(
    ("event", "attributes"),
    [
        ({"event_name": "purchase", "value": 1}, {"event_name": "purchase"}),
        ({"value": 1}, {}),
        ({"event_name": 7}, {}),
        ({"event_name": "  "}, {}),
    ],
    ids=["named", "unnamed", "not-a-string", "blank"],
)
def test_message_for(event, attributes):
    message = message_for(event)
    assert message.attributes == attributes
    assert json.loads(message.data) == event


def test_message_for_keeps_unicode_compact():
    assert message_for({"city": "Zürich"}).data == '{"city":"Zürich"}'.encode()


def test_message_for_escapes_a_lone_surrogate_as_json_does():
    [event] = read_events(b'{"note": "a\\ud800"}')
    assert json.loads(message_for(event).data) == {"note": "a\ud800"}


class PickyPublisher:
    """Resolves each publish with an id, fails the ones whose data is b"bad", refuses b"huge" outright."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes, dict[str, str]]] = []

    def publish(self, topic: str, data: bytes, **attributes: str) -> Future[str]:
        if data == b"huge":
            raise ValueError("too large")
        self.published.append((topic, data, attributes))
        future: Future[str] = Future()
        if data == b"bad":
            future.set_exception(RuntimeError("backend said no to 10.0.0.1"))
        else:
            future.set_result(f"id-{len(self.published)}")
        return future


def test_publish_reports_each_failure_and_never_raises():
    fake = PickyPublisher()
    messages = [Outgoing(b"ok", {"a": "1"}), Outgoing(b"bad"), Outgoing(b"huge"), Outgoing(b"ok")]
    results = publish_all(fake, "projects/p/topics/t", messages)
    assert [(r.index, r.message_id) for r in results] == [(0, "id-1"), (1, ""), (2, ""), (3, "id-3")]
    assert results[1] == Published(1, error="RuntimeError: backend said no to [redacted]")
    assert results[2] == Published(2, error="ValueError: too large")
    assert fake.published[0] == ("projects/p/topics/t", b"ok", {"a": "1"})


SUB, TOPIC = "projects/p/subscriptions/s", "projects/p/topics/t"


@pytest.mark.parametrize(
    "args",
    [
        ["publish", "--topic", "ga4-events", "-"],
        ["publish", "--topic", SUB, "-"],
        ["publish", "-"],
        ["publish", "--topic", TOPIC, "/no/such/file.json"],
        ["replay", "--subscription", TOPIC, "--topic", TOPIC],
        ["replay", "--subscription", SUB],
        ["replay", "--subscription", SUB, "--topic", TOPIC, "--max", "0"],
        ["replay", "--subscription", SUB, "--topic", TOPIC, "--max", "-3"],
        ["replay", "--subscription", SUB, "--topic", TOPIC, "--reason", "oops"],
    ],
    ids=[
        "short-topic",
        "subscription-as-topic",
        "publish-without-topic",
        "missing-file",
        "topic-as-subscription",
        "replay-without-topic",
        "max-0",
        "max-negative",
        "unknown-reason",
    ],
)
def test_bad_arguments_exit_2_before_anything_is_sent(args):
    status, out, _ = run_cli(*args)
    assert (status, out) == (2, "")


def test_bad_input_exits_2(tmp_path):
    path = tmp_path / "events.json"
    path.write_text('{"event_name": "purchase"}\nnot json\n')
    status, out, err = run_cli("publish", "--topic", TOPIC, str(path))
    assert (status, out) == (2, "")
    assert "line 2 is not JSON" in err


# --- against the Pub/Sub emulator -----------------------------------------------------------

_names = itertools.count()


@dataclass(frozen=True)
class Topics:
    """A fresh events topic and dead-letter topic, each with a pull subscription."""

    emulator: Emulator
    events: str
    events_pull: str
    dead_letter: str
    dead_letter_pull: str

    def drain(self, subscription: str) -> list[dict[str, Any]]:
        """Pull (and acknowledge) until the subscription is empty."""
        messages: list[dict[str, Any]] = []
        while batch := self.emulator.pull(subscription):
            messages += batch
        return messages

    def park(self, data: bytes, attributes: dict[str, str], reason: Reason, index: int | None = None) -> None:
        """Dead-letter a message the way lib.delivery.deadletter does."""
        letter = letter_for(
            data, reason, "a detail", message_id="m-1", source_attributes=attributes, event_index=index
        )
        self.emulator.publish(self.dead_letter, letter.message.data, letter.message.attributes)

    def park_by_pubsub(self, data: bytes, attributes: dict[str, str]) -> None:
        """Have the emulator dead-letter a message itself: five nacked deliveries on a subscription."""
        n = next(_names)
        source = self.emulator.topic(f"source-{n}")
        policy = {"deadLetterTopic": self.dead_letter, "maxDeliveryAttempts": 5}
        subscription = self.emulator.subscription(f"source-{n}-pull", source, deadLetterPolicy=policy)
        self.emulator.publish(source, data, attributes)
        for _ in range(20):
            if not _pull_and_release(self.emulator, subscription):
                return  # delivered five times: now on the dead-letter topic
        raise AssertionError("the emulator did not dead-letter the message")

    def peek(self) -> list[dict[str, Any]]:
        """The dead-letter subscription's messages, released again at once."""
        return _pull_and_release(self.emulator, self.dead_letter_pull)


def _pull_and_release(emulator: Emulator, subscription: str) -> list[dict[str, Any]]:
    """Pull what is there now and hand it straight back (ack deadline 0), as a nack does."""
    url = f"http://{emulator.host}/v1/{subscription}"
    pulled = requests.post(f"{url}:pull", json={"maxMessages": 100, "returnImmediately": True}, timeout=10)
    received = pulled.json().get("receivedMessages", [])
    if received:
        body = {"ackIds": [r["ackId"] for r in received], "ackDeadlineSeconds": 0}
        requests.post(f"{url}:modifyAckDeadline", json=body, timeout=10).raise_for_status()
    return received


@pytest.fixture
def topics(emulator) -> Topics:
    n = next(_names)
    events, dead_letter = emulator.topic(f"ga4-events-{n}"), emulator.topic(f"ga4-dead-letter-{n}")
    return Topics(
        emulator,
        events,
        emulator.subscription(f"ga4-events-{n}-pull", events),
        dead_letter,
        emulator.subscription(f"ga4-dead-letter-{n}-pull", dead_letter),
    )


def received(messages: list[dict[str, Any]]) -> Counter[tuple[bytes, frozenset[tuple[str, str]]]]:
    return Counter((m["data"], frozenset(m["attributes"].items())) for m in messages)


EVENTS = [load_fixture("purchase"), load_fixture("page_view"), {"value": 3, "items": [{"item_id": "ä"}]}]


@pytest.mark.e2e
@pytest.mark.parametrize(
    "text",
    [
        json.dumps(EVENTS[0]),
        json.dumps(EVENTS),
        "\n".join(json.dumps(e, ensure_ascii=False) for e in EVENTS) + "\n",
    ],
    ids=["object", "array", "json-lines"],
)
def test_publish_from_a_file(topics, tmp_path, text):
    path = tmp_path / "events.json"
    path.write_text(text, encoding="utf-8")
    status, out, err = run_cli("publish", "--topic", topics.events, str(path))
    assert (status, err) == (0, "")
    ids = out.split()
    expected = EVENTS[: len(ids)]
    assert len(ids) == (1 if text.startswith("{") and "\n" not in text else 3)
    messages = {m["message_id"]: m for m in topics.drain(topics.events_pull)}
    assert sorted(messages) == sorted(ids)
    assert [json.loads(messages[i]["data"]) for i in ids] == expected
    names = [{"event_name": e["event_name"]} if "event_name" in e else {} for e in expected]
    assert [messages[i]["attributes"] for i in ids] == names


@pytest.mark.e2e
def test_publish_reads_json_lines_from_stdin_as_a_subprocess(topics, emulator):
    stdin = "".join(json.dumps(e) + "\n" for e in EVENTS)
    result = run_module("lib.cli", "publish", "--topic", topics.events, "-", stdin=stdin)
    assert result.returncode == 0, result.stderr
    ids = result.stdout.split()
    messages = {m["message_id"]: m for m in topics.drain(topics.events_pull)}
    assert [json.loads(messages[i]["data"]) for i in ids] == EVENTS
    assert [messages[i]["attributes"].get("event_name") for i in ids] == ["purchase", "page_view", None]


def run_cli_with_stdin(stdin: str, *args: str) -> tuple[int, str, str]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode())))
        return run_cli(*args)


@pytest.mark.e2e
def test_publish_to_a_missing_topic_exits_1(emulator):
    missing = f"projects/{emulator.project}/topics/no-such-topic"
    status, out, err = run_cli_with_stdin('[{"event_name": "lead"}, {}]', "publish", "--topic", missing, "-")
    assert (status, out) == (1, "")
    failures = [json.loads(line) for line in err.splitlines()]
    assert [failure["index"] for failure in failures] == [0, 1]
    assert all(failure["error"].startswith("NotFound") for failure in failures)


def park_five(topics: Topics) -> Counter[tuple[bytes, frozenset[tuple[str, str]]]]:
    """Two events without match key and a broken message parked by us, two messages by Pub/Sub itself."""
    originals = [
        (json.dumps({"event_name": "purchase", "value": 1}).encode(), {"event_name": "purchase"}),
        (json.dumps({"event_name": "lead"}).encode(), {"event_name": "lead", "origin": "sgtm"}),
        (b"{broken", {}),
        (json.dumps(load_fixture("purchase")).encode(), {"event_name": "purchase"}),
        (json.dumps(load_fixture("page_view")).encode(), {"event_name": "page_view", "origin": "sgtm"}),
    ]
    topics.park(*originals[0], Reason.NO_MATCH_KEY, index=1)
    topics.park(*originals[1], Reason.NO_MATCH_KEY, index=0)
    topics.park(*originals[2], Reason.NOT_JSON)
    for data, attributes in originals[3:]:
        topics.park_by_pubsub(data, attributes)
    return Counter((data, frozenset(attributes.items())) for data, attributes in originals)


ALL_FIVE = Counter({"no_match_key": 2, "not_json": 1, DELIVERY_ATTEMPTS_EXHAUSTED: 2})


@pytest.mark.e2e
def test_pubsub_dead_letters_carry_its_attributes(topics):
    """What the replay strips is what the emulator really adds."""
    topics.park_by_pubsub(b"x", {"event_name": "purchase"})
    [letter] = topics.drain(topics.dead_letter_pull)
    assert {k for k in letter["attributes"] if k != "event_name"} == set(PUBSUB_DEAD_LETTER)


@pytest.mark.e2e
def test_replay_moves_every_parked_message_back_with_its_original_attributes(topics):
    originals = park_five(topics)
    report = replay(topics.dead_letter_pull, topics.events, wait=1)
    assert (report.replayed, report.failed, report.left, report.error) == (ALL_FIVE, Counter(), Counter(), "")
    assert received(topics.drain(topics.events_pull)) == originals
    assert topics.peek() == []  # acknowledged


@pytest.mark.e2e
def test_replay_of_one_reason_leaves_the_others_available_at_once(topics):
    originals = park_five(topics)
    report = replay(topics.dead_letter_pull, topics.events, reason="no_match_key", wait=1)
    assert report.replayed == Counter({"no_match_key": 2})
    assert report.left == Counter({"not_json": 1, DELIVERY_ATTEMPTS_EXHAUSTED: 2})
    moved = received(topics.drain(topics.events_pull))
    assert moved == Counter(list(originals)[:2])
    assert len(topics.peek()) == 3  # released with ack deadline 0, not held


@pytest.mark.e2e
def test_an_event_parked_twice_is_replayed_once(topics):
    """A redelivery after a half-failed dead-letter publish can leave two letters for one event."""
    data = json.dumps({"event_name": "purchase", "value": 1}).encode()
    for _ in range(2):
        topics.park(data, {"event_name": "purchase"}, Reason.NO_MATCH_KEY, index=3)
    topics.park(data, {"event_name": "purchase"}, Reason.NO_MATCH_KEY, index=4)  # its identical twin
    report = replay(topics.dead_letter_pull, topics.events, wait=1)
    assert (report.replayed, report.duplicates) == (
        Counter({"no_match_key": 2}),
        Counter({"no_match_key": 1}),
    )
    assert len(topics.drain(topics.events_pull)) == 2
    assert topics.peek() == []  # the copy is acknowledged too


def test_letter_keys_name_the_parked_event():
    assert letter_key(b"x", {**OURS, "event_index": "2"}) == ("17", "2")
    assert letter_key(b"x", {"source_message_id": "17"}) == ("17", "")
    assert letter_key(b"x", PUBSUB_DEAD_LETTER) == letter_key(b"x", {}) != letter_key(b"y", {})


@pytest.mark.e2e
def test_replay_handles_at_most_max(topics):
    park_five(topics)
    report = replay(topics.dead_letter_pull, topics.events, limit=2, wait=1)
    assert report.replayed.total() == 2
    assert len(topics.drain(topics.events_pull)) == 2
    assert len(topics.peek()) == 3


@pytest.mark.e2e
def test_a_failed_publish_is_not_acknowledged_and_exits_1(topics, emulator):
    park_five(topics)
    missing = f"projects/{emulator.project}/topics/no-such-topic"
    status, out, err = run_cli("replay", "--subscription", topics.dead_letter_pull, "--topic", missing)
    assert (status, err) == (1, "")
    assert out.splitlines()[-1].split() == ["total", "0", "5", "0", "0"]
    assert len(topics.peek()) == 5


@pytest.mark.e2e
def test_replay_of_a_missing_subscription_exits_2(emulator):
    missing = f"projects/{emulator.project}/subscriptions/no-such-subscription"
    topic = f"projects/{emulator.project}/topics/t"
    status, _, err = run_cli("replay", "--subscription", missing, "--topic", topic)
    assert status == 2
    assert err.startswith("replay: stopped: NotFound")


@pytest.mark.e2e
def test_dry_run_then_replay_as_subprocesses(topics, emulator):
    originals = park_five(topics)
    args = ("replay", "--subscription", topics.dead_letter_pull, "--topic", topics.events)
    dry = run_module("lib.cli", *args, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    rows = {row[0]: row[1:] for row in (line.split() for line in dry.stdout.splitlines())}
    assert rows["reason"] == ["would_replay", "failed", "left", "duplicate"]
    assert {reason: int(rows[reason][0]) for reason in ALL_FIVE} == ALL_FIVE
    assert topics.emulator.pull(topics.events_pull) == []  # nothing published
    assert len(topics.peek()) == 5  # nothing acknowledged, all released

    real = run_module("lib.cli", *args)
    assert real.returncode == 0, real.stderr
    assert real.stdout.splitlines()[-1].split() == ["total", "5", "0", "0", "0"]
    assert received(topics.drain(topics.events_pull)) == originals
    assert topics.peek() == []
