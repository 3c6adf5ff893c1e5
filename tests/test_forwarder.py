"""One push start to finish, in process: the ack rules, dead-lettering and the entry point."""

from __future__ import annotations

import base64
import io
import json
import time
from typing import Any

import pytest
from functions_framework import create_app

from lib import logs
from lib.delivery.batching import Batcher
from lib.delivery.client import EventResult, Outcome
from lib.delivery.deadletter import DeadLetter
from lib.delivery.forwarder import Forwarder
from lib.errors import AuthError, TransientError
from lib.mapping import MappingConfig
from tests.conftest import ROOT
from tests.fakes import FakePublisher, message, sender

NOW = time.time()
GOOD = {"event_name": "purchase", "ip_override": "203.0.113.9", "user_agent": "UA/1", "value": 5}
NO_KEY = {"event_name": "purchase", "value": 5}
TOPIC = "projects/p/topics/dlq"


def forwarder(send: Any = None, publisher: FakePublisher | None = None, **mapping: Any) -> Forwarder:
    send = send or sender()[0]
    batcher = Batcher(send, window=0, max_events=1000)
    return Forwarder(MappingConfig(**mapping), batcher, DeadLetter(TOPIC, publisher or FakePublisher()))


@pytest.fixture
def log_lines():
    stream = io.StringIO()
    logs.configure(enabled=True, stream=stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logs.configure(enabled=True)


def test_processed_events_are_acknowledged(log_lines):
    send, requests = sender()
    outcomes = forwarder(send).process(message([GOOD, GOOD]), now=NOW)
    assert [o.name for o in outcomes.events] == ["processed", "processed"]
    assert [e["event_id"] for e in requests[0]] == ["m1-0", "m1-1"]
    lines = log_lines()
    assert [line["outcome"] for line in lines] == ["processed", "processed"]
    assert lines[0]["match_keys"] == ["client_ip_address", "client_user_agent"]


def test_a_rejected_event_is_parked_with_its_original_data_and_attributes():
    publisher = FakePublisher()
    outcomes = forwarder(publisher=publisher).process(message([GOOD, NO_KEY], attributes={"k": "v"}), now=NOW)
    assert [o.name for o in outcomes.events] == ["processed", "rejected"]
    [(topic, data, attributes)] = publisher.published
    assert topic == TOPIC
    assert json.loads(data) == NO_KEY
    assert attributes == {
        "k": "v",
        "reason": "no_match_key",
        "detail": "needs em, hashed_maids, or both client_ip_address and client_user_agent",
        "source_message_id": "m1",
        "event_index": "1",
    }


def test_an_event_pinterest_fails_is_parked_with_pinterest_reason():
    send, _ = sender(lambda event: EventResult(Outcome.REJECTED, "Invalid event"))
    publisher = FakePublisher()
    forwarder(send, publisher).process(message([GOOD]), now=NOW)
    [(_, _, attributes)] = publisher.published
    assert (attributes["reason"], attributes["detail"]) == ("pinterest_rejected", "Invalid event")


def test_skipped_events_are_acknowledged_and_not_parked():
    publisher = FakePublisher()
    outcomes = forwarder(publisher=publisher, skip_events=frozenset({"purchase"})).process(
        message([GOOD]), now=NOW
    )
    assert [(o.name, o.reason) for o in outcomes.events] == [("skipped", "event_filtered")]
    assert publisher.published == []


def test_a_deferred_event_means_no_ack_and_nothing_parked_yet():
    send, _ = sender(lambda event: EventResult(Outcome.DEFERRED, "http_503"))
    publisher = FakePublisher()
    with pytest.raises(TransientError):
        forwarder(send, publisher).process(message([GOOD, NO_KEY]), now=NOW)
    assert publisher.published == []  # parked when the redelivery settles, not twice


def test_a_failed_dead_letter_publish_means_no_ack():
    with pytest.raises(TransientError, match="dead-letter publish failed"):
        forwarder(publisher=FakePublisher(fail=True)).process(message([NO_KEY]), now=NOW)


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


def test_auth_errors_are_not_acknowledged():
    def send(events: Any) -> list[EventResult]:
        raise AuthError("Pinterest answered 401: the access token or ad account id is wrong")

    with pytest.raises(AuthError):
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
    import main

    main._build.cache_clear()
    yield app.test_client(), main
    main._build.cache_clear()
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
    monkeypatch.setattr(main, "_instance", lambda: forwarder(send))
    response = test_client.post("/", json=push_body(GOOD))
    assert response.status_code == 503
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert json.loads(captured.out.splitlines()[-1])["message"].startswith("push not acknowledged")


def test_a_processed_push_is_acknowledged(client, monkeypatch):
    test_client, main = client
    send, requests = sender()
    monkeypatch.setattr(main, "_instance", lambda: forwarder(send))
    assert test_client.post("/", json=push_body([GOOD, GOOD], message_id="77")).status_code == 200
    assert [e["event_id"] for e in requests[0]] == ["77-0", "77-1"]


def test_an_eventarc_cloud_event_is_handled_too(client, monkeypatch, capsys):
    test_client, main = client
    send, requests = sender()
    monkeypatch.setattr(main, "_instance", lambda: forwarder(send))
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
    assert [e["event_id"] for e in requests[0]] == ["9-0"]
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert line["logging.googleapis.com/trace"] == "projects/acme/traces/0123456789abcdef0123456789abcdef"
