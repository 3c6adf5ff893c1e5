"""GA4 server-container events to Pinterest Conversions API events: pure tables and rules, no I/O."""

from lib.mapping.identity import derived_event_ids
from lib.mapping.interpret import Mapped, map_events, override_problems
from lib.mapping.settings import MappingConfig

__all__ = ["Mapped", "MappingConfig", "derived_event_ids", "map_events", "override_problems"]
