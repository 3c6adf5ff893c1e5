"""Dead-lettering: park what can never be delivered on a Pub/Sub topic, with its reason, once.

A letter holds the event exactly as it arrived (its bytes), the message's own attributes, why it
was parked, and the id the event was sent with (`pinterest_event_id`, which replay keeps and the
function honours), so that replaying it maps to the same Pinterest event.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from lib.delivery.publishing import Outgoing, new_publisher, publish_all
from lib.errors import TransientError
from lib.logs import scrub

__all__ = ["DEAD_LETTER_ATTRIBUTES", "EVENT_ID_ATTRIBUTE", "DeadLetter", "Letter", "letter_for"]

#: Attributes this module adds that say why a message was parked; replay strips them (and Pub/Sub's own).
DEAD_LETTER_ATTRIBUTES: Final = frozenset({"reason", "detail", "source_message_id", "event_index"})
#: The id a parked event was sent with, when it brought none of its own; kept on replay.
EVENT_ID_ATTRIBUTE: Final = "pinterest_event_id"
_PUBLISH_TIMEOUT_SECONDS: Final = 30.0
_REMEMBERED_LETTERS: Final = 10_000  # letters this instance knows it parked (a redelivery skips them)


@dataclass(frozen=True)
class Letter:
    """One message for the dead-letter topic, and which event of which message it parks."""

    key: tuple[str, int | None]  # (source message id, event index; None for a whole message)
    message: Outgoing


def letter_for(
    data: bytes,
    reason: str,
    detail: str,
    *,
    message_id: str,
    source_attributes: Mapping[str, str],
    event_index: int | None = None,
    derived_event_id: str = "",
) -> Letter:
    """The original data and attributes, plus why it was parked (no PII in `detail`)."""
    attributes = {k: v for k, v in source_attributes.items() if k not in DEAD_LETTER_ATTRIBUTES}
    attributes.update(reason=str(reason), detail=scrub(detail), source_message_id=message_id)
    if event_index is not None:
        attributes["event_index"] = str(event_index)
    if derived_event_id:
        attributes[EVENT_ID_ATTRIBUTE] = derived_event_id
    return Letter((message_id, event_index), Outgoing(data, attributes))


class DeadLetter:
    """Publishes letters to one topic, each at most once per instance; the client is made on first use."""

    def __init__(self, topic: str, publisher: Any | None = None) -> None:
        self._topic = topic
        self._publisher = publisher
        self._lock = threading.Lock()
        self._parked: OrderedDict[tuple[str, int | None], None] = OrderedDict()

    def park(self, letters: Sequence[Letter]) -> None:
        """Publish the letters not parked before and wait; raises TransientError if any is not out.

        A redelivery after a half-failed publish parks only the letters that did not go out.
        """
        if not letters:
            return
        if not self._topic:
            raise TransientError(
                f"DEAD_LETTER_TOPIC is not set, so {len(letters)} rejected event(s) cannot be parked"
            )
        fresh = [letter for letter in letters if not self._was_parked(letter.key)]
        results = publish_all(
            self._client(), self._topic, [letter.message for letter in fresh], _PUBLISH_TIMEOUT_SECONDS
        )
        for letter, result in zip(fresh, results, strict=True):
            if result.message_id:
                self._remember(letter.key)
        failed = [result.error for result in results if not result.message_id]
        if failed:
            kind = failed[0].partition(":")[0]
            raise TransientError(
                f"dead-letter publish failed for {len(failed)} of {len(fresh)} letter(s) ({kind})"
            )

    def _client(self) -> Any:
        with self._lock:
            if self._publisher is None:
                self._publisher = new_publisher()
            return self._publisher

    def _was_parked(self, key: tuple[str, int | None]) -> bool:
        with self._lock:
            return key in self._parked

    def _remember(self, key: tuple[str, int | None]) -> None:
        with self._lock:
            self._parked[key] = None
            if len(self._parked) > _REMEMBERED_LETTERS:
                self._parked.popitem(last=False)
