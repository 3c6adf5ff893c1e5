"""Configuration from environment variables: defaults, parsing, and errors that name the variable."""

from __future__ import annotations

import pytest

from lib.config import ALL_VARIABLES, DeliveryConfig, load_delivery_config, load_mapping_config
from lib.errors import ConfigError
from lib.mapping import MappingConfig

CREDENTIALS = {"PINTEREST_AD_ACCOUNT_ID": "549755885175", "PINTEREST_ACCESS_TOKEN": "pina_secret_token"}


def test_defaults():
    assert load_mapping_config({}) == MappingConfig()
    delivery = load_delivery_config(CREDENTIALS)
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
    assert getattr(load_delivery_config({**CREDENTIALS, **env}), attribute) == expected


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
        load_delivery_config({**CREDENTIALS, **env})


def test_the_token_is_never_shown():
    delivery = load_delivery_config(CREDENTIALS)
    assert "pina_secret_token" not in repr(delivery)
    with pytest.raises(ConfigError) as error:
        load_delivery_config({**CREDENTIALS, "PINTEREST_AD_ACCOUNT_ID": "pina_secret_token"})
    assert "pina_secret_token" not in str(error.value)


def test_every_variable_is_in_the_readme():
    readme = (__import__("pathlib").Path(__file__).resolve().parents[1] / "README.md").read_text()
    missing = [name for name in ALL_VARIABLES if f"`{name}`" not in readme]
    assert not missing
