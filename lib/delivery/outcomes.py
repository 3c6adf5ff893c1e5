"""What becomes of each event: the vocabulary every delivery module shares."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["EventResult", "Outcome"]


class Outcome(StrEnum):
    """What became of one event (its log line's `outcome`)."""

    PROCESSED = "processed"  # Pinterest accepted it; never send it again
    REJECTED = "rejected"  # permanently unusable: parked on the dead-letter topic with a reason
    SKIPPED = "skipped"  # left out on purpose (consent, filters): logged, not parked
    DEFERRED = "deferred"  # not delivered yet: the push is not acknowledged, Pub/Sub redelivers it


@dataclass(frozen=True)
class EventResult:
    """Pinterest's answer for one event: the outcome, a PII-free reason and detail, a warning."""

    outcome: Outcome
    reason: str = ""  # why, when not processed: a lib.errors.Reason or a transport reason (http_503)
    detail: str = ""  # Pinterest's own message, scrubbed
    warning: str = ""  # Pinterest's warning_message for a processed event, scrubbed
