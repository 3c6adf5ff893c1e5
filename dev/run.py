"""`make run`: the whole path on this machine, then a report of what happened to each event.

Starts the Pub/Sub emulator, a Pinterest stand-in (or, with real PINTEREST_AD_ACCOUNT_ID and
PINTEREST_ACCESS_TOKEN in the environment, the real API in test mode) and the function; creates
the topics and a push subscription with retry and dead-letter policies; publishes the two sample
events and one broken message; prints what Pinterest received and what was dead-lettered and why.
Everything it started is stopped on exit.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from dev.harness import ROOT, Emulator, emulator_available, run_emulator, run_function
from dev.pinterest_standin import StandIn

_SAMPLES = ("purchase", "page_view")
_BROKEN = b"{this is not JSON"
_WAIT_SECONDS = 30.0


def _sample(name: str) -> dict[str, Any]:
    event = json.loads((ROOT / "tests" / "data" / "ga4" / f"{name}.json").read_text())
    event["x-sst-system_properties"]["request_start_time_ms"] = int(
        time.time() * 1000
    )  # the files are from 2025
    return event


@contextmanager
def _pinterest(stack: ExitStack) -> Iterator[tuple[dict[str, str], StandIn | None]]:
    """The Pinterest settings: the real API in test mode when credentials are given, else a stand-in."""
    if os.environ.get("PINTEREST_ACCESS_TOKEN") and os.environ.get("PINTEREST_AD_ACCOUNT_ID"):
        print("Using the real Pinterest API in test mode (nothing is recorded).")
        yield {"PINTEREST_TEST_MODE": "true"}, None
        return
    standin = stack.enter_context(StandIn(token="local-token"))
    print(f"Pinterest stand-in listening on {standin.base_url}")
    yield (
        {
            "PINTEREST_API_BASE_URL": standin.base_url,
            "PINTEREST_ACCESS_TOKEN": "local-token",
            "PINTEREST_AD_ACCOUNT_ID": "549000000000",
        },
        standin,
    )


def _report(
    emulator: Emulator, standin: StandIn | None, dead_letters: str, published: dict[str, str]
) -> None:
    expected = {f"{message_id}-0" for name, message_id in published.items() if name != "broken"}
    parked: list[dict[str, Any]] = []
    deadline = time.monotonic() + _WAIT_SECONDS
    while time.monotonic() < deadline:
        parked += emulator.pull(dead_letters)
        sent = {e["event_id"]: e for e in standin.events()} if standin else {}
        if len(parked) >= 1 and (standin is None or expected <= set(sent)):
            break
        time.sleep(0.5)
    print("\nWhat Pinterest received:")
    for name, message_id in published.items():
        event = sent.get(f"{message_id}-0") if standin else None
        if event:
            print(f"  {name} (message {message_id}) -> {json.dumps(event, indent=2, ensure_ascii=False)}")
        elif name != "broken" and standin:
            print(f"  {name} (message {message_id}) -> not received (see the function's log)")
    if standin is None:
        print("  (sent to the real API; see the function's log for Pinterest's answers)")
    print("\nWhat was dead-lettered:")
    for letter in parked:
        attributes = letter["attributes"]
        source, reason, detail = (attributes.get(k) for k in ("source_message_id", "reason", "detail"))
        print(f"  message {source}: {reason} ({detail})")


def main() -> int:
    why_not = emulator_available()
    if why_not:
        print(f"make run needs the Pub/Sub emulator: {why_not}", file=sys.stderr)
        return 1
    logs = Path(tempfile.mkdtemp(prefix="pinterest-capi-run-"))
    with ExitStack() as stack:
        print("Starting the Pub/Sub emulator (about 10 s)...")
        emulator = stack.enter_context(run_emulator(project="local", log_path=logs / "emulator.log"))
        pinterest_env, standin = stack.enter_context(_pinterest(stack))
        topic, dead_letter_topic = emulator.topic("ga4-events"), emulator.topic("ga4-dead-letter")
        dead_letters = emulator.subscription("ga4-dead-letter-pull", dead_letter_topic)
        env = {"DEAD_LETTER_TOPIC": dead_letter_topic, "PUBSUB_EMULATOR_HOST": emulator.host, **pinterest_env}
        url = stack.enter_context(run_function(env, log_path=logs / "function.log")).url
        print(f"Function serving on {url}; its log: {logs / 'function.log'}")
        emulator.push_subscription("ga4-events-push", topic, f"{url}/{topic}", dead_letter_topic)
        published = {
            name: emulator.publish_json(topic, _sample(name), {"event_name": name}) for name in _SAMPLES
        }
        published["broken"] = emulator.publish(topic, _BROKEN)
        print(f"Published {', '.join(f'{n} as message {m}' for n, m in published.items())}")
        _report(emulator, standin, dead_letters, published)
    print("\nStopped the emulator, the function and the stand-in.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
