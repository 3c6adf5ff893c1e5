"""Micro-batching: the events of concurrent pushes share Pinterest requests.

Each push enters `Batcher.push()` (the entry point does so as its request begins, so a push
counts from the moment the function sees it) and hands its events to `deliver()` once. The first
push to find no open batch leads one: it waits while some push in flight can still join (it has not
delivered yet), until the batch is full or the window has passed, then sends the batch and hands
each push its own events' results. Pushes already waiting on another batch cannot join, so they
never hold a batch back: a lone push never waits, and batching adds latency only where it saves
calls. With no window (`BATCH_WINDOW_MS=0`) every push sends alone. A batch belongs to the
request thread that leads it, so a graceful shutdown, which lets in-flight requests finish,
sends whatever is pending.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from lib.delivery.outcomes import EventResult

__all__ = ["Batcher", "Push"]

_Send = Callable[[Sequence[Mapping[str, Any]]], list[EventResult]]


@dataclass(eq=False)
class _Batch:
    events: list[Mapping[str, Any]] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    results: list[EventResult] = field(default_factory=list)
    error: BaseException | None = None


class Push:
    """One push's way into the batcher: it delivers its events once."""

    def __init__(self, batcher: Batcher) -> None:
        self._batcher = batcher
        self.delivered = False

    def deliver(self, events: Sequence[Mapping[str, Any]]) -> list[EventResult]:
        """Send `events` together with other pushes' events; one result per event, in order."""
        if self.delivered:
            raise RuntimeError("a push delivers its events once")
        self.delivered = True
        return self._batcher._deliver(events)


class Batcher:
    """Collects events from concurrent pushes for at most `window` seconds or `max_events`."""

    def __init__(self, send: _Send, *, window: float, max_events: int) -> None:
        self._send = send
        self._window = window
        self._max_events = max_events
        self._changed = threading.Condition()
        self._open: _Batch | None = None
        self._joinable = 0  # pushes in flight that have not delivered yet: only they can join

    @contextmanager
    def push(self) -> Iterator[Push]:
        """One push in flight: open batches wait for its events until it delivers or leaves."""
        with self._changed:
            self._joinable += 1
        push = Push(self)
        try:
            yield push
        finally:
            if not push.delivered:
                with self._changed:
                    self._no_longer_joinable()

    def _no_longer_joinable(self) -> None:
        self._joinable -= 1
        if not self._joinable:
            self._changed.notify_all()  # a waiting leader has nobody left to wait for

    def _deliver(self, events: Sequence[Mapping[str, Any]]) -> list[EventResult]:
        with self._changed:
            self._no_longer_joinable()
            if not events:
                return []
            batch, offset, leads = self._join(events)
        if leads:
            self._lead(batch)
        else:
            batch.done.wait()
        if batch.error is not None:
            raise batch.error
        return batch.results[offset : offset + len(events)]

    def _join(self, events: Sequence[Mapping[str, Any]]) -> tuple[_Batch, int, bool]:
        batch = self._open
        leads = batch is None or len(batch.events) + len(events) > self._max_events
        if leads:
            if batch is not None:
                self._changed.notify_all()  # its leader sends now: this push starts the next batch
            batch = _Batch()
            self._open = batch if self._window > 0 else None  # with no window, batching is off
        assert batch is not None
        offset = len(batch.events)
        batch.events.extend(events)
        if len(batch.events) >= self._max_events:
            self._changed.notify_all()
        return batch, offset, leads

    def _lead(self, batch: _Batch) -> None:
        deadline = time.monotonic() + self._window
        with self._changed:
            while (
                self._open is batch
                and len(batch.events) < self._max_events
                and self._joinable
                and (left := deadline - time.monotonic()) > 0
            ):
                self._changed.wait(left)
            if self._open is batch:
                self._open = None
        try:
            batch.results = self._send(batch.events)
        except BaseException as error:  # handed to every push of the batch, then re-raised
            batch.error = error
        finally:
            batch.done.set()
