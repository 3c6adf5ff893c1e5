"""GA4 server-container events to Pinterest Conversions API events: pure tables and rules, no I/O."""

from lib.mapping.interpret import EventContext, Mapped, map_event, map_events
from lib.mapping.parameters import OVERRIDABLE
from lib.mapping.settings import MappingConfig

__all__ = ["OVERRIDABLE", "EventContext", "Mapped", "MappingConfig", "map_event", "map_events"]
