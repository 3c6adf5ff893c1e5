"""Push GA4 events to a running function as a Pub/Sub push subscription would, without the emulator.

    python -m dev.push tests/data/ga4/purchase.json [--url http://127.0.0.1:8080/] [--keep-times]

FILE holds a GA4 event object, an array of them, or JSON lines; they travel in one message (one
event as an object, several as an array: the function takes both). The request times of the
samples are from 2025, so each event's time is moved to now unless `--keep-times` is given. Exit
status 0 when the function acknowledged the push, 1 when it did not (see its log), 2 when the
file cannot be read or nothing answers at the URL.
"""

from __future__ import annotations

import argparse
import base64
import copy
import json
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import requests

from lib.commands.publish import InputError, read_events

__all__ = ["envelope", "main", "refreshed"]

_SUBSCRIPTION: Final = "projects/local/subscriptions/dev-push"


def refreshed(event: Mapping[str, Any], now: float) -> dict[str, Any]:
    """A copy of the event whose times (`event_time`, the sGTM request start) say `now`."""
    fresh = copy.deepcopy(dict(event))
    if "event_time" in fresh:
        fresh["event_time"] = int(now)
    system = fresh.get("x-sst-system_properties")
    if isinstance(system, dict) and "request_start_time_ms" in system:
        system["request_start_time_ms"] = int(now * 1000)
    return fresh


def envelope(events: Sequence[Mapping[str, Any]], message_id: str, now: float) -> dict[str, Any]:
    """The body of a Pub/Sub push request carrying the events as one message."""
    value = events[0] if len(events) == 1 else list(events)
    return {
        "message": {
            "data": base64.b64encode(json.dumps(value).encode()).decode(),
            "messageId": message_id,
            "publishTime": datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z"),
        },
        "subscription": _SUBSCRIPTION,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dev.push", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("file", help="GA4 events: an object, an array of them, or JSON lines")
    parser.add_argument("--url", default="http://127.0.0.1:8080/", help="the function (default: %(default)s)")
    parser.add_argument("--keep-times", action="store_true", help="send the events' times unchanged")
    args = parser.parse_args(argv)
    now = time.time()
    try:
        with open(args.file, "rb") as handle:
            events = read_events(handle.read())
    except (OSError, InputError) as error:
        print(f"push: cannot read {args.file}: {getattr(error, 'strerror', None) or error}", file=sys.stderr)
        return 2
    if not args.keep_times:
        events = [refreshed(event, now) for event in events]
    message_id = str(time.time_ns())
    try:
        response = requests.post(args.url, json=envelope(events, message_id, now), timeout=60)
    except requests.RequestException as error:
        print(f"push: no answer from {args.url}: {type(error).__name__}", file=sys.stderr)
        return 2
    acknowledged = response.ok
    verdict = "acknowledged" if acknowledged else "not acknowledged: Pub/Sub would redeliver it"
    print(f"message {message_id} ({len(events)} events): HTTP {response.status_code}, {verdict}")
    return 0 if acknowledged else 1


if __name__ == "__main__":
    sys.exit(main())
