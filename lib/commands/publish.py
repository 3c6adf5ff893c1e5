"""Publish GA4 events to a Pub/Sub topic, one message per event, to try a deployment or the emulator."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Final

from lib.logs import scrub

__all__ = ["InputError", "Outgoing", "Published", "message_for", "publish", "read_events"]

_PUBLISH_TIMEOUT_SECONDS: Final = 60.0


class InputError(ValueError):
    """The input is not a JSON object, an array of objects, or JSON lines of objects (says where)."""


@dataclass(frozen=True)
class Outgoing:
    """One message to publish: its data and attributes."""

    data: bytes
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Published:
    """What became of one publish: the message id, or the error (scrubbed)."""

    index: int
    message_id: str = ""
    error: str = ""


def _json_lines(text: str) -> list[Any]:
    values: list[Any] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            values.append(json.loads(line))
        except ValueError:
            raise InputError(f"line {number} is not JSON (nor is the whole input)") from None
    return values


def read_events(raw: bytes) -> list[dict[str, Any]]:
    """The events in a JSON object, a JSON array of objects, or JSON lines of objects."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("the input is not UTF-8") from None
    try:
        value = json.loads(text)
    except ValueError:
        values = _json_lines(text)
    else:
        values = value if isinstance(value, list) else [value]
    if not values:
        raise InputError("the input holds no events")
    for index, event in enumerate(values):
        if not isinstance(event, dict):
            raise InputError(f"event {index} is not a JSON object")
    return values


def message_for(event: Mapping[str, Any]) -> Outgoing:
    """The message for one event: compact UTF-8 JSON, with an `event_name` attribute when it has one."""
    text = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    # A lone surrogate (JSON allows "\ud800") has no UTF-8 form: write it as the same JSON escape.
    data = text.encode("utf-8", "backslashreplace")
    name = event.get("event_name")
    return Outgoing(data, {"event_name": name} if isinstance(name, str) and name.strip() else {})


def publish(topic: str, messages: Sequence[Outgoing], publisher: Any | None = None) -> list[Published]:
    """Publish every message and wait for each; one result per message, in order, never raising."""
    if publisher is None:
        # Imported here: the client library is heavy, and `import lib.cli` must stay fast.
        from google.cloud import pubsub_v1

        publisher = pubsub_v1.PublisherClient()
    futures = [_submit(publisher, topic, message) for message in messages]
    return [_result(index, future) for index, future in enumerate(futures)]


def _submit(publisher: Any, topic: str, message: Outgoing) -> Future[str]:
    try:
        return publisher.publish(topic, message.data, **message.attributes)
    except Exception as error:  # refused before sending (too large): a failed publish like any other
        failed: Future[str] = Future()
        failed.set_exception(error)
        return failed


def _result(index: int, future: Future[str]) -> Published:
    try:
        return Published(index, message_id=str(future.result(timeout=_PUBLISH_TIMEOUT_SECONDS)))
    except Exception as error:  # any client failure is reported per message
        return Published(index, error=scrub(f"{type(error).__name__}: {error}"))
