"""A local Pinterest Conversions API on 127.0.0.1 that validates, records and misbehaves on demand.

Tests use `StandIn` in-process, as a context manager. `make run` and the benchmarks start it as
`python -m dev.pinterest_standin --port N --token T [--latency-ms X]` and steer it over HTTP:
`GET /_standin/requests`, `GET /_standin/events`, `POST /_standin/faults` (a JSON list of fault
specs such as `{"kind": "status", "code": 429, "retry_after": 1}`), `POST /_standin/random_faults`
(`{"rate": 0.1, "kinds": [...], "seed": 7}`), `POST /_standin/refuse` (`{"marker": "BAD", "code":
400}`: refuse as a whole every request holding an event whose JSON contains the marker) and
`POST /_standin/reset`. With `ad_account` set, requests for any other account answer 404.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import itertools
import json
import random
import re
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar, Final
from urllib.parse import parse_qsl, urlsplit

from jsonschema import Draft202012Validator

__all__ = [
    "FAULT_KINDS",
    "REQUEST_SCHEMA",
    "RESPONSE_SCHEMA",
    "Delay",
    "Drop",
    "EventStatus",
    "FailEvents",
    "Fault",
    "Normal",
    "Record",
    "Reject422",
    "StandIn",
    "Status",
    "fault_from_spec",
    "fault_to_spec",
    "load_schema",
    "main",
    "sample_event",
]

_SCHEMA_DIR: Final = Path(__file__).resolve().parent / "schema"
REQUEST_SCHEMA: Final = _SCHEMA_DIR / "conversions-request.schema.json"
RESPONSE_SCHEMA: Final = _SCHEMA_DIR / "conversions-response.schema.json"

_EVENTS_PATH: Final = re.compile(r"(?:/.*)?/ad_accounts/[^/]+/events")
_FAILED_EVENT: Final = "Invalid event_timestamp parameter. Given timestamp is in the past."
# Pinterest's Error bodies by status: (code, message), from the examples of its OpenAPI description.
_ERRORS: Final[Mapping[int, tuple[int, str]]] = {
    400: (1, "The request was invalid."),
    401: (2, "Authentication failed."),
    403: (29, "You are not permitted to access that resource."),
    404: (404, "No such endpoint on the stand-in."),
    429: (8, "This request exceeded a rate limit."),
    500: (3, "Internal error."),
    502: (3, "Bad gateway."),
    503: (4197, "The endpoint has been ramped down and is currently not accepting any traffic."),
    504: (3, "Gateway timeout."),
}
_REJECTED_422: Final = (
    953,
    "The action could not be processed properly due to some or all data provided being invalid.",
)


def load_schema(path: Path) -> dict[str, Any]:
    """One of the vendored Pinterest schemas, parsed."""
    return json.loads(path.read_text(encoding="utf-8"))


def sample_event(n: int = 0, **fields: Any) -> dict[str, Any]:
    """A minimal event that passes the request schema, `event_id` `evt-<n>`; `fields` override."""
    email_hash = hashlib.sha256(f"user{n}@example.com".encode()).hexdigest()
    event = {
        "event_name": "checkout",
        "action_source": "web",
        "event_time": int(time.time()) - 60,
        "event_id": f"evt-{n}",
        "user_data": {"em": [email_hash]},
    }
    return {**event, **fields}


# --- faults -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Normal:
    """Answer as Pinterest would; keeps a place in the fault queue."""

    kind: ClassVar[str] = "normal"


@dataclass(frozen=True)
class Status:
    """Answer `code` with Pinterest's Error body; `retry_after` (seconds) adds a Retry-After header."""

    code: int = 503
    retry_after: int | None = None
    kind: ClassVar[str] = "status"


@dataclass(frozen=True)
class Delay:
    """Wait `seconds`, then answer normally (to outlast the client's read timeout)."""

    seconds: float = 1.0
    kind: ClassVar[str] = "delay"


@dataclass(frozen=True)
class Drop:
    """Close the connection without any answer."""

    kind: ClassVar[str] = "drop"


@dataclass(frozen=True)
class FailEvents:
    """Answer 200 but mark the events at `indexes` failed."""

    indexes: tuple[int, ...] = (0,)
    message: str = _FAILED_EVENT
    kind: ClassVar[str] = "fail_events"


@dataclass(frozen=True)
class EventStatus:
    """Answer 200, the events at `indexes` with `status` (one Pinterest may add later) and `warning`."""

    indexes: tuple[int, ...] = (0,)
    status: str = "processed"
    warning: str = ""
    kind: ClassVar[str] = "event_status"


@dataclass(frozen=True)
class Reject422:
    """Answer 422 (code 953) with the events at `indexes` failed in `details.events`."""

    indexes: tuple[int, ...] = (0,)
    message: str = _FAILED_EVENT
    kind: ClassVar[str] = "reject_422"


Fault = Normal | Status | Delay | Drop | FailEvents | EventStatus | Reject422
FAULT_KINDS: Final[Mapping[str, type[Fault]]] = {
    cls.kind: cls for cls in (Normal, Status, Delay, Drop, FailEvents, EventStatus, Reject422)
}


def fault_from_spec(spec: str | Mapping[str, Any]) -> Fault:
    """Build a fault from its JSON form: `"drop"` or `{"kind": "status", "code": 429, ...}`."""
    fields = {"kind": spec} if isinstance(spec, str) else dict(spec)
    cls = FAULT_KINDS[fields.pop("kind")]
    return cls(**{key: tuple(value) if isinstance(value, list) else value for key, value in fields.items()})


def fault_to_spec(fault: Fault) -> dict[str, Any]:
    """The JSON form of a fault, as `POST /_standin/faults` takes it."""
    return {"kind": fault.kind, **asdict(fault)}


class _FaultPlan:
    """The faults still to apply: the FIFO queue first, then the seeded random mode."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[Fault] = deque()
        self._rate = 0.0
        self._kinds: tuple[Fault, ...] = ()
        self._rng = random.Random(0)

    def inject(self, faults: Iterable[Fault]) -> None:
        with self._lock:
            self._queue.extend(faults)

    def randomly(self, rate: float, kinds: Sequence[Fault], seed: int) -> None:
        if not 0.0 <= rate <= 1.0 or (rate and not kinds):
            raise ValueError("rate must be within [0, 1] and kinds must not be empty")
        with self._lock:
            self._rate, self._kinds, self._rng = rate, tuple(kinds), random.Random(seed)

    def next(self) -> Fault | None:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
            if self._rate and self._rng.random() < self._rate:
                return self._rng.choice(self._kinds)
            return None


# --- answers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Incoming:
    """A request to the events endpoint, checked."""

    authorized: bool
    body: Any
    errors: tuple[str, ...]


@dataclass(frozen=True)
class _Answer:
    """What to send back; `status` None drops the connection unanswered."""

    status: int | None
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    outcomes: tuple[str, ...] = ()  # per event, "processed" or "failed"
    delay: float = 0.0


def _error(status: int, message: str = "") -> _Answer:
    code, default = _ERRORS.get(status, (status, "Unexpected error."))
    return _Answer(status, {"code": code, "message": message or default})


def _event_status(outcome: str, message: str, warning: str = "") -> dict[str, Any]:
    error = message if outcome == "failed" else None
    return {"status": outcome, "error_message": error, "warning_message": warning or None}


def _summary(outcomes: Sequence[str], message: str, warning: str = "") -> dict[str, Any]:
    return {
        "num_events_received": len(outcomes),
        "num_events_processed": outcomes.count("processed"),
        "events": [_event_status(outcome, message, warning) for outcome in outcomes],
    }


def _normal(incoming: _Incoming) -> _Answer:
    if not incoming.authorized:
        return _error(401)
    if incoming.errors:
        return _error(400, f"Invalid request body: {incoming.errors[0]}")
    outcomes = ("processed",) * len(incoming.body["data"])
    return _Answer(200, _summary(outcomes, ""), outcomes=outcomes)


def _partial(incoming: _Incoming, indexes: tuple[int, ...], message: str, status: int) -> _Answer:
    answer = _normal(incoming)
    if answer.status != 200:
        return answer
    outcomes = tuple("failed" if i in indexes else "processed" for i in range(len(answer.outcomes)))
    summary = _summary(outcomes, message)
    code, text = _REJECTED_422
    body = summary if status == 200 else {"code": code, "message": text, "details": summary}
    return _Answer(status, body, outcomes=outcomes)


def _on_event_status(fault: EventStatus, incoming: _Incoming) -> _Answer:
    answer = _normal(incoming)
    if answer.status != 200:
        return answer
    outcomes = tuple(fault.status if i in fault.indexes else "processed" for i in range(len(answer.outcomes)))
    events = [
        _event_status(outcome, "", fault.warning if i in fault.indexes else "")
        for i, outcome in enumerate(outcomes)
    ]
    body = {**_summary(outcomes, ""), "events": events}
    return _Answer(200, body, outcomes=outcomes)


def _on_status(fault: Status, incoming: _Incoming) -> _Answer:
    del incoming
    headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
    return replace(_error(fault.code), headers=headers)


_HANDLERS: Final[Mapping[type, Callable[[Any, _Incoming], _Answer]]] = {
    Normal: lambda _fault, incoming: _normal(incoming),
    Status: _on_status,
    Delay: lambda fault, incoming: replace(_normal(incoming), delay=fault.seconds),
    Drop: lambda _fault, _incoming: _Answer(None),
    FailEvents: lambda fault, incoming: _partial(incoming, fault.indexes, fault.message, 200),
    EventStatus: _on_event_status,
    Reject422: lambda fault, incoming: _partial(incoming, fault.indexes, fault.message, 422),
}


# --- the stand-in -------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """One request to the events endpoint as the stand-in saw and answered it (never its token)."""

    seq: int
    arrived: float  # time.time() when it arrived
    path: str
    query: Mapping[str, str]
    valid: bool
    errors: tuple[str, ...]  # schema violations, or why the body is not JSON
    body: Any  # the parsed JSON body; None when it was not JSON
    status: int | None  # what it answered; None when it dropped the connection
    fault: str | None  # the kind of the fault applied, if any
    outcomes: tuple[str, ...]  # per event, "processed" or "failed" (answers 200 and 422)


class StandIn:
    """Pinterest's events endpoint on 127.0.0.1, for any base path (`/v5` in `base_url`)."""

    def __init__(
        self, token: str = "standin-token", latency: float = 0.0, port: int = 0, ad_account: str | None = None
    ) -> None:
        self.latency = latency
        self._token = token.encode()
        self._ad_account = ad_account
        self._refuse: tuple[str, int] | None = None
        self._port = port
        self._validator = Draft202012Validator(load_schema(REQUEST_SCHEMA))
        self._faults = _FaultPlan()
        self._lock = threading.Lock()
        self._records: list[Record] = []
        self._seq = itertools.count()
        self._closing = threading.Event()
        self._server: _Server | None = None
        self._control: Mapping[tuple[str, str], Callable[[Any], _Answer]] = {
            ("GET", "/_standin/requests"): lambda _: _Answer(200, [asdict(r) for r in self.requests]),
            ("GET", "/_standin/events"): lambda _: _Answer(200, self.events()),
            ("POST", "/_standin/faults"): self._control_faults,
            ("POST", "/_standin/random_faults"): self._control_random,
            ("POST", "/_standin/refuse"): self._control_refuse,
            ("POST", "/_standin/reset"): self._control_reset,
        }

    def __enter__(self) -> StandIn:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        """Listen on 127.0.0.1 and serve from a daemon thread."""
        self._server = _Server(("127.0.0.1", self._port), self)
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        """Cut short any delayed answer and stop listening."""
        self._closing.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def base_url(self) -> str:
        """What the product is configured with, e.g. `http://127.0.0.1:PORT/v5`."""
        if self._server is None:
            raise RuntimeError("the stand-in is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}/v5"

    @property
    def requests(self) -> list[Record]:
        """Every request to the events endpoint so far, in arrival order."""
        with self._lock:
            return list(self._records)

    def events(self) -> list[Any]:
        """Every event answered `processed` so far, in order (failed ones left out)."""
        return [
            event
            for record in self.requests
            if record.outcomes
            for event, outcome in zip(record.body["data"], record.outcomes, strict=True)
            if outcome == "processed"
        ]

    def inject(self, *faults: Fault) -> None:
        """Queue one-shot faults; each is used up by the next request to the events endpoint."""
        self._faults.inject(faults)

    def random_faults(self, rate: float, kinds: Sequence[Fault], seed: int = 0) -> None:
        """Apply one of `kinds`, chosen by a `seed`ed generator, to a `rate` share of requests."""
        self._faults.randomly(rate, kinds, seed)

    def refuse_events_with(self, marker: str, code: int = 400) -> None:
        """Until reset, refuse as a whole (`code`) every request holding an event whose JSON has `marker`."""
        self._refuse = (marker, code)

    def reset(self) -> None:
        """Forget the recorded requests, the queued faults, the random mode and the refusal rule."""
        self._faults = _FaultPlan()
        self._refuse = None
        with self._lock:
            self._records.clear()

    def _respond(self, method: str, target: str, authorization: str, raw: bytes) -> _Answer:
        """Answer one HTTP request (called by the request handler's thread)."""
        url = urlsplit(target)
        control = self._control.get((method, url.path))
        if control is not None:
            return self._run_control(control, raw)
        if method != "POST" or not _EVENTS_PATH.fullmatch(url.path):
            return _error(404)
        answer = self._answer_events(url.path, dict(parse_qsl(url.query)), authorization, raw)
        self._closing.wait(self.latency + answer.delay)
        return answer

    def _answer_events(self, path: str, query: dict[str, str], authorization: str, raw: bytes) -> _Answer:
        arrived = time.time()
        incoming = self._check(authorization, raw)
        fault = self._faults.next()
        answer = self._standing_rule(path, incoming) or _HANDLERS[type(fault or Normal())](fault, incoming)
        with self._lock:
            self._records.append(
                Record(
                    seq=next(self._seq),
                    arrived=arrived,
                    path=path,
                    query=query,
                    valid=not incoming.errors,
                    errors=incoming.errors,
                    body=incoming.body,
                    status=answer.status,
                    fault=None if fault is None else fault.kind,
                    outcomes=answer.outcomes,
                )
            )
        return answer

    def _standing_rule(self, path: str, incoming: _Incoming) -> _Answer | None:
        """A 404 for another ad account, or a refusal of a request holding a marked event."""
        account = path.partition("/ad_accounts/")[2].partition("/")[0]
        if self._ad_account is not None and account != self._ad_account:
            return _error(404, "Ad account not found.")
        events = incoming.body.get("data") if isinstance(incoming.body, dict) else None
        if self._refuse and isinstance(events, list):
            marker, code = self._refuse
            if any(marker in json.dumps(event) for event in events):
                return _error(code, f"Invalid event: {marker}")
        return None

    def _check(self, authorization: str, raw: bytes) -> _Incoming:
        authorized = hmac.compare_digest(authorization.encode(), b"Bearer " + self._token)
        try:
            body = json.loads(raw)
        except ValueError:
            return _Incoming(authorized, None, ("the body is not JSON",))
        errors = sorted(self._validator.iter_errors(body), key=lambda error: error.json_path)
        return _Incoming(authorized, body, tuple(f"{e.json_path}: {e.message}" for e in errors))

    def _run_control(self, control: Callable[[Any], _Answer], raw: bytes) -> _Answer:
        try:
            return control(json.loads(raw) if raw.strip() else None)
        except (ValueError, KeyError, TypeError) as exc:
            return _error(400, f"bad control request: {exc}")

    def _control_faults(self, specs: list[Any]) -> _Answer:
        self.inject(*(fault_from_spec(spec) for spec in specs))
        return _Answer(200, {"queued": len(specs)})

    def _control_random(self, body: Mapping[str, Any]) -> _Answer:
        kinds = [fault_from_spec(spec) for spec in body["kinds"]]
        self.random_faults(float(body["rate"]), kinds, int(body.get("seed", 0)))
        return _Answer(200, {"ok": True})

    def _control_refuse(self, body: Mapping[str, Any]) -> _Answer:
        self.refuse_events_with(str(body["marker"]), int(body.get("code", 400)))
        return _Answer(200, {"ok": True})

    def _control_reset(self, _: None) -> _Answer:
        self.reset()
        return _Answer(200, {"ok": True})


# --- HTTP ---------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # concurrent clients must not wait for SYN retransmits

    def __init__(self, address: tuple[str, int], standin: StandIn) -> None:
        super().__init__(address, _Handler)
        self.standin = standin

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (its timeout ran out) is expected here; anything else is printed."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real API
    disable_nagle_algorithm = True  # headers and body go in two writes: no 40 ms delayed-ACK stall
    timeout = 60  # seconds an idle keep-alive connection is held open
    server: _Server

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        authorization = self.headers.get("Authorization", "")
        self._write(self.server.standin._respond(method, self.path, authorization, raw))

    def _write(self, answer: _Answer) -> None:
        if answer.status is None:
            self.close_connection = True
            return
        payload = json.dumps(answer.body).encode()
        try:
            self.send_response(answer.status)
            for name, value in {**answer.headers, "Content-Type": "application/json"}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:  # the client gave up first (its read timeout ran out)
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the recorded requests are the log."""


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT, after printing `listening on <base_url>`."""
    parser = argparse.ArgumentParser(prog="python -m dev.pinterest_standin", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--token", required=True, help="the bearer token to accept")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every answer")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with StandIn(token=args.token, latency=args.latency_ms / 1000, port=args.port) as standin:
        print(f"listening on {standin.base_url}", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
