"""The commands as a user runs them (a subprocess with files and stdin): preview, and how publish
and replay fail without credentials. The report has tests/test_report.py."""

from __future__ import annotations

import io
import json
import os
import subprocess

import pytest

from lib import cli
from lib.commands.replay import Report
from lib.mapping import derived_event_ids
from tests.conftest import DATA, FIXTURE_NOW, load_fixture, run_module

SUBSCRIPTION = "projects/p/subscriptions/dead-letter-pull"
TOPIC = "projects/p/topics/events"


def preview(*args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return run_module("lib.cli", "preview", *args, stdin=stdin, env={**os.environ, **env})


def test_prints_exactly_the_request_body(validate_body):
    result = preview("--now", str(FIXTURE_NOW), str(DATA / "ga4" / "purchase.json"))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    body = json.loads(result.stdout)
    validate_body(body)
    assert [e["event_name"] for e in body["data"]] == ["checkout"]
    assert body["data"][0]["event_id"] == derived_event_ids([load_fixture("purchase")])[0]


def test_reads_an_array_from_stdin_and_reports_what_is_left_out():
    events = [load_fixture("page_view"), {"event_name": "lead"}, load_fixture("purchase"), 5]
    result = preview("--now", str(FIXTURE_NOW), "-", stdin=json.dumps(events))
    assert result.returncode == 1
    body = json.loads(result.stdout)
    ids = derived_event_ids(events)
    assert [e["event_id"] for e in body["data"]] == [ids[0], ids[2]]
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


def test_a_file_it_cannot_read_is_named():
    result = preview("/no/such/file.json")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "preview: cannot read /no/such/file.json: No such file or directory\n"


@pytest.mark.parametrize(
    ("now", "event", "hint"),
    [
        (
            None,
            load_fixture("purchase"),
            "pass --now with a Unix time near the event's, or raise MAX_EVENT_AGE_DAYS",
        ),
        (
            FIXTURE_NOW,
            {"event_name": "purchase"},
            "send user_data.email_address, or ip_override with user_agent",
        ),
        (
            FIXTURE_NOW,
            {"event_name": "purchase", "ip_override": "198.51.100.7"},
            "send user_data.email_address, or ip_override with user_agent",
        ),
        (FIXTURE_NOW - 3600, load_fixture("purchase"), "pass --now with a Unix time near the event's"),
    ],
    ids=["too-old", "no-match-key", "ip-without-user-agent", "in-the-future"],
)
def test_a_rejection_says_what_to_do(now, event, hint):
    result = preview(*([] if now is None else ["--now", str(now)]), "-", stdin=json.dumps(event))
    assert result.returncode == 1
    assert json.loads(result.stderr)["hint"] == hint


def test_a_rejection_with_an_obvious_fix_has_no_hint():
    result = preview("--now", str(FIXTURE_NOW), "-", stdin=json.dumps([5]))
    assert "hint" not in json.loads(result.stderr)


def without_credentials(tmp_path) -> dict[str, str]:
    """The environment of a machine with no Google credentials at all (and no metadata server)."""
    hidden = {"GOOGLE_APPLICATION_CREDENTIALS", "PUBSUB_EMULATOR_HOST", "CLOUDSDK_CONFIG"}
    env = {key: value for key, value in os.environ.items() if key not in hidden}
    return {**env, "CLOUDSDK_CONFIG": str(tmp_path), "HOME": str(tmp_path), "NO_GCE_CHECK": "True"}


@pytest.mark.parametrize(
    "args",
    [
        ["publish", "--topic", TOPIC, str(DATA / "ga4" / "purchase.json")],
        ["replay", "--subscription", SUBSCRIPTION, "--topic", TOPIC],
        ["replay", "--subscription", SUBSCRIPTION, "--topic", TOPIC, "--dry-run"],
    ],
    ids=["publish", "replay", "replay-dry-run"],
)
def test_without_google_credentials_one_line_and_exit_2(args, tmp_path):
    result = run_module("lib.cli", *args, env=without_credentials(tmp_path))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"{args[0]}: no Google credentials found: run `gcloud auth application-default login`, "
        "or set PUBSUB_EMULATOR_HOST to use the Pub/Sub emulator\n"
    )


def replay_options(monkeypatch, *extra: str) -> dict[str, object]:
    seen: dict[str, object] = {}

    def fake_replay(subscription: str, topic: str, **options: object) -> Report:
        seen.update(options, subscription=subscription, topic=topic)
        return Report()

    monkeypatch.setattr(cli, "replay", fake_replay)
    out, err = io.StringIO(), io.StringIO()
    assert cli.main(["replay", "--subscription", SUBSCRIPTION, "--topic", TOPIC, *extra], out, err) == 0
    return seen


def test_replay_waits_as_long_as_told(monkeypatch):
    assert replay_options(monkeypatch, "--wait", "2.5")["wait"] == 2.5


def test_replay_waits_by_default_as_long_as_the_replay_itself_does(monkeypatch):
    from inspect import signature

    from lib.commands.replay import replay

    assert replay_options(monkeypatch)["wait"] == signature(replay).parameters["wait"].default


@pytest.mark.parametrize("wait", ["0", "-1", "soon", "inf", "nan"])
def test_replay_wait_must_be_a_positive_number_of_seconds(wait):
    result = run_module("lib.cli", "replay", "--subscription", SUBSCRIPTION, "--topic", TOPIC, "--wait", wait)
    assert result.returncode == 2
    assert "--wait: must be a number of seconds above 0" in result.stderr
