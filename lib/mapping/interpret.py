"""Turn GA4 server-container events into Pinterest Conversions API events (pure, no I/O).

The tables of `lib.mapping.parameters` are compiled once, at import, into a plan: one small
closure per field that reads its sources, cleans, hashes and picks its value. Mapping an event
indexes its values by dotted path, then runs the plan and validates the event as a whole (time
window, match keys).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from lib.errors import InvalidEvent, NotForwarded, Reason, SkippedEvent
from lib.mapping import dates
from lib.mapping.consent import Consent, denies_storage, opt_out_from_consent, read_consent
from lib.mapping.context import EventContext
from lib.mapping.events import is_forwarded, pinterest_event_name
from lib.mapping.hashing import is_sha256_hex, sha256_hex
from lib.mapping.identity import derived_event_ids
from lib.mapping.normalise import country, tidy
from lib.mapping.parameters import (
    CONTENTS,
    CUSTOM_DATA,
    EVENT,
    OVERRIDABLE,
    USER_DATA,
    ByCountry,
    Field,
    Gated,
    Source,
    scalar_text,
)
from lib.mapping.settings import MappingConfig

__all__ = ["Mapped", "map_events", "override_problems"]

_MAX_FUTURE_SKEW_SECONDS: Final = 300  # clocks differ; later than this is rejected, not clamped
_MILLISECONDS_ABOVE: Final = 10**11  # a Unix time above this is in milliseconds (year 5138 in seconds)
_REQUEST_START_MS: Final = "x-sst-system_properties.request_start_time_ms"
_MAX_NAME_LENGTH: Final = 100
_MAX_DEPTH: Final = 12  # GA4 event data nests a few levels; anything deeper is not followed


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


# --- indexing an event by dotted path -----------------------------------------------------------

# Each key the tables read -> (its dotted path, whether a table reads that path, the keys below it).
_Trie = dict[str, tuple[str, bool, "_Trie"]]
_ALL_FIELDS: Final = (CONTENTS, *(f for table in (EVENT, USER_DATA, CUSTOM_DATA) for f in table.values()))


def _trie(paths: Sequence[str]) -> _Trie:
    """The dotted paths as a tree of keys, so that indexing an event builds no path strings."""
    root: _Trie = {}
    for path in paths:
        node, parts = root, path.split(".")
        for cut, key in enumerate(parts, 1):
            prefix, wanted, children = node.get(key, (".".join(parts[:cut]), False, {}))
            node[key] = (prefix, wanted or cut == len(parts), children)
            node = children
    return root


_PATHS: Final = _trie(
    [
        *(s.path if isinstance(s, Gated) else s for f in _ALL_FIELDS for s in f.sources if not callable(s)),
        _REQUEST_START_MS,
    ]
)


def _flattened(trie: _Trie, key: str) -> tuple[str, bool, _Trie] | None:
    """The trie entry of a flattened key (`"address.city"`), or None."""
    entry = None
    for part in key.split("."):
        if entry is not None:
            trie = entry[2]
        entry = trie.get(part)
        if entry is None:
            return None
    return entry


def _index(event: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Every value the tables read, under its dotted path, built once per event.

    Keys may be nested (`a: {b: 1}`) or flattened (`"a.b": 1`): both land under `a.b`. List
    elements land under the list's own path. Only paths the tables read (and their prefixes)
    are visited, and nesting deeper than GA4 data goes is not followed.
    """
    index: dict[str, list[Any]] = {}

    def visit(node: Mapping[str, Any], trie: _Trie, depth: int) -> None:
        for key, value in node.items():
            entry = trie.get(key)
            if entry is None and type(key) is str and "." in key:
                entry = _flattened(trie, key)
            if entry is not None:
                add(entry, value, depth)

    def add(entry: tuple[str, bool, _Trie], value: Any, depth: int) -> None:
        if depth > _MAX_DEPTH:
            return
        if isinstance(value, list):
            for element in value:
                add(entry, element, depth + 1)
            return
        path, wanted, children = entry
        if wanted:
            index.setdefault(path, []).append(value)
        if children and isinstance(value, Mapping):
            visit(value, children, depth + 1)

    visit(event, _PATHS, 1)
    return index


def _fan(value: Any) -> list[Any]:
    """A value as a list of candidates: lists (and lists of lists) fan out."""
    return [leaf for element in value for leaf in _fan(element)] if isinstance(value, list) else [value]


# --- the plan: one closure per field, compiled from its table row ----------------------------------

_Resolve = Callable[[EventContext], Any]
_Read = Callable[[EventContext], Sequence[Any]]
_Clean = Callable[[Any, EventContext], Any]


def _reader(source: Source) -> _Read:
    if isinstance(source, str):
        return lambda ctx: ctx.paths.get(source, ())
    if isinstance(source, Gated):
        return lambda ctx: ctx.paths.get(source.path, ()) if getattr(ctx.config, source.flag) else ()
    return lambda ctx: list(source(ctx.event))


def _rule(field: Field) -> _Clean:
    """The field's normaliser as a function of (value, event context)."""
    rule = field.normalise
    if isinstance(rule, ByCountry):
        by_country = rule.rule
        return lambda value, ctx: by_country(value, ctx.country)
    return lambda value, _ctx: rule(value)


def _cleaner(field: Field) -> _Clean:
    """Raw value -> the value sent (cleaned, hashed), or None; a digest given passes through."""
    apply, hashed = _rule(field), field.hashed
    if not field.text:
        return apply

    def clean(raw: Any, ctx: EventContext) -> Any:
        text = tidy(raw) if type(raw) is str else scalar_text(raw)
        if not text:
            return None
        if hashed and is_sha256_hex(text):
            return text.lower()
        cleaned = apply(text, ctx)
        if cleaned is None or cleaned == "":
            return None
        return sha256_hex(cleaned) if hashed else cleaned

    return clean


def _picker(field: Field) -> Callable[[Sequence[Any], EventContext], Any]:
    """Values of one source -> the field's value: the first usable one, or every distinct one."""
    clean, split, distinct = _cleaner(field), field.split, field.text

    def first(group: Sequence[Any], ctx: EventContext) -> Any:
        for raw in group:
            value = clean(raw, ctx)
            if value is not None:
                return value
        return None

    def every(group: Sequence[Any], ctx: EventContext) -> list[Any] | None:
        values = [v for v in (clean(part, ctx) for raw in group for part in split(raw)) if v is not None]
        return (list(dict.fromkeys(values)) if distinct else values) or None

    return every if field.many else first


def _groups(field: Field) -> Callable[[EventContext], Iterable[Sequence[Any] | None]]:
    """Candidate values, one group per source in order (None where absent); an override replaces them."""
    name, sources = field.name, field.sources
    if all(isinstance(source, str) for source in sources):  # most rows: plain paths, no call each

        def read(ctx: EventContext) -> Iterable[Sequence[Any] | None]:
            return map(ctx.paths.get, sources)

    else:
        readers = tuple(_reader(source) for source in sources)

        def read(ctx: EventContext) -> Iterable[Sequence[Any] | None]:
            return (reader(ctx) for reader in readers)

    def groups(ctx: EventContext) -> Iterable[Sequence[Any] | None]:
        overrides = ctx.config.data_overrides
        return (_fan(overrides[name]),) if name in overrides else read(ctx)

    return groups


def _plan(field: Field) -> _Resolve:
    """The field's value: the first source with a usable value wins, else the field's fallback."""
    groups, pick, fallback = _groups(field), _picker(field), field.fallback

    def resolve(ctx: EventContext) -> Any:
        for group in groups(ctx):
            if group:
                value = pick(group, ctx)
                if value is not None:
                    return value
        return fallback(ctx) if fallback else None

    return resolve


def _section_plan(table: Mapping[str, Field]) -> Callable[[EventContext], dict[str, Any]]:
    plans = tuple((key, _plan(field)) for key, field in table.items())

    def section(ctx: EventContext) -> dict[str, Any]:
        values = {}
        for key, resolve in plans:
            value = resolve(ctx)
            if value is not None:
                values[key] = value
        return values

    return section


_EVENT: Final = _section_plan(EVENT)
_USER_DATA: Final = _section_plan(USER_DATA)
_CUSTOM_DATA: Final = _section_plan(CUSTOM_DATA)
_CONTENTS: Final = _plan(CONTENTS)
_EVENT_ID: Final = _plan(EVENT["event_id"])
_COUNTRY_GROUPS: Final = _groups(USER_DATA["country"])


def _event_country(ctx: EventContext) -> str:
    """The event's first usable address country, else DEFAULT_COUNTRY (for phone, state, zip, dates)."""
    for group in _COUNTRY_GROUPS(ctx):
        for raw in group or ():
            text = scalar_text(raw)
            cleaned = country(text) if text and not is_sha256_hex(text.strip()) else None
            if cleaned:
                return cleaned
    return ctx.config.default_country.strip().lower()


def _read_shared(ctx: EventContext) -> None:
    """Fill in what several rules read: the country, and the contents (which may reject the event)."""
    ctx.country = _event_country(ctx)
    ctx.contents = _CONTENTS(ctx) or []


# --- event-level rules ----------------------------------------------------------------------------


def _seconds(raw: Any) -> float:
    """A Unix time in seconds or milliseconds, or ISO 8601 text, as seconds; else the event is rejected."""
    text = scalar_text(raw) if not isinstance(raw, bool) else None
    try:
        value = float(text) if text is not None else math.nan
    except ValueError:
        value = dates.iso_seconds(text) or math.nan
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


def _check_match_keys(user_data: Mapping[str, Any], consent: Consent) -> None:
    """Pinterest needs em, hashed_maids, or IP with user agent; consent may be why there are none.

    A visitor who denied ad_storage or ad_user_data and whose event carries no match key (the tag
    published it without personal data, for the function to count) is skipped for consent under
    every policy: there is nothing to fix and nothing to park.
    """
    if "em" in user_data or "hashed_maids" in user_data:
        return
    if "client_ip_address" in user_data and "client_user_agent" in user_data:
        return
    if denies_storage(consent):
        raise SkippedEvent(
            Reason.CONSENT_DENIED, "ad_storage or ad_user_data denied, and no match key was sent"
        )
    raise InvalidEvent(
        Reason.NO_MATCH_KEY, "needs em, hashed_maids, or both client_ip_address and client_user_agent"
    )


def _ga4_name(event: Mapping[str, Any]) -> str:
    name = event.get("event_name")
    return name.strip()[:_MAX_NAME_LENGTH] if isinstance(name, str) else ""


def _map_event(ctx: EventContext, ga4_name: str) -> dict[str, Any]:
    """One Pinterest event; raises InvalidEvent or SkippedEvent with a named reason."""
    config = ctx.config
    if not ga4_name and not config.event_name_override:
        raise InvalidEvent(Reason.MISSING_EVENT_NAME, "event_name is missing or not a string")
    if not is_forwarded(ga4_name, config):
        raise SkippedEvent(Reason.EVENT_FILTERED, "excluded by FORWARD_EVENTS or SKIP_EVENTS")
    event_name = pinterest_event_name(ga4_name, config)
    consent = read_consent(ctx.event)
    consent_opt_out = opt_out_from_consent(consent, config.consent_policy)
    event: dict[str, Any] = {"event_name": event_name, "event_time": _event_time(ctx)}
    _read_shared(ctx)
    event.update(_EVENT(ctx))
    if consent_opt_out:
        event["opt_out"] = True
    event["user_data"] = _USER_DATA(ctx)
    _check_match_keys(event["user_data"], consent)
    custom_data = _CUSTOM_DATA(ctx)
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
    ctx.paths = _index(ctx.event)
    event_id = _EVENT_ID(ctx)
    event, error = None, None
    try:
        event = _map_event(ctx, name)
    except NotForwarded as failure:
        error = failure
    return Mapped(
        ctx.index,
        ctx.event,
        name,
        event_name=event["event_name"] if event else _known_name(name, ctx.config),
        event_id=event_id,
        own_event_id=event_id != ctx.default_event_id,
        event=event,
        error=error,
    )


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
    ctx.country = _event_country(ctx)
    return _plan(replace(field, fallback=None))(ctx)
