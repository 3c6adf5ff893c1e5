"""Structured logs: allow-listed fields only, and outside text scrubbed of anything personal."""

from __future__ import annotations

import io
import json

import pytest

from lib import logs


def test_only_allow_listed_fields_are_written():
    stream = io.StringIO()
    logs.configure(enabled=True, stream=stream)
    try:
        logs.log("INFO", "event processed", event_id="e1", email="jane@example.com", user_agent="UA/1")
    finally:
        logs.configure(enabled=True)
    assert json.loads(stream.getvalue()) == {
        "severity": "INFO",
        "message": "event processed",
        "event_id": "e1",
    }


def test_log_mode_off_writes_nothing():
    stream = io.StringIO()
    logs.configure(enabled=False, stream=stream)
    try:
        logs.log("ERROR", "anything", event_id="e1")
    finally:
        logs.configure(enabled=True)
    assert stream.getvalue() == ""


@pytest.mark.parametrize(
    "secret",
    [
        "a" * 64,
        "jane.doe@example.com",
        "https://shop.example.com/checkout?order=1",
        "203.0.113.45",
        "2001:db8::1",
        "::1",
        "2001:db8::",
        "fe80::1234:5678",
    ],
)
def test_scrub_masks_what_could_be_user_data(secret):
    scrubbed = logs.scrub(f"Invalid value {secret}, Given timestamp: 1678203524")
    assert secret not in scrubbed
    assert scrubbed.endswith("Given timestamp: 1678203524")


def test_scrub_cuts_long_text():
    assert len(logs.scrub("x " * 1_000)) == 300
