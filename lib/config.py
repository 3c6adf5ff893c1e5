"""Configuration: every environment variable, read and validated in one place.

`MappingConfig` is what turning a GA4 event into a Pinterest event needs (the preview command
uses only this); `DeliveryConfig` adds what sending needs. Both are frozen and built from a
mapping of strings, so tests construct them directly without touching `os.environ`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from lib.errors import ConfigError
from lib.mapping import MappingConfig, override_problems

__all__ = [
    "ALL_VARIABLES",
    "DEFAULT_API_BASE_URL",
    "DeliveryConfig",
    "load_config",
    "load_mapping_config",
    "to_bool",
]

DEFAULT_API_BASE_URL: Final = "https://api.pinterest.com/v5"

_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})
_ACTION_SOURCES: Final = ("web", "app_android", "app_ios", "offline")


def to_bool(name: str, raw: str) -> bool:
    """Read a boolean: `1/true/yes/on` or `0/false/no/off`, any case."""
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false (got an unrecognised value)")


def _choice(*choices: str) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)}")
        return value

    return parse


def _number(cast: type[int] | type[float], low: float, high: float) -> Callable[[str, str], Any]:
    what = "a whole number" if cast is int else "a number"

    def parse(name: str, raw: str) -> int | float:
        try:
            value = cast(raw.strip())
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise ConfigError(f"{name} must be {what} from {low:g} to {high:g}")
        return value

    return parse


def _json_object(name: str, raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw) if raw.strip() else {}
    except ValueError:
        raise ConfigError(f"{name} must be a JSON object") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{name} must be a JSON object")
    return value


def _string_map(name: str, raw: str) -> dict[str, str]:
    value = _json_object(name, raw)
    if not all(isinstance(v, str) and v.strip() for v in value.values()):
        raise ConfigError(f"{name} must map event names to non-empty event names")
    return {k.strip().lower(): v.strip() for k, v in value.items()}


def _name_set(name: str, raw: str) -> frozenset[str]:
    del name
    return frozenset(part.strip().lower() for part in raw.split(",") if part.strip())


def _text(name: str, raw: str) -> str:
    del name
    return raw.strip()


def _country(name: str, raw: str) -> str:
    value = raw.strip().lower()
    if value and not re.fullmatch(r"[a-z]{2}", value):
        raise ConfigError(f"{name} must be a two-letter ISO-3166 country code, such as US")
    return value


def _ad_account(name: str, raw: str) -> str:
    value = raw.strip()
    if not re.fullmatch(r"\d{1,18}", value):
        raise ConfigError(f"{name} must be the ad account's numeric id (up to 18 digits)")
    return value


def _topic(name: str, raw: str) -> str:
    value = raw.strip()
    if value and not re.fullmatch(r"projects/[^/\s]+/topics/[^/\s]+", value):
        raise ConfigError(f"{name} must look like projects/PROJECT/topics/TOPIC")
    return value


def _url(name: str, raw: str) -> str:
    value = raw.strip().rstrip("/")
    if not re.fullmatch(r"https?://\S+", value):
        raise ConfigError(f"{name} must be an http(s) URL")
    return value


def _token(name: str, raw: str) -> str:
    value = raw.strip()
    if not value:
        raise ConfigError(f"{name} must be set (the Conversions API access token)")
    return value


def _parsed(
    env: Mapping[str, str],
    table: Mapping[str, tuple[Callable[[str, str], Any], str]],
    problems: list[str],
    *,
    required: bool = False,
) -> dict[str, Any]:
    """The attributes of the variables that are set (all of them when `required`), each parsed.

    A variable that is unset or blank keeps the attribute's default; what a parser refuses is
    added to `problems`, so that every bad variable is reported at once.
    """
    values = {}
    for name, (parse, attribute) in table.items():
        raw = env.get(name, "")
        if not (required or raw.strip()):
            continue
        try:
            values[attribute] = parse(name, raw)
        except ConfigError as error:
            problems.append(str(error))
    return values


@dataclass(frozen=True)
class DeliveryConfig:
    """Where and how events are sent, dead-lettered and logged."""

    ad_account_id: str
    access_token: str = field(repr=False)
    api_base_url: str = DEFAULT_API_BASE_URL
    test_mode: bool = False
    dead_letter_topic: str = ""
    log_mode: str = "console"
    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    deadline_seconds: float = 30.0
    batch_window_ms: int = 50
    batch_max_events: int = 1000


# name -> (parser, attribute); a variable that is unset or blank keeps the attribute's default
_MAPPING_VARS: Final[Mapping[str, tuple[Callable[[str, str], Any], str]]] = {
    "EVENT_NAME_MAP": (_string_map, "event_name_map"),
    "EVENT_NAME_OVERRIDE": (_text, "event_name_override"),
    "UNMAPPED_EVENTS": (_choice("custom", "passthrough", "drop"), "unmapped_events"),
    "FORWARD_EVENTS": (_name_set, "forward_events"),
    "SKIP_EVENTS": (_name_set, "skip_events"),
    "DATA_OVERRIDES": (_json_object, "data_overrides"),
    "CONSENT_POLICY": (_choice("respect", "opt_out", "ignore"), "consent_policy"),
    "EXTERNAL_ID_FROM_USER_ID": (to_bool, "external_id_from_user_id"),
    "DEFAULT_ACTION_SOURCE": (_choice(*_ACTION_SOURCES), "default_action_source"),
    "DEFAULT_COUNTRY": (_country, "default_country"),
    "PARTNER_NAME": (_text, "partner_name"),
    "MAX_EVENT_AGE_DAYS": (_number(int, 1, 90), "max_event_age_days"),
    "MAX_MESSAGE_BYTES": (_number(int, 1_000, 10_000_000), "max_message_bytes"),
}

_DELIVERY_VARS: Final[Mapping[str, tuple[Callable[[str, str], Any], str]]] = {
    "PINTEREST_API_BASE_URL": (_url, "api_base_url"),
    "PINTEREST_TEST_MODE": (to_bool, "test_mode"),
    "DEAD_LETTER_TOPIC": (_topic, "dead_letter_topic"),
    "LOG_MODE": (_choice("console", "off"), "log_mode"),
    "PINTEREST_CONNECT_TIMEOUT_SECONDS": (_number(float, 0.1, 60), "connect_timeout"),
    "PINTEREST_READ_TIMEOUT_SECONDS": (_number(float, 0.1, 300), "read_timeout"),
    "DELIVERY_DEADLINE_SECONDS": (_number(float, 1, 3600), "deadline_seconds"),
    "BATCH_WINDOW_MS": (_number(int, 0, 5_000), "batch_window_ms"),
    "BATCH_MAX_EVENTS": (_number(int, 1, 1_000), "batch_max_events"),
}

_REQUIRED_VARS: Final[Mapping[str, tuple[Callable[[str, str], Any], str]]] = {
    "PINTEREST_AD_ACCOUNT_ID": (_ad_account, "ad_account_id"),
    "PINTEREST_ACCESS_TOKEN": (_token, "access_token"),
}

#: Every variable the function reads, for the README and for tests.
ALL_VARIABLES: Final = (*_REQUIRED_VARS, *_MAPPING_VARS, *_DELIVERY_VARS)


def load_config(env: Mapping[str, str] | None = None) -> tuple[MappingConfig, DeliveryConfig]:
    """Both configurations from `env` (default: the process environment).

    Raises one ConfigError that lists every problem, each naming its variable.
    """
    env = os.environ if env is None else env
    problems: list[str] = []
    mapping = _mapping(env, problems)
    delivery = _parsed(env, _REQUIRED_VARS, problems, required=True) | _parsed(env, _DELIVERY_VARS, problems)
    _raise(problems)
    return mapping, DeliveryConfig(**delivery)


def load_mapping_config(env: Mapping[str, str] | None = None) -> MappingConfig:
    """The mapping configuration alone (the preview command needs no credentials)."""
    problems: list[str] = []
    mapping = _mapping(os.environ if env is None else env, problems)
    _raise(problems)
    return mapping


def _mapping(env: Mapping[str, str], problems: list[str]) -> MappingConfig:
    config = MappingConfig(**_parsed(env, _MAPPING_VARS, problems))
    problems.extend(f"DATA_OVERRIDES {problem}" for problem in override_problems(config))
    return config


def _raise(problems: list[str]) -> None:
    if problems:
        raise ConfigError("; ".join(problems))
