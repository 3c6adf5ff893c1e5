"""One Pub/Sub push, start to finish: decode, map, deliver, dead-letter, log, decide the ack.

Ack rules (DESIGN §1): return normally (ack) once every event was processed by Pinterest,
skipped on purpose, or parked on the dead-letter topic; raise TransientError (no ack, Pub/Sub
redelivers) when anything is still undelivered. Parking waits until nothing is deferred, so a
redelivered message is not parked twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from lib.config import load_config
from lib.delivery.batching import Batcher
from lib.delivery.client import EventResult, Outcome, PinterestClient
from lib.delivery.deadletter import DeadLetter, Letter, letter_for
from lib.delivery.messages import Message, parse_events
from lib.errors import InvalidEvent, Reason, TransientError
from lib.logs import configure as configure_logs
from lib.logs import log
from lib.mapping import Mapped, MappingConfig, map_events

__all__ = ["EventOutcome", "Forwarder", "Outcomes", "build_forwarder"]

_SEVERITY: Final = {"processed": "INFO", "skipped": "INFO", "rejected": "WARNING", "deferred": "WARNING"}


@dataclass(frozen=True)
class EventOutcome:
    """What became of one event: processed, skipped, rejected (parked) or deferred (retried)."""

    index: int
    name: str
    reason: str = ""
    detail: str = ""


@dataclass(frozen=True)
class Outcomes:
    """What became of each event of one message."""

    message_id: str
    events: tuple[EventOutcome, ...]

    def count(self, name: str) -> int:
        return sum(1 for outcome in self.events if outcome.name == name)


@dataclass(frozen=True)
class Forwarder:
    """Everything one push needs, built once per instance."""

    mapping: MappingConfig
    batcher: Batcher
    dead_letter: DeadLetter

    def process(self, message: Message, now: float | None = None) -> Outcomes:
        """Handle one message; raises TransientError when it must be redelivered."""
        with self.batcher.push():
            return self._process(message, time.time() if now is None else now)

    def _process(self, message: Message, now: float) -> Outcomes:
        try:
            events = parse_events(message.data(), self.mapping.max_message_bytes)
        except InvalidEvent as error:
            return self._park_message(message, error)
        mapped = map_events(events, config=self.mapping, now=now, publish_time=message.publish_time)
        accepted = [m for m in mapped if m.event is not None]
        results = dict(
            zip((m.index for m in accepted), self.batcher.deliver([m.event for m in accepted]), strict=True)
        )
        outcomes = Outcomes(message.message_id, tuple(_outcome(m, results.get(m.index)) for m in mapped))
        deferred = outcomes.count("deferred")
        if not deferred:
            self.dead_letter.publish(
                [
                    _letter(m, o, message)
                    for m, o in zip(mapped, outcomes.events, strict=True)
                    if o.name == "rejected"
                ]
            )
        _log_events(mapped, outcomes)
        if deferred:
            raise TransientError(f"{deferred} event(s) not delivered yet")
        return outcomes

    def _park_message(self, message: Message, error: InvalidEvent) -> Outcomes:
        letter = letter_for(
            _raw_data(message), error, message_id=message.message_id, source_attributes=message.attributes
        )
        self.dead_letter.publish([letter])
        log("WARNING", "message dead-lettered", message_id=message.message_id, reason=str(error.reason))
        return Outcomes(message.message_id, (EventOutcome(0, "rejected", str(error.reason), error.detail),))


def _raw_data(message: Message) -> bytes:
    try:
        return message.data()
    except InvalidEvent:
        return message.encoded_data.encode()


def _outcome(mapped: Mapped, result: EventResult | None) -> EventOutcome:
    if mapped.error is not None:
        name = "rejected" if isinstance(mapped.error, InvalidEvent) else "skipped"
        return EventOutcome(mapped.index, name, str(mapped.error.reason), mapped.error.detail)
    assert result is not None, "every accepted event has a delivery result"
    name = str(result.outcome)  # processed, rejected or deferred
    reason = str(Reason.PINTEREST_REJECTED) if result.outcome is Outcome.REJECTED else result.detail
    return EventOutcome(mapped.index, name, reason, result.detail)


def _letter(mapped: Mapped, outcome: EventOutcome, message: Message) -> Letter:
    error = mapped.error or InvalidEvent(Reason.PINTEREST_REJECTED, outcome.detail)
    data = json.dumps(mapped.source, ensure_ascii=False, separators=(",", ":")).encode()
    return letter_for(
        data,
        error,
        message_id=message.message_id,
        source_attributes=message.attributes,
        event_index=mapped.index,
    )


def _log_events(mapped: Sequence[Mapped], outcomes: Outcomes) -> None:
    for m, outcome in zip(mapped, outcomes.events, strict=True):
        event = m.event or {}
        log(
            _SEVERITY[outcome.name],
            f"event {outcome.name}",
            message_id=outcomes.message_id,
            event_index=outcome.index,
            ga4_event_name=m.ga4_name,
            event_name=event.get("event_name"),
            event_id=event.get("event_id"),
            match_keys=sorted(event.get("user_data", {})),
            outcome=outcome.name,
            reason=outcome.reason or None,
        )


def build_forwarder(env: Mapping[str, str] | None = None) -> Forwarder:
    """The instance's forwarder from environment variables (raises ConfigError naming a variable)."""
    mapping, delivery = load_config(env)
    configure_logs(enabled=delivery.log_mode == "console")
    client = PinterestClient(delivery)
    batcher = Batcher(
        client.send, window=delivery.batch_window_ms / 1000, max_events=delivery.batch_max_events
    )
    return Forwarder(mapping, batcher, DeadLetter(delivery.dead_letter_topic))
