"""Soak: many events through emulator → function → Pinterest stand-in, under faults, then a full audit.

    python -m benchmarks.soak [--events 20000] [--seed 7]

Publishes messages of 1 to 20 GA4 events to the Pub/Sub emulator, which pushes them to the
function. 2% of the events are invalid (no match key, a non-numeric value, or a whole message
that is not JSON), and the stand-in fails 10% of Pinterest calls (429 with Retry-After, 500, 503,
an answer slower than the read timeout, a dropped connection). Then checks that every valid
event reached the stand-in, every invalid one is on the dead-letter topic with its reason, and
nothing is missing or extra; prints the counts, the duplicates the stand-in saw, events per
second and the function's peak memory. While it waits, a line on stderr every few seconds says
how many events have arrived. Exit status 0 only when the audit passes; it gives up after a time
proportional to the number of events.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TextIO

import requests

from dev.harness import Emulator, RunningFunction, emulator_available, run_emulator, run_function
from dev.pinterest_standin import Delay, Drop, StandIn, Status

TOKEN: Final = "soak-token"
READ_TIMEOUT_SECONDS: Final = 1.0
THREADS: Final = 32
FAULT_RATE: Final = 0.1
INVALID_SHARE: Final = 0.02
MAX_EVENTS_PER_MESSAGE: Final = 20
MAX_DELIVERY_ATTEMPTS: Final = 10  # Terraform's default
# What the stand-in does to FAULT_RATE of the calls: rate limited, server errors, too slow, no answer.
FAULTS: Final = (
    Status(429, retry_after=1),
    Status(500),
    Status(503),
    Delay(READ_TIMEOUT_SECONDS + 0.5),
    Drop(),
)
_PUBLISH_BATCH: Final = 200  # messages per REST publish call
_BASE_SECONDS, _SECONDS_PER_EVENT = 120.0, 0.02  # the audit gives up after 120 s + 20 ms per event
_POLL_SECONDS: Final = 1.0
_PROGRESS_SECONDS: Final = 5.0  # how often the wait says how far it got
_EVENT_NAMES: Final = ("purchase", "add_to_cart", "page_view", "view_item_list", "generate_lead", "search")

_MATCH_KEYS: Final = frozenset({"user_data", "ip_override", "user_agent"})
# How an invalid event is made from a valid one, by the reason it must be dead-lettered with.
_SPOIL: Final[Mapping[str, Callable[[dict[str, Any]], dict[str, Any]]]] = {
    "no_match_key": lambda event: {key: value for key, value in event.items() if key not in _MATCH_KEYS},
    "invalid_value": lambda event: {**event, "value": "twelve euros"},
}
_BROKEN_REASON: Final = "not_json"  # a whole message whose data is not JSON
_BROKEN_ATTRIBUTE: Final = "soak_broken"  # names the broken message; letters keep original attributes
_NO_ID: Final = "(no event id)"


@dataclass(frozen=True)
class Plan:
    """What to publish and what must come of it."""

    messages: tuple[tuple[bytes, Mapping[str, str]], ...]
    valid: frozenset[str]  # event ids that must reach Pinterest
    invalid: Mapping[str, str]  # event id (or broken message name) -> the reason it must be parked with


@dataclass(frozen=True)
class Result:
    """What the soak saw, and what is wrong with it (nothing, when it passed)."""

    events: int
    messages: int
    valid: int
    invalid: int
    delivered: int
    duplicates: int
    parked: int
    pinterest_calls: int
    faults: int
    seconds: float
    peak_memory_kib: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def _valid_event(rng: random.Random, event_id: str, n: int) -> dict[str, Any]:
    """A GA4 event with a match key: an email, or an IP and a user agent."""
    user = (
        {"user_data": {"email_address": f"Soak.User{n}@Example.com "}}
        if n % 3
        else {"ip_override": f"198.51.100.{n % 250 + 1}", "user_agent": f"Mozilla/5.0 (soak {n})"}
    )
    item = {"item_id": f"sku-{rng.randrange(1000)}", "price": 9.5, "quantity": rng.randint(1, 3)}
    return {
        "event_name": rng.choice(_EVENT_NAMES),
        "event_id": event_id,
        "currency": "EUR",
        "items": [item],
        **user,
    }


def _event_id(seed: int, n: int) -> str:
    return f"soak-{seed}-{n}"


def _message(events: Sequence[dict[str, Any]]) -> tuple[bytes, Mapping[str, str]]:
    """One event alone as an object, several as an array: the function takes both."""
    return json.dumps(events[0] if len(events) == 1 else list(events)).encode(), {}


def plan(events: int, seed: int) -> Plan:
    """Messages holding `events` events in all, exactly INVALID_SHARE of them invalid (deterministic)."""
    rng = random.Random(seed)
    spoiled = sorted(rng.sample(range(events), round(events * INVALID_SHARE)))
    reasons = {n: rng.choice([*_SPOIL, _BROKEN_REASON]) for n in spoiled}
    messages: list[tuple[bytes, Mapping[str, str]]] = []
    start = 0
    while start < events:
        stop = min(events, start + rng.randint(1, MAX_EVENTS_PER_MESSAGE))
        batch: list[dict[str, Any]] = []
        for n in range(start, stop):
            event, reason = _valid_event(rng, _event_id(seed, n), n), reasons.get(n)
            if reason == _BROKEN_REASON:
                messages.append((b'[{"event_name": "purchase", ', {_BROKEN_ATTRIBUTE: event["event_id"]}))
            else:
                batch.append(_SPOIL[reason](event) if reason else event)
        if batch:
            messages.append(_message(batch))
        start = stop
    invalid = {_event_id(seed, n): reason for n, reason in reasons.items()}
    valid = frozenset(_event_id(seed, n) for n in range(events)) - invalid.keys()
    return Plan(tuple(messages), valid, invalid)


def _publish(emulator: Emulator, topic: str, messages: Sequence[tuple[bytes, Mapping[str, str]]]) -> None:
    """Publish through the emulator's REST API, many messages per call."""
    url = f"http://{emulator.host}/v1/{topic}:publish"
    with requests.Session() as session:
        for start in range(0, len(messages), _PUBLISH_BATCH):
            body = [
                {"data": base64.b64encode(data).decode(), **({"attributes": dict(attrs)} if attrs else {})}
                for data, attrs in messages[start : start + _PUBLISH_BATCH]
            ]
            session.post(url, json={"messages": body}, timeout=60).raise_for_status()


def _letter_id(letter: Mapping[str, Any]) -> str:
    """The event id (or broken message name) a dead letter stands for."""
    attributes = letter["attributes"]
    if _BROKEN_ATTRIBUTE in attributes:
        return str(attributes[_BROKEN_ATTRIBUTE])
    try:
        event = json.loads(letter["data"])
    except ValueError:
        return _NO_ID
    return str(event.get("event_id", _NO_ID)) if isinstance(event, dict) else _NO_ID


def audit(plan: Plan, received: Counter[str], letters: Sequence[Mapping[str, Any]]) -> list[str]:
    """Everything that went wrong: lost, unexpected, wrongly parked, or parked by Pub/Sub itself."""
    parked = {_letter_id(letter): letter["attributes"].get("reason", "") for letter in letters}
    checks = {
        "valid events never reached Pinterest": sorted(plan.valid - received.keys()),
        "events reached Pinterest that should not have": sorted(received.keys() - plan.valid),
        "invalid events not dead-lettered": sorted(plan.invalid.keys() - parked.keys()),
        "dead-lettered with the wrong reason": sorted(
            f"{key}: {parked[key]} (expected {reason})"
            for key, reason in plan.invalid.items()
            if key in parked and parked[key] != reason
        ),
        "dead letters that stand for no invalid event": sorted(parked.keys() - plan.invalid.keys()),
        "messages Pub/Sub dead-lettered after every delivery failed": sorted(
            _letter_id(letter) for letter in letters if "reason" not in letter["attributes"]
        ),
    }
    return [f"{what}: {len(keys)}, e.g. {', '.join(keys[:5])}" for what, keys in checks.items() if keys]


def _wait(
    emulator: Emulator, standin: StandIn, dead_letters: str, plan: Plan, deadline: float, *, progress: TextIO
) -> tuple[Counter[str], list[dict[str, Any]]]:
    """Poll until every event arrived at Pinterest or on the dead-letter topic, or the deadline passed;
    says how far it got on `progress` every few seconds."""
    letters: list[dict[str, Any]] = []
    started = next_report = time.monotonic()
    while True:
        while batch := emulator.pull(dead_letters, max_messages=1000):
            letters += batch
        received = Counter(str(event["event_id"]) for event in standin.events())
        parked = {_letter_id(letter) for letter in letters}
        if (plan.valid <= received.keys() and plan.invalid.keys() <= parked) or time.monotonic() > deadline:
            return received, letters
        if time.monotonic() >= next_report:
            delivered, landed = len(received.keys() & plan.valid), len(parked & plan.invalid.keys())
            print(
                f"  {time.monotonic() - started:4.0f} s: {delivered}/{len(plan.valid)} delivered, "
                f"{landed}/{len(plan.invalid)} parked, {len(standin.requests)} Pinterest calls",
                file=progress,
                flush=True,
            )
            next_report += _PROGRESS_SECONDS
        time.sleep(_POLL_SECONDS)


@dataclass(frozen=True)
class _Deployment:
    emulator: Emulator
    standin: StandIn
    function: RunningFunction
    topic: str
    dead_letters: str


@contextmanager
def _deploy(seed: int, logs: Path) -> Iterator[_Deployment]:
    """Emulator, faulty stand-in and function, wired as Terraform wires them in the cloud."""
    with ExitStack() as stack:
        emulator = stack.enter_context(run_emulator(project="soak", log_path=logs / "emulator.log"))
        standin = stack.enter_context(StandIn(token=TOKEN))
        standin.random_faults(rate=FAULT_RATE, kinds=FAULTS, seed=seed)
        topic, dead_letter_topic = emulator.topic("ga4-events"), emulator.topic("ga4-dead-letter")
        env = {
            "PINTEREST_AD_ACCOUNT_ID": "549000000000",
            "PINTEREST_ACCESS_TOKEN": TOKEN,
            "PINTEREST_API_BASE_URL": standin.base_url,
            "PINTEREST_READ_TIMEOUT_SECONDS": str(READ_TIMEOUT_SECONDS),
            "DEAD_LETTER_TOPIC": dead_letter_topic,
            "PUBSUB_EMULATOR_HOST": emulator.host,
        }
        dead_letters = emulator.subscription("ga4-dead-letter-pull", dead_letter_topic)
        function = stack.enter_context(run_function(env, log_path=logs / "function.log", threads=THREADS))
        push_endpoint = f"{function.url}/{topic}"
        emulator.push_subscription("ga4-push", topic, push_endpoint, dead_letter_topic, MAX_DELIVERY_ATTEMPTS)
        yield _Deployment(emulator, standin, function, topic, dead_letters)


def run(
    events: int = 20_000, seed: int = 7, out: TextIO = sys.stdout, progress: TextIO = sys.stderr
) -> Result:
    """Run the soak once and audit it; says what it does on `out`, and how far it got on `progress`."""
    the_plan, timeout = plan(events, seed), _BASE_SECONDS + _SECONDS_PER_EVENT * events
    logs = Path(tempfile.mkdtemp(prefix="pinterest-capi-soak-"))
    print(f"{events} events in {len(the_plan.messages)} messages; logs in {logs}", file=out, flush=True)
    with _deploy(seed, logs) as deployment:
        started = time.monotonic()
        _publish(deployment.emulator, deployment.topic, the_plan.messages)
        print(
            f"published in {time.monotonic() - started:.1f} s; auditing for up to {timeout:.0f} s", file=out
        )
        received, letters = _wait(
            deployment.emulator,
            deployment.standin,
            deployment.dead_letters,
            the_plan,
            started + timeout,
            progress=progress,
        )
        seconds = time.monotonic() - started
        memory, calls = deployment.function.peak_memory_kib(), deployment.standin.requests
    problems = audit(the_plan, received, letters)
    if seconds > timeout:
        problems.insert(
            0, f"gave up after {timeout:.0f} s (120 s + {_SECONDS_PER_EVENT * 1000:.0f} ms per event)"
        )
    if schema_failures := sum(not call.valid for call in calls):
        problems.append(f"{schema_failures} request bodies failed Pinterest's schema")
    return Result(
        events=events,
        messages=len(the_plan.messages),
        valid=len(the_plan.valid),
        invalid=len(the_plan.invalid),
        delivered=len(received.keys() & the_plan.valid),
        duplicates=sum(count - 1 for count in received.values()),
        parked=len(letters),
        pinterest_calls=len(calls),
        faults=sum(call.fault is not None for call in calls),
        seconds=seconds,
        peak_memory_kib=memory,
        problems=tuple(problems),
    )


def report(result: Result, out: TextIO) -> None:
    """The figures, then the verdict."""
    lines = {
        "events": f"{result.events} ({result.invalid} invalid) in {result.messages} messages",
        "at Pinterest": f"{result.delivered} of {result.valid} valid events, {result.duplicates} duplicates",
        "dead-lettered": f"{result.parked} letters for {result.invalid} invalid events",
        "Pinterest calls": f"{result.pinterest_calls}, {result.faults} of them failed on purpose",
        "throughput": f"{result.events / result.seconds:.0f} events/s over {result.seconds:.1f} s",
        "function memory": f"{result.peak_memory_kib / 1024:.1f} MiB peak",
    }
    for name, text in lines.items():
        print(f"{name:>16}: {text}", file=out)
    print("PASSED" if result.ok else "FAILED:\n  " + "\n  ".join(result.problems), file=out, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Exit status 0 when the audit passed, 1 when it failed, 2 when the emulator is missing."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.soak",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--events", type=int, default=20_000, help="how many events (default 20,000)")
    parser.add_argument("--seed", type=int, default=7, help="seeds the events, the invalid ones, the faults")
    args = parser.parse_args(argv)
    why_not = emulator_available()
    if why_not:
        print(f"the soak needs the Pub/Sub emulator: {why_not}", file=sys.stderr)
        return 2
    result = run(args.events, args.seed)
    report(result, sys.stdout)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
