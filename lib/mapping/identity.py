"""Default event ids, derived from each event's own content (DESIGN §3.2).

Pinterest counts an event once per `event_id`, so an event that brings no id of its own gets one
that depends only on what it says: the same event keeps its id when Pub/Sub redelivers it, when it
is replayed from a dead-letter topic (ours or Pub/Sub's own) and when it is published twice, while
events that differ in any field get different ids. The content is read as JSON (keys sorted), so
spacing and key order do not matter. Identical events inside one message are told apart by their
occurrence: the second copy's id is not the first's.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from typing import Any, Final

__all__ = ["derived_event_ids"]

_ID_HEX_DIGITS: Final = 32  # 128 bits: as unique as a UUID


def _content_digest(event: Any) -> str:
    # ASCII JSON (non-ASCII as \u escapes) is canonical too, and twice as fast to write as UTF-8.
    canonical = json.dumps(event, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()[:_ID_HEX_DIGITS]


def derived_event_ids(events: Sequence[Any]) -> list[str]:
    """One id per event of a message: its content digest, with `-N` for the N-th identical copy."""
    seen: Counter[str] = Counter()
    ids = []
    for event in events:
        digest = _content_digest(event)
        ids.append(f"{digest}-{seen[digest]}" if seen[digest] else digest)
        seen[digest] += 1
    return ids
