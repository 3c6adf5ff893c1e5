"""The local Pinterest stand-in: auth, schema checks both ways, faults, recording and control API."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from jsonschema import Draft202012Validator

from dev.pinterest_standin import (
    RESPONSE_SCHEMA,
    Delay,
    Drop,
    FailEvents,
    Normal,
    Reject422,
    StandIn,
    Status,
    fault_from_spec,
    fault_to_spec,
    load_schema,
    sample_event,
)

TOKEN = "standin-test-token-7d1e0b"
ROOT = Path(__file__).resolve().parents[1]
_RESPONSE = load_schema(RESPONSE_SCHEMA)


def conforms(body: object, definition: str = "ConversionApiResponse") -> bool:
    """Whether `body` validates against one definition of Pinterest's response schema."""
    return Draft202012Validator({**_RESPONSE, "$ref": f"#/$defs/{definition}"}).is_valid(body)


@pytest.fixture
def standin():
    with StandIn(token=TOKEN) as server:
        yield server


def post(standin: StandIn, body: object, *, token: str = TOKEN, suffix: str = "") -> requests.Response:
    url = f"{standin.base_url}/ad_accounts/549755885175/events{suffix}"
    return requests.post(url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=5)


def control(standin: StandIn, method: str, name: str, body: object = None) -> requests.Response:
    url = f"{standin.base_url.removesuffix('/v5')}/_standin/{name}"
    return requests.request(method, url, json=body, timeout=5)


def events(count: int) -> list[dict]:
    return [sample_event(n) for n in range(count)]


class TestHappyPath:
    def test_valid_request_is_processed_and_recorded(self, standin):
        sent = events(3)
        before = time.time()
        response = post(standin, {"data": sent})
        assert response.status_code == 200
        assert response.json() == {
            "num_events_received": 3,
            "num_events_processed": 3,
            "events": [{"status": "processed", "error_message": None, "warning_message": None}] * 3,
        }
        assert conforms(response.json())
        (record,) = standin.requests
        assert before <= record.arrived <= time.time()
        assert record.path == "/v5/ad_accounts/549755885175/events"
        assert (record.valid, record.errors, record.status, record.fault) == (True, (), 200, None)
        assert record.body == {"data": sent}
        assert standin.events() == sent

    @pytest.mark.parametrize("prefix", ["", "/v5", "/some/deeper/base"])
    def test_any_base_path_prefix(self, standin, prefix):
        url = f"{standin.base_url.removesuffix('/v5')}{prefix}/ad_accounts/1/events"
        response = requests.post(url, json={"data": events(1)}, headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200

    def test_query_params_are_recorded(self, standin):
        post(standin, {"data": events(1)}, suffix="?test=true")
        assert standin.requests[0].query == {"test": "true"}

    @pytest.mark.parametrize(("method", "path"), [("GET", "/v5/ad_accounts/1/events"), ("POST", "/v5/other")])
    def test_unknown_endpoint_is_404_and_not_recorded(self, standin, method, path):
        url = standin.base_url.removesuffix("/v5") + path
        response = requests.request(method, url, json={}, headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 404
        assert conforms(response.json(), "Error")
        assert standin.requests == []

    def test_concurrent_requests_are_all_recorded(self, standin):
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(
                pool.map(lambda n: post(standin, {"data": [sample_event(n)]}).status_code, range(24))
            )
        assert statuses == [200] * 24
        assert sorted(record.seq for record in standin.requests) == list(range(24))
        assert sorted(event["event_id"] for event in standin.events()) == sorted(
            f"evt-{n}" for n in range(24)
        )


class TestAuth:
    @pytest.mark.parametrize(
        "authorization",
        [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer é"],
        ids=["missing", "wrong", "not-bearer", "longer", "non-ascii"],
    )
    def test_bad_credentials_get_401(self, standin, authorization):
        headers = {} if authorization is None else {"Authorization": authorization.encode()}
        url = f"{standin.base_url}/ad_accounts/1/events"
        response = requests.post(url, json={"data": events(1)}, headers=headers, timeout=5)
        assert response.status_code == 401
        assert response.json() == {"code": 2, "message": "Authentication failed."}
        assert conforms(response.json(), "Error")
        assert standin.requests[0].status == 401
        assert standin.events() == []

    def test_the_token_is_never_recorded(self, standin):
        post(standin, {"data": events(1)})
        post(standin, {"data": events(1)}, token="wrong-" + TOKEN)
        listing = control(standin, "GET", "requests").text
        assert TOKEN not in listing
        assert TOKEN not in json.dumps([repr(record) for record in standin.requests])


class TestSchemaValidation:
    @pytest.mark.parametrize(
        ("body", "fragment"),
        [
            ({"data": [{**sample_event(), "event_id": None}]}, "None is not of type 'string'"),
            (
                {"data": [{k: v for k, v in sample_event().items() if k != "event_id"}]},
                "'event_id' is a required",
            ),
            ({"data": [sample_event(custom_data={"line_items": []})]}, "Additional properties"),
            ({"data": [sample_event(user_data={"ph": ["a" * 64]})]}, "is not valid under any"),
            ({"data": [sample_event(custom_data={"value": 9.5})]}, "9.5 is not of type 'string'"),
            ({"data": [sample_event(event_time="1700000000")]}, "is not of type 'integer'"),
            ({"data": []}, "should be non-empty"),
            ({"data": events(1001)}, "is too long"),
            ({"data": events(1), "extra": 1}, "Additional properties"),
        ],
        ids=[
            "null-id",
            "no-id",
            "line-items",
            "ph-only",
            "numeric-value",
            "string-time",
            "empty",
            "1001",
            "extra",
        ],
    )
    def test_invalid_body_gets_400_and_is_recorded_invalid(self, standin, body, fragment):
        response = post(standin, body)
        assert response.status_code == 400
        assert response.json()["code"] == 1
        assert conforms(response.json(), "Error")
        (record,) = standin.requests
        assert not record.valid
        assert any(fragment in error for error in record.errors), record.errors
        assert record.body == body
        assert standin.events() == []

    def test_body_that_is_not_json(self, standin):
        url = f"{standin.base_url}/ad_accounts/1/events"
        response = requests.post(url, data=b"{nope", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
        assert response.status_code == 400
        (record,) = standin.requests
        assert (record.valid, record.errors, record.body) == (False, ("the body is not JSON",), None)


class TestFaults:
    @pytest.mark.parametrize(
        ("fault", "code"),
        [(Status(500), 3), (Status(502), 3), (Status(503), 4197), (Status(401), 2), (Status(403), 29)],
        ids=["500", "502", "503", "401", "403"],
    )
    def test_status(self, standin, fault, code):
        standin.inject(fault)
        response = post(standin, {"data": events(1)})
        assert (response.status_code, response.json()["code"]) == (fault.code, code)
        assert conforms(response.json(), "Error")
        assert "Retry-After" not in response.headers
        assert (standin.requests[0].status, standin.requests[0].fault) == (fault.code, "status")
        assert standin.events() == []

    def test_429_carries_retry_after(self, standin):
        standin.inject(Status(429, retry_after=2))
        response = post(standin, {"data": events(1)})
        assert (response.status_code, response.headers["Retry-After"]) == (429, "2")
        assert response.json()["code"] == 8

    def test_delay_answers_normally_afterwards(self, standin):
        standin.inject(Delay(0.3))
        started = time.monotonic()
        response = post(standin, {"data": events(1)})
        assert time.monotonic() - started >= 0.3
        assert response.status_code == 200

    def test_drop_closes_without_an_answer(self, standin):
        standin.inject(Drop())
        with pytest.raises(requests.ConnectionError):
            post(standin, {"data": events(1)})
        assert (standin.requests[0].status, standin.requests[0].fault) == (None, "drop")
        assert post(standin, {"data": events(1)}).status_code == 200

    def test_fail_events_marks_the_given_indexes(self, standin):
        sent = events(3)
        standin.inject(FailEvents((1,), message="bad event_time"))
        body = post(standin, {"data": sent}).json()
        assert conforms(body)
        assert (body["num_events_received"], body["num_events_processed"]) == (3, 2)
        assert [e["status"] for e in body["events"]] == ["processed", "failed", "processed"]
        assert body["events"][1]["error_message"] == "bad event_time"
        assert standin.events() == [sent[0], sent[2]]

    def test_reject_422_carries_details(self, standin):
        sent = events(3)
        standin.inject(Reject422((0, 2)))
        response = post(standin, {"data": sent})
        assert response.status_code == 422
        body = response.json()
        assert conforms(body, "DetailedError")
        assert conforms(body["details"])
        assert body["code"] == 953
        assert [e["status"] for e in body["details"]["events"]] == ["failed", "processed", "failed"]
        assert body["details"]["num_events_processed"] == 1
        assert standin.events() == [sent[1]]

    @pytest.mark.parametrize("fault", [FailEvents((0,)), Reject422((0,))], ids=["fail_events", "reject_422"])
    def test_per_event_faults_leave_bad_requests_alone(self, standin, fault):
        standin.inject(fault)
        assert post(standin, {"data": events(1)}, token="wrong").status_code == 401

    def test_queue_is_fifo_and_one_shot(self, standin):
        standin.inject(Status(500), Normal(), Status(503))
        statuses = [post(standin, {"data": events(1)}).status_code for _ in range(4)]
        assert statuses == [500, 200, 503, 200]
        assert [record.fault for record in standin.requests] == ["status", "normal", "status", None]

    def test_latency_is_added_to_every_answer(self):
        with StandIn(token=TOKEN, latency=0.2) as standin:
            started = time.monotonic()
            post(standin, {"data": events(1)})
            assert time.monotonic() - started >= 0.2

    def test_random_faults_are_seeded(self, standin):
        def run() -> list[int]:
            standin.reset()
            standin.random_faults(0.5, [Status(500), Status(503)], seed=11)
            return [post(standin, {"data": events(1)}).status_code for _ in range(30)]

        first, second = run(), run()
        assert first == second
        assert {500, 503, 200} == set(first)

    @pytest.mark.parametrize(("rate", "expected"), [(0.0, 200), (1.0, 502)])
    def test_random_fault_rate_bounds(self, standin, rate, expected):
        standin.random_faults(rate, [Status(502)], seed=1)
        assert {post(standin, {"data": events(1)}).status_code for _ in range(10)} == {expected}

    def test_queued_faults_come_before_random_ones(self, standin):
        standin.random_faults(1.0, [Status(502)])
        standin.inject(Normal())
        assert [post(standin, {"data": events(1)}).status_code for _ in range(2)] == [200, 502]

    def test_reset_forgets_everything(self, standin):
        standin.inject(Status(500))
        standin.random_faults(1.0, [Status(502)])
        post(standin, {"data": events(1)})
        standin.reset()
        assert standin.requests == []
        assert post(standin, {"data": events(1)}).status_code == 200

    @pytest.mark.parametrize(
        "fault",
        [Normal(), Status(429, 3), Delay(0.5), Drop(), FailEvents((1, 2), "x"), Reject422((0,), "y")],
        ids=lambda fault: fault.kind,
    )
    def test_spec_round_trip(self, fault):
        assert fault_from_spec(json.loads(json.dumps(fault_to_spec(fault)))) == fault

    def test_spec_shorthand_uses_defaults(self):
        assert fault_from_spec("drop") == Drop()
        assert fault_from_spec({"kind": "status"}) == Status(503)


class TestControlApi:
    def test_faults_are_queued_over_http(self, standin):
        specs = [{"kind": "status", "code": 429, "retry_after": 1}, {"kind": "fail_events", "indexes": [0]}]
        assert control(standin, "POST", "faults", specs).json() == {"queued": 2}
        assert post(standin, {"data": events(1)}).status_code == 429
        assert post(standin, {"data": events(1)}).json()["events"][0]["status"] == "failed"

    def test_random_faults_over_http(self, standin):
        response = control(standin, "POST", "random_faults", {"rate": 1.0, "kinds": ["drop"], "seed": 3})
        assert response.status_code == 200
        with pytest.raises(requests.ConnectionError):
            post(standin, {"data": events(1)})

    def test_requests_and_events_listings(self, standin):
        sent = events(2)
        post(standin, {"data": sent}, suffix="?test=true")
        (record,) = control(standin, "GET", "requests").json()
        assert (record["query"], record["valid"], record["status"], record["body"]) == (
            {"test": "true"},
            True,
            200,
            {"data": sent},
        )
        assert control(standin, "GET", "events").json() == sent

    def test_reset_over_http(self, standin):
        post(standin, {"data": events(1)})
        assert control(standin, "POST", "reset").status_code == 200
        assert control(standin, "GET", "requests").json() == []

    @pytest.mark.parametrize(
        ("name", "body"),
        [("faults", [{"kind": "nope"}]), ("faults", [{"kind": "status", "bogus": 1}]), ("random_faults", {})],
        ids=["unknown-kind", "unknown-field", "missing-rate"],
    )
    def test_bad_control_requests_get_400(self, standin, name, body):
        response = control(standin, "POST", name, body)
        assert response.status_code == 400
        assert conforms(response.json(), "Error")

    def test_control_requests_are_not_recorded(self, standin):
        control(standin, "GET", "requests")
        assert standin.requests == []


def test_cli_serves_until_sigterm():
    process = subprocess.Popen(
        [sys.executable, "-m", "dev.pinterest_standin", "--port", "0", "--token", TOKEN, "--latency-ms", "1"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        line = process.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:")
        assert line.endswith("/v5")
        base_url = line.removeprefix("listening on ")
        url = f"{base_url}/ad_accounts/1/events"
        headers = {"Authorization": f"Bearer {TOKEN}"}
        assert requests.post(url, json={"data": events(1)}, headers=headers, timeout=5).status_code == 200
        assert len(requests.get(base_url.removesuffix("/v5") + "/_standin/events", timeout=5).json()) == 1
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.wait(timeout=10)
        process.stdout.close()
