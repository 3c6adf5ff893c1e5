"""The preview command, run as a user runs it: a subprocess with files and stdin."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import DATA, FIXTURE_NOW, ROOT, load_fixture


def preview(*args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lib.cli", "preview", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **env},
        check=False,
        timeout=60,
    )


def test_prints_exactly_the_request_body(validate_body):
    result = preview("--now", str(FIXTURE_NOW), str(DATA / "ga4" / "purchase.json"))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    body = json.loads(result.stdout)
    validate_body(body)
    assert [e["event_name"] for e in body["data"]] == ["checkout"]
    assert body["data"][0]["event_id"] == "preview-0"


def test_reads_an_array_from_stdin_and_reports_what_is_left_out():
    events = [load_fixture("page_view"), {"event_name": "lead"}, load_fixture("purchase"), 5]
    result = preview("--now", str(FIXTURE_NOW), "--message-id", "abc", "-", stdin=json.dumps(events))
    assert result.returncode == 1
    body = json.loads(result.stdout)
    assert [e["event_id"] for e in body["data"]] == ["abc-0", "abc-2"]
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert [(line["index"], line["reason"]) for line in lines] == [(1, "no_match_key"), (3, "not_an_object")]
    assert "jane" not in result.stderr.lower()


def test_skipped_events_exit_1():
    result = preview(
        "--now", str(FIXTURE_NOW), "-", stdin=json.dumps(load_fixture("purchase")), SKIP_EVENTS="purchase"
    )
    assert result.returncode == 1
    assert json.loads(result.stdout) == {"data": []}
    assert json.loads(result.stderr)["reason"] == "event_filtered"


def test_uses_the_environment_configuration():
    result = preview(
        "--now", str(FIXTURE_NOW), "-", stdin=json.dumps(load_fixture("purchase")), EVENT_NAME_OVERRIDE="lead"
    )
    assert json.loads(result.stdout)["data"][0]["event_name"] == "lead"


@pytest.mark.parametrize(
    ("args", "stdin", "env"),
    [
        (["-"], "not json", {}),
        (["-"], "42", {}),
        (["/no/such/file.json"], None, {}),
        (["--now", "soon", "-"], "{}", {}),
        ([], None, {}),
        (["-"], "{}", {"CONSENT_POLICY": "whatever"}),
    ],
    ids=["not-json", "not-an-event", "missing-file", "bad-now", "no-file", "bad-config"],
)
def test_unreadable_input_or_bad_arguments_exit_2(args, stdin, env):
    result = preview(*args, stdin=stdin, **env)
    assert result.returncode == 2
    assert result.stdout == ""
