"""Small test doubles shared by the forwarder and batching tests."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

from lib.delivery.messages import Message
from lib.delivery.outcomes import EventResult, Outcome


class FakePublisher:
    """Stands in for google-cloud-pubsub's PublisherClient; records what is published.

    `fail` fails every publish; `fail_calls` fails the publishes with those call numbers (from 0).
    """

    def __init__(self, fail: bool = False, fail_calls: frozenset[int] = frozenset()) -> None:
        self.fail = fail
        self.fail_calls = fail_calls
        self.calls = 0
        self.published: list[tuple[str, bytes, dict[str, str]]] = []
        self._lock = threading.Lock()

    def publish(self, topic: str, data: bytes, **attributes: str) -> Future[str]:
        future: Future[str] = Future()
        with self._lock:
            call, self.calls = self.calls, self.calls + 1
        if self.fail or call in self.fail_calls:
            future.set_exception(RuntimeError("publish failed"))
        else:
            with self._lock:
                self.published.append((topic, data, attributes))
            future.set_result(str(len(self.published)))
        return future


def message(events: Any, message_id: str = "m1", attributes: dict[str, str] | None = None) -> Message:
    data = events if isinstance(events, bytes) else json.dumps(events).encode()
    return Message(message_id, None, attributes or {}, base64.b64encode(data).decode())


def sender(
    outcome: Callable[[dict[str, Any]], EventResult] = lambda _: EventResult(Outcome.PROCESSED),
) -> tuple[Callable[[Sequence[dict[str, Any]]], list[EventResult]], list[list[dict[str, Any]]]]:
    """A fake Pinterest send that records each request and answers per event."""
    requests: list[list[dict[str, Any]]] = []
    lock = threading.Lock()

    def send(events: Sequence[dict[str, Any]]) -> list[EventResult]:
        with lock:
            requests.append(list(events))
        return [outcome(event) for event in events]

    return send, requests
