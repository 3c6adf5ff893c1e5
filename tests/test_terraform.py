"""Offline checks of terraform/: wiring, least privilege and secrecy, read from the HCL by python-hcl2."""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import hcl2
import pytest

from lib.config import ALL_VARIABLES, load_config

TF_DIR = Path(__file__).resolve().parents[1] / "terraform"
Tf = dict[str, list[Any]]  # python-hcl2's view of every .tf file, merged by top-level key
# Plain strings ("roles/run.invoker", not '"roles/run.invoker"'); expressions stay "${...}".
_OPTIONS = hcl2.SerializationOptions(strip_string_quotes=True, with_comments=False)

# IAM member resource type -> the argument that names the resource the role is granted on.
_IAM_TARGET = {
    "google_pubsub_topic_iam_member": "topic",
    "google_pubsub_subscription_iam_member": "subscription",
    "google_secret_manager_secret_iam_member": "secret_id",
    "google_service_account_iam_member": "service_account_id",
    "google_cloud_run_v2_service_iam_member": "name",
    "google_cloud_run_service_iam_member": "service",
    "google_cloudfunctions2_function_iam_member": "cloud_function",
}
_REQUIRED_APIS = (
    "cloudfunctions.googleapis.com",
    "run.googleapis.com",
    "cloudbuild.googleapis.com",
    "artifactregistry.googleapis.com",
    "pubsub.googleapis.com",
    "secretmanager.googleapis.com",
    "iam.googleapis.com",
    "storage.googleapis.com",
)
_CLOSED_SET_VARIABLES = ("log_mode", "unmapped_events", "consent_policy", "default_action_source")
_SET_BY_TERRAFORM = {"DEAD_LETTER_TOPIC", "PINTEREST_ACCESS_TOKEN"}


class Grant(NamedTuple):
    kind: str
    role: str
    member: str
    target: str


def _ref(*parts: str) -> str:
    return "${" + ".".join(parts) + "}"


def _tf_files() -> list[Path]:
    # *_override.tf files are a user's local tweaks (docs/deploy.md: local state), not the product.
    return sorted(p for p in TF_DIR.glob("*.tf") if not p.name.endswith("_override.tf"))


@functools.cache
def _load() -> Tf:
    merged: Tf = {}
    for path in _tf_files():
        with path.open(encoding="utf-8") as handle:
            for kind, items in hcl2.load(handle, serialization_options=_OPTIONS).items():
                merged.setdefault(kind, []).extend(items)
    return merged


@pytest.fixture(scope="module")
def tf() -> Tf:
    return _load()


def _all_resources(tf: Tf) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for item in tf.get("resource", []):
        for kind, named in item.items():
            for name, body in named.items():
                yield kind, name, body


def _resources(tf: Tf, kind: str) -> dict[str, dict[str, Any]]:
    return {name: body for k, name, body in _all_resources(tf) if k == kind}


def _only(tf: Tf, kind: str) -> tuple[str, dict[str, Any]]:
    found = _resources(tf, kind)
    assert len(found) == 1, f"expected one {kind}, found {sorted(found)}"
    return next(iter(found.items()))


def _block(body: dict[str, Any], key: str) -> dict[str, Any]:
    blocks = body.get(key, [])
    assert len(blocks) == 1, f"expected one {key} block"
    return blocks[0]


def _variables(tf: Tf) -> dict[str, dict[str, Any]]:
    return {name: body for item in tf.get("variable", []) for name, body in item.items()}


def _locals(tf: Tf) -> dict[str, Any]:
    return {k: v for item in tf.get("locals", []) for k, v in item.items() if not k.startswith("__")}


def _resolve(tf: Tf, value: Any) -> Any:
    """A literal, or the default of the variable `${var.NAME}` refers to."""
    match = re.fullmatch(r"\$\{var\.(\w+)\}", str(value))
    return _variables(tf)[match.group(1)]["default"] if match else value


def _ref_name(value: str, kind: str, attribute: str) -> str:
    match = re.fullmatch(rf"\$\{{{kind}\.(\w+)\.{attribute}\}}", value)
    assert match, f"{value!r} is not a reference to {kind}.*.{attribute}"
    return match.group(1)


def _function(tf: Tf) -> tuple[str, dict[str, Any]]:
    return _only(tf, "google_cloudfunctions2_function")


def _service_config(tf: Tf) -> dict[str, Any]:
    return _block(_function(tf)[1], "service_config")


def _push_subscription(tf: Tf) -> tuple[str, dict[str, Any]]:
    pushes = {n: b for n, b in _resources(tf, "google_pubsub_subscription").items() if "push_config" in b}
    assert len(pushes) == 1, f"expected one push subscription, found {sorted(pushes)}"
    return next(iter(pushes.items()))


def _dead_letter_topic(tf: Tf) -> str:
    policy = _block(_push_subscription(tf)[1], "dead_letter_policy")
    return _ref_name(policy["dead_letter_topic"], "google_pubsub_topic", "id")


def _runtime_account(tf: Tf) -> str:
    return _ref_name(_service_config(tf)["service_account_email"], "google_service_account", "email")


def _push_account(tf: Tf) -> str:
    oidc = _block(_block(_push_subscription(tf)[1], "push_config"), "oidc_token")
    return _ref_name(oidc["service_account_email"], "google_service_account", "email")


def _grants(tf: Tf) -> list[Grant]:
    return [
        Grant(kind, body["role"], body["member"], body[_IAM_TARGET[kind]])
        for kind, _, body in _all_resources(tf)
        if kind in _IAM_TARGET
    ]


def _grants_to(tf: Tf, member: str) -> set[Grant]:
    return {grant for grant in _grants(tf) if grant.member == member}


def _account_member(account: str) -> str:
    return _ref("google_service_account", account, "member")


def _env_string(value: Any) -> str:
    """A variable's value as Terraform's `tostring` puts it in the environment."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _tf_text() -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in _tf_files())


def test_nothing_is_granted_to_the_public() -> None:
    text = _tf_text()
    assert "allUsers" not in text
    assert "allAuthenticatedUsers" not in text


def test_grants_are_members_on_single_resources_never_the_project(tf: Tf) -> None:
    iam_kinds = {kind for kind, _, _ in _all_resources(tf) if "_iam_" in kind}
    assert iam_kinds <= set(_IAM_TARGET), (
        "only *_iam_member on single resources (no policy, binding, project)"
    )
    assert not {
        kind for kind in iam_kinds if kind.startswith(("google_project_iam", "google_organization_iam"))
    }


def test_push_subscription_targets_the_function_with_oidc(tf: Tf) -> None:
    function_name, _ = _function(tf)
    uri = _ref("google_cloudfunctions2_function", function_name, "service_config[0]", "uri")
    push = _block(_push_subscription(tf)[1], "push_config")
    oidc = _block(push, "oidc_token")
    assert push["push_endpoint"] == uri
    assert oidc["audience"] == uri
    assert _push_account(tf) != _runtime_account(tf)


def test_push_subscription_retries_with_backoff(tf: Tf) -> None:
    retry = _block(_push_subscription(tf)[1], "retry_policy")
    assert (retry["minimum_backoff"], retry["maximum_backoff"]) == ("10s", "600s")


def test_push_subscription_dead_letters_after_bounded_attempts(tf: Tf) -> None:
    policy = _block(_push_subscription(tf)[1], "dead_letter_policy")
    assert policy["max_delivery_attempts"] == _ref("var", "max_delivery_attempts")
    attempts = _variables(tf)["max_delivery_attempts"]
    assert 5 <= attempts["default"] <= 100
    condition = _block(attempts, "validation")["condition"]
    assert ">= 5" in condition
    assert "<= 100" in condition
    assert _dead_letter_topic(tf) in _resources(tf, "google_pubsub_topic")


def test_ack_deadline_covers_the_function_timeout(tf: Tf) -> None:
    _, subscription = _push_subscription(tf)
    ack = _resolve(tf, subscription["ack_deadline_seconds"])
    timeout = _resolve(tf, _service_config(tf)["timeout_seconds"])
    assert ack >= timeout
    precondition = _block(_block(subscription, "lifecycle"), "precondition")["condition"]
    assert precondition == "${var.ack_deadline_seconds >= var.timeout_seconds}"


def test_a_push_is_answered_within_the_function_timeout(tf: Tf) -> None:
    budget = (
        "delivery_deadline_seconds",
        "pinterest_connect_timeout_seconds",
        "pinterest_read_timeout_seconds",
    )
    variables = _variables(tf)
    assert sum(variables[name]["default"] for name in budget) < variables["timeout_seconds"]["default"]
    preconditions = _block(_function(tf)[1], "lifecycle")["precondition"]
    assert any(all(f"var.{name}" in p["condition"] for name in budget) for p in preconditions)


def test_terraform_defaults_are_the_function_defaults(tf: Tf) -> None:
    """The function configured by Terraform's defaults behaves as with no configuration at all."""
    required = {"PINTEREST_AD_ACCOUNT_ID": "1", "PINTEREST_ACCESS_TOKEN": "x"}
    variables = _variables(tf)
    env = {
        name: _env_string(variables[name.lower()]["default"])
        for name in set(ALL_VARIABLES) - _SET_BY_TERRAFORM - set(required)
    }
    assert load_config({**env, **required}) == load_config(required)


@pytest.mark.parametrize("name", sorted(_resources(_load(), "google_pubsub_subscription")))
def test_subscriptions_never_expire(tf: Tf, name: str) -> None:
    body = _resources(tf, "google_pubsub_subscription")[name]
    assert _block(body, "expiration_policy")["ttl"] == ""


def test_dead_letter_topic_has_a_pull_subscription_keeping_seven_days(tf: Tf) -> None:
    dead_letter_id = _ref("google_pubsub_topic", _dead_letter_topic(tf), "id")
    holders = [
        b for b in _resources(tf, "google_pubsub_subscription").values() if b["topic"] == dead_letter_id
    ]
    assert len(holders) == 1
    assert "push_config" not in holders[0]
    assert holders[0]["message_retention_duration"] == "604800s"


def test_function_reads_the_dead_letter_topic_terraform_made(tf: Tf) -> None:
    env = _service_config(tf)["environment_variables"]
    assert env["DEAD_LETTER_TOPIC"] == _ref("google_pubsub_topic", _dead_letter_topic(tf), "id")


def test_the_server_runs_as_many_threads_as_the_platform_sends_requests(tf: Tf) -> None:
    config = _service_config(tf)
    assert config["max_instance_request_concurrency"] == "${var.max_instance_request_concurrency}"
    assert config["environment_variables"]["THREADS"] == "${tostring(var.max_instance_request_concurrency)}"


def test_pubsub_service_agent_has_exactly_the_dead_letter_grants(tf: Tf) -> None:
    agent = _locals(tf)["pubsub_service_agent"]
    assert re.fullmatch(
        r"serviceAccount:service-\$\{data\.google_project\.\w+\.number\}@gcp-sa-pubsub\.iam\.gserviceaccount\.com",
        agent,
    )
    push_subscription, _ = _push_subscription(tf)
    assert _grants_to(tf, _ref("local", "pubsub_service_agent")) == {
        Grant(
            "google_service_account_iam_member",
            "roles/iam.serviceAccountTokenCreator",
            _ref("local", "pubsub_service_agent"),
            _ref("google_service_account", _push_account(tf), "name"),
        ),
        Grant(
            "google_pubsub_topic_iam_member",
            "roles/pubsub.publisher",
            _ref("local", "pubsub_service_agent"),
            _ref("google_pubsub_topic", _dead_letter_topic(tf), "name"),
        ),
        Grant(
            "google_pubsub_subscription_iam_member",
            "roles/pubsub.subscriber",
            _ref("local", "pubsub_service_agent"),
            _ref("google_pubsub_subscription", push_subscription, "name"),
        ),
    }


def test_runtime_account_reads_the_secret_and_publishes_dead_letters_only(tf: Tf) -> None:
    member = _account_member(_runtime_account(tf))
    secret = _block(_service_config(tf), "secret_environment_variables")["secret"]
    assert _grants_to(tf, member) == {
        Grant(
            "google_secret_manager_secret_iam_member", "roles/secretmanager.secretAccessor", member, secret
        ),
        Grant(
            "google_pubsub_topic_iam_member",
            "roles/pubsub.publisher",
            member,
            _ref("google_pubsub_topic", _dead_letter_topic(tf), "name"),
        ),
    }


def test_push_account_may_only_invoke_the_function_service(tf: Tf) -> None:
    function_name, _ = _function(tf)
    member = _account_member(_push_account(tf))
    # A 2nd gen function is invoked through its Cloud Run service: run.invoker there is what counts.
    assert _grants_to(tf, member) == {
        Grant(
            "google_cloud_run_v2_service_iam_member",
            "roles/run.invoker",
            member,
            _ref("google_cloudfunctions2_function", function_name, "name"),
        )
    }


def test_server_container_may_publish_to_the_events_topic_when_named(tf: Tf) -> None:
    topic = _ref_name(_push_subscription(tf)[1]["topic"], "google_pubsub_topic", "id")
    member = "serviceAccount:" + _ref("var", "sgtm_service_account_email")
    [body] = [b for b in _resources(tf, "google_pubsub_topic_iam_member").values() if b["member"] == member]
    assert body["role"] == "roles/pubsub.publisher"
    assert body["topic"] == _ref("google_pubsub_topic", topic, "name")
    assert "var.sgtm_service_account_email" in body["count"]
    assert _variables(tf)["sgtm_service_account_email"]["default"] == ""


def test_every_grant_is_accounted_for(tf: Tf) -> None:
    members = {
        _ref("local", "pubsub_service_agent"),
        _account_member(_runtime_account(tf)),
        _account_member(_push_account(tf)),
        "serviceAccount:" + _ref("var", "sgtm_service_account_email"),
    }
    assert {grant.member for grant in _grants(tf)} == members
    assert len(_grants(tf)) == 7


def test_access_token_is_a_secret_environment_variable_only(tf: Tf) -> None:
    config = _service_config(tf)
    assert "PINTEREST_ACCESS_TOKEN" not in config["environment_variables"]
    secret_env = _block(config, "secret_environment_variables")
    assert secret_env["key"] == "PINTEREST_ACCESS_TOKEN"
    assert _ref_name(secret_env["secret"], "google_secret_manager_secret", "secret_id")
    assert "environment_variables" not in _block(_function(tf)[1], "build_config")


def test_access_token_never_reaches_state(tf: Tf) -> None:
    kinds = {kind for kind, _, _ in _all_resources(tf)}
    assert "google_secret_manager_secret_version" not in kinds
    assert not [name for name in _variables(tf) if "token" in name.lower()]


def test_function_is_internal_only_without_event_trigger(tf: Tf) -> None:
    assert _service_config(tf)["ingress_settings"] == "ALLOW_INTERNAL_ONLY"
    assert "event_trigger" not in _function(tf)[1]


def test_function_batches_concurrent_pushes_on_a_whole_cpu(tf: Tf) -> None:
    config = _service_config(tf)
    assert _resolve(tf, config["max_instance_request_concurrency"]) > 1
    assert float(_resolve(tf, config["available_cpu"])) >= 1


@pytest.mark.parametrize("name", ALL_VARIABLES)
def test_every_environment_variable_the_function_reads_is_set(tf: Tf, name: str) -> None:
    config = _service_config(tf)
    secret_keys = {block["key"] for block in config["secret_environment_variables"]}
    assert name in set(config["environment_variables"]) | secret_keys


@pytest.mark.parametrize("name", sorted(set(ALL_VARIABLES) - _SET_BY_TERRAFORM))
def test_environment_variable_comes_from_its_lowercase_variable(tf: Tf, name: str) -> None:
    variable = name.lower()
    value = _service_config(tf)["environment_variables"][name]
    assert value in {_ref("var", variable), "${tostring(var." + variable + ")}"}
    assert _variables(tf)[variable]["description"].startswith(f"{name}:")


@pytest.mark.parametrize("name", sorted(_variables(_load())))
def test_variables_have_description_and_type(tf: Tf, name: str) -> None:
    body = _variables(tf)[name]
    assert body["description"].strip()
    assert body["type"]


@pytest.mark.parametrize("name", _CLOSED_SET_VARIABLES)
def test_closed_set_variables_are_validated(tf: Tf, name: str) -> None:
    condition = _block(_variables(tf)[name], "validation")["condition"]
    assert condition.startswith("${contains([")
    assert f"var.{name}" in condition


def test_source_archive_is_named_by_its_hash(tf: Tf) -> None:
    object_name, body = _only(tf, "google_storage_bucket_object")
    assert re.search(r"\$\{data\.archive_file\.\w+\.output_(md5|sha|sha256|base64sha256)\}", body["name"])
    source = _block(_block(_block(_function(tf)[1], "build_config"), "source"), "storage_source")
    assert source["object"] == _ref("google_storage_bucket_object", object_name, "name")


def test_source_archive_holds_only_the_function(tf: Tf) -> None:
    files = _locals(tf)["source_files"]
    assert '["main.py", "requirements.txt"]' in files
    assert 'fileset(local.source_root, "lib/**")' in files


def test_source_bucket_is_private_and_versioned(tf: Tf) -> None:
    _, bucket = _only(tf, "google_storage_bucket")
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "enforced"
    assert _block(bucket, "versioning")["enabled"] is True


def test_required_apis_are_enabled_and_left_on(tf: Tf) -> None:
    _, service = _only(tf, "google_project_service")
    assert set(_REQUIRED_APIS) <= set(_locals(tf)["required_apis"])
    assert "local.required_apis" in service["for_each"]
    assert service["disable_on_destroy"] is False


def test_state_backend_is_a_partial_gcs_configuration(tf: Tf) -> None:
    backends = [b for block in tf["terraform"] for b in block.get("backend", [])]
    assert backends == [{"gcs": {"__is_block__": True}}]


_COMPARISONS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "=": operator.eq}


def _admits(constraint: str, version: str) -> bool:
    """Whether a Terraform version constraint such as ">= 6.0, < 8.0" admits `version`."""
    wanted = tuple(int(p) for p in version.split("."))
    for clause in constraint.split(","):
        comparison, bound = re.fullmatch(r"\s*(>=|<=|>|<|=)\s*([\d.]+)\s*", clause).groups()
        numbers = tuple(int(p) for p in bound.split("."))
        if not _COMPARISONS[comparison](wanted, numbers + (0,) * (len(wanted) - len(numbers))):
            return False
    return True


@pytest.mark.parametrize(
    ("version", "admitted"),
    [
        ("5.45.0", False),
        ("6.0.0", True),
        ("6.50.0", True),
        ("7.0.0", True),
        ("7.45.0", True),
        ("8.0.0", False),
    ],
)
def test_google_provider_constraint_admits_6_and_7(tf: Tf, version: str, admitted: bool) -> None:
    [providers] = [b for block in tf["terraform"] for b in block.get("required_providers", [])]
    assert _admits(providers["google"]["version"], version) is admitted


def test_checkov_skips_give_a_reason() -> None:
    skips = re.findall(r"#\s*checkov:skip=(.*)", _tf_text())
    assert skips
    for skip in skips:
        assert re.fullmatch(r"CKV2?_[A-Z]+_\d+:\s*\S.{10,}", skip), skip
