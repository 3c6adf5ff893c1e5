"""Dead-lettering: park what can never be delivered on a Pub/Sub topic, with its reason."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from lib.errors import NotForwarded, TransientError
from lib.logs import scrub

__all__ = ["DEAD_LETTER_ATTRIBUTES", "DeadLetter", "Letter", "letter_for"]

#: Attributes this module adds; replay strips them (and Pub/Sub's own CloudPubSubDeadLetter*).
DEAD_LETTER_ATTRIBUTES: Final = frozenset({"reason", "detail", "source_message_id", "event_index"})
_PUBLISH_TIMEOUT_SECONDS: Final = 30.0


@dataclass(frozen=True)
class Letter:
    """One message for the dead-letter topic."""

    data: bytes
    attributes: Mapping[str, str]


def letter_for(
    data: bytes,
    error: NotForwarded,
    *,
    message_id: str,
    source_attributes: Mapping[str, str],
    event_index: int | None = None,
) -> Letter:
    """The original data and attributes, plus why it was parked (no PII in `detail`)."""
    attributes = {k: v for k, v in source_attributes.items() if k not in DEAD_LETTER_ATTRIBUTES}
    attributes.update(reason=str(error.reason), detail=scrub(error.detail), source_message_id=message_id)
    if event_index is not None:
        attributes["event_index"] = str(event_index)
    return Letter(data, attributes)


class DeadLetter:
    """Publishes letters to one topic; the Pub/Sub client is created on first use."""

    def __init__(self, topic: str, publisher: Any | None = None) -> None:
        self._topic = topic
        self._publisher = publisher
        self._lock = threading.Lock()

    def _client(self) -> Any:
        with self._lock:
            if self._publisher is None:
                # Imported here: the client library is heavy and most pushes never need it.
                from google.cloud import pubsub_v1

                self._publisher = pubsub_v1.PublisherClient()
            return self._publisher

    def publish(self, letters: Sequence[Letter]) -> None:
        """Publish every letter and wait; raises TransientError if any publish fails."""
        if not letters:
            return
        if not self._topic:
            raise TransientError("DEAD_LETTER_TOPIC is not set, so rejected events cannot be parked")
        client = self._client()
        futures = [client.publish(self._topic, letter.data, **letter.attributes) for letter in letters]
        try:
            for future in futures:
                future.result(timeout=_PUBLISH_TIMEOUT_SECONDS)
        except Exception as error:  # any client failure means: not parked, so not acked
            raise TransientError(f"dead-letter publish failed ({type(error).__name__})") from None
