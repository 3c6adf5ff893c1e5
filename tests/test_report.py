"""The match-quality report (`python -m lib.cli report`) on log lines written as the function writes them.

tests/test_report_e2e.py runs it on the lines of a real function; here the lines are built by hand,
to pin each rule: one count per event, its last final outcome, exports, foreign lines, the output.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from lib.commands.report import build, format_text, parse, to_json
from tests.conftest import ROOT, run_cli

_SEVERITY = {"processed": "INFO", "skipped": "INFO", "rejected": "WARNING", "deferred": "WARNING"}


def event_line(
    outcome: str,
    event_id: str | None,
    *,
    name: str | None = "checkout",
    ga4: str | None = "purchase",
    keys: tuple[str, ...] = ("em",),
    own: bool = False,
    reason: str | None = None,
    message_id: str = "m1",
    index: int = 0,
) -> dict[str, Any]:
    """One line as the function logs an event (lib/delivery/forwarder.py)."""
    return {
        "severity": _SEVERITY[outcome],
        "message": f"event {outcome}",
        "message_id": message_id,
        "event_index": index,
        "ga4_event_name": ga4,
        "event_name": name,
        "event_id": event_id,
        "own_event_id": own,
        "match_keys": sorted(keys) if outcome == "processed" else [],
        "outcome": outcome,
        "reason": reason,
        "detail": None if reason is None else f"{reason}, e.g. jane.doe@example.com",
    }


def dead_lettered(message_id: str, reason: str = "not_json") -> dict[str, Any]:
    return {
        "severity": "WARNING",
        "message": "message dead-lettered",
        "message_id": message_id,
        "outcome": "rejected",
        "reason": reason,
        "detail": "message data is not UTF-8 JSON",
    }


def request_line(status: int | None = 200, count: int = 1, test_mode: bool = False) -> dict[str, Any]:
    answer = {"status": status} if status else {"reason": "timeout"}
    return {
        "severity": "INFO",
        "message": "pinterest request",
        **answer,
        "count": count,
        "counts": {"processed": count},
        "duration_ms": 12,
        "test_mode": test_mode,
    }


IP_UA = ("client_ip_address", "client_user_agent")
# A known mix: 4 checkout (email on all, phone on 2, one own id, one rejected), 3 page_visit
# (IP and user agent only, one skipped for consent), one undecodable message.
MIX = [
    event_line("processed", "c1", keys=("em", "ph", "external_id", *IP_UA), own=True),
    event_line("processed", "c2", keys=("em", "ph", "click_id", *IP_UA)),
    event_line("processed", "c3", keys=("em", "client_ip_address")),
    event_line("rejected", "c4", name=None, reason="no_match_key"),
    event_line("processed", "p1", name="page_visit", ga4="page_view", keys=IP_UA),
    event_line("processed", "p2", name="page_visit", ga4="page_view", keys=IP_UA),
    event_line("skipped", "p3", name="page_visit", ga4="page_view", reason="consent_denied"),
    dead_lettered("m9"),
    request_line(200, count=5),
]
MIX_JSON = {
    "event_names": {
        "checkout": {
            "events": 4,
            "processed": 3,
            "rejected": 1,
            "skipped": 0,
            "match_keys": {
                "em": 1.0,
                "ph": 2 / 3,
                "external_id": 1 / 3,
                "click_id": 1 / 3,
                "hashed_maids": 0.0,
                "ip_ua": 2 / 3,
            },
            "own_event_id": 1 / 3,
        },
        "page_visit": {
            "events": 3,
            "processed": 2,
            "rejected": 0,
            "skipped": 1,
            "match_keys": {
                "em": 0.0,
                "ph": 0.0,
                "external_id": 0.0,
                "click_id": 0.0,
                "hashed_maids": 0.0,
                "ip_ua": 1.0,
            },
            "own_event_id": 0.0,
        },
        "(none)": {
            "events": 1,
            "processed": 0,
            "rejected": 1,
            "skipped": 0,
            "match_keys": dict.fromkeys(
                ("em", "ph", "external_id", "click_id", "hashed_maids", "ip_ua"), 0.0
            ),
            "own_event_id": 0.0,
        },
    },
    "reasons": {"consent_denied": 1, "no_match_key": 1, "not_json": 1},
}


def lines_text(lines: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines)


def report_json(*texts: str) -> dict[str, Any]:
    return to_json(build(line for n, text in enumerate(texts) for line in parse(text, source=n)))


def export(lines: list[dict[str, Any]], start: float = 1_764_317_200.0) -> str:
    """What `gcloud logging read --format=json` gives for these lines: entries newest first,
    `severity` moved out of the payload, and the platform's own text lines among them."""
    entries = []
    for n, line in enumerate(lines):
        payload = {key: value for key, value in line.items() if key != "severity"}
        when = datetime.fromtimestamp(start + n * 1.5, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f123Z")
        entries.append(
            {
                "insertId": f"id{n}",
                "jsonPayload": payload,
                "severity": line["severity"],
                "timestamp": when,
                "resource": {"type": "cloud_run_revision", "labels": {"service_name": "forwarder"}},
            }
        )
        entries.append({"insertId": f"text{n}", "textPayload": "Default STARTUP TCP probe succeeded"})
    return json.dumps(entries[::-1], indent=2)


def run_report(*args: str) -> tuple[int, str, str]:
    return run_cli("report", *args)


def test_counts_and_shares_of_a_known_mix_exactly():
    assert report_json(lines_text(MIX)) == MIX_JSON


def test_json_keeps_the_documented_key_order_best_first():
    report = report_json(lines_text(MIX))
    assert list(report) == ["event_names", "reasons"]
    assert list(report["event_names"]) == ["checkout", "page_visit", "(none)"]
    assert list(report["event_names"]["checkout"]) == [
        "events",
        "processed",
        "rejected",
        "skipped",
        "match_keys",
        "own_event_id",
    ]
    assert list(report["event_names"]["checkout"]["match_keys"]) == [
        "em",
        "ph",
        "external_id",
        "click_id",
        "hashed_maids",
        "ip_ua",
    ]


def test_a_redelivered_push_counts_each_event_once_by_its_last_outcome():
    lines = [
        event_line("deferred", "a", reason="http_503"),
        event_line("deferred", "b", reason="http_503", index=1),
        event_line("processed", "a"),
        event_line("processed", "b", index=1, keys=()),
    ]
    checkout = report_json(lines_text(lines))["event_names"]["checkout"]
    assert (checkout["events"], checkout["processed"], checkout["match_keys"]["em"]) == (2, 2, 0.5)
    assert report_json(lines_text(lines))["reasons"] == {}


def test_a_processed_event_stays_processed_when_a_later_attempt_is_deferred():
    lines = [event_line("processed", "a"), event_line("deferred", "a", reason="timeout")]
    assert report_json(lines_text(lines))["event_names"]["checkout"]["processed"] == 1


def test_a_replayed_event_counts_by_its_outcome_after_the_replay():
    rejected = event_line("rejected", "a", reason="pinterest_rejected", message_id="m1")
    replayed = event_line("processed", "a", message_id="m2")
    checkout = report_json(lines_text([rejected, replayed]))["event_names"]["checkout"]
    assert (checkout["events"], checkout["processed"], checkout["rejected"]) == (1, 1, 0)


def test_an_event_only_deferred_so_far_is_pending_not_in_the_three_columns():
    lines = [event_line("processed", "a"), event_line("deferred", "b", reason="http_503", index=1)]
    report = build(parse(lines_text(lines)))
    assert to_json(report)["event_names"]["checkout"] | {"match_keys": None} == {
        "events": 2,
        "processed": 1,
        "rejected": 0,
        "skipped": 0,
        "match_keys": None,
        "own_event_id": 0.0,
    }
    assert "Still pending: 1 events deferred and not yet redelivered (checkout 1)" in format_text(report)


def test_events_without_an_id_are_known_by_message_and_position():
    lines = [
        event_line("deferred", None, reason="timeout"),
        event_line("rejected", None, name=None, ga4=None, reason="not_an_object"),
        event_line("rejected", None, name=None, ga4=None, reason="not_an_object", index=1),
        dead_lettered("m7"),
        dead_lettered("m7"),
    ]
    report = report_json(lines_text(lines))
    assert report["event_names"]["(none)"]["events"] == 3
    assert report["reasons"] == {"not_an_object": 2, "not_json": 1}


@pytest.mark.parametrize(
    ("ga4", "expected"),
    [("purchase", "checkout"), ("page_view", "page_visit"), ("scroll", "custom"), (None, "(none)")],
)
def test_an_unsent_event_without_a_logged_name_counts_under_the_default_tables_name(ga4, expected):
    line = event_line("skipped", "x", name=None, ga4=ga4, reason="consent_denied")
    assert list(report_json(lines_text([line]))["event_names"]) == [expected]


def test_ip_ua_needs_both_the_ip_and_the_user_agent():
    lines = [
        event_line("processed", "a", keys=("client_ip_address",)),
        event_line("processed", "b", keys=("client_user_agent",)),
        event_line("processed", "c", keys=IP_UA),
        event_line("processed", "d", keys=("hashed_maids",)),
    ]
    keys = report_json(lines_text(lines))["event_names"]["checkout"]["match_keys"]
    assert (keys["ip_ua"], keys["hashed_maids"], keys["em"]) == (0.25, 0.25, 0.0)


def test_a_gcloud_logging_export_gives_the_same_report():
    assert report_json(export(MIX)) == MIX_JSON


def test_in_an_export_the_entry_time_decides_which_outcome_is_last():
    # Newest first, as gcloud lists them: the replay's success is read before the rejection.
    lines = [event_line("rejected", "a", reason="pinterest_rejected"), event_line("processed", "a")]
    assert report_json(export(lines))["event_names"]["checkout"]["processed"] == 1
    assert report_json(lines_text(lines[::-1]))["event_names"]["checkout"]["processed"] == 0


def test_foreign_lines_are_ignored():
    foreign = [
        "[2026-01-01 10:00:00 +0000] [7] [INFO] Booting worker with pid: 7",
        "Traceback (most recent call last):",
        json.dumps({"severity": "INFO", "message": "push not acknowledged; Pub/Sub will redeliver"}),
        json.dumps({"message": "event processed", "event_id": "no message id"}),
        json.dumps({"message": {"nested": "event processed"}, "message_id": "m1"}),
        json.dumps([1, 2, 3]),
        "42",
        '{"truncated": ',
    ]
    mixed = "\n".join(foreign) + "\n" + lines_text(MIX) + "\n".join(foreign)
    assert report_json(mixed) == MIX_JSON


def test_several_files_and_stdin_are_read_together(tmp_path):
    first = tmp_path / "first.log"
    first.write_text(lines_text([*MIX[:3], event_line("deferred", "c4", reason="timeout")]))
    result = subprocess.run(
        [sys.executable, "-m", "lib.cli", "report", "--json", str(first), "-"],
        input=lines_text(MIX[3:]),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == MIX_JSON


def test_an_input_without_the_functions_lines_says_so_and_exits_1(tmp_path):
    foreign = tmp_path / "other.log"
    foreign.write_text('{"message": "hello"}\nplain text\n')
    status, out, err = run_report(str(foreign))
    assert (status, out) == (1, "")
    assert err == f"report: {foreign} holds none of the function's log lines\n"


def test_a_foreign_input_among_good_ones_is_named_and_the_rest_reported(tmp_path):
    good, empty = tmp_path / "good.log", tmp_path / "empty.log"
    good.write_text(lines_text(MIX))
    empty.write_text("")
    status, out, err = run_report("--json", str(good), str(empty))
    assert status == 1
    assert json.loads(out) == MIX_JSON
    assert err == f"report: {empty} holds none of the function's log lines\n"


def test_an_unreadable_file_is_named_and_exits_2(tmp_path):
    missing = tmp_path / "missing.log"
    assert run_report(str(missing)) == (2, "", f"report: cannot read {missing}: No such file or directory\n")


def text_report(lines: list[dict[str, Any]], tmp_path: Path) -> str:
    path = tmp_path / "function.log"
    path.write_text(lines_text(lines))
    status, out, err = run_report(str(path))
    assert (status, err) == (0, "")
    return out


def test_the_text_table_is_aligned_and_best_first(tmp_path):
    out = text_report(MIX, tmp_path)
    table = out.split("\n\n")[0].splitlines()
    assert table[0].split() == [
        "event_name",
        "events",
        "processed",
        "rejected",
        "skipped",
        "em",
        "ph",
        "external_id",
        "click_id",
        "hashed_maids",
        "ip_ua",
        "own_event_id",
    ]
    assert [row.split()[0] for row in table[1:]] == ["checkout", "page_visit", "(none)"]
    assert len({len(row) for row in table}) == 1
    header_ends = [table[0].index(word) + len(word) for word in table[0].split()[1:]]
    for row in table[1:]:  # every number ends under the end of its heading
        assert [row[end - 1] != " " for end in header_ends] == [True] * len(header_ends)
    assert table[1].split() == [
        "checkout",
        "4",
        "3",
        "1",
        "0",
        "100%",
        "67%",
        "33%",
        "33%",
        "0%",
        "67%",
        "33%",
    ]
    assert table[3].split()[5:] == ["-"] * 7


def test_the_text_names_reasons_requests_and_the_weakest_event_name(tmp_path):
    out = text_report([*MIX, request_line(None), request_line(200, test_mode=True)], tmp_path)
    reasons = out.split("\n\n")[1].splitlines()
    assert [row.split() for row in reasons] == [
        ["reason", "events"],
        ["consent_denied", "1"],
        ["no_match_key", "1"],
        ["not_json", "1"],
    ]
    assert "Pinterest requests: 3 (200: 2, timeout: 1); 1 in test mode (Pinterest recorded nothing)\n" in out
    assert out.endswith(
        "Weakest: page_visit (2 of 3 processed): no email on 100%, no phone on 100%, "
        "no external_id on 100%, no click_id on 100%, no own event_id on 100%, "
        "1 not sent (consent_denied 1)\n"
    )


def test_the_weakest_line_when_nothing_was_delivered_yet(tmp_path):
    lines = [
        event_line("rejected", "a", reason="no_match_key"),
        event_line("skipped", "b", reason="consent_denied"),
        event_line("deferred", "c", reason="timeout"),
    ]
    assert text_report(lines, tmp_path).endswith(
        "Weakest: checkout (0 of 3 processed): "
        "2 not sent (consent_denied 1, no_match_key 1), 1 still pending\n"
    )


def test_never_prints_what_the_lines_carry_beyond_names_counts_and_reasons(tmp_path):
    out = text_report(MIX, tmp_path)
    _, as_json, _ = run_report("--json", str(tmp_path / "function.log"))
    for text in (out, as_json):
        assert "jane" not in text
        assert "c1" not in text.split()  # event ids are not listed either
        assert "m9" not in text
