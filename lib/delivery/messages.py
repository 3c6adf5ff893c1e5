"""Pub/Sub decoding: from a push (raw or Eventarc CloudEvent) to the GA4 events it carries."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from lib.errors import InvalidEvent, Reason

__all__ = ["Message", "event_bytes", "message_from_cloud_event", "parse_events"]

_FRACTION_TOO_LONG: Final = re.compile(r"(\.\d{6})\d+")  # Pub/Sub writes nanoseconds
# JSON may escape a lone UTF-16 surrogate (`"\ud800"`): valid JSON, but not text that can be
# encoded, hashed or sent on. Only data with such an escape is walked to replace them.
_SURROGATE_ESCAPE: Final = re.compile(rb"\\u[dD][89a-fA-F]")
_WHITESPACE: Final = re.compile(r"[ \t\n\r]*")  # what JSON allows between tokens


@dataclass(frozen=True)
class Message:
    """One Pub/Sub message: its id, publish time, attributes and data (base64 as received)."""

    message_id: str
    publish_time: float | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)
    encoded_data: str = ""

    def data(self) -> bytes:
        """The decoded data; raises InvalidEvent(NOT_BASE64)."""
        try:
            return base64.b64decode(self.encoded_data, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidEvent(Reason.NOT_BASE64, "message data is not base64") from None


def _timestamp(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(_FRACTION_TOO_LONG.sub(r"\1", value)).timestamp()
    except ValueError:
        return None


def message_from_cloud_event(cloud_event: Any) -> Message:
    """The Pub/Sub message inside a CloudEvent, whether Eventarc's or a converted raw push."""
    data = cloud_event.data if isinstance(cloud_event.data, Mapping) else {}
    message = data.get("message") if isinstance(data.get("message"), Mapping) else {}
    message_id = message.get("messageId") or message.get("message_id") or cloud_event["id"]
    attributes = message.get("attributes") if isinstance(message.get("attributes"), Mapping) else {}
    publish_time = message.get("publishTime") or message.get("publish_time") or cloud_event.get("time")
    return Message(
        message_id=str(message_id),
        publish_time=_timestamp(publish_time),
        attributes={str(k): str(v) for k, v in attributes.items()},
        encoded_data=message.get("data") if isinstance(message.get("data"), str) else "",
    )


def parse_events(data: bytes, max_bytes: int) -> list[Any]:
    """The GA4 events in message data: one JSON object, or an array of them.

    Raises InvalidEvent with a message-level reason; array elements are not checked here, so a
    bad element fails alone when it is mapped.
    """
    if not data.strip():
        raise InvalidEvent(Reason.EMPTY_MESSAGE, "message data is empty")
    if len(data) > max_bytes:
        raise InvalidEvent(Reason.TOO_LARGE, f"message data is over {max_bytes} bytes")
    try:
        payload = json.loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidEvent(Reason.NOT_JSON, "message data is not UTF-8 JSON") from None
    if _SURROGATE_ESCAPE.search(data):
        payload = _valid_text(payload)
    if isinstance(payload, dict):
        return [payload]
    if not isinstance(payload, list):
        raise InvalidEvent(Reason.NOT_AN_EVENT, "message data is neither an object nor an array")
    if not payload:
        raise InvalidEvent(Reason.EMPTY_MESSAGE, "message data is an empty array")
    return payload


def _valid_text(value: Any) -> Any:
    """The same JSON value with every lone surrogate replaced by U+FFFD."""
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, list):
        return [_valid_text(element) for element in value]
    if isinstance(value, dict):
        return {_valid_text(key): _valid_text(element) for key, element in value.items()}
    return value


def event_bytes(data: bytes, index: int) -> bytes:
    """The exact bytes of event `index` in message data that `parse_events` read.

    An object message is its whole data; an array element is cut out as written, so that a letter
    holds the event byte for byte (`1.10` stays `1.10`, `1e400` stays `1e400`).
    """
    encoding = json.detect_encoding(data)
    text = data.decode(encoding)
    start = _WHITESPACE.match(text).end()
    if text[start] != "[":
        return data
    begin, end = _element_spans(text, start)[index]
    return text[begin:end].encode(encoding.removesuffix("-sig"))


def _element_spans(text: str, start: int) -> list[tuple[int, int]]:
    """Where each element of the JSON array opening at `start` begins and ends."""
    decoder = json.JSONDecoder()
    spans = []
    position = _WHITESPACE.match(text, start + 1).end()
    while text[position] != "]":
        _, end = decoder.raw_decode(text, position)
        spans.append((position, end))
        position = _WHITESPACE.match(text, end).end()
        if text[position] == ",":
            position = _WHITESPACE.match(text, position + 1).end()
    return spans
