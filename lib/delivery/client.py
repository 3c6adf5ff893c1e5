"""The Pinterest Conversions API client: requests of up to 1,000 events, bounded retries, per-event results.

Retries are urllib3's `Retry` on the session's adapter (backoff with jitter, `Retry-After`, POST
included: every event carries a stable `event_id` that Pinterest deduplicates), held to one
deadline per `send()` that no retry sleep may cross.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType
from typing import Any, Final, Self

import requests
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import MaxRetryError, NewConnectionError, TimeoutError
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from lib.config import DeliveryConfig
from lib.errors import AuthError
from lib.logs import log, scrub

__all__ = [
    "DEFAULT_RETRY",
    "MAX_EVENTS_PER_REQUEST",
    "RETRYABLE_STATUS",
    "DeadlineRetry",
    "EventResult",
    "Outcome",
    "PinterestClient",
    "RetryPolicy",
]

#: Pinterest's `maxItems` for `data` (ConversionEvents).
MAX_EVENTS_PER_REQUEST: Final = 1000
_POOL_SIZE: Final = 100  # above Cloud Run's default request concurrency (80)
#: Statuses worth another try: rate limited, or a server-side hiccup.
RETRYABLE_STATUS: Final = frozenset({429, 500, 502, 503, 504})


class Outcome(StrEnum):
    """What became of one event."""

    PROCESSED = "processed"  # Pinterest accepted it; never send it again
    REJECTED = "rejected"  # Pinterest said "failed": permanent, dead-letter it
    DEFERRED = "deferred"  # transient: try again later (Pub/Sub redelivers)


@dataclass(frozen=True)
class EventResult:
    """The outcome of one event, with Pinterest's scrubbed error or a short reason."""

    outcome: Outcome
    detail: str = ""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently one request is retried (urllib3 `Retry` parameters)."""

    retries: int = 5
    backoff_factor: float = 0.5
    backoff_jitter: float = 0.5
    backoff_max: float = 20.0


DEFAULT_RETRY: Final = RetryPolicy()


class DeadlineRetry(Retry):
    """urllib3's `Retry` that gives up instead of sleeping past `deadline` (a `time.monotonic()`)."""

    def __init__(self, *args: Any, deadline: float = float("inf"), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deadline = deadline

    def new(self, **kw: Any) -> Self:
        return super().new(**{"deadline": self.deadline, **kw})

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        if time.monotonic() + retry._next_sleep(response) >= self.deadline:
            raise MaxRetryError(_pool, url, error) from error  # type: ignore[arg-type]
        return retry

    def _next_sleep(self, response: BaseHTTPResponse | None) -> float:
        """An upper bound of the sleep `sleep(response)` is about to take."""
        respected = response is not None and self.respect_retry_after_header
        retry_after = self.get_retry_after(response) if respected else None
        return retry_after or self.get_backoff_time() + self.backoff_jitter


# The retry (with its deadline) of the send() running in this thread or task.
_current_retry: ContextVar[Retry | None] = ContextVar("pinterest_retry", default=None)


class _PerCallRetryAdapter(HTTPAdapter):
    """An `HTTPAdapter` whose retry is set per call, so concurrent sends keep their own deadline."""

    _default_retry: Retry

    @property
    def max_retries(self) -> Retry:
        return _current_retry.get() or self._default_retry

    @max_retries.setter
    def max_retries(self, value: Retry) -> None:
        self._default_retry = value


class PinterestClient:
    """Sends events to one ad account over one keep-alive session."""

    def __init__(
        self,
        config: DeliveryConfig,
        session: requests.Session | None = None,
        *,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        self._config = config
        self._retry = retry
        self._owns_session = session is None
        self._session = session or requests.Session()
        self._session.headers["Authorization"] = f"Bearer {config.access_token}"
        # One pooled connection per concurrent request: without batching every push is one.
        adapter = _PerCallRetryAdapter(max_retries=self._new_retry(), pool_maxsize=_POOL_SIZE)
        self._session.mount(config.api_base_url, adapter)
        self._url = f"{config.api_base_url}/ad_accounts/{config.ad_account_id}/events"
        self._params = {"test": "true"} if config.test_mode else {}

    def send(self, events: Sequence[Mapping[str, Any]]) -> list[EventResult]:
        """Deliver `events` in requests of at most 1,000; one result per event, in order."""
        deadline = time.monotonic() + self._config.deadline_seconds
        return [result for chunk in _chunks(events) for result in self._deliver(chunk, deadline)]

    def close(self) -> None:
        """Release the connections (the session too, unless it was handed in)."""
        if self._owns_session:
            self._session.close()

    def _new_retry(self, deadline: float = float("inf")) -> DeadlineRetry:
        return DeadlineRetry(
            total=self._retry.retries,
            allowed_methods=None,  # POST too: Pinterest deduplicates on event_id
            status_forcelist=RETRYABLE_STATUS,
            backoff_factor=self._retry.backoff_factor,
            backoff_jitter=self._retry.backoff_jitter,
            backoff_max=self._retry.backoff_max,
            respect_retry_after_header=True,
            raise_on_status=False,
            deadline=deadline,
        )

    def _deliver(self, chunk: Sequence[Mapping[str, Any]], deadline: float) -> list[EventResult]:
        if time.monotonic() >= deadline:
            return self._logged(_all(len(chunk), Outcome.DEFERRED, "deadline"), None, 0.0)
        if self._config.test_mode:
            log("WARNING", "pinterest test mode: events are not recorded", test_mode=True, count=len(chunk))
        started = time.monotonic()
        try:
            response = self._post(chunk, deadline)
        except requests.RequestException as exc:
            results, status = _all(len(chunk), Outcome.DEFERRED, _transport_detail(exc)), None
        else:
            results, status = _read(response, len(chunk)), response.status_code
        return self._logged(results, status, time.monotonic() - started)

    def _post(self, chunk: Sequence[Mapping[str, Any]], deadline: float) -> requests.Response:
        token = _current_retry.set(self._new_retry(deadline))
        try:
            return self._session.post(
                self._url,
                params=self._params,
                data=json.dumps({"data": list(chunk)}, separators=(",", ":")),
                headers={"Content-Type": "application/json"},
                timeout=(self._config.connect_timeout, self._config.read_timeout),
                allow_redirects=False,
            )
        finally:
            _current_retry.reset(token)

    def _logged(self, results: list[EventResult], status: int | None, seconds: float) -> list[EventResult]:
        """Log one line per request; `reason` instead of `status` when no HTTP answer came."""
        outcomes = [result.outcome for result in results]
        answer = {"status": status} if status else {"reason": results[0].detail}
        log(
            "INFO",
            "pinterest request",
            **answer,
            count=len(results),
            counts={str(outcome): outcomes.count(outcome) for outcome in Outcome},
            duration_ms=round(seconds * 1000),
            test_mode=self._config.test_mode,
        )
        return results


def _chunks(events: Sequence[Mapping[str, Any]]) -> Iterator[Sequence[Mapping[str, Any]]]:
    for start in range(0, len(events), MAX_EVENTS_PER_REQUEST):
        yield events[start : start + MAX_EVENTS_PER_REQUEST]


def _all(count: int, outcome: Outcome, detail: str) -> list[EventResult]:
    return [EventResult(outcome, detail)] * count


def _transport_detail(exc: requests.RequestException) -> str:
    """`timeout` or `connection_error`, looking through urllib3's MaxRetryError to its reason."""
    cause = exc.args[0] if exc.args else None
    reason = getattr(cause, "reason", cause)
    refused = isinstance(reason, NewConnectionError)  # urllib3 files it under TimeoutError
    timed_out = isinstance(exc, requests.Timeout) or (isinstance(reason, TimeoutError) and not refused)
    return "timeout" if timed_out else "connection_error"


# --- reading Pinterest's answer -----------------------------------------------------------


def _read(response: requests.Response, count: int) -> list[EventResult]:
    try:
        body = response.json()
    except ValueError:
        body = None
    reader = _READERS.get(response.status_code, _deferred)
    return reader(body if isinstance(body, dict) else {}, count, response.status_code)


def _per_event(summary: Any, count: int) -> list[EventResult]:
    """Results from a ConversionApiResponse: `events[]`, else the counts, else unclear."""
    summary = summary if isinstance(summary, Mapping) else {}
    events = summary.get("events")
    if isinstance(events, list) and len(events) == count:
        return [_event_result(event) for event in events]
    counts = (summary.get("num_events_received"), summary.get("num_events_processed"))
    if counts == (count, count):
        return _all(count, Outcome.PROCESSED, "")
    return _all(count, Outcome.DEFERRED, "unclear_response")


def _event_result(event: Any) -> EventResult:
    status = event.get("status") if isinstance(event, Mapping) else None
    if status == "failed":
        return EventResult(Outcome.REJECTED, scrub(str(event.get("error_message") or "failed")))
    if status == "processed":
        return EventResult(Outcome.PROCESSED)
    return EventResult(Outcome.DEFERRED, "unclear_response")


def _bad_request(body: Mapping[str, Any], count: int, status: int) -> list[EventResult]:
    del status
    return _all(count, Outcome.REJECTED, "pinterest_bad_request: " + scrub(str(body.get("message", ""))))


def _refused(body: Mapping[str, Any], count: int, status: int) -> list[EventResult]:
    del body
    log(
        "ERROR",
        "pinterest refused the deployment's credentials: fix the access token or ad account id",
        status=status,
        count=count,
    )
    raise AuthError(f"Pinterest answered {status}: the access token or ad account id is wrong")


def _deferred(body: Mapping[str, Any], count: int, status: int) -> list[EventResult]:
    del body
    return _all(count, Outcome.DEFERRED, f"http_{status}")


# HTTP status -> how to read the body into per-event results; anything else is deferred.
_READERS: Final[Mapping[int, Callable[[Mapping[str, Any], int, int], list[EventResult]]]] = {
    200: lambda body, count, _status: _per_event(body, count),
    422: lambda body, count, _status: _per_event(body.get("details"), count),
    400: _bad_request,
    401: _refused,
    403: _refused,
}
