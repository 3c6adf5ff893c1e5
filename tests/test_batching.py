"""Micro-batching under concurrency: every event once, per-push ack rules, bounded waiting."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest

from dev.pinterest_standin import FailEvents, StandIn
from lib.config import DeliveryConfig
from lib.delivery.batching import Batcher, Push
from lib.delivery.client import PinterestClient, RetryPolicy
from lib.delivery.deadletter import DeadLetter
from lib.delivery.forwarder import Forwarder
from lib.delivery.outcomes import EventResult, Outcome
from lib.errors import TransientError
from lib.mapping import MappingConfig
from tests.fakes import FakePublisher, message, sender

NOW = time.time()


def event(n: int) -> dict[str, Any]:
    return {"event_id": f"e{n}"}


def concurrently(count: int, work: Callable[[int], Any], threads: int | None = None) -> list[Any]:
    """Run work(0..count-1) on `threads` threads (default: all at once); returns results or errors."""
    start = threading.Barrier(min(count, threads or count))

    def run(n: int) -> Any:
        if threads is None or n < threads:
            start.wait()
        try:
            return work(n)
        except Exception as error:  # collected: the test asserts on them
            return error

    with ThreadPoolExecutor(max_workers=threads or count) as pool:
        return list(pool.map(run, range(count)))


class ArrivingBatcher(Batcher):
    """The real batcher, with the few milliseconds a real push spends being read before it delivers.

    Threads started together in one process otherwise run one after another (the GIL): each push
    would deliver before the next one arrives, and nothing could ever share a batch.
    """

    @contextmanager
    def push(self) -> Iterator[Push]:
        with super().push() as pushing:
            time.sleep(0.005)
            yield pushing


class TestBatcher:
    def test_concurrent_pushes_share_requests_and_every_event_goes_once(self):
        fast, requests = sender(lambda e: EventResult(Outcome.PROCESSED, detail=e["event_id"]))

        def send(events: Any) -> list[EventResult]:
            time.sleep(0.02)  # Pinterest's latency: meanwhile other pushes arrive
            return fast(events)

        batcher = ArrivingBatcher(send, window=0.2, max_events=1000)

        def push(n: int) -> list[EventResult]:
            with batcher.push() as pushing:
                return pushing.deliver([event(n)])

        results = concurrently(200, push)
        assert [r[0].detail for r in results] == [f"e{n}" for n in range(200)]  # each push gets its own
        sent = Counter(e["event_id"] for request in requests for e in request)
        assert set(sent) == {f"e{n}" for n in range(200)}
        assert max(sent.values()) == 1
        assert len(requests) < 20

    def test_without_concurrency_nothing_waits(self):
        send, requests = sender()
        batcher = Batcher(send, window=5.0, max_events=1000)
        started = time.monotonic()
        with batcher.push() as pushing:
            pushing.deliver([event(1)])
        assert time.monotonic() - started < 1.0
        assert len(requests) == 1

    def test_the_window_bounds_the_wait_for_a_push_that_never_joins(self):
        send, _ = sender()
        batcher = Batcher(send, window=0.3, max_events=1000)
        release = threading.Event()

        def slow_push() -> None:
            with batcher.push():
                release.wait(5)

        other = threading.Thread(target=slow_push)
        other.start()
        time.sleep(0.05)
        started = time.monotonic()
        with batcher.push() as pushing:
            pushing.deliver([event(1)])
        waited = time.monotonic() - started
        release.set()
        other.join()
        assert 0.25 <= waited < 2.0

    def test_batches_never_exceed_the_maximum(self):
        send, requests = sender()
        batcher = ArrivingBatcher(send, window=0.2, max_events=1000)

        def push(n: int) -> None:
            with batcher.push() as pushing:
                pushing.deliver([event(n * 1000 + i) for i in range(400)])

        concurrently(6, push)
        assert sum(len(r) for r in requests) == 2400
        assert max(len(r) for r in requests) <= 1000
        assert max(len(r) for r in requests) == 800  # pushes did share: two of 400 fit, a third does not

    def test_a_push_waiting_on_another_batch_does_not_hold_a_new_one_back(self):
        release = threading.Event()
        requests: list[list[str]] = []

        def send(events: Any) -> list[EventResult]:
            requests.append([e["event_id"] for e in events])
            if events[0]["event_id"] == "e1":
                release.wait(5)  # the first batch is still with Pinterest
            return [EventResult(Outcome.PROCESSED)] * len(events)

        batcher = Batcher(send, window=3.0, max_events=1000)

        def first_push() -> None:
            with batcher.push() as pushing:
                pushing.deliver([event(1)])

        first = threading.Thread(target=first_push)
        first.start()
        while not requests:
            time.sleep(0.01)
        started = time.monotonic()
        with batcher.push() as pushing:
            pushing.deliver([event(2)])  # the only other push in flight waits on the first batch
        waited = time.monotonic() - started
        release.set()
        first.join()
        assert waited < 1.0
        assert requests == [["e1"], ["e2"]]

    def test_a_leader_waits_for_a_push_still_on_its_way_then_goes_when_it_has_nothing(self):
        send, requests = sender()
        batcher = Batcher(send, window=3.0, max_events=1000)
        mapped = threading.Event()

        def empty_push() -> None:
            with batcher.push() as pushing:
                mapped.wait(5)
                pushing.deliver([])  # everything it had was rejected or skipped

        other = threading.Thread(target=empty_push)
        other.start()
        time.sleep(0.05)
        started = time.monotonic()
        threading.Timer(0.3, mapped.set).start()
        with batcher.push() as pushing:
            pushing.deliver([event(1)])
        other.join()
        assert 0.25 < time.monotonic() - started < 2.0
        assert len(requests) == 1

    def test_with_no_window_every_push_sends_alone(self):
        send, requests = sender()

        class SlowToLead(Batcher):
            """A leader held up between taking its batch and sending it, as a busy instance does."""

            def _lead(self, batch: Any) -> None:
                time.sleep(0.05)
                super()._lead(batch)

        batcher = SlowToLead(send, window=0, max_events=1000)

        def push(n: int) -> None:
            with batcher.push() as pushing:
                pushing.deliver([event(n)])

        concurrently(5, push)
        assert sorted(len(request) for request in requests) == [1] * 5

    def test_a_push_delivers_once(self):
        batcher = Batcher(sender()[0], window=0, max_events=1000)
        with batcher.push() as pushing:
            pushing.deliver([event(1)])
            with pytest.raises(RuntimeError):
                pushing.deliver([event(2)])

    def test_a_failed_send_reaches_every_push_of_its_batch(self):
        def send(events: Any) -> list[EventResult]:
            raise TransientError("boom")

        batcher = Batcher(send, window=0.2, max_events=1000)

        def push(n: int) -> Any:
            with batcher.push() as pushing:
                return pushing.deliver([event(n)])

        assert all(isinstance(r, TransientError) for r in concurrently(10, push))


def forwarder(send: Any, publisher: FakePublisher, window: float = 0.05) -> Forwarder:
    return Forwarder(
        MappingConfig(), ArrivingBatcher(send, window=window, max_events=1000), DeadLetter("p", publisher)
    )


def good(order: object) -> dict[str, Any]:
    """A purchase that maps and has a match key; `order` tells pushes (and their ids) apart."""
    return {
        "event_name": "purchase",
        "ip_override": "203.0.113.9",
        "user_agent": "UA/1",
        "transaction_id": str(order),
    }


class TestAckRulesPerPush:
    def test_only_pushes_with_deferred_events_are_not_acknowledged(self):
        # One request can carry events Pinterest processed and events left for later (a split
        # batch, or a chunk that failed): only the pushes owning the latter are redelivered.
        send, requests = sender(
            lambda e: EventResult(
                Outcome.DEFERRED if e["custom_data"]["order_id"].startswith("late") else Outcome.PROCESSED
            )
        )
        publisher = FakePublisher()
        shared = forwarder(send, publisher, window=0.3)

        def push(n: int) -> Any:
            order = f"late{n}" if n % 4 == 0 else f"ok{n}"
            return shared.process(message([good(order)], message_id=f"m{n}"), now=NOW)

        results = concurrently(40, push)
        unacked = [n for n, r in enumerate(results) if isinstance(r, TransientError)]
        assert unacked == [n for n in range(40) if n % 4 == 0]
        assert len(requests) < 40

    def test_one_failed_event_in_a_shared_request_parks_only_that_event(self):
        with StandIn(token="t") as standin:
            standin.inject(FailEvents(indexes=(0,), message="Invalid"))
            config = DeliveryConfig(
                ad_account_id="549000000000", access_token="t", api_base_url=standin.base_url
            )
            client = PinterestClient(config, retry=RetryPolicy(retries=0))
            publisher = FakePublisher()
            shared = forwarder(client.send, publisher, window=0.5)
            results = concurrently(
                20, lambda n: shared.process(message([good(n)], message_id=f"m{n}"), now=NOW)
            )
            client.close()
        assert not [r for r in results if isinstance(r, Exception)]
        [shared_request] = [r.body["data"] for r in standin.requests if r.fault == "fail_events"]
        assert len(shared_request) > 1  # the failed event really shared its request
        [(_, data, attributes)] = publisher.published
        assert attributes["reason"] == "pinterest_rejected"
        assert attributes["pinterest_event_id"] == shared_request[0]["event_id"]
        assert json.loads(data)["transaction_id"] == shared_request[0]["custom_data"]["order_id"]
        assert len(standin.events()) == 19

    @pytest.mark.parametrize("threads", [64])
    def test_200_concurrent_pushes_through_the_real_client(self, threads):
        with StandIn(token="t", latency=0.05) as standin:
            config = DeliveryConfig(
                ad_account_id="549000000000", access_token="t", api_base_url=standin.base_url
            )
            client = PinterestClient(config)
            shared = forwarder(client.send, FakePublisher())
            results = concurrently(
                200,
                lambda n: shared.process(message([good(n)], message_id=f"m{n}"), now=NOW),
                threads=threads,
            )
            client.close()
        assert not [r for r in results if isinstance(r, Exception)]
        received = Counter(e["custom_data"]["order_id"] for e in standin.events())
        assert set(received) == {str(n) for n in range(200)}
        assert max(received.values()) == 1
        assert len(standin.requests) < 100
