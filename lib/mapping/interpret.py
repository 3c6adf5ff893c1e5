"""Turn GA4 server-container events into Pinterest Conversions API events (pure, no I/O).

The generic interpreter of the tables in `lib.mapping.parameters`: resolve each field's sources,
normalise, hash, then validate the event as a whole (time window, match keys).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, Generic, TypeVar

from lib.errors import InvalidEvent, NotForwarded, Reason, SkippedEvent
from lib.mapping.consent import opt_out_from_consent, read_consent
from lib.mapping.events import is_forwarded, pinterest_event_name
from lib.mapping.hashing import is_sha256_hex, sha256_hex
from lib.mapping.identity import derived_event_ids
from lib.mapping.parameters import (
    CONTENTS,
    CUSTOM_DATA,
    EVENT,
    OVERRIDABLE,
    USER_DATA,
    Field,
    Gated,
    Source,
    scalar_text,
)
from lib.mapping.settings import MappingConfig

__all__ = ["EventContext", "Mapped", "map_events", "override_problems"]

_MAX_FUTURE_SKEW_SECONDS: Final = 300  # clocks differ; later than this is rejected, not clamped
_MILLISECONDS_ABOVE: Final = 10**11  # a Unix time above this is in milliseconds (year 5138 in seconds)
_REQUEST_START_MS: Final = "x-sst-system_properties.request_start_time_ms"
_MAX_NAME_LENGTH: Final = 100
_MAX_DEPTH: Final = 12  # GA4 event data nests a few levels; anything deeper is not followed


_T = TypeVar("_T")


class _lazy(Generic[_T]):  # noqa: N801 - used as a decorator, like functools.cached_property
    """functools.cached_property without Python 3.11's lock shared by every instance.

    That lock serialises all request threads; here two threads may both compute a value the
    first time, which is harmless for the pure functions it caches.
    """

    def __init__(self, compute: Callable[[Any], _T]) -> None:
        self._compute = compute
        self._name = compute.__name__
        self.__doc__ = compute.__doc__

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        value = instance.__dict__[self._name] = self._compute(instance)
        return value


@dataclass(frozen=True)
class EventContext:
    """One GA4 event with what its mapping needs to know about the message and the clock."""

    event: Mapping[str, Any]
    index: int
    config: MappingConfig
    now: float
    default_event_id: str = ""  # the id sent when the event brings none (see lib.mapping.identity)
    publish_time: float | None = None

    @_lazy
    def paths(self) -> dict[str, list[Any]]:
        """Every value of the event by dotted path (see `_index`)."""
        return _index(self.event)

    @_lazy
    def country(self) -> str:
        """The event's first usable address country, else DEFAULT_COUNTRY (for phone, state, zip)."""
        field = USER_DATA["country"]
        for raw in (v for group in _raw_groups(field, self) for v in group):
            text = scalar_text(raw)
            cleaned = field.normalise(text) if text and not is_sha256_hex(text.strip()) else None
            if cleaned:
                return cleaned
        return self.config.default_country

    @_lazy
    def contents(self) -> list[dict[str, Any]]:
        """Pinterest contents from explicit `contents` or GA4 `items` (shared by value, ids, count)."""
        return _resolve(CONTENTS, self) or []


@dataclass(frozen=True)
class Mapped:
    """The outcome of mapping one event: the Pinterest event, or why it will not be sent.

    `event_name` and `event_id` are known (as far as they can be) even when the event is not sent,
    so that logs and letters can name it; `own_event_id` tells whether the id came with the event.
    """

    index: int
    source: Any  # the GA4 event as decoded
    ga4_name: str
    event_name: str = ""
    event_id: str = ""
    own_event_id: bool = False
    event: dict[str, Any] | None = None
    error: NotForwarded | None = None


# --- resolving sources ------------------------------------------------------------------------


def _wanted_paths() -> frozenset[str]:
    """Every dotted path a table reads, with all its prefixes."""
    fields = [CONTENTS, *(f for table in (EVENT, USER_DATA, CUSTOM_DATA) for f in table.values())]
    paths = [s.path if isinstance(s, Gated) else s for f in fields for s in f.sources if not callable(s)]
    paths.append(_REQUEST_START_MS)
    return frozenset(
        ".".join(parts[:cut]) for parts in (p.split(".") for p in paths) for cut in range(1, len(parts) + 1)
    )


_WANTED: Final = _wanted_paths()


def _fan(value: Any) -> list[Any]:
    """A value as a list of candidates: lists (and lists of lists) fan out."""
    return [leaf for element in value for leaf in _fan(element)] if isinstance(value, list) else [value]


def _index(event: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Every value of the event under its dotted path, built once per event.

    Keys may be nested (`a: {b: 1}`) or flattened (`"a.b": 1`): both land under `a.b`. List
    elements land under the list's own path. Only paths the tables read (and their prefixes)
    are visited, and nesting deeper than GA4 data goes is not followed.
    """
    index: dict[str, list[Any]] = {}

    def visit(path: str, node: Any, depth: int) -> None:
        if depth > _MAX_DEPTH or path not in _WANTED:
            return
        if isinstance(node, list):
            for element in node:
                visit(path, element, depth + 1)
            return
        index.setdefault(path, []).append(node)
        if isinstance(node, Mapping):
            for key, value in node.items():
                visit(f"{path}.{key}", value, depth + 1)

    for key, value in event.items():
        if key in _WANTED:
            visit(key, value, 1)
    return index


def _candidates(source: Source, ctx: EventContext) -> Sequence[Any]:
    if isinstance(source, str):
        return ctx.paths.get(source, ())
    if isinstance(source, Gated):
        return ctx.paths.get(source.path, ()) if getattr(ctx.config, source.flag) else ()
    return list(source(ctx.event))


def _raw_groups(field: Field, ctx: EventContext) -> Iterator[Sequence[Any]]:
    """Candidate values, one group per source in order; an override replaces every source."""
    if field.name in ctx.config.data_overrides:
        yield _fan(ctx.config.data_overrides[field.name])
        return
    for source in field.sources:
        yield _candidates(source, ctx)


def _list_text(raw: Any) -> list[Any]:
    """Pinterest's tag accepts a list written as one string, `[a,b]`; plain strings stay whole."""
    if isinstance(raw, str) and raw.startswith("[") and raw.endswith("]"):
        return [part.strip().strip('"') for part in raw[1:-1].split(",")]
    return [raw]


def _clean(field: Field, raw: Any, ctx: EventContext) -> Any:
    if field.text:
        raw = raw.strip() if type(raw) is str else scalar_text(raw)
        if not raw:
            return None
        if field.hashed and is_sha256_hex(raw):
            return raw.lower()
    cleaned = field.normalise(raw, ctx.country) if field.by_country else field.normalise(raw)
    if cleaned is None or cleaned == "":
        return None
    return sha256_hex(cleaned) if field.hashed else cleaned


def _first(field: Field, group: Sequence[Any], ctx: EventContext) -> Any:
    for raw in group:
        value = _clean(field, raw, ctx)
        if value is not None:
            return value
    return None


def _all(field: Field, group: Sequence[Any], ctx: EventContext) -> list[Any] | None:
    raws = [part for raw in group for part in _list_text(raw)] if field.text else group
    values = [value for value in (_clean(field, raw, ctx) for raw in raws) if value is not None]
    return (list(dict.fromkeys(values)) if field.text else values) or None


def _resolve(field: Field, ctx: EventContext) -> Any:
    """The field's value: the first source with a usable value wins, else the field's fallback."""
    pick = _all if field.many else _first
    for group in _raw_groups(field, ctx):
        value = pick(field, group, ctx) if group else None
        if value is not None:
            return value
    return field.fallback(ctx) if field.fallback else None


def _section(table: Mapping[str, Field], ctx: EventContext) -> dict[str, Any]:
    section = {}
    for key, field in table.items():
        if (
            field.always_resolved
            or not field.paths.isdisjoint(ctx.paths)
            or field.name in ctx.config.data_overrides
        ):
            value = _resolve(field, ctx)
            if value is not None:
                section[key] = value
    return section


# --- event-level rules ----------------------------------------------------------------------------


def _seconds(raw: Any) -> float:
    """A Unix time in seconds or milliseconds, as seconds; anything else rejects the event."""
    text = scalar_text(raw) if not isinstance(raw, bool) else None
    try:
        value = float(text) if text is not None else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise InvalidEvent(Reason.INVALID_EVENT_TIME, "event_time is not a Unix time")
    return value / 1000 if value > _MILLISECONDS_ABOVE else value


def _event_time(ctx: EventContext) -> int:
    """event_time, else the sGTM request start, else the publish time, else now; then the window."""
    overrides = ctx.config.data_overrides
    explicit = overrides["event_time"] if "event_time" in overrides else ctx.event.get("event_time")
    if explicit is not None:
        seconds = _seconds(explicit)
    else:
        started = [s for s in ctx.paths.get(_REQUEST_START_MS, ()) if isinstance(s, int | float)]
        fallback = ctx.publish_time if ctx.publish_time is not None else ctx.now
        seconds = started[0] / 1000 if started and started[0] > 0 else fallback
    if seconds > ctx.now + _MAX_FUTURE_SKEW_SECONDS:
        raise InvalidEvent(Reason.EVENT_IN_FUTURE, "event_time is more than 5 minutes in the future")
    if seconds < ctx.now - ctx.config.max_event_age_days * 86_400:
        raise InvalidEvent(
            Reason.EVENT_TOO_OLD, f"event_time is older than {ctx.config.max_event_age_days} days"
        )
    return int(min(seconds, ctx.now))


def _check_match_keys(user_data: Mapping[str, Any]) -> None:
    if "em" in user_data or "hashed_maids" in user_data:
        return
    if "client_ip_address" in user_data and "client_user_agent" in user_data:
        return
    raise InvalidEvent(
        Reason.NO_MATCH_KEY, "needs em, hashed_maids, or both client_ip_address and client_user_agent"
    )


def _ga4_name(event: Mapping[str, Any]) -> str:
    name = event.get("event_name")
    return name.strip()[:_MAX_NAME_LENGTH] if isinstance(name, str) else ""


def _map_event(ctx: EventContext) -> dict[str, Any]:
    """One Pinterest event; raises InvalidEvent or SkippedEvent with a named reason."""
    config, ga4_name = ctx.config, _ga4_name(ctx.event)
    if not ga4_name and not config.event_name_override:
        raise InvalidEvent(Reason.MISSING_EVENT_NAME, "event_name is missing or not a string")
    if not is_forwarded(ga4_name, config):
        raise SkippedEvent(Reason.EVENT_FILTERED, "excluded by FORWARD_EVENTS or SKIP_EVENTS")
    event_name = pinterest_event_name(ga4_name, config)
    consent_opt_out = opt_out_from_consent(read_consent(ctx.event), config.consent_policy)
    event: dict[str, Any] = {"event_name": event_name, "event_time": _event_time(ctx), **_section(EVENT, ctx)}
    if consent_opt_out:
        event["opt_out"] = True
    event["user_data"] = _section(USER_DATA, ctx)
    _check_match_keys(event["user_data"])
    custom_data = _section(CUSTOM_DATA, ctx)
    if custom_data:
        event["custom_data"] = custom_data
    return event


def map_events(
    events: Sequence[Any],
    *,
    config: MappingConfig,
    now: float,
    publish_time: float | None = None,
    event_ids: Sequence[str] | None = None,
) -> list[Mapped]:
    """Map every event of one message; one bad event never affects the others.

    `event_ids` are the ids to send for events that bring none (default: derived from each event's
    content); an event's own `event_id` always wins.
    """
    defaults = derived_event_ids(events) if event_ids is None else event_ids
    return [
        _map_one(EventContext(source, index, config, now, default_id, publish_time))
        if isinstance(source, Mapping)
        else Mapped(
            index,
            source,
            "",
            event_id=default_id,
            error=InvalidEvent(Reason.NOT_AN_OBJECT, "the event is not a JSON object"),
        )
        for index, (source, default_id) in enumerate(zip(events, defaults, strict=True))
    ]


def _known_name(ga4_name: str, config: MappingConfig) -> str:
    """The Pinterest name the table gives, or "" where there is none (for logs of unsent events)."""
    try:
        return pinterest_event_name(ga4_name, config) if ga4_name or config.event_name_override else ""
    except SkippedEvent:
        return ""


def _map_one(ctx: EventContext) -> Mapped:
    name = _ga4_name(ctx.event)
    event_id = _resolve(EVENT["event_id"], ctx)
    known = Mapped(
        ctx.index,
        ctx.event,
        name,
        event_name=_known_name(name, ctx.config),
        event_id=event_id,
        own_event_id=event_id != ctx.default_event_id,
    )
    try:
        return replace(known, event=_map_event(ctx))
    except NotForwarded as error:
        return replace(known, error=error)


def override_problems(config: MappingConfig) -> list[str]:
    """What is wrong with DATA_OVERRIDES: unknown names, and values their field's own rules refuse."""
    overrides = config.data_overrides
    unknown = sorted(set(overrides) - OVERRIDABLE)
    problems = (
        [f"unknown parameter names: {', '.join(unknown)} (accepted: {', '.join(sorted(OVERRIDABLE))})"]
        if unknown
        else []
    )
    for name in sorted(set(overrides) & OVERRIDABLE):
        ctx = EventContext({}, 0, replace(config, data_overrides={name: overrides[name]}), now=0.0)
        try:
            usable = _seconds(overrides[name]) if name == "event_time" else _override_value(name, ctx)
        except InvalidEvent as error:
            problems.append(f"{name}: {error.detail}")
            continue
        if usable is None:
            problems.append(f"{name}: not a usable value for this parameter")
    return problems


def _override_value(name: str, ctx: EventContext) -> Any:
    field = next(f for table in (EVENT, USER_DATA, CUSTOM_DATA) for f in table.values() if f.name == name)
    return _resolve(replace(field, fallback=None), ctx)
