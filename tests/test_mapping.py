"""The mapping core: GA4 event data in, Pinterest Conversions API events out (DESIGN §2-§3)."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lib.errors import Reason
from lib.mapping import Mapped, MappingConfig, derived_event_ids, map_events
from tests.conftest import FIXTURE_NOW, load_fixture

NOW = 1_800_000_000
IP, UA = "203.0.113.45", "Mozilla/5.0 (X11; Linux x86_64)"
BASE = {"event_name": "page_view", "ip_override": IP, "user_agent": UA}
DIGEST = "A" * 64


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def run(events: list[Any], config: MappingConfig | None = None, now: float = NOW, **kw: Any) -> list[Mapped]:
    return map_events(events, config=config or MappingConfig(), now=now, **kw)


def one(event: dict[str, Any], config: MappingConfig | None = None, **kw: Any) -> dict[str, Any]:
    [mapped] = run([event], config, **kw)
    assert mapped.error is None, mapped.error
    assert mapped.event is not None
    return mapped.event


def reason(event: Any, config: MappingConfig | None = None, **kw: Any) -> Reason:
    [mapped] = run([event], config, **kw)
    assert mapped.error is not None, "expected the event to be left out"
    return mapped.error.reason


@pytest.fixture(autouse=True)
def _every_body_is_valid(request, monkeypatch, validate_body):
    """Every Pinterest event a test in this module produces must validate against the schema."""
    produced: list[dict[str, Any]] = []
    original = request.module.map_events

    def spy(*args: Any, **kwargs: Any) -> list[Mapped]:
        result = original(*args, **kwargs)
        produced.extend(m.event for m in result if m.event is not None)
        return result

    monkeypatch.setattr(request.module, "map_events", spy)
    yield
    for event in produced:
        validate_body({"data": [event]})


class TestFixtures:
    def test_purchase(self):
        event = one(load_fixture("purchase"), now=FIXTURE_NOW)
        assert event == {
            "event_name": "checkout",
            "event_time": 1_764_317_106,
            "action_source": "web",
            "event_id": "a30e0d9ca7338aa3c8d8ed2c67e54f6f",  # its content's digest: pinned across versions
            "event_source_url": "https://shop.example.com/checkout/thank-you?order=T-100234",
            "language": "en",
            "user_data": {
                "em": [sha("jane.doe@example.com")],
                "ph": [sha("15551234567")],
                "ln": [sha("doe")],
                "fn": [sha("jane")],
                "ct": [sha("springfield")],
                "st": [sha("il")],
                "zp": [sha("62701")],
                "country": [sha("us")],
                "external_id": [sha("cust_000123")],
                "client_ip_address": "203.0.113.45",
                "client_user_agent": load_fixture("purchase")["user_agent"],
            },
            "custom_data": {
                "currency": "USD",
                "value": "109.97",
                "content_ids": ["SKU_LINEN_SHIRT_M", "SKU_CANVAS_TOTE"],
                "contents": [
                    {
                        "id": "SKU_LINEN_SHIRT_M",
                        "item_price": "39.99",
                        "quantity": 2,
                        "item_name": "Linen Shirt",
                        "item_category": "Apparel",
                        "item_brand": "Example Co",
                    },
                    {
                        "id": "SKU_CANVAS_TOTE",
                        "item_price": "29.99",
                        "quantity": 1,
                        "item_name": "Canvas Tote",
                        "item_category": "Accessories",
                        "item_brand": "Example Co",
                    },
                ],
                "num_items": 3,
                "order_id": "T-100234",
            },
        }

    def test_page_view_takes_click_id_from_the_epik_url_parameter(self):
        event = one(load_fixture("page_view"), now=FIXTURE_NOW)
        assert event["event_name"] == "page_visit"
        assert event["event_time"] == 1_764_316_799
        assert event["user_data"] == {
            "click_id": "dj0yJnU9RkFLRV9URVNUX0VQSUsmcD0xJm49dGVzdCZ0PUFBQUFBQQ",
            "client_ip_address": IP,
            "client_user_agent": load_fixture("page_view")["user_agent"],
        }
        assert "custom_data" not in event

    def test_the_input_is_not_modified(self):
        fixture = load_fixture("purchase")
        one(fixture, now=FIXTURE_NOW)
        assert fixture == load_fixture("purchase")


class TestEventNames:
    @pytest.mark.parametrize(
        ("ga4", "pinterest"),
        [
            ("page_view", "page_visit"),
            ("gtm.dom", "page_visit"),
            ("view_item", "page_visit"),
            ("view_item_list", "view_category"),
            ("select_item", "view_content"),
            ("select_promotion", "view_content"),
            ("view_promotion", "view_content"),
            ("add_to_cart", "add_to_cart"),
            ("add_to_wishlist", "add_to_wishlist"),
            ("begin_checkout", "initiate_checkout"),
            ("add_shipping_info", "initiate_checkout"),
            ("add_payment_info", "add_payment_info"),
            ("purchase", "checkout"),
            ("generate_lead", "lead"),
            ("sign_up", "signup"),
            ("search", "search"),
            ("watch_video", "watch_video"),
            ("video_complete", "watch_video"),
            *((name, name) for name in ("contact", "submit_application", "find_location", "schedule")),
            *(
                (name, name)
                for name in ("start_trial", "customize_product", "subscribe", "app_install", "app_open")
            ),
            ("checkout", "checkout"),
            ("Purchase", "checkout"),
            ("refund", "custom"),
            ("addtocart", "add_to_cart"),
            ("AddToCart", "add_to_cart"),
            ("pagevisit", "page_visit"),
            ("appinstall", "app_install"),
            ("viewcategory", "view_category"),
            ("initiate-checkout", "initiate_checkout"),
            ("pageView", "page_visit"),
            ("beginCheckout", "initiate_checkout"),
            ("sign up", "signup"),
            ("addtobasket", "custom"),
        ],
    )
    def test_default_table(self, ga4, pinterest):
        assert one({**BASE, "event_name": ga4})["event_name"] == pinterest

    def test_event_name_map_adds_and_replaces_rows(self):
        config = MappingConfig(event_name_map={"view_item": "view_content", "refund": "custom_refund"})
        assert one({**BASE, "event_name": "view_item"}, config)["event_name"] == "view_content"
        assert one({**BASE, "event_name": "refund"}, config)["event_name"] == "custom_refund"
        assert one({**BASE, "event_name": "purchase"}, config)["event_name"] == "checkout"

    def test_override_forces_one_name(self):
        config = MappingConfig(event_name_override="lead")
        assert one({**BASE, "event_name": "purchase"}, config)["event_name"] == "lead"
        assert one({key: v for key, v in BASE.items() if key != "event_name"}, config)["event_name"] == "lead"

    @pytest.mark.parametrize(("policy", "expected"), [("custom", "custom"), ("passthrough", "Loyalty_Join")])
    def test_unmapped_events(self, policy, expected):
        config = MappingConfig(unmapped_events=policy)
        assert one({**BASE, "event_name": " Loyalty_Join "}, config)["event_name"] == expected

    def test_unmapped_events_drop_skips(self):
        assert (
            reason({**BASE, "event_name": "refund"}, MappingConfig(unmapped_events="drop"))
            == Reason.UNMAPPED_DROPPED
        )

    @pytest.mark.parametrize(
        ("forward", "skip", "name", "sent"),
        [
            (frozenset(), frozenset(), "page_view", True),
            (frozenset({"purchase"}), frozenset(), "page_view", False),
            (frozenset({"purchase", "page_view"}), frozenset(), "page_view", True),
            (frozenset(), frozenset({"page_view"}), "page_view", False),
            (frozenset({"page_view"}), frozenset({"page_view"}), "page_view", False),
        ],
    )
    def test_forward_and_skip_events(self, forward, skip, name, sent):
        [mapped] = run(
            [{**BASE, "event_name": name}], MappingConfig(forward_events=forward, skip_events=skip)
        )
        assert (mapped.event is not None) is sent
        if not sent:
            assert mapped.error.reason == Reason.EVENT_FILTERED

    @pytest.mark.parametrize("name", [None, "", "  ", 42])
    def test_missing_event_name_is_rejected(self, name):
        assert reason({**BASE, "event_name": name}) == Reason.MISSING_EVENT_NAME


class TestSources:
    @pytest.mark.parametrize(
        "event",
        [
            {"user_data": {"email_address": "a@b.co"}},
            {"user_data.email_address": "a@b.co"},
            {"user_data": {"email_address": ["a@b.co"]}},
            {"email": "a@b.co"},
            {"user_data": {"em": "a@b.co"}},
            {"user_data": {"sha256_email_address": sha("a@b.co")}},
        ],
        ids=["nested", "flattened", "array", "email", "pinterest-key", "ga4-sha256"],
    )
    def test_every_form_of_email(self, event):
        assert one({"event_name": "lead", **event})["user_data"]["em"] == [sha("a@b.co")]

    def test_first_source_wins(self):
        event = {"event_name": "lead", "user_data": {"email_address": "a@b.co"}, "email": "c@d.co"}
        assert one(event)["user_data"]["em"] == [sha("a@b.co")]

    def test_many_values_and_the_bracket_string_form(self):
        event = {"event_name": "lead", "user_data": {"email_address": "[A@b.co, c@d.co, a@b.co]"}}
        assert one(event)["user_data"]["em"] == [sha("a@b.co"), sha("c@d.co")]

    def test_digest_passes_through_lowercased(self):
        assert one({**BASE, "user_data": {"email_address": DIGEST}})["user_data"]["em"] == [DIGEST.lower()]

    @pytest.mark.parametrize("value", ["", "   ", [], [""], None, {}, "not-an-email"])
    def test_unusable_values_are_omitted_not_hashed(self, value):
        user_data = one({**BASE, "user_data": {"email_address": value}})["user_data"]
        assert "em" not in user_data
        assert sha("") not in str(user_data)

    def test_address_as_an_array(self):
        event = {
            **BASE,
            "user_data": {
                "address": [
                    {"first_name": "Jane", "city": "San Francisco", "region": "California", "country": "US"},
                    {"first_name": "Jane", "city": "Paris", "postal_code": "75001", "country": "FR"},
                ]
            },
        }
        user_data = one(event)["user_data"]
        assert user_data["fn"] == [sha("jane")]
        assert user_data["ct"] == [sha("sanfrancisco"), sha("paris")]
        assert user_data["st"] == [sha("ca")]
        assert user_data["country"] == [sha("us"), sha("fr")]
        assert user_data["zp"] == [sha("75001")]

    def test_flattened_address_keys(self):
        event = {**BASE, "user_data.address.city": "Köln", "user_data.address.country": "Germany"}
        user_data = one(event)["user_data"]
        assert user_data["ct"] == [sha("köln")]
        assert user_data["country"] == [sha("de")]

    def test_phone_takes_its_country_from_the_address(self):
        event = {**BASE, "user_data": {"phone_number": "030 1234567", "address": {"country": "DE"}}}
        assert one(event)["user_data"]["ph"] == [sha("49301234567")]

    def test_phone_falls_back_to_the_default_country(self):
        event = {**BASE, "user_data": {"phone_number": "030 1234567"}}
        assert "ph" not in one(event)["user_data"]
        assert one(event, MappingConfig(default_country="de"))["user_data"]["ph"] == [sha("49301234567")]

    def test_ga4_sha256_phone_is_not_used(self):
        event = {**BASE, "user_data": {"sha256_phone_number": sha("+15551234567")}}
        assert "ph" not in one(event)["user_data"]

    @pytest.mark.parametrize(("flag", "expected"), [(True, [sha("cust_1")]), (False, None)])
    def test_external_id_from_user_id(self, flag, expected):
        user_data = one({**BASE, "user_id": "CUST_1"}, MappingConfig(external_id_from_user_id=flag))[
            "user_data"
        ]
        assert user_data.get("external_id") == expected

    @pytest.mark.parametrize(
        ("extra", "click_id"),
        [
            ({"user_data": {"click_id": "explicit"}, "_epik": "cookie"}, "explicit"),
            ({"page_location": "https://x.test/p?epik=from-url", "_epik": "cookie"}, "from-url"),
            ({"page_referrer": "https://x.test/?a=1&epik=from-ref"}, "from-ref"),
            ({"_epik": "cookie"}, "cookie"),
            ({"page_location": "https://x.test/p?other=1"}, None),
        ],
    )
    def test_click_id(self, extra, click_id):
        assert one({**BASE, **extra})["user_data"].get("click_id") == click_id

    @pytest.mark.parametrize(
        ("extra", "key", "expected"),
        [
            ({"app_id": 123}, "app_id", "123"),
            ({"wifi": "true"}, "wifi", True),
            ({"wifi": False}, "wifi", False),
            ({"language": "de-DE"}, "language", "de"),
            ({"opt_out": "true"}, "opt_out", True),
            ({"action_source": "app_ios"}, "action_source", "app_ios"),
            ({"action_source": "moon"}, "action_source", "web"),
            (
                {"event_source_url": "https://a.test/x", "page_location": "https://b.test/"},
                "event_source_url",
                "https://a.test/x",
            ),
        ],
    )
    def test_event_level_fields(self, extra, key, expected):
        assert one({**BASE, **extra})[key] == expected

    def test_client_ip_must_be_an_ip(self):
        user_data = one({**BASE, "user_data": {"email_address": "a@b.co"}, "ip_override": "not-an-ip"})[
            "user_data"
        ]
        assert "client_ip_address" not in user_data


class TestCustomData:
    def test_value_from_items_without_float_noise(self):
        event = {**BASE, "items": [{"item_id": "a", "price": 0.1, "quantity": 3}]}
        custom = one(event)["custom_data"]
        assert custom["value"] == "0.3"
        assert custom["num_items"] == 3
        assert custom["contents"] == [{"id": "a", "item_price": "0.1", "quantity": 3}]

    @pytest.mark.parametrize(
        ("value", "expected"), [(109.97, "109.97"), ("12", "12"), (1e2, "100"), (0, "0"), ("19.990", "19.99")]
    )
    def test_value_is_a_decimal_string(self, value, expected):
        assert one({**BASE, "value": value})["custom_data"]["value"] == expected

    @pytest.mark.parametrize("value", ["abc", "NaN", "Infinity", "12 apples", "1,2,3", "12..5", "(12.50)"])
    def test_non_numeric_value_is_rejected(self, value):
        assert reason({**BASE, "value": value}) == Reason.INVALID_VALUE

    @pytest.mark.parametrize("quantity", [-1, 1.5, "many"])
    def test_bad_quantity_is_rejected(self, quantity):
        assert (
            reason({**BASE, "items": [{"item_id": "a", "price": 1, "quantity": quantity}]})
            == Reason.INVALID_VALUE
        )

    def test_items_without_quantity_count_once(self):
        custom = one({**BASE, "items": [{"item_id": "a", "price": "2.50"}, {"item_id": "b"}]})["custom_data"]
        assert custom["value"] == "2.5"
        assert custom["num_items"] == 2
        assert custom["content_ids"] == ["a", "b"]

    def test_explicit_fields_win_over_items(self):
        event = {**BASE, "items": [{"item_id": "a", "price": 1}], "content_ids": ["x", "y"], "num_items": 7}
        custom = one(event)["custom_data"]
        assert custom["content_ids"] == ["x", "y"]
        assert custom["num_items"] == 7

    @pytest.mark.parametrize(
        ("extra", "key", "expected"),
        [
            ({"transaction_id": 12345}, "order_id", "12345"),
            ({"order_id": "A", "transaction_id": "B"}, "order_id", "A"),
            ({"search_term": "linen shirt"}, "search_string", "linen shirt"),
            ({"currency": "eur"}, "currency", "EUR"),
            ({"opt_out_type": "LDP"}, "opt_out_type", "LDP"),
            ({"content_name": "Shirt"}, "content_name", "Shirt"),
        ],
    )
    def test_custom_fields(self, extra, key, expected):
        assert one({**BASE, **extra})["custom_data"][key] == expected


class TestOverrides:
    def test_an_overridden_email_is_normalised_and_hashed(self):
        config = MappingConfig(data_overrides={"user_data.email_address": " Ops@Example.COM "})
        assert one({**BASE, "user_data": {"email_address": "a@b.co"}}, config)["user_data"]["em"] == [
            sha("ops@example.com")
        ]

    @pytest.mark.parametrize(
        ("overrides", "path", "expected"),
        [
            ({"currency": "GBP"}, ("custom_data", "currency"), "GBP"),
            ({"action_source": "offline"}, ("action_source",), "offline"),
            ({"partner_name": "ss-example"}, ("partner_name",), "ss-example"),
            ({"event_id": "fixed"}, ("event_id",), "fixed"),
            ({"user_data.address.country": "France"}, ("user_data", "country"), [sha("fr")]),
        ],
    )
    def test_overrides(self, overrides, path, expected):
        event = one({**BASE, "currency": "USD"}, MappingConfig(data_overrides=overrides))
        for key in path:
            event = event[key]
        assert event == expected

    def test_event_time_override(self):
        config = MappingConfig(data_overrides={"event_time": NOW - 60})
        assert one({**BASE, "event_time": NOW - 3600}, config)["event_time"] == NOW - 60

    def test_partner_name_from_configuration(self):
        assert one(BASE, MappingConfig(partner_name="ss-acme"))["partner_name"] == "ss-acme"


class TestConsent:
    @pytest.mark.parametrize(
        ("signals", "policy", "outcome"),
        [
            ({"x-ga-gcs": "G111"}, "respect", None),
            ({"x-ga-gcs": "G101"}, "respect", "skipped"),
            ({"x-ga-gcs": "G110"}, "respect", None),
            ({"x-ga-gcs": "G100"}, "opt_out", True),
            ({"x-ga-gcs": "G100"}, "ignore", None),
            ({"x-ga-gcd": "13v3v3p3v5"}, "respect", "skipped"),  # ad_user_data denied
            ({"x-ga-gcd": "13v3v3v3q5"}, "respect", True),  # ad_personalization denied
            ({"x-ga-gcd": "13l3l3l3l1l1", "x-ga-gcs": "G111"}, "respect", None),  # gcd says nothing
            ({"x-ga-gcd": "13r3r3r3r5", "x-ga-gcs": "G100"}, "respect", None),  # gcd wins over gcs
            ({"x-ga-npa": "1"}, "respect", True),
            ({"consent_state": {"ad_storage": "denied"}, "x-ga-gcs": "G111"}, "respect", "skipped"),
            ({"consent_state": {"ad_storage": "granted"}, "x-ga-gcs": "G101"}, "respect", None),
            ({"consent_state": {"ad_personalization": "denied"}}, "respect", True),
            ({"consent_state": {"ad_personalization": "denied"}}, "ignore", None),
        ],
    )
    def test_policy(self, signals, policy, outcome):
        [mapped] = run([{**BASE, **signals}], MappingConfig(consent_policy=policy))
        if outcome == "skipped":
            assert mapped.error.reason == Reason.CONSENT_DENIED
        else:
            assert mapped.event.get("opt_out") is outcome

    @pytest.mark.parametrize("state", [[], {}, ["denied"], 3])
    def test_consent_state_of_any_shape_says_nothing(self, state):
        assert one({**BASE, "consent_state": {"ad_storage": state}}).get("opt_out") is None

    def test_explicit_opt_out_stays(self):
        assert one({**BASE, "opt_out": True}, MappingConfig(consent_policy="ignore"))["opt_out"] is True

    @pytest.mark.parametrize("policy", ["respect", "opt_out", "ignore"])
    def test_a_denied_visitor_published_without_personal_data_is_skipped_not_parked(self, policy):
        stripped = {"event_name": "purchase", "value": 5, "x-ga-gcs": "G100"}  # what the tag publishes
        [mapped] = run([stripped], MappingConfig(consent_policy=policy))
        assert (type(mapped.error).__name__, mapped.error.reason) == ("SkippedEvent", Reason.CONSENT_DENIED)

    def test_an_event_without_match_key_and_no_denial_is_still_rejected(self):
        [mapped] = run(
            [{"event_name": "purchase", "value": 5, "x-ga-gcs": "G111"}],
            MappingConfig(consent_policy="opt_out"),
        )
        assert mapped.error.reason == Reason.NO_MATCH_KEY


class TestValidation:
    def test_milliseconds_become_seconds(self):
        assert one({**BASE, "event_time": (NOW - 10) * 1000})["event_time"] == NOW - 10

    def test_time_sources_in_order(self):
        assert (
            one({**BASE, "x-sst-system_properties": {"request_start_time_ms": (NOW - 5) * 1000}})[
                "event_time"
            ]
            == NOW - 5
        )
        assert one(BASE, publish_time=NOW - 7)["event_time"] == NOW - 7
        assert one(BASE)["event_time"] == NOW

    def test_a_little_future_is_clamped_to_now(self):
        assert one({**BASE, "event_time": NOW + 299})["event_time"] == NOW

    @pytest.mark.parametrize(
        ("event_time", "expected"),
        [
            (NOW + 301, Reason.EVENT_IN_FUTURE),
            (NOW - 7 * 86_400 - 1, Reason.EVENT_TOO_OLD),
            ("yesterday", Reason.INVALID_EVENT_TIME),
            (True, Reason.INVALID_EVENT_TIME),
            (-5, Reason.INVALID_EVENT_TIME),
        ],
    )
    def test_rejected_times(self, event_time, expected):
        assert reason({**BASE, "event_time": event_time}) == expected

    def test_max_event_age_is_configurable(self):
        old = {**BASE, "event_time": NOW - 10 * 86_400}
        assert reason(old) == Reason.EVENT_TOO_OLD
        assert one(old, MappingConfig(max_event_age_days=30))["event_time"] == NOW - 10 * 86_400

    @pytest.mark.parametrize(
        "event",
        [
            {"event_name": "lead"},
            {"event_name": "lead", "ip_override": IP},
            {"event_name": "lead", "user_agent": UA, "user_data": {"phone_number": "+15551234567"}},
        ],
    )
    def test_no_match_key_is_rejected(self, event):
        assert reason(event) == Reason.NO_MATCH_KEY

    @pytest.mark.parametrize(
        "user_data", [{"email_address": "a@b.co"}, {"hashed_maids": "gaid-1"}], ids=["em", "hashed_maids"]
    )
    def test_match_keys(self, user_data):
        assert one({"event_name": "lead", "user_data": user_data})["event_name"] == "lead"

    def test_one_bad_event_never_affects_the_others(self):
        results = run([BASE, {"event_name": "lead"}, 7, {**BASE, "value": "x"}, BASE])
        assert [m.event is not None for m in results] == [True, False, False, False, True]
        assert [m.error.reason for m in results if m.error] == [
            Reason.NO_MATCH_KEY,
            Reason.NOT_AN_OBJECT,
            Reason.INVALID_VALUE,
        ]
        assert [m.index for m in results] == [0, 1, 2, 3, 4]


class TestEventId:
    def test_the_events_own_id_wins(self):
        [mapped] = run([{**BASE, "event_id": 987}], event_ids=["given"])
        assert (mapped.event["event_id"], mapped.event_id, mapped.own_event_id) == ("987", "987", True)

    def test_a_given_default_id_is_used_when_the_event_has_none(self):
        [mapped] = run([BASE], event_ids=["first-sent-as"])
        assert (mapped.event["event_id"], mapped.own_event_id) == ("first-sent-as", False)

    def test_derived_ids_depend_on_the_content_only(self):
        first = run([BASE, {**BASE, "value": 6}])
        alone = run([{**BASE, "value": 6}])
        reordered = run([dict(reversed(list({**BASE, "value": 6}.items())))])
        assert first[1].event_id == alone[0].event_id == reordered[0].event_id
        assert first[0].event_id != first[1].event_id
        assert not first[0].own_event_id

    def test_identical_events_in_one_message_get_distinct_ids(self):
        ids = [m.event["event_id"] for m in run([BASE, BASE, BASE])]
        assert len(set(ids)) == 3
        assert ids[1:] == [f"{ids[0]}-1", f"{ids[0]}-2"]

    def test_events_that_are_not_sent_still_have_their_id_and_name(self):
        no_key, not_object = run([{"event_name": "purchase"}, 7])
        assert (no_key.event_name, no_key.error.reason) == ("checkout", Reason.NO_MATCH_KEY)
        assert no_key.event_id == derived_event_ids([{"event_name": "purchase"}])[0]
        assert not_object.event_id
        assert not_object.error.reason == Reason.NOT_AN_OBJECT


def test_configs_are_immutable():
    config = MappingConfig()
    with pytest.raises(AttributeError):
        config.consent_policy = "ignore"  # type: ignore[misc]
    assert replace(config, consent_policy="ignore").consent_policy == "ignore"


EMPTY_DIGEST = sha("")
USER_FIELDS = ["email_address", "phone_number", "gender", "date_of_birth", "external_id", "hashed_maids"]
ADDRESS_FIELDS = ["first_name", "last_name", "city", "region", "postal_code", "country"]


class TestRealData:
    """Values as people and shop systems really send them (DESIGN §3.3), through the whole mapping."""

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("1,299.00", "1299"),
            ("1.299,00", "1299"),
            ("12,50", "12.5"),
            ("$12.50", "12.5"),
            ("12.5 USD", "12.5"),
        ],
    )
    def test_values_as_written(self, value, expected):
        assert one({**BASE, "value": value})["custom_data"]["value"] == expected

    def test_item_prices_as_written(self):
        items = [{"item_id": "a", "price": "€1.299,00", "quantity": "2"}, {"item_id": "b", "price": "$0.50"}]
        custom = one({**BASE, "items": items})["custom_data"]
        assert [c["item_price"] for c in custom["contents"]] == ["1299", "0.5"]
        assert custom["value"] == "2598.5"

    @pytest.mark.parametrize("price", ["free", "1,2,3", "12 apples"])
    def test_a_price_no_reading_makes_a_number_rejects_the_event(self, price):
        assert reason({**BASE, "items": [{"item_id": "a", "price": price}]}) == Reason.INVALID_VALUE

    @pytest.mark.parametrize("key", ["items", "contents"])
    def test_items_and_contents_as_a_json_string(self, key):
        given_items = '[{"item_id": "a", "item_price": "2.50", "price": "2.50", "quantity": 2}, {"id": "b"}]'
        custom = one({**BASE, key: given_items})["custom_data"]
        assert custom["content_ids"] == ["a", "b"]
        assert custom["num_items"] == 3
        assert custom["value"] == "5"

    def test_a_json_string_that_is_not_a_list_of_items_is_ignored(self):
        assert "custom_data" not in one({**BASE, "items": "[not json"})

    def test_line_items_as_pinterests_tag_writes_them(self):
        line_items = [
            {"product_id": "sku-1", "product_name": "Shirt", "product_category": "Apparel",
             "product_price": "19.99", "product_quantity": 2, "product_brand": "Acme"},
            {"product_id": "sku-2", "product_price": 5},
        ]  # fmt: skip
        custom = one({**BASE, "line_items": line_items})["custom_data"]
        assert custom["contents"][0] == {
            "id": "sku-1",
            "item_price": "19.99",
            "quantity": 2,
            "item_name": "Shirt",
            "item_category": "Apparel",
            "item_brand": "Acme",
        }
        assert (custom["value"], custom["num_items"]) == ("44.98", 3)

    def test_ga4_items_win_over_line_items(self):
        event = {**BASE, "items": [{"item_id": "ga4"}], "line_items": [{"product_id": "tag"}]}
        assert one(event)["custom_data"]["content_ids"] == ["ga4"]

    @pytest.mark.parametrize(
        ("event_time", "expected"),
        [
            ("2027-01-15T07:00:00Z", NOW - 3600),
            ("2027-01-15T08:00:00+01:00", NOW - 3600),
            ("2027-01-15 07:00:00", NOW - 3600),
            ("1799996400", NOW - 3600),
        ],
        ids=["utc", "offset", "no-offset-is-utc", "seconds-as-text"],
    )
    def test_event_time_as_iso_8601_text(self, event_time, expected):
        assert one({**BASE, "event_time": event_time})["event_time"] == expected

    @pytest.mark.parametrize("event_time", ["2027-13-01T00:00:00Z", "15/01/2027", "tomorrow"])
    def test_event_time_text_that_is_no_time_is_rejected(self, event_time):
        assert reason({**BASE, "event_time": event_time}) == Reason.INVALID_EVENT_TIME

    @pytest.mark.parametrize(
        ("ip_override", "expected"),
        [("203.0.113.7, 10.0.0.1", "203.0.113.7"), ("2001:db8::7,10.0.0.1", "2001:db8::7")],
    )
    def test_forwarded_ip_lists(self, ip_override, expected):
        assert one({**BASE, "ip_override": ip_override})["user_data"]["client_ip_address"] == expected

    @pytest.mark.parametrize(
        ("language", "expected"),
        [("en-GB,en-US;q=0.9", "en"), ("de-CH, fr;q=0.9", "de"), ("*;q=0.1, ja", "ja")],
    )
    def test_language_from_accept_language(self, language, expected):
        assert one({**BASE, "language": language})["language"] == expected

    @pytest.mark.parametrize(
        "written",
        [
            "mailto:Jane@Example.com",
            "Jane@Example.com\u200b",
            "Jane <jane@example.com>",
            "\ufeffjane@example.com",
        ],
    )
    def test_email_forms(self, written):
        assert one({**BASE, "user_data": {"email_address": written}})["user_data"]["em"] == [
            sha("jane@example.com")
        ]

    @pytest.mark.parametrize("written", ["test..test@example.com", "test@example.com.", "jane@example"])
    def test_an_invalid_address_is_no_match_key(self, written):
        assert reason({"event_name": "lead", "user_data": {"email_address": written}}) == Reason.NO_MATCH_KEY

    @pytest.mark.parametrize(
        ("phone", "address", "expected"),
        [
            ("Call +1 555 123 4567", {}, "15551234567"),
            ("1-555-123-4567", {}, "15551234567"),
            ("tel:+1-555-123-4567", {}, "15551234567"),
            ("+001 (616) 954-78 88", {}, "16169547888"),
            ("555_123_4567", {"country": "United States"}, "15551234567"),
            ("030 1234567", {"country": "Deutschland"}, "49301234567"),
        ],
    )
    def test_phone_forms(self, phone, address, expected):
        event = {**BASE, "user_data": {"phone_number": phone, "address": address}}
        assert one(event)["user_data"]["ph"] == [sha(expected)]

    @pytest.mark.parametrize(
        ("country", "expected"), [("US", "19950305"), ("Germany", "19950503"), ("", "19950503")]
    )
    def test_an_ambiguous_birth_date_is_read_by_the_events_country(self, country, expected):
        event = {**BASE, "user_data": {"date_of_birth": "03-05-1995", "address": {"country": country}}}
        assert one(event)["user_data"]["db"] == [sha(expected)]

    def test_the_default_country_decides_when_no_address_says(self):
        event = {**BASE, "user_data": {"date_of_birth": "03-05-1995"}}
        assert one(event, MappingConfig(default_country="us"))["user_data"]["db"] == [sha("19950305")]

    @pytest.mark.parametrize(
        ("address", "st"),
        [
            ({"region": "Calif.", "country": "USA"}, "ca"),
            ({"region": "Washington, D.C.", "country": "US"}, "dc"),
            ({"region": "South Holland", "country": "NL"}, "zh"),
            ({"region": "Comunidad de Madrid", "country": "España"}, "md"),
            ({"region": "NRW", "country": "DE"}, "nw"),
            ({"region": "XY", "country": "US"}, None),
            ({"region": "XY"}, "xy"),
        ],
    )
    def test_states(self, address, st):
        user_data = one({**BASE, "user_data": {"address": address}})["user_data"]
        assert user_data.get("st") == ([sha(st)] if st else None)

    @pytest.mark.parametrize(
        ("address", "zp"),
        [
            ({"postal_code": 2101, "country": "US"}, "02101"),
            ({"postal_code": "〒100-0001", "country": "JP"}, "1000001"),
        ],
    )
    def test_postcodes(self, address, zp):
        assert one({**BASE, "user_data": {"address": address}})["user_data"]["zp"] == [sha(zp)]

    @pytest.mark.parametrize(
        ("country", "code"),
        [("UAE", "ae"), ("DR Congo", "cd"), ("EE.UU.", "us"), ("Polska", "pl"), ("日本", "jp")],
    )
    def test_countries(self, country, code):
        user_data = one({**BASE, "user_data": {"address": {"country": country}}})["user_data"]
        assert user_data["country"] == [sha(code)]


TEXT = st.one_of(
    st.text(max_size=30), st.sampled_from(["", " ", "\u200b", "\ufeff", "\u00a0", "n/a", "mailto:"])
)


@settings(max_examples=150, deadline=None)
@given(
    user=st.fixed_dictionaries({}, optional=dict.fromkeys(USER_FIELDS, TEXT)),
    address=st.fixed_dictionaries({}, optional=dict.fromkeys(ADDRESS_FIELDS, TEXT)),
)
def test_nothing_empty_is_ever_hashed(user, address):
    [mapped] = map_events(
        [{**BASE, "user_data": {**user, "address": address}}], config=MappingConfig(), now=NOW
    )
    assert mapped.event is not None
    hashed = [v for values in mapped.event["user_data"].values() if isinstance(values, list) for v in values]
    assert EMPTY_DIGEST not in hashed
    assert all(len(digest) == 64 and digest == digest.lower() for digest in hashed)


@settings(max_examples=100, deadline=None)
@given(digest=st.text("0123456789abcdefABCDEF", min_size=64, max_size=64), field=st.sampled_from(USER_FIELDS))
def test_digests_pass_through_every_hashed_field(digest, field):
    [mapped] = map_events([{**BASE, "user_data": {field: digest}}], config=MappingConfig(), now=NOW)
    assert digest.lower() in next(iter(v for v in mapped.event["user_data"].values() if isinstance(v, list)))
