"""What the mapping of one event knows besides the event: its message, the clock, the settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lib.mapping.settings import MappingConfig

__all__ = ["EventContext"]


@dataclass(slots=True)
class EventContext:
    """One GA4 event with what its mapping needs to know about the message and the clock.

    `paths`, `country` and `contents` are filled in once per event by `lib.mapping.interpret`
    before the tables are read, so the rules that need them (phone and state need the country;
    value, content_ids and num_items the contents) read them without recomputing.
    """

    event: Mapping[str, Any]
    index: int
    config: MappingConfig
    now: float
    default_event_id: str = ""  # the id sent when the event brings none (see lib.mapping.identity)
    publish_time: float | None = None
    paths: Mapping[str, list[Any]] = field(default_factory=dict)  # every value by dotted path
    country: str = ""  # the first usable address country, else DEFAULT_COUNTRY
    contents: list[dict[str, Any]] = field(default_factory=list)  # from contents, items or line_items
