"""Decoding Pub/Sub pushes: both envelopes, and named reasons for undecodable data."""

from __future__ import annotations

import base64
import json

import pytest
from cloudevents.http import CloudEvent

from lib.delivery.messages import event_bytes, message_from_cloud_event, parse_events
from lib.errors import InvalidEvent, Reason

CE_ATTRIBUTES = {
    "id": "ce-1",
    "source": "//pubsub.googleapis.com/projects/p/topics/t",
    "type": "google.cloud.pubsub.topic.v1.messagePublished",
    "specversion": "1.0",
}


def encoded(value: object) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


def test_eventarc_envelope():
    data = {
        "message": {
            "data": encoded({"event_name": "purchase"}),
            "attributes": {"event_name": "purchase"},
            "messageId": "42",
            "message_id": "42",
            "publishTime": "2026-11-28T10:00:00.123456789Z",
        },
        "subscription": "projects/p/subscriptions/s",
    }
    message = message_from_cloud_event(CloudEvent(CE_ATTRIBUTES, data))
    assert message.message_id == "42"
    assert message.attributes == {"event_name": "purchase"}
    assert message.publish_time == pytest.approx(1_795_860_000.123456)
    assert parse_events(message.data(), 1_000_000) == [{"event_name": "purchase"}]


def test_converted_raw_push_without_attributes_or_time():
    data = {"message": {"data": encoded([{"a": 1}, {"b": 2}]), "messageId": "7"}}
    message = message_from_cloud_event(CloudEvent(CE_ATTRIBUTES, data))
    assert (message.message_id, message.attributes) == ("7", {})
    assert parse_events(message.data(), 1_000_000) == [{"a": 1}, {"b": 2}]


def test_missing_message_falls_back_to_the_cloud_event_id():
    message = message_from_cloud_event(CloudEvent(CE_ATTRIBUTES, {"unexpected": True}))
    assert message.message_id == "ce-1"
    with pytest.raises(InvalidEvent) as error:
        parse_events(message.data(), 1_000_000)
    assert error.value.reason == Reason.EMPTY_MESSAGE


def test_not_base64():
    message = message_from_cloud_event(
        CloudEvent(CE_ATTRIBUTES, {"message": {"data": "%%%", "messageId": "1"}})
    )
    with pytest.raises(InvalidEvent) as error:
        message.data()
    assert error.value.reason == Reason.NOT_BASE64


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", Reason.EMPTY_MESSAGE),
        (b"  ", Reason.EMPTY_MESSAGE),
        (b"[]", Reason.EMPTY_MESSAGE),
        (b"{oops", Reason.NOT_JSON),
        (b"\xff\xfe", Reason.NOT_JSON),
        (b"42", Reason.NOT_AN_EVENT),
        (b'"text"', Reason.NOT_AN_EVENT),
        (b"null", Reason.NOT_AN_EVENT),
        (b"[" * 100_000 + b"]" * 100_000, Reason.NOT_JSON),
        (b'{"a": "' + b"x" * 2_000 + b'"}', Reason.TOO_LARGE),
    ],
    ids=["empty", "blank", "empty-array", "broken", "not-utf8", "number", "string", "null", "deep", "large"],
)
def test_undecodable_data_has_a_named_reason(data, expected):
    with pytest.raises(InvalidEvent) as error:
        parse_events(data, 1_000 if expected == Reason.TOO_LARGE else 10_000_000)
    assert error.value.reason == expected


def test_lone_surrogates_become_replacement_characters():
    data = b'[{"a": "x\\ud800y", "\\udfff": ["\\ud83d\\ude00"]}]'
    with pytest.raises(UnicodeEncodeError):  # what json alone gives cannot be hashed or sent
        json.loads(data)[0]["a"].encode()
    [event] = parse_events(data, 1_000)
    assert event == {"a": "x\ufffdy", "\ufffd": ["\U0001f600"]}
    assert event["a"].encode() == b"x\xef\xbf\xbdy"


@pytest.mark.parametrize(
    ("data", "index", "exact"),
    [
        (b' {"value": 1.10, "big": 1e400}\n', 0, b' {"value": 1.10, "big": 1e400}\n'),
        (b'[{"a":1},{"value": 1.10}]', 1, b'{"value": 1.10}'),
        (b'[ {"a": [1, {"b": "]"}]} ,\n\t{"c": "x\\u00e9"} ]', 0, b'{"a": [1, {"b": "]"}]}'),
        (b'[ {"a": [1, {"b": "]"}]} ,\n\t{"c": "x\\u00e9"} ]', 1, b'{"c": "x\\u00e9"}'),
        ('[{"n": "Jos\u00e9"}, 7]'.encode(), 1, b"7"),
        ('[{"n": "Jos\u00e9"}, 7]'.encode(), 0, '{"n": "Jos\u00e9"}'.encode()),
        (b'[{"a": "\\ud800"}]', 0, b'{"a": "\\ud800"}'),
    ],
    ids=["object", "second", "nested-first", "nested-second", "scalar", "utf8", "surrogate-escape"],
)
def test_event_bytes_are_the_event_as_written(data, index, exact):
    assert parse_events(data, 1_000)  # the data is what the function reads
    assert event_bytes(data, index) == exact
