"""Event names: which GA4 events are forwarded, and under which Pinterest name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from lib.errors import Reason, SkippedEvent
from lib.mapping.settings import MappingConfig

__all__ = ["GA4_TO_PINTEREST", "PINTEREST_EVENTS", "is_forwarded", "pinterest_event_name"]

# Pinterest's event names: the 5.23.0 spec's list plus the names Pinterest's own sGTM tag and
# its conversion docs also accept.
PINTEREST_EVENTS: Final = frozenset(
    {
        "add_payment_info",
        "add_to_cart",
        "add_to_wishlist",
        "app_install",
        "app_open",
        "checkout",
        "contact",
        "custom",
        "customize_product",
        "find_location",
        "initiate_checkout",
        "lead",
        "page_visit",
        "schedule",
        "search",
        "signup",
        "start_trial",
        "submit_application",
        "subscribe",
        "view_category",
        "view_content",
        "watch_video",
    }
)

# GA4 event name -> Pinterest event name (DESIGN §3.1). EVENT_NAME_MAP adds or replaces rows.
GA4_TO_PINTEREST: Final[Mapping[str, str]] = {
    # browsing
    "page_view": "page_visit",
    "gtm.dom": "page_visit",
    "view_item": "page_visit",  # Pinterest's own tag has switched this twice; EVENT_NAME_MAP can change it
    "view_item_list": "view_category",
    "select_item": "view_content",
    "select_promotion": "view_content",
    "view_promotion": "view_content",
    "search": "search",
    "watch_video": "watch_video",
    "video_complete": "watch_video",
    # commerce
    "add_to_cart": "add_to_cart",
    "add_to_wishlist": "add_to_wishlist",
    "begin_checkout": "initiate_checkout",
    "add_shipping_info": "initiate_checkout",
    "add_payment_info": "add_payment_info",
    "purchase": "checkout",
    # leads and accounts
    "generate_lead": "lead",
    "sign_up": "signup",
    # Pinterest names that GA4 sites also use as event names map to themselves (below).
}

_UNMAPPED_NAME: Final[Mapping[str, str | None]] = {"custom": "custom", "drop": None}


def _run_together(name: str) -> str:
    """A name without its separators: 'Add_To-Cart', 'add to cart' -> 'addtocart'."""
    return "".join(char for char in name if char not in "_- ")


# Pinterest's and GA4's names written run together or in camel case ("addtocart", "pageView"),
# as Pinterest's own tag accepts them.
_RUN_TOGETHER: Final[Mapping[str, str]] = {
    **{_run_together(ga4): pinterest for ga4, pinterest in GA4_TO_PINTEREST.items()},
    **{_run_together(name): name for name in PINTEREST_EVENTS},
}


def is_forwarded(ga4_name: str, config: MappingConfig) -> bool:
    """FORWARD_EVENTS (when set) and SKIP_EVENTS choose which GA4 events go out at all."""
    key = ga4_name.strip().lower()
    allowed = not config.forward_events or key in config.forward_events
    return allowed and key not in config.skip_events


def pinterest_event_name(ga4_name: str, config: MappingConfig) -> str:
    """The Pinterest name for a GA4 event; raises SkippedEvent when UNMAPPED_EVENTS=drop."""
    if config.event_name_override:
        return config.event_name_override
    key = ga4_name.strip().lower()
    if mapped := config.event_name_map.get(key) or GA4_TO_PINTEREST.get(key):
        return mapped
    if key in PINTEREST_EVENTS:
        return key
    if mapped := _RUN_TOGETHER.get(_run_together(key)):
        return mapped
    if config.unmapped_events == "passthrough":
        return ga4_name.strip()
    name = _UNMAPPED_NAME[config.unmapped_events]
    if name is None:
        raise SkippedEvent(Reason.UNMAPPED_DROPPED, "no mapping for this event name")
    return name
