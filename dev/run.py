"""`make run`: the whole path on this machine, told as a person reads it.

Starts the Pub/Sub emulator, a Pinterest stand-in (or, with real PINTEREST_AD_ACCOUNT_ID and
PINTEREST_ACCESS_TOKEN in the environment, the real API in test mode) and the function; creates
the topics and a push subscription with retry and dead-letter policies; publishes the sample
events with their times moved to now, one of them with consent denied, and one broken message.
Then prints each request Pinterest received (every hashed field labelled with the GA4 field it
came from), what was dead-lettered and why, the match-quality report of the function's log and
one summary line. Exit status 1 when an event did not end as expected. Everything it started is
stopped, and its temporary folder removed, on exit.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from dev.harness import ROOT, Emulator, emulator_available, run_emulator, run_function
from dev.pinterest_standin import Record, StandIn
from dev.push import refreshed
from lib.commands import report
from lib.delivery.outcomes import Outcome
from lib.mapping import derived_event_ids
from lib.mapping.parameters import USER_DATA, Gated

_WAIT_SECONDS: Final = 30.0
_SHOWN_CHARACTERS: Final = 40  # longer clear values (user agent, click id, URL) are cut
_DIGEST_CHARACTERS: Final = 8
_HEADLINE: Final = ("event_name", "event_id", "event_time", "action_source", "user_data", "custom_data")


@dataclass(frozen=True)
class _Sample:
    """One message to publish and the outcome its event (or the message) must end with."""

    label: str
    data: bytes
    expected: Outcome
    event: Mapping[str, Any] | None = None  # None: the message cannot be decoded

    def key(self, message_id: str) -> tuple[str, ...]:
        """How the report knows this sample (see lib.commands.report)."""
        if self.event is None:
            return ("message", message_id)
        return ("event", derived_event_ids([self.event])[0])


def _fixture(name: str, now: float, **changes: Any) -> dict[str, Any]:
    event = json.loads((ROOT / "tests" / "data" / "ga4" / f"{name}.json").read_text())
    return {**refreshed(event, now), **changes}


def _samples(now: float) -> list[_Sample]:
    events = {
        "purchase": (_fixture("purchase", now), Outcome.PROCESSED),
        "page_view": (_fixture("page_view", now), Outcome.PROCESSED),
        "page_view, consent denied": (_fixture("page_view", now, **{"x-ga-gcs": "G100"}), Outcome.SKIPPED),
    }
    samples = [
        _Sample(label, json.dumps(event).encode(), outcome, event)
        for label, (event, outcome) in events.items()
    ]
    return [*samples, _Sample("broken message", b"{this is not JSON", Outcome.REJECTED)]


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
            "PINTEREST_TEST_MODE": "false",
        },
        standin,
    )


# --- printing what Pinterest received -----------------------------------------------------------


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= _SHOWN_CHARACTERS else text[: _SHOWN_CHARACTERS - 1] + "…"


def _present(node: Any, path: str) -> bool:
    """Whether a GA4 event has a value at a dotted path (nested or flattened keys, lists fanned out)."""
    if isinstance(node, list):
        return any(_present(element, path) for element in node)
    if not isinstance(node, Mapping):
        return False
    if path in node:
        return node[path] not in (None, "", [])
    head, _, rest = path.partition(".")
    return bool(rest) and head in node and _present(node[head], rest)


def _source_of(key: str, event: Mapping[str, Any] | None) -> str:
    """The GA4 field a user_data field came from: the first of its sources the event has."""
    for source in USER_DATA[key].sources if key in USER_DATA and event else ():
        path = source.path if isinstance(source, Gated) else source
        if isinstance(path, str) and _present(event, path):
            return path
        if callable(path) and list(path(event)):
            return path.__name__
    return "?"


def _user_data_lines(user_data: Mapping[str, Any], event: Mapping[str, Any] | None) -> list[str]:
    rows = []
    for key, value in user_data.items():
        if key in USER_DATA and USER_DATA[key].hashed:
            more = f" (+{len(value) - 1})" if len(value) > 1 else ""
            shown = f"sha256:{value[0][:_DIGEST_CHARACTERS]}…{more}"
        else:
            shown = _short(value)
        rows.append((key, _source_of(key, event), shown))
    key_width = max(len(row[0]) for row in rows)
    source_width = max(len(row[1]) for row in rows)
    return [f"      {k:<{key_width}} <- {s:<{source_width}}  {v}" for k, s, v in rows]


def _pairs(values: Mapping[str, Any]) -> str:
    def shown(value: Any) -> str:
        if isinstance(value, list) and all(isinstance(v, Mapping) for v in value):
            return f"{len(value)} items"
        if isinstance(value, list):
            return _short(",".join(map(str, value)))
        return _short(value)

    return ", ".join(f"{key} {shown(value)}" for key, value in values.items())


def _event_lines(sent: Mapping[str, Any], event: Mapping[str, Any] | None) -> list[str]:
    when = datetime.fromtimestamp(sent["event_time"], UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    headline = f"{sent['event_name']}  id {sent['event_id'][:12]}…  at {when}"
    lines = [
        f"    {headline}  action_source {sent['action_source']}",
        *_user_data_lines(sent.get("user_data", {}), event),
    ]
    if sent.get("custom_data"):
        lines.append(f"      custom_data  {_pairs(sent['custom_data'])}")
    rest = {key: value for key, value in sent.items() if key not in _HEADLINE}
    if rest:
        lines.append(f"      also  {_pairs(rest)}")
    return lines


def _print_requests(records: Sequence[Record], events_by_id: Mapping[str, Mapping[str, Any]]) -> None:
    print("\nWhat Pinterest received:")
    for number, record in enumerate(records, start=1):
        data = record.body.get("data", []) if isinstance(record.body, dict) else []
        test = " (test mode)" if record.query.get("test") == "true" else ""
        print(f"  request {number}: {len(data)} events, answered {record.status}{test}")
        for sent in data:
            print("\n".join(_event_lines(sent, events_by_id.get(sent.get("event_id", "")))))
    if not records:
        print("  nothing")


# --- the run ------------------------------------------------------------------------------------


def _wait(
    emulator: Emulator, dead_letters: str, log: Path, keys: Sequence[tuple[str, ...]]
) -> tuple[list[report.Line], list[dict[str, Any]]]:
    """Read the function's log until every sample has a final outcome (and its letter, if parked)."""
    parked: list[dict[str, Any]] = []
    deadline = time.monotonic() + _WAIT_SECONDS
    while True:
        parked += emulator.pull(dead_letters)
        lines = report.parse(log.read_text(errors="replace")) if log.exists() else []
        final = {s.key: s for s in report.settle(s for s in lines if isinstance(s, report.Sighting))}
        settled = all(key in final and final[key].outcome in report.FINAL_OUTCOMES for key in keys)
        rejected = sum(final[key].outcome is Outcome.REJECTED for key in keys if key in final)
        if (settled and len(parked) >= rejected) or time.monotonic() > deadline:
            return lines, parked
        time.sleep(0.5)


def _surprises(
    samples: Sequence[_Sample], keys: Sequence[tuple[str, ...]], lines: list[report.Line]
) -> list[str]:
    final = {s.key: s for s in report.settle(s for s in lines if isinstance(s, report.Sighting))}
    problems = []
    for sample, key in zip(samples, keys, strict=True):
        got = final[key].outcome if key in final else "not logged"
        if got != sample.expected:
            got = "still pending" if got == Outcome.DEFERRED else got
            problems.append(f"{sample.label}: expected {sample.expected}, got {got}")
    return problems


def _tail(path: Path, lines: int = 20) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"


def main() -> int:
    why_not = emulator_available()
    if why_not:
        print(f"make run needs the Pub/Sub emulator: {why_not}", file=sys.stderr)
        return 1
    with ExitStack() as stack:
        logs = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pinterest-capi-run-")))
        print("Starting the Pub/Sub emulator (about 10 s)...")
        emulator = stack.enter_context(run_emulator(project="local", log_path=logs / "emulator.log"))
        pinterest_env, standin = stack.enter_context(_pinterest(stack))
        topic, dead_letter_topic = emulator.topic("ga4-events"), emulator.topic("ga4-dead-letter")
        dead_letters = emulator.subscription("ga4-dead-letter-pull", dead_letter_topic)
        env = {"DEAD_LETTER_TOPIC": dead_letter_topic, "PUBSUB_EMULATOR_HOST": emulator.host, **pinterest_env}
        url = stack.enter_context(run_function(env, log_path=logs / "function.log")).url
        print(f"Function serving on {url}")
        emulator.push_subscription("ga4-events-push", topic, f"{url}/{topic}", dead_letter_topic)
        samples = _samples(time.time())
        message_ids = [emulator.publish(topic, sample.data) for sample in samples]
        keys = [sample.key(message_id) for sample, message_id in zip(samples, message_ids, strict=True)]
        print(
            "Published: "
            + ", ".join(f"{s.label} (message {m})" for s, m in zip(samples, message_ids, strict=True))
        )
        lines, parked = _wait(emulator, dead_letters, logs / "function.log", keys)
        if standin is not None:
            events = {key[1]: sample.event for sample, key in zip(samples, keys, strict=True) if sample.event}
            _print_requests(standin.requests, events)
        else:
            print("\nSent to the real API in test mode: Pinterest's answers are in the report below.")
        print("\nWhat was dead-lettered:")
        for letter in parked:
            source, reason, detail = map(letter["attributes"].get, ("source_message_id", "reason", "detail"))
            print(f"  message {source}: {reason} ({detail})")
        problems = _surprises(samples, keys, lines)
        if problems:
            print(f"\nThe function's log ends with:\n{_tail(logs / 'function.log')}", file=sys.stderr)
    print("\nStopped the emulator, the function and the stand-in.\n")
    built = report.build(lines)
    print(report.format_text(built), end="")
    for problem in problems:
        print(f"NOT AS EXPECTED: {problem}", file=sys.stderr)
    test_mode = "on (Pinterest recorded nothing)" if pinterest_env["PINTEREST_TEST_MODE"] == "true" else "off"
    verdict = "all as expected" if not problems else f"{len(problems)} not as expected"
    print(
        f"\nSummary: {built.total('processed')} delivered, {built.total('rejected')} parked, "
        f"{built.total('skipped')} skipped; test mode {test_mode}; {verdict}."
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
