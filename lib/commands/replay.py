"""Replay: move dead-lettered messages back to the events topic, without the dead-letter attributes.

A letter the function published twice for the same event (a redelivery after a half-failed
publish) is replayed once: the copy is acknowledged and counted as a duplicate.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any, Final

from lib.delivery.deadletter import DEAD_LETTER_ATTRIBUTES
from lib.delivery.publishing import Outgoing, new_publisher, publish_all
from lib.errors import Reason
from lib.logs import scrub

__all__ = [
    "DELIVERY_ATTEMPTS_EXHAUSTED",
    "REASONS",
    "Report",
    "format_report",
    "letter_key",
    "original_attributes",
    "reason_of",
    "replay",
    "select",
]

#: The reason counted for a message Pub/Sub dead-lettered itself (it carries no `reason`).
DELIVERY_ATTEMPTS_EXHAUSTED: Final = "delivery_attempts_exhausted"
#: Every reason a parked message can have, for `--reason`.
REASONS: Final = (*sorted(str(reason) for reason in Reason), DELIVERY_ATTEMPTS_EXHAUSTED)

_PUBSUB_ATTRIBUTE_PREFIX: Final = "CloudPubSubDeadLetter"  # what Pub/Sub adds when it dead-letters
_PULL_BATCH: Final = 100
_PULL_WAIT_SECONDS: Final = 5.0  # a pull that finds nothing in this time means the backlog is read
_HOLD_SECONDS: Final = 600  # Pub/Sub's longest ack deadline
_ACK_BATCH: Final = 1000


def original_attributes(attributes: Mapping[str, str]) -> dict[str, str]:
    """The attributes the message was first published with: ours and Pub/Sub's dead-letter ones removed."""
    return {
        key: value
        for key, value in attributes.items()
        if key not in DEAD_LETTER_ATTRIBUTES and not key.startswith(_PUBSUB_ATTRIBUTE_PREFIX)
    }


def reason_of(attributes: Mapping[str, str]) -> str:
    """Why the message was parked; Pub/Sub's own dead letters carry no reason."""
    return attributes.get("reason") or DELIVERY_ATTEMPTS_EXHAUSTED


def letter_key(data: bytes, attributes: Mapping[str, str]) -> tuple[str, str]:
    """What a letter parks: our letters name their event, Pub/Sub's own are known by their content."""
    source = attributes.get("source_message_id")
    if source:
        return source, attributes.get("event_index", "")
    return "", hashlib.sha256(data).hexdigest()


def select(reasons: Sequence[str], wanted: str | None, room: int | None) -> list[bool]:
    """Which messages to take: those with the `wanted` reason (any when None), at most `room` of them."""
    matching = [wanted is None or reason == wanted for reason in reasons]
    ranks = accumulate(matching)  # how many were matched so far, this one included
    return [match and (room is None or rank <= room) for match, rank in zip(matching, ranks, strict=True)]


@dataclass
class Report:
    """Messages per reason: replayed (or, in a dry run, to be), failed to publish, left, duplicates."""

    dry_run: bool = False
    replayed: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    left: Counter[str] = field(default_factory=Counter)
    duplicates: Counter[str] = field(default_factory=Counter)  # second letters of a replayed event
    error: str = ""  # why the subscription could not be read to the end

    @property
    def handled(self) -> int:
        """Messages taken so far (what `--max` bounds)."""
        return self.replayed.total() + self.failed.total()


def format_report(report: Report) -> str:
    """One line per reason and a total, in aligned columns."""
    columns = ("would_replay" if report.dry_run else "replayed", "failed", "left", "duplicate")
    counters = (report.replayed, report.failed, report.left, report.duplicates)
    reasons = sorted({reason for counter in counters for reason in counter})
    rows = [("reason", *columns)]
    rows += [(reason, *(str(counter[reason]) for counter in counters)) for reason in reasons]
    rows.append(("total", *(str(counter.total()) for counter in counters)))
    width = max(len(row[0]) for row in rows)
    return "".join(f"{row[0]:<{width}}" + "".join(f"  {cell:>12}" for cell in row[1:]) + "\n" for row in rows)


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class _Replay:
    """One run over a dead-letter subscription.

    A message is acknowledged only after its republication succeeded. Messages left alone (another
    reason, beyond `limit`, a dry run, a failed publish) are held out of the way while the backlog
    is read, so that every pull brings new ones, then released together (ack deadline 0) at the end.
    """

    subscriber: Any
    publisher: Any
    subscription: str
    topic: str
    wanted: str | None
    limit: int | None
    wait: float
    report: Report
    held: list[str] = field(default_factory=list)  # ack ids to release at the end
    seen: set[str] = field(default_factory=set)  # message ids, in case one comes back
    taken: set[tuple[str, str]] = field(default_factory=set)  # letter keys replayed in this run

    def run(self) -> Report:
        """Drain, then release what is held; a Pub/Sub error stops the run and is reported."""
        # Imported here: the client library is heavy, and `import lib.cli` must stay fast.
        from google.api_core.exceptions import DeadlineExceeded, GoogleAPICallError

        for step in (lambda: self.drain(DeadlineExceeded), self.release):
            try:
                step()
            except GoogleAPICallError as error:
                self.report.error = self.report.error or scrub(f"{type(error).__name__}: {error}")
        return self.report

    def room(self) -> int | None:
        return None if self.limit is None else self.limit - self.report.handled

    def drain(self, nothing_came: type[Exception]) -> None:
        while (room := self.room()) != 0:
            size = _PULL_BATCH if room is None else min(_PULL_BATCH, room)
            request = {"subscription": self.subscription, "max_messages": size}
            try:
                received = self.subscriber.pull(request=request, timeout=self.wait).received_messages
            except nothing_came:
                return
            if not received:
                return
            self.handle(received)

    def handle(self, received: Sequence[Any]) -> None:
        again = [r for r in received if r.message.message_id in self.seen]
        fresh = [r for r in received if r.message.message_id not in self.seen]
        self.seen.update(r.message.message_id for r in fresh)
        reasons = [reason_of(r.message.attributes) for r in fresh]
        taken = select(reasons, self.wanted, self.room())
        left = [(r, reason) for r, reason, take in zip(fresh, reasons, taken, strict=True) if not take]
        chosen, copies = self.distinct(
            [(r, reason) for r, reason, take in zip(fresh, reasons, taken, strict=True) if take]
        )
        self.report.left.update(reason for _, reason in left)
        self.hold([r.ack_id for r in again] + [r.ack_id for r, _ in left])
        self.report.duplicates.update(reason for _, reason in copies)
        if not self.report.dry_run:
            self.acknowledge([r.ack_id for r, _ in copies])
        if self.report.dry_run:
            self.report.replayed.update(reason for _, reason in chosen)
            self.hold([r.ack_id for r, _ in chosen])
        else:
            self.republish(chosen)

    def distinct(self, chosen: list[tuple[Any, str]]) -> tuple[list[tuple[Any, str]], list[tuple[Any, str]]]:
        """The chosen letters split into first copies (to replay) and copies of a letter already taken."""
        first: list[tuple[Any, str]] = []
        copies: list[tuple[Any, str]] = []
        for r, reason in chosen:
            key = letter_key(r.message.data, r.message.attributes)
            (copies if key in self.taken else first).append((r, reason))
            self.taken.add(key)
        return first, copies

    def republish(self, chosen: Sequence[tuple[Any, str]]) -> None:
        """Publish the originals; acknowledge each only once its publish succeeded."""
        messages = [Outgoing(r.message.data, original_attributes(r.message.attributes)) for r, _ in chosen]
        done: list[str] = []
        failed: list[str] = []
        results = publish_all(self.publisher, self.topic, messages)
        for (r, reason), result in zip(chosen, results, strict=True):
            (done if result.message_id else failed).append(r.ack_id)
            (self.report.replayed if result.message_id else self.report.failed)[reason] += 1
            if not result.message_id:
                self.taken.discard(letter_key(r.message.data, r.message.attributes))
        self.hold(failed)
        self.acknowledge(done)

    def acknowledge(self, ack_ids: Sequence[str]) -> None:
        for chunk in _chunks(ack_ids, _ACK_BATCH):
            self.subscriber.acknowledge(request={"subscription": self.subscription, "ack_ids": chunk})

    def hold(self, ack_ids: Sequence[str]) -> None:
        self.modify(ack_ids, _HOLD_SECONDS)
        self.held.extend(ack_ids)

    def release(self) -> None:
        held, self.held = self.held, []
        self.modify(held, 0)

    def modify(self, ack_ids: Sequence[str], seconds: int) -> None:
        for chunk in _chunks(ack_ids, _ACK_BATCH):
            request = {"subscription": self.subscription, "ack_ids": chunk, "ack_deadline_seconds": seconds}
            self.subscriber.modify_ack_deadline(request=request)


def replay(
    subscription: str,
    topic: str,
    *,
    reason: str | None = None,
    limit: int | None = None,
    dry_run: bool = False,
    wait: float = _PULL_WAIT_SECONDS,
    subscriber: Any | None = None,
    publisher: Any | None = None,
) -> Report:
    """Take parked messages until a pull finds nothing for `wait` seconds or `limit` are taken.

    Dry run: count what would be replayed, publish and acknowledge nothing.
    """
    from google.cloud import pubsub_v1

    return _Replay(
        subscriber=subscriber or pubsub_v1.SubscriberClient(),
        publisher=publisher or (None if dry_run else new_publisher()),
        subscription=subscription,
        topic=topic,
        wanted=reason,
        limit=limit,
        wait=wait,
        report=Report(dry_run=dry_run),
    ).run()
