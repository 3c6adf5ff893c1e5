"""One Pub/Sub push, start to finish: decode, map, deliver, log, dead-letter, decide the ack.

Ack rules (DESIGN §1): return normally (ack) once every event was processed by Pinterest, skipped
on purpose, or parked on the dead-letter topic; raise TransientError (no ack, Pub/Sub redelivers)
while anything is still undelivered or could not be parked. Every event is logged with its outcome
and reason first, so a rejection is visible even where it cannot be parked. Parking waits until
nothing is deferred, so a redelivered message is not parked twice.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from lib.config import load_config
from lib.delivery.batching import Batcher, Push
from lib.delivery.client import PinterestClient
from lib.delivery.deadletter import EVENT_ID_ATTRIBUTE, DeadLetter, Letter, letter_for
from lib.delivery.messages import Message, event_bytes, parse_events
from lib.delivery.outcomes import EventResult, Outcome
from lib.errors import InvalidEvent, TransientError
from lib.logs import configure as configure_logs
from lib.logs import log
from lib.mapping import Mapped, MappingConfig, map_events

__all__ = ["EventOutcome", "Forwarder", "Outcomes", "build_forwarder"]

_SEVERITY: Final = {
    Outcome.PROCESSED: "INFO",
    Outcome.SKIPPED: "INFO",
    Outcome.REJECTED: "WARNING",
    Outcome.DEFERRED: "WARNING",
}


@dataclass(frozen=True)
class EventOutcome:
    """What became of one event of a message, and why."""

    index: int
    outcome: Outcome
    reason: str = ""
    detail: str = ""
    warning: str = ""  # Pinterest's warning_message for a processed event, scrubbed


@dataclass(frozen=True)
class Outcomes:
    """What became of each event of one message."""

    message_id: str
    events: tuple[EventOutcome, ...]

    def count(self, outcome: Outcome) -> int:
        return sum(1 for event in self.events if event.outcome is outcome)


@dataclass(frozen=True)
class Forwarder:
    """Everything one push needs, built once per instance."""

    mapping: MappingConfig
    batcher: Batcher
    dead_letter: DeadLetter

    def process(self, message: Message, now: float | None = None, push: Push | None = None) -> Outcomes:
        """Handle one message; raises TransientError when it must be redelivered.

        `push` is the message's place in the batcher when the caller took it as the request began
        (main.py does); without one, the message takes its place now.
        """
        now = time.time() if now is None else now
        if push is not None:
            return self._process(message, push, now)
        with self.batcher.push() as own:
            return self._process(message, own, now)

    def _process(self, message: Message, push: Push, now: float) -> Outcomes:
        try:
            data = message.data()
            events = parse_events(data, self.mapping.max_message_bytes)
        except InvalidEvent as error:
            return self._park_message(message, error)
        mapped = map_events(
            events,
            config=self.mapping,
            now=now,
            publish_time=message.publish_time,
            event_ids=_given_ids(message.attributes, events),
        )
        results = iter(push.deliver([m.event for m in mapped if m.event is not None]))
        outcomes = Outcomes(message.message_id, tuple(_outcome(m, results) for m in mapped))
        _log_events(mapped, outcomes)
        deferred = outcomes.count(Outcome.DEFERRED)
        if deferred:
            raise TransientError(f"{deferred} event(s) not delivered yet")
        self.dead_letter.park(
            [
                _letter(message, data, m, o)
                for m, o in zip(mapped, outcomes.events, strict=True)
                if o.outcome is Outcome.REJECTED
            ]
        )
        return outcomes

    def _park_message(self, message: Message, error: InvalidEvent) -> Outcomes:
        log(
            "WARNING",
            "message dead-lettered",
            message_id=message.message_id,
            outcome=Outcome.REJECTED,
            reason=error.reason,
            detail=error.detail,
        )
        letter = letter_for(
            _raw_data(message),
            error.reason,
            error.detail,
            message_id=message.message_id,
            source_attributes=message.attributes,
        )
        self.dead_letter.park([letter])
        return Outcomes(message.message_id, (EventOutcome(0, Outcome.REJECTED, error.reason, error.detail),))


def _given_ids(attributes: Mapping[str, str], events: Sequence[Any]) -> list[str] | None:
    """A replayed letter's event keeps the id it was first sent with (letters hold one event)."""
    given = attributes.get(EVENT_ID_ATTRIBUTE, "").strip()
    return [given] if given and len(events) == 1 else None


def _raw_data(message: Message) -> bytes:
    try:
        return message.data()
    except InvalidEvent:
        return message.encoded_data.encode()


def _outcome(mapped: Mapped, results: Iterator[EventResult]) -> EventOutcome:
    """The outcome of one mapped event; takes its delivery result from `results` if it was sent."""
    if mapped.error is not None:
        outcome = Outcome.REJECTED if isinstance(mapped.error, InvalidEvent) else Outcome.SKIPPED
        return EventOutcome(mapped.index, outcome, mapped.error.reason, mapped.error.detail)
    result = next(results)
    return EventOutcome(mapped.index, result.outcome, result.reason, result.detail, result.warning)


def _letter(message: Message, data: bytes, mapped: Mapped, outcome: EventOutcome) -> Letter:
    return letter_for(
        event_bytes(data, mapped.index),
        outcome.reason,
        outcome.detail,
        message_id=message.message_id,
        source_attributes=message.attributes,
        event_index=mapped.index,
        derived_event_id="" if mapped.own_event_id else mapped.event_id,
    )


def _log_events(mapped: Sequence[Mapped], outcomes: Outcomes) -> None:
    for m, o in zip(mapped, outcomes.events, strict=True):
        log(
            _SEVERITY[o.outcome],
            f"event {o.outcome}",
            message_id=outcomes.message_id,
            event_index=o.index,
            ga4_event_name=m.ga4_name or None,
            event_name=m.event_name or None,
            event_id=m.event_id,
            own_event_id=m.own_event_id,
            match_keys=sorted(m.event["user_data"]) if m.event else [],
            outcome=o.outcome,
            reason=o.reason or None,
            detail=o.detail or None,
            **({"warning": o.warning} if o.warning else {}),
        )


def build_forwarder(env: Mapping[str, str] | None = None) -> Forwarder:
    """The instance's forwarder from environment variables (raises one ConfigError naming each variable)."""
    mapping, delivery = load_config(env)
    configure_logs(enabled=delivery.log_mode == "console")
    client = PinterestClient(delivery)
    batcher = Batcher(
        client.send, window=delivery.batch_window_ms / 1000, max_events=delivery.batch_max_events
    )
    return Forwarder(mapping, batcher, DeadLetter(delivery.dead_letter_topic))
