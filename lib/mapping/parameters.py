"""The parameter table: where each Pinterest field comes from in GA4 event data, and how it is cleaned.

Each row names its sources (dotted paths, first usable one wins), its normaliser, whether it is
hashed and whether it is a list. `lib.mapping` interprets the table; nothing here does I/O.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from lib.errors import InvalidEvent, Reason
from lib.mapping import normalise
from lib.mapping.context import EventContext

__all__ = [
    "CONTENTS",
    "CUSTOM_DATA",
    "EVENT",
    "OVERRIDABLE",
    "USER_DATA",
    "ByCountry",
    "Field",
    "GA4Event",
    "Gated",
    "Normaliser",
    "Source",
    "list_text",
    "scalar_text",
]

GA4Event = Mapping[str, Any]
Normaliser = Callable[[Any], Any]


@dataclass(frozen=True)
class Gated:
    """A source used only while a MappingConfig flag is on (e.g. external_id from user_id)."""

    path: str
    flag: str


@dataclass(frozen=True)
class ByCountry:
    """A rule that also reads the event's country (phone, state, postcode, date of birth)."""

    rule: Callable[[str, str], str | None]


# A dotted path (nested or flattened keys, lists fanned out), a gated path, or a function of
# the event returning candidate values.
Source = str | Gated | Callable[[GA4Event], Iterable[Any]]


def list_text(raw: Any) -> list[Any]:
    """Pinterest's tag accepts a list written as one string, `[a,b]`; plain strings stay whole."""
    if isinstance(raw, str) and raw.startswith("[") and raw.endswith("]"):
        return [part.strip().strip('"') for part in raw[1:-1].split(",")]
    return [raw]


@dataclass(frozen=True)
class Field:
    """Where one Pinterest field comes from and how it is cleaned."""

    name: str  # the seed's parameter name; DATA_OVERRIDES uses it
    sources: tuple[Source, ...] = ()
    normalise: Normaliser | ByCountry = normalise.text  # value -> cleaned value, or None to omit
    hashed: bool = False  # SHA-256 of the cleaned text; a digest given passes through
    many: bool = False  # a list of distinct values; hashed fields always are
    text: bool = True  # the normaliser wants text: numbers are spelled out, objects ignored
    split: Callable[[Any], Iterable[Any]] = list_text  # one given value -> its values (many only)
    fallback: Callable[[EventContext], Any] | None = None  # when no source has a usable value


# --- casts for non-text fields -------------------------------------------------------------


def _decimal(value: str) -> str:
    """A finite number as people write it ('1,299.00'), as a plain string; anything else rejects the event."""
    number = normalise.amount(value)
    if number is None:
        raise InvalidEvent(Reason.INVALID_VALUE, "a value or price is not a number")
    return number


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
        if not isinstance(url, str) or param not in url:  # most URLs cannot hold it: no parse
            return ()
        return parse_qs(urlsplit(url).query).get(param, ())

    read.__name__ = f"{key}?{param}"
    return read


# --- contents: one GA4 item (or Pinterest content) -> one Pinterest content ----------------

# Pinterest content key -> (sources within the item, cast)
# (GA4 items, Pinterest contents and Pinterest tag line_items name them differently.)
_CONTENT_FIELDS: Final[Mapping[str, tuple[tuple[str, ...], Callable[[str], Any]]]] = {
    "id": (("item_id", "id", "product_id"), normalise.text),
    "item_price": (("price", "item_price", "product_price"), _decimal),
    "quantity": (("quantity", "product_quantity"), _quantity),
    "item_name": (("item_name", "product_name"), normalise.text),
    "item_category": (("item_category", "product_category"), normalise.text),
    "item_brand": (("item_brand", "product_brand"), normalise.text),
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


def _content(item: Any) -> dict[str, Any] | None:
    if not isinstance(item, Mapping):
        return None
    content: dict[str, Any] = {}
    for key, (sources, cast) in _CONTENT_FIELDS.items():
        for source in sources:
            raw = scalar_text(item.get(source))
            value = cast(raw) if raw is not None and raw.strip() else None
            if value is not None:
                content[key] = value
                break
    return content or None


def _json_items(raw: Any) -> list[Any]:
    """Items or contents as given: one object, or a JSON string of a list of them (as the tag allows)."""
    if not isinstance(raw, str):
        return [raw]
    try:
        parsed = json.loads(raw)
    except ValueError:
        return []
    return parsed if isinstance(parsed, list) else [parsed]


# --- fallbacks: values derived when no source has one -------------------------------------


def _value_from_items(ctx: EventContext) -> str | None:
    priced = [c for c in ctx.contents if "item_price" in c]
    if not priced:
        return None
    total = sum(Decimal(c["item_price"]) * c.get("quantity", 1) for c in priced)
    return normalise.format_decimal(total)


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


def _hashed(name: str, sources: tuple[Source, ...], cleaner: Normaliser | ByCountry) -> Field:
    return Field(name, sources, cleaner, hashed=True, many=True)


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
        ByCountry(normalise.phone),
    ),
    "ge": _hashed("user_data.gender", ("user_data.gender", "gender", "user_data.ge"), normalise.gender),
    "db": _hashed(
        "user_data.date_of_birth",
        ("user_data.date_of_birth", "date_of_birth", "user_data.db"),
        ByCountry(normalise.date_of_birth),
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
        ByCountry(normalise.state),
    ),
    "zp": _hashed(
        "user_data.address.postal_code",
        ("user_data.address.postal_code", "user_data.zp"),
        ByCountry(normalise.postcode),
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

# Explicit Pinterest contents, else GA4 items, else Pinterest tag line_items (each also as a JSON
# string): read once per event (EventContext.contents), shared by contents, content_ids, num_items
# and value.
CONTENTS: Final = Field(
    "contents",
    ("contents", "items", "ecommerce.items", "line_items"),
    _content,
    many=True,
    text=False,
    split=_json_items,
)

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
