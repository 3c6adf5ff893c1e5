"""One push start to finish, in process: the ack rules, dead-lettering and the entry point."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from typing import Any

import pytest
from functions_framework import create_app

from lib import logs
from lib.delivery.batching import Batcher
from lib.delivery.deadletter import DEAD_LETTER_ATTRIBUTES, DeadLetter
from lib.delivery.forwarder import Forwarder
from lib.delivery.outcomes import EventResult, Outcome
from lib.errors import DeploymentFault, TransientError
from lib.mapping import MappingConfig, derived_event_ids
from tests.conftest import ROOT
from tests.fakes import FakePublisher, message, sender

NOW = time.time()
GOOD = {"event_name": "purchase", "ip_override": "203.0.113.9", "user_agent": "UA/1", "value": 5}
NO_KEY = {"event_name": "purchase", "value": 5}
TOPIC = "projects/p/topics/dlq"


def forwarder(
    send: Any = None, publisher: FakePublisher | None = None, topic: str = TOPIC, **mapping: Any
) -> Forwarder:
    send = send or sender()[0]
    batcher = Batcher(send, window=0, max_events=1000)
    return Forwarder(MappingConfig(**mapping), batcher, DeadLetter(topic, publisher or FakePublisher()))


@pytest.fixture
def log_lines():
    stream = io.StringIO()
    logs.configure(enabled=True, stream=stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logs.configure(enabled=True)


def test_processed_events_are_acknowledged_and_logged(log_lines):
    send, requests = sender()
    outcomes = forwarder(send).process(message([GOOD, GOOD]), now=NOW)
    assert [o.outcome for o in outcomes.events] == [Outcome.PROCESSED, Outcome.PROCESSED]
    assert [e["event_id"] for e in requests[0]] == derived_event_ids([GOOD, GOOD])
    lines = log_lines()
    assert [line["outcome"] for line in lines] == ["processed", "processed"]
    assert lines[0]["match_keys"] == ["client_ip_address", "client_user_agent"]
    assert (lines[0]["event_name"], lines[0]["own_event_id"]) == ("checkout", False)


def test_an_events_own_id_is_logged_as_its_own(log_lines):
    forwarder().process(message([{**GOOD, "event_id": "web-77"}]), now=NOW)
    [line] = log_lines()
    assert (line["event_id"], line["own_event_id"]) == ("web-77", True)


def test_a_rejected_event_is_parked_byte_for_byte_with_its_attributes():
    raw = (
        b'[{"event_name":"purchase","ip_override":"203.0.113.9","user_agent":"UA/1"},\n'
        b' {"event_name": "purchase", "value": 1.10, "big": 1e400}]'
    )
    publisher = FakePublisher()
    outcomes = forwarder(publisher=publisher).process(message(raw, attributes={"k": "v"}), now=NOW)
    assert [o.outcome for o in outcomes.events] == [Outcome.PROCESSED, Outcome.REJECTED]
    [(topic, data, attributes)] = publisher.published
    assert topic == TOPIC
    assert data == b'{"event_name": "purchase", "value": 1.10, "big": 1e400}'
    assert attributes == {
        "k": "v",
        "reason": "no_match_key",
        "detail": "needs em, hashed_maids, or both client_ip_address and client_user_agent",
        "source_message_id": "m1",
        "event_index": "1",
        "pinterest_event_id": outcomes_event_id(raw, 1),
    }


def outcomes_event_id(raw: bytes, index: int) -> str:
    return derived_event_ids(json.loads(raw))[index]


def test_a_replayed_letter_keeps_the_id_its_event_was_first_sent_with():
    first_send, first = sender(lambda e: EventResult(Outcome.REJECTED, "pinterest_rejected", "Invalid"))
    publisher = FakePublisher()
    forwarder(first_send, publisher).process(message([GOOD, GOOD]), now=NOW)  # identical twins
    assert len(publisher.published) == 2
    again_send, again = sender()
    for n, (_, data, attributes) in enumerate(publisher.published):
        replayed = {k: v for k, v in attributes.items() if k not in DEAD_LETTER_ATTRIBUTES}
        forwarder(again_send).process(message(data, message_id=f"replay{n}", attributes=replayed), now=NOW)
    assert [e["event_id"] for e in again[0] + again[1]] == [e["event_id"] for e in first[0]]
    assert len({e["event_id"] for e in first[0]}) == 2


def test_an_event_pinterest_fails_is_parked_with_pinterest_reason():
    send, _ = sender(lambda event: EventResult(Outcome.REJECTED, "pinterest_rejected", "Invalid event"))
    publisher = FakePublisher()
    forwarder(send, publisher).process(message([GOOD]), now=NOW)
    [(_, _, attributes)] = publisher.published
    assert (attributes["reason"], attributes["detail"]) == ("pinterest_rejected", "Invalid event")


def test_skipped_events_are_acknowledged_and_not_parked():
    publisher = FakePublisher()
    outcomes = forwarder(publisher=publisher, skip_events=frozenset({"purchase"})).process(
        message([GOOD]), now=NOW
    )
    assert [(o.outcome, o.reason) for o in outcomes.events] == [(Outcome.SKIPPED, "event_filtered")]
    assert publisher.published == []


def test_a_deferred_event_means_no_ack_and_nothing_parked_yet():
    send, _ = sender(lambda event: EventResult(Outcome.DEFERRED, "http_503"))
    publisher = FakePublisher()
    with pytest.raises(TransientError):
        forwarder(send, publisher).process(message([GOOD, NO_KEY]), now=NOW)
    assert publisher.published == []  # parked when the redelivery settles, not twice


def test_a_failed_dead_letter_publish_means_no_ack():
    with pytest.raises(TransientError, match="dead-letter publish failed for 1 of 1"):
        forwarder(publisher=FakePublisher(fail=True)).process(message([NO_KEY]), now=NOW)


def test_a_redelivery_after_a_half_failed_publish_parks_only_what_was_not_parked():
    publisher = FakePublisher(fail_calls=frozenset({2}))
    shared = forwarder(publisher=publisher)
    three = message([NO_KEY, {**NO_KEY, "value": 6}, {**NO_KEY, "value": 7}])
    with pytest.raises(TransientError, match="failed for 1 of 3"):
        shared.process(three, now=NOW)
    shared.process(three, now=NOW)  # Pub/Sub redelivers the push
    parked = [attributes["event_index"] for _, _, attributes in publisher.published]
    assert sorted(parked) == ["0", "1", "2"]


def test_without_a_dead_letter_topic_rejections_are_logged_with_their_reason(log_lines):
    with pytest.raises(TransientError, match="DEAD_LETTER_TOPIC is not set"):
        forwarder(topic="").process(message([GOOD, NO_KEY]), now=NOW)
    rejected = [line for line in log_lines() if line["outcome"] == "rejected"]
    assert [(line["reason"], line["event_index"]) for line in rejected] == [("no_match_key", 1)]
    assert rejected[0]["detail"].startswith("needs em")


@pytest.mark.parametrize(
    ("data", "reason"),
    [(b"not json", "not_json"), (b"[]", "empty_message"), (b"42", "not_an_event")],
)
def test_undecodable_messages_are_parked_whole(data, reason):
    publisher = FakePublisher()
    forwarder(publisher=publisher).process(message(data, attributes={"event_name": "x"}), now=NOW)
    [(_, parked, attributes)] = publisher.published
    assert parked == data
    assert attributes["reason"] == reason
    assert attributes["event_name"] == "x"
    assert "event_index" not in attributes


def test_deployment_faults_are_not_acknowledged():
    def send(events: Any) -> list[EventResult]:
        raise DeploymentFault("Pinterest answered 404: no such ad account")

    with pytest.raises(DeploymentFault):
        forwarder(send).process(message([GOOD]), now=NOW)


# --- the entry point, served in process by functions-framework --------------------------------------


def push_body(events: Any, message_id: str = "42") -> dict[str, Any]:
    data = base64.b64encode(json.dumps(events).encode()).decode()
    return {"message": {"data": data, "messageId": message_id}, "subscription": "projects/p/subscriptions/s"}


@pytest.fixture
def client(monkeypatch, request):
    env = getattr(request, "param", {})
    base = {
        "PINTEREST_AD_ACCOUNT_ID": "549000000000",
        "PINTEREST_ACCESS_TOKEN": "pina_x",
        "DEAD_LETTER_TOPIC": TOPIC,
    }
    for key, value in {**base, **env}.items():
        monkeypatch.setenv(key, value)
    app = create_app("handle_pubsub", str(ROOT / "main.py"), "cloudevent")
    import main  # the module create_app just executed: a fresh instance, with no forwarder yet

    yield app.test_client(), main
    logs.set_trace(None, None)  # requests ran in this thread


@pytest.mark.parametrize("client", [{"SKIP_EVENTS": "purchase"}], indirect=True)
def test_the_real_entry_point_acknowledges_a_skipped_event(client, capsys):
    test_client, _ = client
    assert test_client.post("/", json=push_body(GOOD)).status_code == 200
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert (line["outcome"], line["reason"], line["message_id"]) == ("skipped", "event_filtered", "42")


@pytest.mark.parametrize("client", [{"CONSENT_POLICY": "whatever"}], indirect=True)
def test_a_configuration_error_is_a_503_naming_the_variable(client, capsys):
    test_client, _ = client
    response = test_client.post("/", json=push_body(GOOD))
    assert response.status_code == 503
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert line["severity"] == "CRITICAL"
    assert "CONSENT_POLICY" in line["detail"]


def test_a_transient_failure_is_a_503_without_traceback(client, capsys, monkeypatch):
    test_client, main = client
    send, _ = sender(lambda event: EventResult(Outcome.DEFERRED, "http_503"))
    monkeypatch.setattr(main._instance, "forwarder", forwarder(send))
    response = test_client.post("/", json=push_body(GOOD))
    assert response.status_code == 503
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert json.loads(captured.out.splitlines()[-1])["message"].startswith("push not acknowledged")


def test_a_processed_push_is_acknowledged(client, monkeypatch):
    test_client, main = client
    send, requests = sender()
    monkeypatch.setattr(main._instance, "forwarder", forwarder(send))
    assert test_client.post("/", json=push_body([GOOD, GOOD], message_id="77")).status_code == 200
    assert [e["event_id"] for e in requests[0]] == derived_event_ids([GOOD, GOOD])


def test_an_eventarc_cloud_event_is_handled_too(client, monkeypatch, capsys):
    test_client, main = client
    send, requests = sender()
    monkeypatch.setattr(main._instance, "forwarder", forwarder(send))
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "acme")
    headers = {
        "ce-id": "ce-9",
        "ce-specversion": "1.0",
        "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        "ce-source": "//pubsub.googleapis.com/projects/acme/topics/ga4",
        "X-Cloud-Trace-Context": "0123456789abcdef0123456789abcdef/1;o=1",
    }
    body = {**push_body(GOOD, message_id="9"), "subscription": "projects/acme/subscriptions/eventarc"}
    assert test_client.post("/", json=body, headers=headers).status_code == 200
    assert [e["event_id"] for e in requests[0]] == derived_event_ids([GOOD])
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert line["logging.googleapis.com/trace"] == "projects/acme/traces/0123456789abcdef0123456789abcdef"


def test_a_push_counts_as_joinable_from_the_start_of_its_request(client, monkeypatch):
    """A push still being read holds a leader's batch open: both pushes share one request."""
    test_client, main = client
    send, requests = sender()
    batcher = Batcher(send, window=5.0, max_events=1000)
    instance = Forwarder(MappingConfig(), batcher, DeadLetter(TOPIC, FakePublisher()))
    monkeypatch.setattr(main._instance, "forwarder", instance)
    decode = main.message_from_cloud_event
    slow_started = threading.Event()

    def slowly_read(cloud_event: Any) -> Any:
        message = decode(cloud_event)
        if message.message_id == "slow":
            slow_started.set()
            time.sleep(0.3)  # still being read when the other push leads
        return message

    monkeypatch.setattr(main, "message_from_cloud_event", slowly_read)
    slow = threading.Thread(target=lambda: test_client.post("/", json=push_body(GOOD, message_id="slow")))
    slow.start()
    assert slow_started.wait(5)
    started = time.monotonic()
    assert test_client.post("/", json=push_body({**GOOD, "value": 6}, message_id="fast")).status_code == 200
    slow.join()
    assert len(requests) == 1
    assert sorted(e["custom_data"]["value"] for e in requests[0]) == ["5", "6"]
    assert time.monotonic() - started < 4.0  # it waited for the slow push, not the whole window
