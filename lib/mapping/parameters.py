"""The parameter table: where each Pinterest field comes from in GA4 event data, and how it is cleaned.

Each row names its sources (dotted paths, first usable one wins), its normaliser, whether it is
hashed and whether it is a list. `lib.mapping` interprets the table; nothing here does I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qs, urlsplit

from lib.errors import InvalidEvent, Reason
from lib.mapping import normalise

if TYPE_CHECKING:
    from lib.mapping.interpret import EventContext

__all__ = [
    "CONTENTS",
    "CUSTOM_DATA",
    "EVENT",
    "OVERRIDABLE",
    "USER_DATA",
    "Field",
    "GA4Event",
    "Gated",
    "Normaliser",
    "Source",
    "format_decimal",
    "scalar_text",
]

GA4Event = Mapping[str, Any]
Normaliser = Callable[[Any], Any]


@dataclass(frozen=True)
class Gated:
    """A source used only while a MappingConfig flag is on (e.g. external_id from user_id)."""

    path: str
    flag: str


# A dotted path (nested or flattened keys, lists fanned out), a gated path, or a function of
# the event returning candidate values.
Source = str | Gated | Callable[[GA4Event], Iterable[Any]]


@dataclass(frozen=True)
class Field:
    """Where one Pinterest field comes from and how it is cleaned."""

    name: str  # the seed's parameter name; DATA_OVERRIDES uses it
    sources: tuple[Source, ...] = ()
    normalise: Normaliser = normalise.text  # value -> cleaned value, or None to omit
    hashed: bool = False  # SHA-256 of the cleaned text; a digest given passes through
    many: bool = False  # a list of distinct values; hashed fields always are
    text: bool = True  # the normaliser wants text: numbers are spelled out, objects ignored
    by_country: bool = False  # the normaliser also takes the event's country
    fallback: Callable[[EventContext], Any] | None = field(default=None, compare=False)
    # Derived: the paths read directly, and whether a value may come without any of them present.
    paths: frozenset[str] = field(init=False, compare=False)
    always_resolved: bool = field(init=False, compare=False)

    def __post_init__(self) -> None:
        direct = frozenset(s for s in self.sources if isinstance(s, str))
        object.__setattr__(self, "paths", direct)
        object.__setattr__(
            self, "always_resolved", self.fallback is not None or len(direct) < len(self.sources)
        )


# --- casts for non-text fields -------------------------------------------------------------


def _decimal(value: str) -> str:
    """A finite decimal number as a string, without float noise; anything else rejects the event."""
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        raise InvalidEvent(Reason.INVALID_VALUE, "a value or price is not a number") from None
    if not number.is_finite():
        raise InvalidEvent(Reason.INVALID_VALUE, "a value or price is not a finite number")
    return format_decimal(number)


def format_decimal(number: Decimal) -> str:
    """`Decimal('110.00')` -> `'110'`, `Decimal('0.30')` -> `'0.3'`: plain notation, no exponent."""
    text = format(number.normalize(), "f")
    return "0" if text in {"-0", ""} else text


def _quantity(value: str) -> int:
    """A whole, non-negative quantity; anything else rejects the event."""
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number < 0 or number != int(number):
        raise InvalidEvent(Reason.INVALID_VALUE, "a quantity is not a whole non-negative number")
    return int(number)


def _count(value: str) -> int | None:
    """A non-negative whole number, or None (informational counts never reject an event)."""
    try:
        return _quantity(value)
    except InvalidEvent:
        return None


_BOOLEANS: Final = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _boolean(value: str) -> bool | None:
    return _BOOLEANS.get(value.strip().lower())


_ACTION_SOURCES: Final = frozenset({"web", "app_android", "app_ios", "offline"})


def _action_source(value: str) -> str | None:
    cleaned = value.strip().lower()
    return cleaned if cleaned in _ACTION_SOURCES else None


def _url_param(key: str, param: str) -> Callable[[GA4Event], Iterable[Any]]:
    """The values of query parameter `param` in the URL at event[key] (e.g. epik in page_location)."""

    def read(event: GA4Event) -> Iterable[Any]:
        url = event.get(key)
        return parse_qs(urlsplit(url).query).get(param, ()) if isinstance(url, str) else ()

    read.__name__ = f"{key}?{param}"
    return read


# --- contents: one GA4 item (or Pinterest content) -> one Pinterest content ----------------

# Pinterest content key -> (sources within the item, cast)
_CONTENT_FIELDS: Final[Mapping[str, tuple[tuple[str, ...], Callable[[str], Any]]]] = {
    "id": (("item_id", "id"), normalise.text),
    "item_price": (("price", "item_price"), _decimal),
    "quantity": (("quantity",), _quantity),
    "item_name": (("item_name",), normalise.text),
    "item_category": (("item_category",), normalise.text),
    "item_brand": (("item_brand",), normalise.text),
}


def scalar_text(value: Any) -> str | None:
    """JSON scalars as text (numbers spelled out, booleans as true/false); objects and lists: None."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return None


_CONTENT_SOURCES: Final = tuple(
    (key, source, cast) for key, (sources, cast) in _CONTENT_FIELDS.items() for source in sources
)


def _content(item: Any) -> dict[str, Any] | None:
    if not isinstance(item, Mapping):
        return None
    content: dict[str, Any] = {}
    for key, source, cast in _CONTENT_SOURCES:
        raw = scalar_text(item.get(source)) if key not in content else None
        value = cast(raw) if raw is not None and raw.strip() else None
        if value is not None:
            content[key] = value
    return content or None


# --- fallbacks: values derived when no source has one -------------------------------------


def _value_from_items(ctx: EventContext) -> str | None:
    priced = [c for c in ctx.contents if "item_price" in c]
    if not priced:
        return None
    total = sum(Decimal(c["item_price"]) * c.get("quantity", 1) for c in priced)
    return format_decimal(total)


def _ids_from_items(ctx: EventContext) -> list[str] | None:
    ids = list(dict.fromkeys(c["id"] for c in ctx.contents if "id" in c))
    return ids or None


def _count_from_items(ctx: EventContext) -> int | None:
    return sum(c.get("quantity", 1) for c in ctx.contents) if ctx.contents else None


def _contents(ctx: EventContext) -> list[dict[str, Any]] | None:
    return ctx.contents or None


def _partner_name(ctx: EventContext) -> str | None:
    return ctx.config.partner_name or None


def _default_action_source(ctx: EventContext) -> str:
    return ctx.config.default_action_source


def _event_id(ctx: EventContext) -> str:
    return ctx.default_event_id


def _hashed(name: str, sources: tuple[Source, ...], cleaner: Normaliser, **extra: Any) -> Field:
    return Field(name, sources, cleaner, hashed=True, many=True, **extra)


# --- the tables (DESIGN §3.2 and §3.3) ------------------------------------------------------

# Event-level fields. event_time is resolved separately (lib.mapping) because of its clock rules.
EVENT: Final[Mapping[str, Field]] = {
    "action_source": Field(
        "action_source", ("action_source",), _action_source, fallback=_default_action_source
    ),
    "event_id": Field("event_id", ("event_id",), fallback=_event_id),
    "event_source_url": Field("event_source_url", ("event_source_url", "page_location")),
    "opt_out": Field("opt_out", ("opt_out",), _boolean),
    "partner_name": Field("partner_name", (), fallback=_partner_name),
    "app_id": Field("app_id", ("app_id",)),
    "app_name": Field("app_name", ("app_name",)),
    "app_version": Field("app_version", ("app_version",)),
    "device_brand": Field("device_brand", ("device_brand",)),
    "device_carrier": Field("device_carrier", ("device_carrier",)),
    "device_model": Field("device_model", ("device_model",)),
    "device_type": Field("device_type", ("device_type",)),
    "os_version": Field("os_version", ("os_version",)),
    "wifi": Field("wifi", ("wifi",), _boolean),
    "language": Field("language", ("language",), normalise.language),
}

USER_DATA: Final[Mapping[str, Field]] = {
    "em": _hashed(
        "user_data.email_address",
        ("user_data.email_address", "email", "user_data.em", "user_data.sha256_email_address"),
        normalise.email,
    ),
    # GA4's sha256_phone_number is hashed with the "+", so Pinterest could never match it.
    "ph": _hashed(
        "user_data.phone_number",
        ("user_data.phone_number", "phone", "user_data.ph"),
        normalise.phone,
        by_country=True,
    ),
    "ge": _hashed("user_data.gender", ("user_data.gender", "gender", "user_data.ge"), normalise.gender),
    "db": _hashed(
        "user_data.date_of_birth",
        ("user_data.date_of_birth", "date_of_birth", "user_data.db"),
        normalise.date_of_birth,
    ),
    "ln": _hashed(
        "user_data.last_name",
        (
            "user_data.address.last_name",
            "user_data.last_name",
            "user_data.ln",
            "user_data.address.sha256_last_name",
        ),
        normalise.name,
    ),
    "fn": _hashed(
        "user_data.first_name",
        (
            "user_data.address.first_name",
            "user_data.first_name",
            "user_data.fn",
            "user_data.address.sha256_first_name",
        ),
        normalise.name,
    ),
    "ct": _hashed("user_data.address.city", ("user_data.address.city", "user_data.ct"), normalise.city),
    "st": _hashed(
        "user_data.address.region",
        ("user_data.address.region", "user_data.st"),
        normalise.state,
        by_country=True,
    ),
    "zp": _hashed(
        "user_data.address.postal_code",
        ("user_data.address.postal_code", "user_data.zp"),
        normalise.postcode,
        by_country=True,
    ),
    "country": _hashed(
        "user_data.address.country", ("user_data.address.country", "user_data.country"), normalise.country
    ),
    "external_id": _hashed(
        "user_data.external_id",
        ("user_data.external_id", "external_id", Gated("user_id", "external_id_from_user_id")),
        normalise.lowercase_id,
    ),
    "hashed_maids": _hashed(
        "user_data.hashed_maids", ("user_data.hashed_maids", "hashed_maids"), normalise.lowercase_id
    ),
    # Sent in clear, as Pinterest asks: the click id, IP and user agent are never hashed.
    "click_id": Field(
        "user_data.click_id",
        (
            "user_data.click_id",
            "click_id",
            _url_param("page_location", "epik"),
            _url_param("page_referrer", "epik"),
            "_epik",
        ),
    ),
    "client_ip_address": Field(
        "user_data.client_ip_address",
        ("user_data.client_ip_address", "client_ip_address", "ip_override"),
        normalise.ip_address,
    ),
    "client_user_agent": Field(
        "user_data.user_agent",
        ("user_data.client_user_agent", "user_data.user_agent", "client_user_agent", "user_agent"),
    ),
}

# Explicit Pinterest contents, else GA4 items: read once per event (EventContext.contents) and
# shared by contents, content_ids, num_items and value.
CONTENTS: Final = Field("contents", ("contents", "items", "ecommerce.items"), _content, many=True, text=False)

CUSTOM_DATA: Final[Mapping[str, Field]] = {
    "currency": Field("currency", ("currency",), normalise.currency),
    "value": Field("value", ("value",), _decimal, fallback=_value_from_items),
    "content_ids": Field("content_ids", ("content_ids",), many=True, fallback=_ids_from_items),
    "contents": replace(CONTENTS, sources=(), fallback=_contents),
    "num_items": Field("num_items", ("num_items",), _count, fallback=_count_from_items),
    "order_id": Field("order_id", ("order_id", "transaction_id")),
    "search_string": Field("search_string", ("search_string", "search_term")),
    "content_name": Field("content_name", ("content_name",)),
    "content_category": Field("content_category", ("content_category",)),
    "content_brand": Field("content_brand", ("content_brand",)),
    "opt_out_type": Field("opt_out_type", ("opt_out_type",)),
    "predicted_ltv": Field("predicted_ltv", ("predicted_ltv",), _decimal),
}

#: Parameter names DATA_OVERRIDES accepts (the seed's table-one names).
OVERRIDABLE: Final = frozenset(
    {f.name for table in (EVENT, USER_DATA, CUSTOM_DATA) for f in table.values()} | {"event_time"}
)
