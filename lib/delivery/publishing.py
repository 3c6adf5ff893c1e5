"""Publish messages to a Pub/Sub topic and wait for each: shared by dead-lettering, `publish` and `replay`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Final

from lib.logs import scrub

__all__ = ["Outgoing", "Published", "new_publisher", "publish_all"]

_PUBLISH_TIMEOUT_SECONDS: Final = 60.0


@dataclass(frozen=True)
class Outgoing:
    """One message to publish: its data and attributes."""

    data: bytes
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Published:
    """What became of one publish: the message id, or the error (type and scrubbed text)."""

    index: int
    message_id: str = ""
    error: str = ""


def new_publisher() -> Any:
    """A google-cloud-pubsub PublisherClient (it honours PUBSUB_EMULATOR_HOST)."""
    # Imported here: the client library is heavy, and most pushes never publish.
    from google.cloud import pubsub_v1

    return pubsub_v1.PublisherClient()


def publish_all(
    publisher: Any, topic: str, messages: Sequence[Outgoing], timeout: float = _PUBLISH_TIMEOUT_SECONDS
) -> list[Published]:
    """Publish every message, then wait for each; one result per message, in order, never raising."""
    futures = [_submit(publisher, topic, message) for message in messages]
    return [_result(index, future, timeout) for index, future in enumerate(futures)]


def _submit(publisher: Any, topic: str, message: Outgoing) -> Future[str]:
    try:
        return publisher.publish(topic, message.data, **message.attributes)
    except Exception as error:  # refused before sending (too large): a failed publish like any other
        failed: Future[str] = Future()
        failed.set_exception(error)
        return failed


def _result(index: int, future: Future[str], timeout: float) -> Published:
    try:
        return Published(index, message_id=str(future.result(timeout=timeout)))
    except Exception as error:  # any client failure is reported per message
        return Published(index, error=scrub(f"{type(error).__name__}: {error}"))
