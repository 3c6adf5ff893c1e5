"""Micro-batching: the events of concurrent pushes share Pinterest requests.

Each push calls `deliver()` with its own events. The first caller to find no open batch leads
one: it waits until every push in flight has joined this batch, the batch is full, or the window
has passed, whichever comes first, then sends the batch and hands each push its own results.
With one push in flight nothing waits, so batching steps aside when there is no concurrency;
and once every push in flight is in the batch, waiting longer could only add latency.
A batch belongs to the request thread that leads it, so a graceful shutdown, which lets
in-flight requests finish, sends whatever is pending.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from lib.delivery.client import EventResult

__all__ = ["Batcher"]

_Send = Callable[[Sequence[dict[str, Any]]], list[EventResult]]


@dataclass(eq=False)
class _Batch:
    events: list[dict[str, Any]] = field(default_factory=list)
    pushes: int = 0
    done: threading.Event = field(default_factory=threading.Event)
    results: list[EventResult] = field(default_factory=list)
    error: BaseException | None = None


class Batcher:
    """Collects events from concurrent pushes for at most `window` seconds or `max_events`."""

    def __init__(self, send: _Send, *, window: float, max_events: int) -> None:
        self._send = send
        self._window = window
        self._max_events = max_events
        self._changed = threading.Condition()
        self._open: _Batch | None = None
        self._in_flight = 0  # pushes between push() enter and exit
        self._leaders_waiting = 0  # only they need waking when pushes come and go

    @contextmanager
    def push(self) -> Iterator[None]:
        """Mark one push as in flight, so open batches wait for its events."""
        with self._changed:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._changed:
                self._in_flight -= 1
                if self._leaders_waiting:
                    self._changed.notify_all()

    def deliver(self, events: Sequence[dict[str, Any]]) -> list[EventResult]:
        """Send `events` (together with other pushes' events); one result per event, in order."""
        if not events:
            return []
        with self._changed:
            batch, offset, leads = self._join(events)
            if self._leaders_waiting:
                self._changed.notify_all()
        if leads:
            self._lead(batch)
        else:
            batch.done.wait()
        if batch.error is not None:
            raise batch.error
        return batch.results[offset : offset + len(events)]

    def _join(self, events: Sequence[dict[str, Any]]) -> tuple[_Batch, int, bool]:
        batch = self._open
        leads = batch is None or len(batch.events) + len(events) > self._max_events
        if leads:
            batch = self._open = _Batch()
        assert batch is not None
        offset = len(batch.events)
        batch.events.extend(events)
        batch.pushes += 1
        return batch, offset, leads

    def _should_wait(self, batch: _Batch, deadline: float) -> bool:
        others_may_join = self._in_flight > batch.pushes
        return (
            self._open is batch
            and len(batch.events) < self._max_events
            and others_may_join
            and (time.monotonic() < deadline)
        )

    def _lead(self, batch: _Batch) -> None:
        deadline = time.monotonic() + self._window
        with self._changed:
            self._leaders_waiting += 1
            while self._should_wait(batch, deadline):
                self._changed.wait(deadline - time.monotonic())
            self._leaders_waiting -= 1
            if self._open is batch:
                self._open = None
        try:
            batch.results = self._send(batch.events)
        except BaseException as error:  # handed to every push of the batch, then re-raised
            batch.error = error
        finally:
            batch.done.set()
