"""Configuration from environment variables: defaults, parsing, and errors that name the variable."""

from __future__ import annotations

import pytest

from lib.config import ALL_VARIABLES, DeliveryConfig, load_config, load_mapping_config
from lib.errors import ConfigError
from lib.mapping import MappingConfig

CREDENTIALS = {"PINTEREST_AD_ACCOUNT_ID": "549755885175", "PINTEREST_ACCESS_TOKEN": "pina_secret_token"}


def test_defaults():
    assert load_mapping_config({}) == MappingConfig()
    mapping, delivery = load_config(CREDENTIALS)
    assert mapping == MappingConfig()
    assert delivery == DeliveryConfig(ad_account_id="549755885175", access_token="pina_secret_token")
    assert delivery.api_base_url == "https://api.pinterest.com/v5"


@pytest.mark.parametrize(
    ("env", "attribute", "expected"),
    [
        (
            {"EVENT_NAME_MAP": '{"View_Item": "view_content"}'},
            "event_name_map",
            {"view_item": "view_content"},
        ),
        ({"EVENT_NAME_OVERRIDE": " lead "}, "event_name_override", "lead"),
        ({"UNMAPPED_EVENTS": "Drop"}, "unmapped_events", "drop"),
        ({"FORWARD_EVENTS": "purchase, Page_View,,"}, "forward_events", frozenset({"purchase", "page_view"})),
        ({"SKIP_EVENTS": "scroll"}, "skip_events", frozenset({"scroll"})),
        ({"DATA_OVERRIDES": '{"currency": "EUR"}'}, "data_overrides", {"currency": "EUR"}),
        ({"CONSENT_POLICY": "ignore"}, "consent_policy", "ignore"),
        ({"EXTERNAL_ID_FROM_USER_ID": "false"}, "external_id_from_user_id", False),
        ({"EXTERNAL_ID_FROM_USER_ID": "Off"}, "external_id_from_user_id", False),
        ({"DEFAULT_ACTION_SOURCE": "offline"}, "default_action_source", "offline"),
        ({"DEFAULT_COUNTRY": "DE"}, "default_country", "de"),
        ({"PARTNER_NAME": "ss-acme"}, "partner_name", "ss-acme"),
        ({"MAX_EVENT_AGE_DAYS": "30"}, "max_event_age_days", 30),
        ({"MAX_EVENT_AGE_DAYS": "  "}, "max_event_age_days", 7),
    ],
)
def test_mapping_variables(env, attribute, expected):
    assert getattr(load_mapping_config(env), attribute) == expected


@pytest.mark.parametrize(
    ("env", "attribute", "expected"),
    [
        ({"PINTEREST_TEST_MODE": "TRUE"}, "test_mode", True),
        ({"PINTEREST_API_BASE_URL": "http://127.0.0.1:9000/v5/"}, "api_base_url", "http://127.0.0.1:9000/v5"),
        ({"DEAD_LETTER_TOPIC": "projects/p/topics/dlq"}, "dead_letter_topic", "projects/p/topics/dlq"),
        ({"LOG_MODE": "off"}, "log_mode", "off"),
        ({"PINTEREST_READ_TIMEOUT_SECONDS": "2.5"}, "read_timeout", 2.5),
        ({"BATCH_WINDOW_MS": "0"}, "batch_window_ms", 0),
        ({"BATCH_MAX_EVENTS": "500"}, "batch_max_events", 500),
    ],
)
def test_delivery_variables(env, attribute, expected):
    assert getattr(load_config({**CREDENTIALS, **env})[1], attribute) == expected


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"EVENT_NAME_MAP": "[1]"}, "EVENT_NAME_MAP"),
        ({"EVENT_NAME_MAP": '{"a": 1}'}, "EVENT_NAME_MAP"),
        ({"UNMAPPED_EVENTS": "keep"}, "UNMAPPED_EVENTS"),
        ({"DATA_OVERRIDES": "{not json"}, "DATA_OVERRIDES"),
        ({"DATA_OVERRIDES": '{"user_data.shoe_size": 9}'}, "DATA_OVERRIDES"),
        ({"CONSENT_POLICY": "maybe"}, "CONSENT_POLICY"),
        ({"EXTERNAL_ID_FROM_USER_ID": "perhaps"}, "EXTERNAL_ID_FROM_USER_ID"),
        ({"DEFAULT_COUNTRY": "Germany"}, "DEFAULT_COUNTRY"),
        ({"MAX_EVENT_AGE_DAYS": "0"}, "MAX_EVENT_AGE_DAYS"),
        ({"MAX_EVENT_AGE_DAYS": "seven"}, "MAX_EVENT_AGE_DAYS"),
    ],
)
def test_mapping_errors_name_the_variable(env, variable):
    with pytest.raises(ConfigError, match=variable):
        load_mapping_config(env)


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"PINTEREST_ACCESS_TOKEN": ""}, "PINTEREST_ACCESS_TOKEN"),
        ({"PINTEREST_AD_ACCOUNT_ID": "act_12"}, "PINTEREST_AD_ACCOUNT_ID"),
        ({"PINTEREST_AD_ACCOUNT_ID": ""}, "PINTEREST_AD_ACCOUNT_ID"),
        ({"PINTEREST_TEST_MODE": "sometimes"}, "PINTEREST_TEST_MODE"),
        ({"PINTEREST_API_BASE_URL": "ftp://x"}, "PINTEREST_API_BASE_URL"),
        ({"DEAD_LETTER_TOPIC": "dlq"}, "DEAD_LETTER_TOPIC"),
        ({"LOG_MODE": "verbose"}, "LOG_MODE"),
        ({"BATCH_MAX_EVENTS": "5000"}, "BATCH_MAX_EVENTS"),
    ],
)
def test_delivery_errors_name_the_variable(env, variable):
    with pytest.raises(ConfigError, match=variable):
        load_config({**CREDENTIALS, **env})


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ('{"event_time": "yesterday"}', "DATA_OVERRIDES event_time: event_time is not a Unix time"),
        ('{"currency": "euros"}', "DATA_OVERRIDES currency: not a usable value"),
        ('{"value": "lots"}', "DATA_OVERRIDES value: a value or price is not a number"),
        ('{"custom_data.currency": "EUR"}', "DATA_OVERRIDES unknown parameter names: custom_data.currency"),
        (
            '{"user_data.email_address": "not an address"}',
            "DATA_OVERRIDES user_data.email_address: not a usable",
        ),
    ],
    ids=["event_time", "currency", "value", "unknown-name", "email"],
)
def test_override_values_are_checked_by_their_fields_rules(overrides, problem):
    with pytest.raises(ConfigError) as error:
        load_mapping_config({"DATA_OVERRIDES": overrides})
    assert problem in str(error.value)


@pytest.mark.parametrize(
    "overrides",
    [
        '{"event_time": 1764317000}',
        '{"currency": "eur", "value": "12.50"}',
        '{"action_source": "offline", "partner_name": "ss-acme"}',
        '{"user_data.email_address": "Jane@Example.com", "user_data.phone_number": "+1 555 123 4567"}',
    ],
)
def test_usable_override_values_load(overrides):
    assert load_mapping_config({"DATA_OVERRIDES": overrides}).data_overrides


def test_every_problem_is_reported_at_once():
    env = {
        "CONSENT_POLICY": "strict",
        "UNMAPPED_EVENTS": "keep",
        "DATA_OVERRIDES": '{"event_time": "yesterday", "currency": "euros"}',
        "BATCH_MAX_EVENTS": "5000",
        "PINTEREST_AD_ACCOUNT_ID": "",
    }
    with pytest.raises(ConfigError) as error:
        load_config(env)
    message = str(error.value)
    for named in (
        "CONSENT_POLICY",
        "UNMAPPED_EVENTS",
        "DATA_OVERRIDES event_time",
        "DATA_OVERRIDES currency",
        "BATCH_MAX_EVENTS",
        "PINTEREST_AD_ACCOUNT_ID",
        "PINTEREST_ACCESS_TOKEN",
    ):
        assert named in message


def test_the_token_is_never_shown():
    _, delivery = load_config(CREDENTIALS)
    assert "pina_secret_token" not in repr(delivery)
    with pytest.raises(ConfigError) as error:
        load_config({**CREDENTIALS, "PINTEREST_AD_ACCOUNT_ID": "pina_secret_token"})
    assert "pina_secret_token" not in str(error.value)


def test_every_variable_is_in_the_readme():
    readme = (__import__("pathlib").Path(__file__).resolve().parents[1] / "README.md").read_text()
    missing = [name for name in ALL_VARIABLES if f"`{name}`" not in readme]
    assert not missing
