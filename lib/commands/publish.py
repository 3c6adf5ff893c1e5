"""Publish GA4 events to a Pub/Sub topic, one message per event, to try a deployment or the emulator."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from lib.delivery.publishing import Outgoing

__all__ = ["InputError", "message_for", "read_events"]


class InputError(ValueError):
    """The input is not a JSON object, an array of objects, or JSON lines of objects (says where)."""


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
