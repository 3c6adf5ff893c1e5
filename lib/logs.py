"""Structured logs: one JSON object per line on stdout, in Cloud Logging's format.

Only allow-listed fields are ever written: a field that is not in `ALLOWED_FIELDS` is dropped,
so a careless call cannot leak user data, a token, an IP, a user agent or a URL.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from contextvars import ContextVar
from typing import Any, Final, TextIO

__all__ = ["ALLOWED_FIELDS", "configure", "log", "scrub", "set_trace"]

#: Field names a log line may carry besides `severity` and `message`. Values are ids, names,
#: counts, statuses and reasons: never event data.
ALLOWED_FIELDS: Final = frozenset(
    {
        "attempt",
        "count",
        "counts",
        "detail",
        "duration_ms",
        "event_id",
        "event_ids",
        "event_index",
        "event_name",
        "events",
        "ga4_event_name",
        "match_keys",
        "message_id",
        "outcome",
        "own_event_id",
        "reason",
        "status",
        "test_mode",
        "variable",
        "warning",
    }
)

# Text from outside (Pinterest's error messages) may echo what we sent: digests, emails, URLs, IPs.
_ECHOES: Final = re.compile(
    r"[0-9a-fA-F]{32,}"  # digests
    r"|\S+@\S+"  # emails
    r"|[a-zA-Z][a-zA-Z0-9+.-]*://\S+"  # URLs
    r"|\b\d{1,3}(?:\.\d{1,3}){3}\b"  # IPv4
    r"|(?<![\w:])(?:[0-9a-fA-F]{0,4}:){2,7}[0-9a-fA-F]{0,4}(?![\w:])"  # IPv6, '::1' included
)
_TRACE_FIELD: Final = "logging.googleapis.com/trace"
_trace: ContextVar[str | None] = ContextVar("trace", default=None)
_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), default=str)  # built once, not per line
_lock = threading.Lock()
_state: dict[str, Any] = {"enabled": True, "stream": None}


def configure(*, enabled: bool, stream: TextIO | None = None) -> None:
    """Turn logging on (`LOG_MODE=console`) or off (`LOG_MODE=off`); tests may pass a stream."""
    _state["enabled"] = enabled
    _state["stream"] = stream


def set_trace(header: str | None, project: str | None) -> None:
    """Tie this request's log lines to its trace, from the `X-Cloud-Trace-Context` header."""
    trace_id = header.split("/", 1)[0].strip() if header else ""
    _trace.set(f"projects/{project}/traces/{trace_id}" if trace_id and project else None)


def log(severity: str, message: str, **fields: Any) -> None:
    """Write one structured line; fields outside the allow-list are silently left out."""
    if not _state["enabled"]:
        return
    entry = {"severity": severity, "message": message}
    entry.update((key, value) for key, value in fields.items() if key in ALLOWED_FIELDS)
    trace = _trace.get()
    if trace:
        entry[_TRACE_FIELD] = trace
    line = _ENCODER.encode(entry) + "\n"
    stream = _state["stream"] or sys.stdout
    try:
        descriptor = stream.fileno()
    except (AttributeError, OSError, ValueError):  # an in-memory stream (tests)
        with _lock:
            stream.write(line)
        return
    # One unbuffered write per line: whole lines even from many threads, nothing held back if
    # the instance stops, and no lock for request threads to queue on.
    os.write(descriptor, line.encode())


def scrub(text: str, limit: int = 300) -> str:
    """Mask anything in outside text that could be user data, and cut it to `limit` characters."""
    return _ECHOES.sub("[redacted]", text)[:limit]
