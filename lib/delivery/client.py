"""The Pinterest Conversions API client: bounded requests, retries under a deadline, per-event results.

Retries are urllib3's `Retry` on the session's adapter (backoff with jitter, `Retry-After`, POST
included: every event carries a stable `event_id` that Pinterest deduplicates); its `sleep` refuses
to wait past the deadline of the `send()` it serves. A request that Pinterest refuses as a whole
(400, 413) is split in halves and resent until the refused events are found, so that one event's
fault costs only that event, whichever pushes shared the request.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Final, Self

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError, TimeoutError
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import RequestHistory, Retry

from lib.config import DeliveryConfig
from lib.delivery.outcomes import EventResult, Outcome
from lib.errors import DeploymentFault, Reason
from lib.logs import log, scrub

__all__ = [
    "DEFAULT_RETRY",
    "MAX_EVENTS_PER_REQUEST",
    "REFUSED_AS_A_WHOLE",
    "RETRYABLE_STATUS",
    "DeadlineRetry",
    "PinterestClient",
    "RetryPolicy",
]

#: Pinterest's `maxItems` for `data` (ConversionEvents).
MAX_EVENTS_PER_REQUEST: Final = 1000
_POOL_SIZE: Final = 100  # above Cloud Run's default request concurrency (80)
#: Statuses worth another try: rate limited, or a server-side hiccup.
RETRYABLE_STATUS: Final = frozenset({429, 500, 502, 503, 504})
#: Statuses that refuse the request as a whole: one of its events (or its size) is at fault.
REFUSED_AS_A_WHOLE: Final = frozenset({400, 413})
# Statuses that mean the deployment is wrong, not the events: what the log line tells the user.
_DEPLOYMENT_FAULTS: Final[Mapping[int, str]] = {
    401: "the access token is wrong or expired: fix the PINTEREST_ACCESS_TOKEN secret",
    403: "the access token may not send events for this ad account: check its scopes and the account",
    404: "no such ad account: PINTEREST_AD_ACCOUNT_ID is wrong",
}


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently one request is retried (urllib3 `Retry` parameters)."""

    retries: int = 5
    backoff_factor: float = 0.5
    backoff_jitter: float = 0.5
    backoff_max: float = 20.0


DEFAULT_RETRY: Final = RetryPolicy()


class _DeadlineReached(Exception):
    """Raised by DeadlineRetry.sleep: the next attempt would start after the deadline."""

    def __init__(self, last: RequestHistory | None) -> None:
        super().__init__("deadline")
        self.reason = (
            "deadline"
            if last is None
            else f"http_{last.status}"
            if last.status
            else _error_reason(last.error)
        )


class DeadlineRetry(Retry):
    """urllib3's `Retry` that gives up instead of sleeping past `deadline` (a `time.monotonic()`)."""

    def __init__(self, *args: Any, deadline: float = float("inf"), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deadline = deadline

    def new(self, **kw: Any) -> Self:
        return super().new(**{"deadline": self.deadline, **kw})

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        respected = response is not None and self.respect_retry_after_header
        retry_after = self.get_retry_after(response) if respected and response is not None else None
        pause = self.get_backoff_time() if retry_after is None else retry_after
        if time.monotonic() + pause >= self.deadline:
            raise _DeadlineReached(self.history[-1] if self.history else None)
        time.sleep(pause)


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


@dataclass(frozen=True)
class _Answer:
    """One request's per-event results, and whether Pinterest refused the request as a whole."""

    results: list[EventResult]
    refused: bool = False


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
        self._session = session or _session_for(config.api_base_url)
        self._session.headers["Authorization"] = f"Bearer {config.access_token}"
        # One pooled connection per concurrent request: without batching every push is one.
        adapter = _PerCallRetryAdapter(max_retries=self._new_retry(), pool_maxsize=_POOL_SIZE)
        self._session.mount(config.api_base_url, adapter)
        self._url = f"{config.api_base_url}/ad_accounts/{config.ad_account_id}/events"
        self._params = {"test": "true"} if config.test_mode else {}
        self._chunk = min(config.batch_max_events, MAX_EVENTS_PER_REQUEST)

    def send(self, events: Sequence[Mapping[str, Any]]) -> list[EventResult]:
        """Deliver `events` in requests of at most BATCH_MAX_EVENTS; one result per event, in order.

        Raises DeploymentFault when Pinterest refuses the token or the ad account (401/403/404).
        """
        deadline = time.monotonic() + self._config.deadline_seconds
        return [result for chunk in _chunks(events, self._chunk) for result in self._isolate(chunk, deadline)]

    def close(self) -> None:
        """Release the connections (the session too, unless it was handed in)."""
        if self._owns_session:
            self._session.close()

    def _isolate(self, chunk: Sequence[Mapping[str, Any]], deadline: float) -> list[EventResult]:
        """Send `chunk`; while Pinterest refuses a request as a whole, resend its halves."""
        answer = self._deliver(chunk, deadline)
        if not answer.refused or len(chunk) == 1:
            return answer.results
        log("WARNING", "pinterest refused a request as a whole; resending it in halves", count=len(chunk))
        half = len(chunk) // 2
        return self._isolate(chunk[:half], deadline) + self._isolate(chunk[half:], deadline)

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

    def _deliver(self, chunk: Sequence[Mapping[str, Any]], deadline: float) -> _Answer:
        if time.monotonic() >= deadline:
            return self._logged(_Answer(_all(len(chunk), Outcome.DEFERRED, "deadline")), None, 0.0)
        if self._config.test_mode:
            log("WARNING", "pinterest test mode: events are not recorded", test_mode=True, count=len(chunk))
        started = time.monotonic()
        try:
            response = self._post(chunk, deadline)
        except _DeadlineReached as stop:
            answer, status = _Answer(_all(len(chunk), Outcome.DEFERRED, stop.reason)), None
        except requests.RequestException as exc:
            answer, status = _Answer(_all(len(chunk), Outcome.DEFERRED, _transport_reason(exc))), None
        else:
            answer, status = _read(response, len(chunk)), response.status_code
        return self._logged(answer, status, time.monotonic() - started)

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

    def _logged(self, answer: _Answer, status: int | None, seconds: float) -> _Answer:
        """Log one line per request; `reason` instead of `status` when no HTTP answer came."""
        outcomes = [result.outcome for result in answer.results]
        reply = {"status": status} if status else {"reason": answer.results[0].reason}
        log(
            "INFO",
            "pinterest request",
            **reply,
            count=len(outcomes),
            counts={
                str(o): outcomes.count(o) for o in (Outcome.PROCESSED, Outcome.REJECTED, Outcome.DEFERRED)
            },
            duration_ms=round(seconds * 1000),
            test_mode=self._config.test_mode,
        )
        return answer


def _session_for(url: str) -> requests.Session:
    """A session that reads the proxy and CA-bundle variables once, not on every request.

    With `trust_env`, requests reads them (and ~/.netrc, whose entry would replace the bearer
    token) again for each call; here they are read as it would read them, at start-up only.
    """
    session = requests.Session()
    session.proxies = requests.utils.get_environ_proxies(url)  # NO_PROXY honoured
    session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    session.trust_env = False
    return session


def _chunks(events: Sequence[Mapping[str, Any]], size: int) -> Iterator[Sequence[Mapping[str, Any]]]:
    for start in range(0, len(events), size):
        yield events[start : start + size]


def _all(count: int, outcome: Outcome, reason: str, detail: str = "") -> list[EventResult]:
    return [EventResult(outcome, reason, detail)] * count


def _transport_reason(exc: requests.RequestException) -> str:
    """`timeout` or `connection_error`, looking through urllib3's MaxRetryError to its reason."""
    cause = exc.args[0] if exc.args else None
    return "timeout" if isinstance(exc, requests.Timeout) else _error_reason(getattr(cause, "reason", cause))


def _error_reason(error: Any) -> str:
    refused = isinstance(error, NewConnectionError)  # urllib3 files it under TimeoutError
    return "timeout" if isinstance(error, TimeoutError) and not refused else "connection_error"


# --- reading Pinterest's answer -----------------------------------------------------------


def _read(response: requests.Response, count: int) -> _Answer:
    try:
        body = response.json()
    except ValueError:
        body = None
    reader = _READERS.get(response.status_code, _deferred)
    return reader(body if isinstance(body, dict) else {}, count, response.status_code)


def _per_event(summary: Any, count: int) -> _Answer:
    """Results from a ConversionApiResponse: `events[]`, else the counts, else unclear."""
    summary = summary if isinstance(summary, Mapping) else {}
    events = summary.get("events")
    if isinstance(events, list) and len(events) == count:
        return _Answer([_event_result(event) for event in events])
    counts = (summary.get("num_events_received"), summary.get("num_events_processed"))
    if counts == (count, count):
        return _Answer(_all(count, Outcome.PROCESSED, ""))
    return _Answer(_all(count, Outcome.DEFERRED, "unclear_response"))


def _text(event: Mapping[str, Any], key: str) -> str:
    value = event.get(key)
    return scrub(str(value)) if value else ""


def _event_result(event: Any) -> EventResult:
    """One entry of `events[]`; a status Pinterest adds later is decided once: parked, never retried."""
    event = event if isinstance(event, Mapping) else {}
    status, warning = event.get("status"), _text(event, "warning_message")
    if status == "processed":
        return EventResult(Outcome.PROCESSED, warning=warning)
    if status == "failed":
        return EventResult(
            Outcome.REJECTED, Reason.PINTEREST_REJECTED, _text(event, "error_message") or "failed"
        )
    detail = f"Pinterest answered the event with status {scrub(repr(status), 40)}"
    log("WARNING", "pinterest answered an event with a status unknown to this version", detail=detail)
    message = _text(event, "error_message") or warning
    return EventResult(
        Outcome.REJECTED, Reason.PINTEREST_UNKNOWN_STATUS, f"{detail}: {message}" if message else detail
    )


def _refused(body: Mapping[str, Any], count: int, status: int) -> _Answer:
    message = _text(body, "message") or f"HTTP {status}"
    return _Answer(
        _all(count, Outcome.REJECTED, Reason.PINTEREST_REJECTED, f"request refused: {message}"), True
    )


def _deployment_fault(body: Mapping[str, Any], count: int, status: int) -> _Answer:
    del body
    log(
        "ERROR", f"pinterest refused the deployment: {_DEPLOYMENT_FAULTS[status]}", status=status, count=count
    )
    raise DeploymentFault(f"Pinterest answered {status}: {_DEPLOYMENT_FAULTS[status]}")


def _deferred(body: Mapping[str, Any], count: int, status: int) -> _Answer:
    del body
    return _Answer(_all(count, Outcome.DEFERRED, f"http_{status}"))


# HTTP status -> how to read the body into per-event results; anything else is deferred.
_READERS: Final[Mapping[int, Callable[[Mapping[str, Any], int, int], _Answer]]] = {
    200: lambda body, count, _status: _per_event(body, count),
    422: lambda body, count, _status: _per_event(body.get("details"), count),
    **dict.fromkeys(REFUSED_AS_A_WHOLE, _refused),
    **dict.fromkeys(_DEPLOYMENT_FAULTS, _deployment_fault),
}
