"""Every error the forwarder raises on purpose, named for what happens next.

    ForwarderError
     ├── ConfigError        bad environment at start-up; the message names the variable
     ├── NotForwarded       one event (or message) will not reach Pinterest; carries a Reason
     │    ├── InvalidEvent  permanent: dead-lettered with its reason, then acked
     │    └── SkippedEvent  by choice (consent, filters): counted and logged, not dead-lettered
     └── TransientError     try again later: the push is answered 503 and Pub/Sub redelivers
          └── DeploymentFault  Pinterest said 401/403/404: the token or the ad account id is wrong

Messages name fields and reasons, never values: nothing here may carry PII, a token, an IP,
a user agent or a URL.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "ConfigError",
    "DeploymentFault",
    "ForwarderError",
    "InvalidEvent",
    "NotForwarded",
    "Reason",
    "SkippedEvent",
    "TransientError",
]


class Reason(StrEnum):
    """Why an event or message was not forwarded (the dead-letter `reason` attribute)."""

    # The Pub/Sub message as a whole.
    NOT_BASE64 = "not_base64"  # message data is not valid base64
    NOT_JSON = "not_json"  # data is not UTF-8 JSON
    NOT_AN_EVENT = "not_an_event"  # JSON, but neither an object nor an array of them
    EMPTY_MESSAGE = "empty_message"  # no data, or an empty array
    TOO_LARGE = "too_large"  # data over the configured size limit
    # One event.
    NOT_AN_OBJECT = "not_an_object"  # an array element that is not a JSON object
    MISSING_EVENT_NAME = "missing_event_name"  # no usable event_name and no override
    INVALID_EVENT_TIME = "invalid_event_time"  # event_time is not a number
    EVENT_IN_FUTURE = "event_in_future"  # event_time beyond the allowed clock skew
    EVENT_TOO_OLD = "event_too_old"  # event_time older than MAX_EVENT_AGE_DAYS
    INVALID_VALUE = "invalid_value"  # value, price or quantity is not a finite number
    NO_MATCH_KEY = "no_match_key"  # no em, no hashed_maids, and not both IP and user agent
    PINTEREST_REJECTED = "pinterest_rejected"  # Pinterest failed this event, or refused it in a request alone
    PINTEREST_UNKNOWN_STATUS = "pinterest_unknown_status"  # a per-event status this version does not know
    # Skipped by configuration, not dead-lettered.
    CONSENT_DENIED = "consent_denied"  # ad_storage or ad_user_data denied
    EVENT_FILTERED = "event_filtered"  # not in FORWARD_EVENTS, or in SKIP_EVENTS
    UNMAPPED_DROPPED = "unmapped_dropped"  # no mapping and UNMAPPED_EVENTS=drop


class ForwarderError(Exception):
    """Base of every error raised on purpose."""


class ConfigError(ForwarderError):
    """The environment is unusable; the message names the variable and what it accepts."""


class NotForwarded(ForwarderError):
    """An event or message that will not reach Pinterest, with a reason and a PII-free detail."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else str(reason))
        self.reason = reason
        self.detail = detail


class InvalidEvent(NotForwarded):
    """Permanently unusable: dead-lettered with its reason."""


class SkippedEvent(NotForwarded):
    """Left out on purpose (consent or filters): logged and counted, not dead-lettered."""


class TransientError(ForwarderError):
    """Worth retrying later: the push is not acknowledged."""


class DeploymentFault(TransientError):
    """Pinterest refused the token or the ad account (401/403/404): retrying helps once they are fixed."""
