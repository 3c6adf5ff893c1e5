"""The soak at 2,000 events: under faults and invalid input, every event reaches Pinterest or is parked.

`python -m benchmarks.soak` runs it at 20,000 (see benchmarks/soak.py). Its plan and its audit are
checked on their own first.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from benchmarks.soak import INVALID_SHARE, MAX_EVENTS_PER_MESSAGE, audit, main, plan
from dev.harness import emulator_available


def events_of(data: bytes) -> list[dict]:
    value = json.loads(data)
    return value if isinstance(value, list) else [value]


def test_the_plan_is_deterministic_and_exactly_two_percent_invalid():
    first = plan(1000, seed=3)
    assert first == plan(1000, seed=3)
    assert first != plan(1000, seed=4)
    assert len(first.invalid) == 1000 * INVALID_SHARE
    assert len(first.valid) + len(first.invalid) == 1000
    assert set(first.invalid.values()) == {"no_match_key", "invalid_value", "not_json"}
    parsed = [events_of(data) for data, attributes in first.messages if not attributes]
    assert all(1 <= len(events) <= MAX_EVENTS_PER_MESSAGE for events in parsed)
    ids = [event["event_id"] for events in parsed for event in events]
    broken = [attributes["soak_broken"] for _, attributes in first.messages if attributes]
    assert sorted(ids + broken) == sorted(first.valid | first.invalid.keys())


def letter(event_id: str, reason: str | None) -> dict:
    attributes = {"reason": reason} if reason else {"CloudPubSubDeadLetterSourceDeliveryCount": "10"}
    return {"data": json.dumps({"event_id": event_id}).encode(), "attributes": attributes}


def test_the_audit_names_every_kind_of_problem():
    the_plan = plan(200, seed=5)
    good_letters = [letter(key, reason) for key, reason in the_plan.invalid.items()]
    assert audit(the_plan, Counter(the_plan.valid), good_letters) == []
    lost, *delivered = sorted(the_plan.valid)
    wrong, _missing, *parked = sorted(the_plan.invalid)
    letters = [letter(wrong, "too_large"), letter(lost, None)]
    letters += [letter(key, the_plan.invalid[key]) for key in parked]
    problems = audit(the_plan, Counter([*delivered, wrong]), letters)
    assert [problem.split(":")[0] for problem in problems] == [
        "valid events never reached Pinterest",
        "events reached Pinterest that should not have",
        "invalid events not dead-lettered",
        "dead-lettered with the wrong reason",
        "dead letters that stand for no invalid event",
        "messages Pub/Sub dead-lettered after every delivery failed",
    ]


@pytest.mark.e2e
def test_2000_events_lose_nothing(capsys):
    why_not = emulator_available()
    if why_not:
        pytest.skip(f"Pub/Sub emulator unavailable: {why_not}")
    status = main(["--events", "2000"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "PASSED" in out
