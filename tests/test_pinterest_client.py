"""The Pinterest client against the local stand-in on 127.0.0.1: batching, retries, deadline, outcomes."""

from __future__ import annotations

import dataclasses
import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from requests.adapters import HTTPAdapter

from dev.pinterest_standin import (
    Delay,
    Drop,
    EventStatus,
    FailEvents,
    Normal,
    Reject422,
    StandIn,
    Status,
    sample_event,
)
from lib import logs
from lib.config import DeliveryConfig
from lib.delivery.client import MAX_EVENTS_PER_REQUEST, DeadlineRetry, PinterestClient, RetryPolicy
from lib.delivery.outcomes import EventResult, Outcome
from lib.errors import DeploymentFault, Reason

TOKEN = "pina_client-test-token-3c9a1f5e"
ACCOUNT = "549755885175"
FAST = RetryPolicy(retries=3, backoff_factor=0.05, backoff_jitter=0.01, backoff_max=0.2)
PROCESSED = EventResult(Outcome.PROCESSED)


@pytest.fixture(autouse=True)
def _logs_to_stdout():
    logs.configure(enabled=True)


@pytest.fixture
def standin():
    with StandIn(token=TOKEN) as server:
        yield server


def make_config(standin: StandIn, **changes) -> DeliveryConfig:
    config = DeliveryConfig(
        ad_account_id=ACCOUNT,
        access_token=TOKEN,
        api_base_url=standin.base_url,
        connect_timeout=0.5,
        read_timeout=5.0,  # validating 1,000 events takes the stand-in a while on a busy machine
        deadline_seconds=10.0,
    )
    return dataclasses.replace(config, **changes)


@pytest.fixture
def make_client(standin):
    clients: list[PinterestClient] = []

    def make(retry: RetryPolicy = FAST, **changes) -> PinterestClient:
        clients.append(PinterestClient(make_config(standin, **changes), retry=retry))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client):
    return make_client()


def events(count: int, start: int = 0) -> list[dict]:
    return [sample_event(n) for n in range(start, start + count)]


def log_lines(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def event_ids(items: list[dict]) -> list[str]:
    return [item["event_id"] for item in items]


class TestHappyPath:
    def test_sends_exactly_the_events(self, standin, client, capsys):
        sent = events(3)
        assert client.send(sent) == [PROCESSED] * 3
        (record,) = standin.requests
        assert record.path == f"/v5/ad_accounts/{ACCOUNT}/events"
        assert record.query == {}
        assert record.status == 200  # the stand-in checked the bearer token
        assert record.body == {"data": sent}
        (line,) = log_lines(capsys)
        assert line == {
            "severity": "INFO",
            "message": "pinterest request",
            "status": 200,
            "count": 3,
            "counts": {"processed": 3, "rejected": 0, "deferred": 0},
            "duration_ms": line["duration_ms"],
            "test_mode": False,
        }

    def test_test_mode_adds_the_query_and_warns(self, standin, make_client, capsys):
        client = make_client(test_mode=True)
        client.send(events(2))
        client.send(events(1))
        assert [record.query for record in standin.requests] == [{"test": "true"}] * 2
        warnings = [line for line in log_lines(capsys) if line["severity"] == "WARNING"]
        assert warnings == [
            {
                "severity": "WARNING",
                "message": "pinterest test mode: events are not recorded",
                "test_mode": True,
                "count": n,
            }
            for n in (2, 1)
        ]

    def test_no_events_no_request(self, standin, client):
        assert client.send([]) == []
        assert standin.requests == []

    def test_2500_events_go_in_three_requests(self, standin, client):
        sent = events(2500)
        assert client.send(sent) == [PROCESSED] * 2500
        assert [len(record.body["data"]) for record in standin.requests] == [1000, 1000, 500]
        assert event_ids(standin.events()) == event_ids(sent)
        assert MAX_EVENTS_PER_REQUEST == 1000


class TestRetries:
    def test_429_waits_for_retry_after(self, standin, client):
        standin.inject(Status(429, retry_after=1))
        assert client.send(events(1)) == [PROCESSED]
        first, second = standin.requests
        assert (first.status, second.status) == (429, 200)
        assert second.arrived - first.arrived >= 1.0

    def test_500_twice_then_success(self, standin, client):
        standin.inject(Status(500), Status(500))
        assert client.send(events(2)) == [PROCESSED] * 2
        assert [record.status for record in standin.requests] == [500, 500, 200]

    def test_slow_answer_beyond_the_read_timeout_is_retried(self, standin, make_client):
        client = make_client(read_timeout=0.5)
        standin.inject(Delay(1.5))
        started = time.monotonic()
        assert client.send(events(2)) == [PROCESSED] * 2
        assert time.monotonic() - started < 1.5
        assert len(standin.requests) == 2
        assert set(event_ids(standin.events())) == {"evt-0", "evt-1"}  # Pinterest deduplicates the rest

    def test_dropped_connection_is_retried(self, standin, client):
        standin.inject(Drop())
        assert client.send(events(1)) == [PROCESSED]
        assert [record.status for record in standin.requests] == [None, 200]

    def test_persistent_503_runs_out_of_retries(self, standin, client):
        standin.random_faults(1.0, [Status(503)])
        assert client.send(events(2)) == [EventResult(Outcome.DEFERRED, "http_503")] * 2
        assert len(standin.requests) == 1 + FAST.retries

    def test_persistent_503_stops_at_the_deadline(self, standin, make_client):
        many = RetryPolicy(retries=1000, backoff_factor=0.05, backoff_jitter=0.01, backoff_max=0.1)
        client = make_client(retry=many, deadline_seconds=1.0)
        standin.random_faults(1.0, [Status(503)])
        started = time.monotonic()
        assert client.send(events(1)) == [EventResult(Outcome.DEFERRED, "http_503")]
        assert time.monotonic() - started < 1.2
        assert 3 < len(standin.requests) < 100

    def test_retry_after_beyond_the_deadline_gives_up_at_once(self, standin, client):
        standin.inject(Status(429, retry_after=30))
        started = time.monotonic()
        assert client.send(events(1)) == [EventResult(Outcome.DEFERRED, "http_429")]
        assert time.monotonic() - started < 1.0
        assert len(standin.requests) == 1

    def test_persistent_timeout_is_deferred(self, standin, make_client):
        client = make_client(
            retry=RetryPolicy(retries=1, backoff_factor=0.0, backoff_jitter=0.0), read_timeout=0.3
        )
        standin.random_faults(1.0, [Delay(2.0)])
        assert client.send(events(1)) == [EventResult(Outcome.DEFERRED, "timeout")]
        assert len(standin.requests) == 2

    def test_nothing_listening_is_deferred(self, standin, make_client):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        client = make_client(api_base_url=f"http://127.0.0.1:{port}/v5")
        assert client.send(events(1)) == [EventResult(Outcome.DEFERRED, "connection_error")]

    def test_chunks_after_the_deadline_are_not_sent(self, standin, make_client):
        client = make_client(deadline_seconds=1.0, read_timeout=3.0)
        standin.inject(Delay(1.2))
        results = client.send(events(1500))
        assert results == [PROCESSED] * 1000 + [EventResult(Outcome.DEFERRED, "deadline")] * 500
        assert len(standin.requests) == 1

    def test_failing_middle_chunk_defers_only_its_events(self, standin, client):
        sent = events(2100)
        standin.inject(Normal(), *[Status(503)] * (1 + FAST.retries))
        results = client.send(sent)
        assert (
            results
            == [PROCESSED] * 1000 + [EventResult(Outcome.DEFERRED, "http_503")] * 1000 + [PROCESSED] * 100
        )
        assert [record.status for record in standin.requests] == [200, 503, 503, 503, 503, 200]
        assert event_ids(standin.events()) == event_ids(sent[:1000] + sent[2000:])

    def test_concurrent_sends_share_one_client(self, standin, make_client):
        client = make_client(retry=RetryPolicy(retries=12, backoff_factor=0.01, backoff_jitter=0.01))
        standin.random_faults(0.3, [Status(503), Status(500), Drop()], seed=5)
        with ThreadPoolExecutor(max_workers=6) as pool:
            results = list(pool.map(lambda n: client.send(events(10, start=10 * n)), range(12)))
        assert results == [[PROCESSED] * 10] * 12
        assert sorted(set(event_ids(standin.events()))) == sorted(event_ids(events(120)))

    def test_deadline_survives_new_and_increment(self):
        deadline = time.monotonic() + 100
        retry = DeadlineRetry(total=3, deadline=deadline)
        assert retry.new(total=1).deadline == deadline
        assert retry.increment("POST", "/x").deadline == deadline


class TestOutcomes:
    def test_failed_event_is_rejected_with_a_scrubbed_message(self, standin, client):
        message = "Invalid em for jane@example.com: " + "ab" * 32
        standin.inject(FailEvents((1,), message=message))
        results = client.send(events(3))
        assert [result.outcome for result in results] == [
            Outcome.PROCESSED,
            Outcome.REJECTED,
            Outcome.PROCESSED,
        ]
        assert results[1].detail == "Invalid em for [redacted] [redacted]"

    def test_422_reads_details(self, standin, client):
        standin.inject(Reject422((0, 2), message="Given timestamp is in the past."))
        results = client.send(events(3))
        rejected = EventResult(Outcome.REJECTED, Reason.PINTEREST_REJECTED, "Given timestamp is in the past.")
        assert results == [rejected, PROCESSED, rejected]
        assert len(standin.requests) == 1

    def test_a_400_is_split_until_the_invalid_event_is_alone(self, standin, client):
        invalid = {k: v for k, v in sample_event().items() if k != "event_id"}
        results = client.send([invalid, sample_event(1)])
        assert [result.outcome for result in results] == [Outcome.REJECTED, Outcome.PROCESSED]
        assert results[0].reason == Reason.PINTEREST_REJECTED
        assert results[0].detail.startswith("request refused: Invalid request body")
        assert [len(record.body["data"]) for record in standin.requests] == [2, 1, 1]
        assert event_ids(standin.events()) == ["evt-1"]

    def test_a_marked_event_costs_only_itself(self, standin, client):
        standin.refuse_events_with("evt-13")
        results = client.send(events(40))
        assert [i for i, result in enumerate(results) if result.outcome is not Outcome.PROCESSED] == [13]
        assert results[13].detail == "request refused: Invalid event: evt-13"
        assert len(standin.events()) == 39
        assert len(standin.requests) == 1 + 2 * 6  # 40 -> 20 -> 10 -> 5 -> 2 or 3 -> 1 or 2 -> 1

    def test_a_request_too_large_is_split_too(self, standin, client):
        standin.inject(Status(413))
        assert client.send(events(4)) == [PROCESSED] * 4
        assert [len(record.body["data"]) for record in standin.requests] == [4, 2, 2]

    def test_requests_stay_within_batch_max_events(self, standin, make_client):
        client = make_client(batch_max_events=300)
        assert client.send(events(700)) == [PROCESSED] * 700
        assert [len(record.body["data"]) for record in standin.requests] == [300, 300, 100]

    def test_warnings_are_kept_scrubbed(self, standin, client):
        standin.inject(EventStatus((1,), "processed", warning="em jane@example.com looks hashed twice"))
        results = client.send(events(2))
        assert results == [
            PROCESSED,
            EventResult(Outcome.PROCESSED, warning="em [redacted] looks hashed twice"),
        ]

    def test_an_unknown_event_status_is_decided_once(self, standin, client, capsys):
        standin.inject(EventStatus((0,), "queued_for_review"))
        results = client.send(events(2))
        assert results[1] == PROCESSED
        assert (results[0].outcome, results[0].reason) == (Outcome.REJECTED, Reason.PINTEREST_UNKNOWN_STATUS)
        assert "'queued_for_review'" in results[0].detail
        lines = log_lines(capsys)
        assert any("queued_for_review" in (line.get("detail") or "") for line in lines)
        assert len(standin.requests) == 1

    @pytest.mark.parametrize(
        ("status", "says"),
        [
            (401, "PINTEREST_ACCESS_TOKEN"),
            (403, "scopes"),
            (404, "PINTEREST_AD_ACCOUNT_ID is wrong"),
        ],
    )
    def test_deployment_faults_raise_without_the_token(self, standin, client, capsys, status, says):
        standin.inject(Status(status))
        with pytest.raises(DeploymentFault) as caught:
            client.send(events(1))
        self._assert_deployment_fault(caught.value, status, says, TOKEN, capsys)
        assert len(standin.requests) == 1

    def test_wrong_token_raises_without_the_token(self, standin, make_client, capsys):
        wrong = "pina_wrong-token-0000aaaa"
        with pytest.raises(DeploymentFault) as caught:
            make_client(access_token=wrong).send(events(1))
        self._assert_deployment_fault(caught.value, 401, "PINTEREST_ACCESS_TOKEN", wrong, capsys)

    def test_another_ad_account_is_a_404(self, make_client):
        with StandIn(token=TOKEN, ad_account="1111") as other, pytest.raises(DeploymentFault, match="404"):
            make_client(api_base_url=other.base_url).send(events(1))

    @staticmethod
    def _assert_deployment_fault(error: DeploymentFault, status: int, says: str, token: str, capsys) -> None:
        text = f"{error} {error!r}"
        assert f"Pinterest answered {status}" in text
        assert says in text
        assert error.__cause__ is None
        assert error.__context__ is None
        output = capsys.readouterr()
        assert token not in text + output.out + output.err
        (line,) = [json.loads(line) for line in output.out.splitlines()]
        assert (line["severity"], line["status"]) == ("ERROR", status)
        assert says in line["message"]


class _Canned(HTTPAdapter):
    """Answers every request with one status and body, without any network (the transport seam)."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__()
        self.status, self.body = status, body

    def send(self, request, **kwargs) -> requests.Response:
        response = requests.Response()
        response.status_code, response._content, response.request = self.status, self.body, request
        return response


def _summary(received: int, processed: int, statuses: list[str] | None) -> dict:
    body = {"num_events_received": received, "num_events_processed": processed}
    return body if statuses is None else {**body, "events": [{"status": s} for s in statuses]}


UNCLEAR = EventResult(Outcome.DEFERRED, "unclear_response")
ODD = EventResult(
    Outcome.REJECTED, Reason.PINTEREST_UNKNOWN_STATUS, "Pinterest answered the event with status 'odd'"
)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, _summary(2, 2, None), [PROCESSED] * 2),
        (200, _summary(2, 2, ["processed"]), [PROCESSED] * 2),
        (200, _summary(2, 1, None), [UNCLEAR] * 2),
        (200, _summary(3, 3, None), [UNCLEAR] * 2),
        (200, _summary(2, 1, ["processed", "odd"]), [PROCESSED, ODD]),
        (200, b"not json", [UNCLEAR] * 2),
        (422, {"code": 953, "message": "x"}, [UNCLEAR] * 2),
        (422, {"code": 953, "message": "x", "details": _summary(2, 2, None)}, [PROCESSED] * 2),
        (504, {"code": 3, "message": "x"}, [EventResult(Outcome.DEFERRED, "http_504")] * 2),
        (302, b"", [EventResult(Outcome.DEFERRED, "http_302")] * 2),
    ],
    ids=[
        "counts-only",
        "short-events",
        "counts-disagree",
        "counts-not-ours",
        "unknown-status",
        "not-json",
        "422-no-details",
        "422-counts",
        "504",
        "redirect",
    ],
)
def test_reading_unusual_answers(status, body, expected):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    config = DeliveryConfig(ad_account_id=ACCOUNT, access_token=TOKEN, api_base_url="http://127.0.0.1:9/v5")
    session = requests.Session()
    session.mount(f"{config.api_base_url}/ad_accounts/", _Canned(status, raw))
    client = PinterestClient(config, session)
    assert client.send(events(2)) == expected
    client.close()
    session.close()


class _RefuseMarked(HTTPAdapter):
    """Pinterest without a network: 400 for a request holding a marked event, else all processed."""

    def __init__(self, marked: set[str]) -> None:
        super().__init__()
        self.marked, self.sizes = marked, []

    def send(self, request, **kwargs) -> requests.Response:
        data = json.loads(request.body)["data"]
        self.sizes.append(len(data))
        refused = any(event["event_id"] in self.marked for event in data)
        body = (
            {"code": 1, "message": "Invalid event"}
            if refused
            else {"events": [{"status": "processed"} for _ in data]}
        )
        response = requests.Response()
        response.status_code, response.request = (400 if refused else 200), request
        response._content = json.dumps(body).encode()
        return response


@pytest.mark.parametrize(
    ("marked", "requests_needed"),
    [
        # 1 request, then 2 per halving of a refused request: 1000 -> 500 -> 250 -> 125 -> 62 -> 31
        # -> 15 -> 7 -> 3 -> 1 is 9 halvings for the first event; the last one's path (63 -> 32 ...) 10.
        ({"evt-0"}, 19),
        ({"evt-999"}, 21),
        ({"evt-17", "evt-500", "evt-998"}, 53),  # three paths that share only the first request
        ({"evt-100", "evt-101"}, 27),  # neighbours share their path down to a request of 3
    ],
    ids=["first", "last", "three-apart", "two-neighbours"],
)
def test_isolating_refused_events_among_1000(marked, requests_needed):
    config = DeliveryConfig(ad_account_id=ACCOUNT, access_token=TOKEN, api_base_url="http://127.0.0.1:9/v5")
    session = requests.Session()
    adapter = _RefuseMarked(marked)
    session.mount(f"{config.api_base_url}/ad_accounts/", adapter)
    client = PinterestClient(config, session)
    results = client.send(events(1000))
    refused = {f"evt-{i}" for i, result in enumerate(results) if result.outcome is Outcome.REJECTED}
    assert refused == marked
    assert all(
        result.outcome is Outcome.PROCESSED for result in results if result.outcome is not Outcome.REJECTED
    )
    assert len(adapter.sizes) == requests_needed
    client.close()
    session.close()
