"""Fuzzing: hostile message data and GA4 events never crash the forwarder, and never leak PII.

Properties, over random bytes, arbitrary JSON and GA4-like events with the wrong type in every
field: decoding raises nothing but `InvalidEvent`; mapping never raises and ends every event
accepted (the body then passes Pinterest's schema) or not forwarded for a named reason; and a
whole `Forwarder.process` call, with a fake Pinterest and a fake dead-letter publisher, writes no
PII (raw or SHA-256) into any reason, detail or log line. The bugs it found in lib/ (now fixed)
are kept as examples at the end.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import string
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import reduce
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lib import logs
from lib.delivery.batching import Batcher
from lib.delivery.client import EventResult, Outcome
from lib.delivery.deadletter import DeadLetter
from lib.delivery.forwarder import Forwarder, Outcomes
from lib.delivery.messages import Message, parse_events
from lib.errors import InvalidEvent, Reason, SkippedEvent, TransientError
from lib.mapping import MappingConfig, map_events
from tests.fakes import FakePublisher, message

FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
NOW = time.time()
MAX_BYTES = 1_000_000
REASONS = frozenset(Reason)
MESSAGE_REASONS = frozenset(
    {Reason.NOT_BASE64, Reason.NOT_JSON, Reason.NOT_AN_EVENT, Reason.EMPTY_MESSAGE, Reason.TOO_LARGE}
)

# --- strategies -------------------------------------------------------------------------------

# Text with awkward characters made likely, lone surrogates included (JSON may escape them).
AWKWARD = st.sampled_from(
    [
        "\x00",
        "\u200b",
        "\u202e",
        "\ufeff",
        "e\u0301",
        "İ",
        "ß",
        "ﬀ",
        "Ⅻ",
        "١٢٣",
        "１２",
        "😀",
        "\ud800",
        "\udfff",
    ]
)
TEXT = st.one_of(st.text(max_size=20), AWKWARD, st.lists(AWKWARD | st.just(" "), max_size=5).map("".join))
HUGE = st.builds(str.__mul__, st.sampled_from(["x", "9", "é", "a@b.c "]), st.sampled_from([10_000, 150_000]))
NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 1e308, 5e-324, -1, -3.5]),
)
HEX64 = st.text("0123456789abcdefABCDEF", min_size=64, max_size=64)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT, HEX64, HUGE)
DOTTED = st.sampled_from(
    ["", ".", "a.b", "user_data.", ".email_address", "items.0", "user_data.email_address"]
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10) | DOTTED, inner, max_size=4)
    ),
    max_leaves=12,
)
DEEP = st.builds(
    lambda depth, leaf: reduce(lambda inner, _: [inner], range(depth), leaf), st.integers(50, 500), SCALARS
)
# A junk value for any field: the wrong type, nested lists, huge strings, odd Unicode, NaN, ...
JUNK = st.one_of(JSON, DEEP, HUGE, NUMBERS, st.lists(JSON, max_size=3))


# PII-looking values, each with a mark, so that finding one in a log line cannot be a coincidence.
EMAILS = st.builds(
    "{}pii.{}@{}.example".format,
    st.sampled_from(["", " ", "Mr."]),
    st.text(string.ascii_letters + string.digits, min_size=3, max_size=10),
    st.text(string.ascii_lowercase, min_size=3, max_size=8),
)
PHONES = st.builds(
    "{}{} {}".format,
    st.sampled_from(["+", "00", "(+", ""]),
    st.sampled_from(["1", "44", "49", "33", "81", "91"]),
    st.text(string.digits, min_size=8, max_size=11),
)
IPS = st.ip_addresses().map(str).filter(lambda ip: len(ip) >= 7)
NAMES = st.text(st.characters(categories=["Lu", "Ll", "Lo"]), min_size=4, max_size=10).map("Pii{}".format)
PII = {"email": EMAILS, "phone": PHONES, "ip": IPS, "first_name": NAMES, "last_name": NAMES, "city": NAMES}


def mostly(plausible: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A plausible value three times in four, else junk: events get far enough to be sent or parked."""
    return st.sampled_from((plausible, plausible, plausible, JUNK)).flatmap(lambda chosen: chosen)


WORDS = st.one_of(TEXT, st.integers(-5, 10**6), st.lists(TEXT, max_size=3))
ADDRESS = st.fixed_dictionaries(
    {},
    optional={
        "first_name": mostly(NAMES),
        "last_name": mostly(NAMES),
        "street": mostly(NAMES),
        "city": mostly(NAMES | st.just("Saint-Étienne")),
        "region": mostly(st.sampled_from(["California", "CA", "Bavaria", "xx"])),
        "postal_code": mostly(st.sampled_from(["94123-1234", "SW1A 1AA", "0"])),
        "country": mostly(st.sampled_from(["US", "usa", "Deutschland", "de", "zz"])),
    },
)
ITEM = st.fixed_dictionaries(
    {},
    optional={
        "item_id": mostly(WORDS),
        "item_name": mostly(TEXT),
        "price": mostly(NUMBERS | st.sampled_from(["12.50", "abc", "-1"])),
        "quantity": mostly(st.sampled_from([-3, 0, 2, "2", "-1", 2.5, 10**20])),
        "item_category": mostly(TEXT),
        "item_brand": mostly(TEXT),
    },
)
USER_DATA = st.fixed_dictionaries(
    {"email_address": mostly(EMAILS | st.lists(EMAILS | JUNK, max_size=3))},
    optional={
        "phone_number": mostly(PHONES),
        "sha256_email_address": mostly(HEX64),
        "address": mostly(ADDRESS | st.lists(ADDRESS | JUNK, max_size=3)),
        "gender": mostly(st.sampled_from(["F", "male", "woman", "x"])),
        "date_of_birth": mostly(st.sampled_from(["1990-01-15", "19900115", "15/01/1990", "2990-13-45"])),
        "external_id": mostly(WORDS),
        "hashed_maids": mostly(HEX64 | st.lists(HEX64 | JUNK, max_size=3)),
        "click_id": mostly(TEXT),
    },
)
CONSENT = st.fixed_dictionaries(
    {},
    optional=dict.fromkeys(
        ("ad_storage", "ad_user_data", "ad_personalization"),
        mostly(st.sampled_from(["granted", "denied", " Denied ", True, False, None, 1, "x"])),
    ),
)
EVENT = st.fixed_dictionaries(
    {
        "event_name": mostly(
            st.sampled_from(["purchase", "page_view", "add_to_cart", "search", "sign_up", "x"])
        ),
        "user_data": mostly(USER_DATA),
    },
    optional={
        "user_data.email_address": mostly(EMAILS),  # flattened, as the seed's table names it
        "user_data.address.city": mostly(NAMES),
        "email": EMAILS,
        "phone": PHONES,
        "ip_override": mostly(IPS),
        "client_ip_address": IPS,
        "user_agent": mostly(st.sampled_from(["Mozilla/5.0 (X11; Linux x86_64)", ""])),
        "value": mostly(NUMBERS | st.sampled_from(["12.50", "1,5", "abc", "", "1e400", "-0"])),
        "currency": mostly(st.sampled_from(["EUR", "usd", ""])),
        "items": mostly(st.lists(mostly(ITEM), max_size=4)),
        "event_time": mostly(st.sampled_from([NOW, NOW * 1000, str(int(NOW)), NOW + 86_400, 1.0]) | NUMBERS),
        "event_id": mostly(TEXT),
        "x-sst-system_properties": st.fixed_dictionaries({"request_start_time_ms": mostly(NUMBERS)}) | JUNK,
        "x-ga-gcs": mostly(st.sampled_from(["G100", "G111", "G1", ""])),
        "x-ga-gcd": mostly(st.sampled_from(["13p3p3p2p5l1", "11t1t1t1t5l1", ""])),
        "x-ga-npa": mostly(st.sampled_from(["1", "0"])),
        "consent_state": CONSENT,
        "page_location": mostly(st.sampled_from(["https://shop.example/?epik=abc", "not a url", ""])),
        "_epik": mostly(TEXT),
        "language": mostly(st.sampled_from(["en-US", "de", "x"])),
        "transaction_id": mostly(WORDS),
        "search_term": mostly(TEXT),
        "user_id": mostly(WORDS),
        "content_ids": mostly(WORDS),
        "contents": mostly(st.lists(mostly(ITEM), max_size=3)),
        "num_items": mostly(st.integers(-3, 10**20)),
        "opt_out": mostly(st.sampled_from([True, False, "true", "0"])),
        "action_source": mostly(st.sampled_from(["web", "app_ios", "offline", "tv"])),
        "app_id": mostly(TEXT),
        "wifi": mostly(st.booleans()),
        "x-unknown.dotted.key": JUNK,
    },
)
# A message's events: mostly GA4-like, sometimes anything at all.
EVENTS = st.lists(mostly(EVENT), min_size=1, max_size=4)


# --- helpers ----------------------------------------------------------------------------------


def outcome(call: Callable[[], Any]) -> Any:
    """What `call` returns, or the InvalidEvent or TransientError it raises (anything else propagates)."""
    try:
        return call()
    except (InvalidEvent, TransientError) as error:
        return error


@contextmanager
def captured_logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    logs.configure(enabled=True, stream=stream)
    try:
        yield stream
    finally:
        logs.configure(enabled=True)


def log_strings(text: str) -> list[str]:
    """Every key and value of every log line, decoded (JSON escapes would hide raw text)."""
    strings: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            strings.extend(str(key) for key in node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        else:
            strings.append(str(node))

    for line in text.splitlines():
        walk(json.loads(line))
    return strings


@dataclass
class FakePinterest:
    """A deliver function answering each event processed (0), failed (1) or deferred (2).

    A failure echoes what Pinterest was sent, scrubbed as lib.delivery.client scrubs Pinterest's errors.
    """

    answers: Sequence[int]
    sent: list[dict[str, Any]]

    def __call__(self, events: Sequence[dict[str, Any]]) -> list[EventResult]:
        self.sent.extend(events)
        return [self._answer(n, event) for n, event in enumerate(events)]

    def _answer(self, n: int, event: Mapping[str, Any]) -> EventResult:
        answer = self.answers[n % len(self.answers)] if self.answers else 0
        if answer == 1:
            echo = f"Invalid user_data for event {event['event_id']}: {json.dumps(event['user_data'])}"
            return EventResult(Outcome.REJECTED, Reason.PINTEREST_REJECTED, logs.scrub(echo))
        return EventResult(Outcome.DEFERRED, "http_503") if answer == 2 else EventResult(Outcome.PROCESSED)


# user_data sent in clear that is not personal data in this test's sense (emails, phones, IPs, names).
NOT_PII = frozenset({"click_id", "client_user_agent"})


def forbidden_forms(values: Sequence[str], sent: Sequence[Mapping[str, Any]]) -> set[str]:
    """Each PII value raw and normalised, their SHA-256 digests, and the hashes and IP sent to Pinterest."""
    forms = {form for value in values for form in (value.strip(), value.strip().lower()) if form}
    forms |= {hashlib.sha256(form.encode()).hexdigest() for form in set(forms)}
    for event in sent:
        for key, value in event["user_data"].items():
            if key not in NOT_PII:
                forms.update(str(v) for v in (value if isinstance(value, list) else [value]))
    return {form.lower() for form in forms}


# --- properties -------------------------------------------------------------------------------


@FUZZ
@given(data=st.one_of(st.binary(max_size=2000), JSON.map(lambda v: json.dumps(v).encode())))
@example(data=b"NaN")
@example(data=b"[" * 5000)
@example(data=b"\xef\xbb\xbf{}")
@example(data=b'"\\ud800"')
@example(data=b"x" * (MAX_BYTES + 1))
def test_parse_events_raises_nothing_but_invalid_event(data):
    result = outcome(lambda: parse_events(data, MAX_BYTES))
    assert (isinstance(result, list) and result) or result.reason in MESSAGE_REASONS


@FUZZ
@given(encoded=st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_message_data_is_base64_or_not_base64(encoded):
    result = outcome(Message("m", encoded_data=encoded).data)
    assert isinstance(result, bytes) or result.reason is Reason.NOT_BASE64


@FUZZ
@given(events=EVENTS)
def test_map_events_accepts_or_names_a_reason_for_every_event(events, validate_body):
    events = parse_events(json.dumps(events).encode(), 100 * MAX_BYTES)  # as a push delivers them
    mapped = map_events(events, config=MappingConfig(), now=NOW)
    assert [m.index for m in mapped] == list(range(len(events)))
    for m in mapped:
        assert (m.event is None) != (m.error is None)
        assert m.error is None or (
            isinstance(m.error, InvalidEvent | SkippedEvent) and m.error.reason in REASONS
        )
    accepted = [m.event for m in mapped if m.event is not None]
    if accepted:
        validate_body({"data": accepted})


@FUZZ
@given(
    pii=st.fixed_dictionaries(PII),
    event=EVENT,
    more=st.lists(mostly(EVENT), max_size=3),
    answers=st.lists(st.sampled_from([0, 0, 1, 2]), max_size=4),
)
def test_a_whole_push_never_leaks_pii(pii, event, more, answers):
    address = {"first_name": pii["first_name"], "last_name": pii["last_name"], "city": pii["city"]}
    user = {"email_address": pii["email"], "phone_number": pii["phone"], "address": [address]}
    planted = {**event, "user_data": user, "ip_override": pii["ip"]}
    publisher, pinterest = FakePublisher(), FakePinterest(answers, [])
    batcher = Batcher(pinterest, window=0, max_events=1000)
    forwarder = Forwarder(MappingConfig(), batcher, DeadLetter("projects/p/topics/dlq", publisher))
    push = message([planted, *more] if more else planted, "fuzz-1", {"source": "fuzz"})
    with captured_logs() as stream:
        result = outcome(lambda: forwarder.process(push, now=NOW))
    texts = log_strings(stream.getvalue())
    if isinstance(result, TransientError):  # something was deferred: redelivered later, nothing parked
        assert 2 in answers
        assert publisher.published == []
        texts.append(str(result))
    for event_outcome in result.events if isinstance(result, Outcomes) else ():
        assert event_outcome.outcome in {"processed", "skipped", "rejected"}
        assert event_outcome.outcome == "processed" or event_outcome.reason in REASONS
        texts += [event_outcome.reason, event_outcome.detail]
    texts += [value for _, _, attributes in publisher.published for value in attributes.values()]
    haystack = "\n".join(texts).lower()
    assert not sorted(
        form for form in forbidden_forms(list(pii.values()), pinterest.sent) if form in haystack
    )


# --- what the fuzzer found (fixed in lib/; kept as examples) ---------------------------


def process(events: Any) -> Any:
    """One push through a forwarder whose Pinterest processes everything."""
    batcher = Batcher(FakePinterest([0], []), window=0, max_events=1000)
    forwarder = Forwarder(MappingConfig(), batcher, DeadLetter("projects/p/topics/dlq", FakePublisher()))
    return forwarder.process(message(events), now=NOW)


@pytest.mark.parametrize(
    "event",
    [
        {"event_name": "purchase", "user_data": {"email_address": "a\ud800@b.example"}},
        {"event_name": "purchase", "user_id": "u\ud800", "ip_override": "203.0.113.9", "user_agent": "UA/1"},
        {"event_name": "purchase", "note": "\ud800"},  # no match key: parked
    ],
    ids=["hashed-email", "hashed-user-id", "parked"],
)
def test_lone_surrogates_do_not_crash_a_push(event):
    assert isinstance(process(event), Outcomes)


@pytest.mark.parametrize("state", [[], {}, ["granted"]], ids=["list", "object", "list-of-text"])
def test_consent_state_of_any_shape_does_not_crash_a_push(state):
    event = {"event_name": "purchase", "ip_override": "203.0.113.9", "user_agent": "UA/1"}
    assert isinstance(process({**event, "consent_state": {"ad_storage": state}}), Outcomes)


@pytest.mark.parametrize("ip", ["::1", "::1234:5678", "2001:db8::"], ids=["loopback", "leading", "trailing"])
def test_scrub_masks_every_ipv6_address(ip):
    assert ip not in logs.scrub(f"Invalid client_ip_address {ip}.")
