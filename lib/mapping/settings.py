"""The mapping's settings: how GA4 events become Pinterest events (built by `lib.config`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MappingConfig"]


@dataclass(frozen=True)
class MappingConfig:
    """How GA4 events become Pinterest events."""

    event_name_map: Mapping[str, str] = field(default_factory=dict)
    event_name_override: str = ""
    unmapped_events: str = "custom"
    forward_events: frozenset[str] = frozenset()
    skip_events: frozenset[str] = frozenset()
    data_overrides: Mapping[str, Any] = field(default_factory=dict)
    consent_policy: str = "respect"
    external_id_from_user_id: bool = True
    default_action_source: str = "web"
    default_country: str = ""
    partner_name: str = ""
    max_event_age_days: int = 7
    max_message_bytes: int = 1_000_000
