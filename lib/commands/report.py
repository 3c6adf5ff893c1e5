"""Match quality from the function's own log lines: per Pinterest event name, what became of the
events and which match keys the delivered ones carried.

Input: the log lines as the function writes them (one JSON object per line), or an export of
`gcloud logging read --format=json` (a JSON array of entries whose `jsonPayload` is such a line).
Anything else in the input is ignored.

Each event is counted once, even when its push was redelivered or it was replayed: by its latest
final outcome (processed, rejected or skipped), the latest being the one with the later entry
`timestamp` in an export, else the one read later. An event is known by its `event_id`, else by
its message id and position; a message that could not be decoded at all, by its message id.
A final outcome outranks `deferred` whatever the order: once Pinterest processed an event, a later
attempt that timed out does not take it back. An event with no final outcome yet (every line of
it says `deferred`) is still pending: it counts in `events` but not in processed, rejected or
skipped, and the text output says so.

Shares are of processed events (0.0 when there are none). The report reads ids, names, outcomes,
reasons and match-key names only: it never prints user data, and the logs hold none.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from lib.delivery.outcomes import Outcome
from lib.mapping.events import pinterest_event_name
from lib.mapping.settings import MappingConfig

__all__ = [
    "FINAL_OUTCOMES",
    "MATCH_KEYS",
    "NO_NAME",
    "Line",
    "NameStats",
    "Report",
    "Request",
    "Sighting",
    "build",
    "format_text",
    "parse",
    "settle",
    "to_json",
]

#: The match keys the report measures; `ip_ua` is client_ip_address and client_user_agent together.
MATCH_KEYS: Final = ("em", "ph", "external_id", "click_id", "hashed_maids", "ip_ua")
#: Outcomes that end an event's story; `deferred` means the push comes back.
FINAL_OUTCOMES: Final = frozenset({Outcome.PROCESSED, Outcome.REJECTED, Outcome.SKIPPED})
#: Where events without a Pinterest name (undecodable messages, events without a name) are counted.
NO_NAME: Final = "(none)"

# The function logs each event as `event <outcome>`.
_EVENT_LINES: Final[Mapping[str, Outcome]] = {f"event {outcome}": outcome for outcome in Outcome}
_MESSAGE_LINE: Final = "message dead-lettered"
_REQUEST_LINE: Final = "pinterest request"
_IP_UA: Final = frozenset({"client_ip_address", "client_user_agent"})
# What a weak event name is told it lacks, in this order (hashed_maids is for app events only).
_LACKS: Final[Mapping[str, str]] = {
    "em": "email",
    "ph": "phone",
    "external_id": "external_id",
    "click_id": "click_id",
    "ip_ua": "IP with user agent",
}
_DEFAULT_MAPPING: Final = MappingConfig()


@dataclass(frozen=True)
class Sighting:
    """One log line about one event (or one undecodable message)."""

    key: tuple[str, ...]  # what identifies the event across redeliveries
    outcome: Outcome  # processed, rejected, skipped or deferred
    name: str  # the Pinterest event name, or NO_NAME
    reason: str  # "" when processed
    match_keys: frozenset[str]  # MATCH_KEYS the event carried
    own_event_id: bool
    timestamp: float | None  # the log entry's time (exports only)
    position: tuple[int, int]  # (file, line) in reading order

    def replaces(self, other: Sighting) -> bool:
        """Whether this line tells a later part of the same event's story than `other`."""
        if self.timestamp is not None and other.timestamp is not None and self.timestamp != other.timestamp:
            return self.timestamp > other.timestamp
        return self.position > other.position


@dataclass(frozen=True)
class Request:
    """One Pinterest request: its HTTP status, or why no answer came (`timeout`...)."""

    answer: str
    test_mode: bool


Line = Sighting | Request


@dataclass
class NameStats:
    """What became of the events of one Pinterest event name."""

    events: int = 0  # every event seen, pending ones included
    processed: int = 0
    rejected: int = 0
    skipped: int = 0
    pending: int = 0  # deferred, not yet redelivered
    with_key: Counter[str] = field(default_factory=Counter)  # processed events carrying each match key
    own_event_id: int = 0  # processed events that brought their own event_id
    reasons: Counter[str] = field(default_factory=Counter)  # rejected and skipped, by reason

    def share(self, count: int) -> float:
        """`count` as a share of the processed events (0.0 when there are none)."""
        return count / self.processed if self.processed else 0.0

    def add(self, sighting: Sighting) -> None:
        self.events += 1
        if sighting.outcome is Outcome.PROCESSED:
            self.processed += 1
            self.with_key.update(sighting.match_keys)
            self.own_event_id += sighting.own_event_id
        elif sighting.outcome in FINAL_OUTCOMES:
            setattr(self, sighting.outcome, getattr(self, sighting.outcome) + 1)
            self.reasons[sighting.reason or "unknown"] += 1
        else:
            self.pending += 1

    def rank(self) -> tuple[float, float, int]:
        """Best first: most events delivered with an email, then most delivered, then most events."""
        return (self.with_key["em"] / self.events, self.processed / self.events, self.events)


@dataclass
class Report:
    """The counts per Pinterest event name (best first), per reason, and of Pinterest requests."""

    names: dict[str, NameStats] = field(default_factory=dict)
    reasons: Counter[str] = field(default_factory=Counter)
    requests: Counter[str] = field(default_factory=Counter)  # by status or transport reason
    test_mode_requests: int = 0

    def total(self, outcome: str) -> int:
        """Events with this outcome (or `pending`, or `events`) over every name."""
        return sum(getattr(stats, outcome) for stats in self.names.values())


# --- reading ----------------------------------------------------------------------------------


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _timestamp(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def _payloads(text: str) -> Iterator[tuple[Mapping[str, Any], float | None]]:
    """Each JSON object of the input with its entry time: from an export's array or from JSON lines."""
    whole = _json(text)
    if isinstance(whole, list):
        values = whole
    elif whole is not None:
        values = [whole]
    else:
        values = [_json(line) for line in text.splitlines()]
    for value in values:
        if not isinstance(value, dict):
            continue
        payload = value.get("jsonPayload", value)  # an exported log entry, or a line as written
        if isinstance(payload, dict):
            yield payload, _timestamp(value.get("timestamp"))


def _name(payload: Mapping[str, Any]) -> str:
    """The logged Pinterest name, else the one the default table gives the GA4 name, else NO_NAME."""
    logged, ga4 = payload.get("event_name"), payload.get("ga4_event_name")
    if isinstance(logged, str) and logged:
        return logged
    if isinstance(ga4, str) and ga4.strip():
        return pinterest_event_name(ga4, _DEFAULT_MAPPING)
    return NO_NAME


def _match_keys(logged: Any) -> frozenset[str]:
    """MATCH_KEYS among the user_data keys a line lists (`ip_ua` when both IP and user agent are)."""
    sent = {key for key in logged if isinstance(key, str)} if isinstance(logged, list) else set()
    if sent >= _IP_UA:
        sent.add("ip_ua")
    return frozenset(sent) & frozenset(MATCH_KEYS)


def _key(payload: Mapping[str, Any]) -> tuple[str, ...]:
    event_id = payload.get("event_id")
    if isinstance(event_id, str) and event_id:
        return ("event", event_id)
    return ("position", str(payload["message_id"]), str(payload.get("event_index")))


def _line(payload: Mapping[str, Any], timestamp: float | None, position: tuple[int, int]) -> Line | None:
    """The report's reading of one of the function's lines; None for anything else."""
    message, message_id = payload.get("message"), payload.get("message_id")
    if message == _REQUEST_LINE:
        answer = payload.get("status") or payload.get("reason") or "unknown"
        return Request(str(answer), payload.get("test_mode") is True)
    if not isinstance(message_id, str):
        return None
    reason = payload.get("reason")
    reason = reason if isinstance(reason, str) else ""
    if message == _MESSAGE_LINE:
        key, outcome, name, keys, own = ("message", message_id), Outcome.REJECTED, NO_NAME, frozenset(), False
    elif isinstance(message, str) and message in _EVENT_LINES:
        key, outcome, name = _key(payload), _EVENT_LINES[message], _name(payload)
        keys, own = _match_keys(payload.get("match_keys")), payload.get("own_event_id") is True
    else:
        return None
    return Sighting(key, outcome, name, reason, keys, own, timestamp, position)


def parse(text: str, source: int = 0) -> list[Line]:
    """The function's lines in one input (`source` numbers the input, for reading order)."""
    lines = (_line(payload, when, (source, n)) for n, (payload, when) in enumerate(_payloads(text)))
    return [line for line in lines if line is not None]


# --- counting ---------------------------------------------------------------------------------


def settle(sightings: Iterable[Sighting]) -> list[Sighting]:
    """Each event's latest final line, else (still pending) its latest deferred line."""
    final: dict[tuple[str, ...], Sighting] = {}
    deferred: dict[tuple[str, ...], Sighting] = {}
    for sighting in sightings:
        settled = final if sighting.outcome in FINAL_OUTCOMES else deferred
        known = settled.get(sighting.key)
        if known is None or sighting.replaces(known):
            settled[sighting.key] = sighting
    return [*final.values(), *(s for key, s in deferred.items() if key not in final)]


def build(lines: Iterable[Line]) -> Report:
    """Count the lines: each event once, by its latest final outcome."""
    lines = list(lines)
    report = Report()
    for request in (line for line in lines if isinstance(line, Request)):
        report.requests[request.answer] += 1
        report.test_mode_requests += request.test_mode
    names: dict[str, NameStats] = {}
    for sighting in settle(line for line in lines if isinstance(line, Sighting)):
        names.setdefault(sighting.name, NameStats()).add(sighting)
    report.names = dict(sorted(names.items(), key=lambda item: (*(-v for v in item[1].rank()), item[0])))
    for stats in report.names.values():
        report.reasons.update(stats.reasons)
    return report


# --- output -----------------------------------------------------------------------------------


def to_json(report: Report) -> dict[str, Any]:
    """The `--json` form: per name its counts and shares, and the count per reason."""
    return {
        "event_names": {
            name: {
                "events": stats.events,
                "processed": stats.processed,
                "rejected": stats.rejected,
                "skipped": stats.skipped,
                "match_keys": {key: stats.share(stats.with_key[key]) for key in MATCH_KEYS},
                "own_event_id": stats.share(stats.own_event_id),
            }
            for name, stats in report.names.items()
        },
        "reasons": dict(_by_count(report.reasons)),
    }


def _percent(stats: NameStats, count: int) -> str:
    return f"{stats.share(count):.0%}" if stats.processed else "-"


def _table(rows: Sequence[Sequence[str]]) -> str:
    """Aligned columns: the first to the left, the others to the right."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "".join(
        "  ".join(
            [row[0].ljust(widths[0]), *(cell.rjust(w) for cell, w in zip(row[1:], widths[1:], strict=True))]
        )
        + "\n"
        for row in rows
    )


def _names_table(report: Report) -> str:
    header = ["event_name", "events", "processed", "rejected", "skipped", *MATCH_KEYS, "own_event_id"]
    rows = [header]
    for name, stats in report.names.items():
        counts = [stats.events, stats.processed, stats.rejected, stats.skipped]
        shares = [stats.with_key[key] for key in MATCH_KEYS] + [stats.own_event_id]
        rows.append([name, *map(str, counts), *(_percent(stats, count) for count in shares)])
    return _table(rows)


def _by_count(counter: Counter[str]) -> list[tuple[str, int]]:
    """Most first, then by name."""
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))


def _reasons(reasons: Counter[str]) -> str:
    return ", ".join(f"{reason} {count}" for reason, count in _by_count(reasons))


def _weakest(report: Report) -> str:
    """One line naming the weakest event name (a real name when there is one) and what it lacks."""
    named = [name for name in report.names if name != NO_NAME] or list(report.names)
    name = named[-1]
    stats = report.names[name]
    missing = {label: stats.processed - stats.with_key[key] for key, label in _LACKS.items()}
    missing["own event_id"] = stats.processed - stats.own_event_id
    said = [f"no {label} on {stats.share(count):.0%}" for label, count in missing.items() if count]
    if stats.reasons:
        said.append(f"{stats.reasons.total()} not sent ({_reasons(stats.reasons)})")
    if stats.pending:
        said.append(f"{stats.pending} still pending")
    lacks = ", ".join(said) or "lacks nothing this report measures"
    return f"Weakest: {name} ({stats.processed} of {stats.events} processed): {lacks}\n"


def _pending(report: Report) -> str:
    pending = {name: stats.pending for name, stats in report.names.items() if stats.pending}
    if not pending:
        return ""
    names = ", ".join(f"{name} {count}" for name, count in pending.items())
    return (
        f"Still pending: {sum(pending.values())} events deferred and not yet redelivered ({names}); "
        "counted in events, not in processed, rejected or skipped.\n"
    )


def _requests(report: Report) -> str:
    if not report.requests:
        return ""
    answers = ", ".join(f"{answer}: {count}" for answer, count in sorted(report.requests.items()))
    test_mode = (
        f"; {report.test_mode_requests} in test mode (Pinterest recorded nothing)"
        if report.test_mode_requests
        else ""
    )
    return f"Pinterest requests: {report.requests.total()} ({answers}){test_mode}\n"


def format_text(report: Report) -> str:
    """The report for a person: the table best first, reasons, what is pending, the weakest name."""
    if not report.names:
        return "No events in these log lines.\n" + _requests(report)
    reasons = _table([["reason", "events"], *([reason, str(n)] for reason, n in _by_count(report.reasons))])
    return (
        _names_table(report)
        + ("\n" + reasons if report.reasons else "")
        + "\n"
        + _pending(report)
        + _requests(report)
        + _weakest(report)
    )
