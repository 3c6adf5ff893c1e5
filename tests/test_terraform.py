"""Offline checks of terraform/: wiring, least privilege, secrecy and names, read by python-hcl2."""

from __future__ import annotations

import ast
import functools
import json
import operator
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import hcl2
import pytest

from lib.config import ALL_VARIABLES, load_config, load_mapping_config
from lib.delivery.outcomes import Outcome
from lib.mapping.parameters import USER_DATA

ROOT = Path(__file__).resolve().parents[1]
TF_DIR = ROOT / "terraform"
Tf = dict[str, list[Any]]  # python-hcl2's view of every .tf file, merged by top-level key
Body = dict[str, Any]
# Plain strings ("roles/run.invoker", not '"roles/run.invoker"'); expressions stay "${...}".
_OPTIONS = hcl2.SerializationOptions(strip_string_quotes=True, with_comments=False)

# IAM member resource type -> the argument that names the resource the role is granted on.
_IAM_TARGET = {
    "google_pubsub_topic_iam_member": "topic",
    "google_pubsub_subscription_iam_member": "subscription",
    "google_secret_manager_secret_iam_member": "secret_id",
    "google_service_account_iam_member": "service_account_id",
    "google_cloud_run_v2_service_iam_member": "name",
    "google_artifact_registry_repository_iam_member": "repository",
    "google_kms_crypto_key_iam_member": "crypto_key_id",
    "google_project_iam_member": "project",
}
# Resource type -> the argument that is its name in Google Cloud (what two instances must not share).
_IDENTITY = {
    "google_pubsub_topic": "name",
    "google_pubsub_subscription": "name",
    "google_service_account": "account_id",
    "google_secret_manager_secret": "secret_id",
    "google_cloudfunctions2_function": "name",
    "google_storage_bucket": "name",
    "google_artifact_registry_repository": "repository_id",
    "google_logging_metric": "name",
    "google_monitoring_alert_policy": "display_name",
}
# Google Cloud's limits on those names (lengths and characters).
_NAME_RULES = {
    "google_service_account": r"[a-z][a-z0-9-]{4,28}[a-z0-9]",
    "google_storage_bucket": r"[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]",
    "google_cloudfunctions2_function": r"[a-z][a-z0-9-]{0,47}[a-z0-9]",
    "google_artifact_registry_repository": r"[a-z][a-z0-9-]{0,61}[a-z0-9]",
    "google_pubsub_topic": r"[a-zA-Z][a-zA-Z0-9._~%+-]{2,254}",
    "google_pubsub_subscription": r"[a-zA-Z][a-zA-Z0-9._~%+-]{2,254}",
    "google_secret_manager_secret": r"[a-zA-Z0-9_-]{1,255}",
    "google_logging_metric": r"[A-Za-z0-9_.,+!*'()%/-][A-Za-z0-9_.,+!*'()%/-]{0,99}",
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
_PUBSUB_BACKLOG = "pubsub.googleapis.com/subscription/num_undelivered_messages"
_USER_METRIC = "logging.googleapis.com/user/"


class Grant(NamedTuple):
    kind: str
    role: str
    member: str
    target: str


def _ref(*parts: str) -> str:
    return "${" + ".".join(parts) + "}"


def _tf_files(directory: Path = TF_DIR) -> list[Path]:
    # *_override.tf files are a user's local tweaks (docs/deploy.md: local state), not the product.
    return sorted(p for p in directory.glob("*.tf") if not p.name.endswith("_override.tf"))


def _parse(directory: Path) -> Tf:
    merged: Tf = {}
    for path in _tf_files(directory):
        with path.open(encoding="utf-8") as handle:
            for kind, items in hcl2.load(handle, serialization_options=_OPTIONS).items():
                merged.setdefault(kind, []).extend(items)
    return merged


@functools.cache
def _load() -> Tf:
    return _parse(TF_DIR)


@pytest.fixture(scope="module")
def tf() -> Tf:
    return _load()


def _all_resources(tf: Tf) -> Iterator[tuple[str, str, Body]]:
    for item in tf.get("resource", []):
        for kind, named in item.items():
            for name, body in named.items():
                yield kind, name, body


def _resources(tf: Tf, kind: str) -> dict[str, Body]:
    return {name: body for k, name, body in _all_resources(tf) if k == kind}


def _resource(tf: Tf, kind: str, name: str) -> Body:
    return _resources(tf, kind)[name]


def _only(tf: Tf, kind: str) -> tuple[str, Body]:
    found = _resources(tf, kind)
    assert len(found) == 1, f"expected one {kind}, found {sorted(found)}"
    return next(iter(found.items()))


def _block(body: Body, key: str) -> Body:
    blocks = body.get(key, [])
    assert len(blocks) == 1, f"expected one {key} block"
    return blocks[0]


def _variables(tf: Tf) -> dict[str, Body]:
    return {name: body for item in tf.get("variable", []) for name, body in item.items()}


def _locals(tf: Tf) -> dict[str, Any]:
    return {k: v for item in tf.get("locals", []) for k, v in item.items() if not k.startswith("__")}


def _resolve(tf: Tf, value: Any) -> Any:
    """A literal, or the default of the variable `${var.NAME}` refers to."""
    match = re.fullmatch(r"\$\{var\.(\w+)\}", str(value))
    return _variables(tf)[match.group(1)]["default"] if match else value


def _ref_name(value: str, kind: str, attribute: str) -> str:
    match = re.fullmatch(rf"\$\{{{kind}\.(\w+)(?:\[0\])?\.{attribute}\}}", value)
    assert match, f"{value!r} is not a reference to {kind}.*.{attribute}"
    return match.group(1)


def _depends_on(body: Body) -> set[str]:
    return {entry.strip("${}") for entry in body.get("depends_on", [])}


def _function(tf: Tf) -> tuple[str, Body]:
    return _only(tf, "google_cloudfunctions2_function")


def _build_config(tf: Tf) -> Body:
    return _block(_function(tf)[1], "build_config")


def _service_config(tf: Tf) -> Body:
    return _block(_function(tf)[1], "service_config")


def _push_subscription(tf: Tf) -> tuple[str, Body]:
    pushes = {n: b for n, b in _resources(tf, "google_pubsub_subscription").items() if "push_config" in b}
    assert len(pushes) == 1, f"expected one push subscription, found {sorted(pushes)}"
    return next(iter(pushes.items()))


def _dead_letter_topic(tf: Tf) -> str:
    policy = _block(_push_subscription(tf)[1], "dead_letter_policy")
    return _ref_name(policy["dead_letter_topic"], "google_pubsub_topic", "id")


def _dead_letter_subscription(tf: Tf) -> tuple[str, Body]:
    dead_letter_id = _ref("google_pubsub_topic", _dead_letter_topic(tf), "id")
    [(name, body)] = [
        (n, b)
        for n, b in _resources(tf, "google_pubsub_subscription").items()
        if b["topic"] == dead_letter_id
    ]
    return name, body


def _account(value: str) -> str:
    return _ref_name(value, "google_service_account", "email")


def _runtime_account(tf: Tf) -> str:
    return _account(_service_config(tf)["service_account_email"])


def _push_account(tf: Tf) -> str:
    oidc = _block(_block(_push_subscription(tf)[1], "push_config"), "oidc_token")
    return _account(oidc["service_account_email"])


def _build_account(tf: Tf) -> str:
    return _ref_name(_build_config(tf)["service_account"], "google_service_account", "id")


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


# --- evaluating names -------------------------------------------------------------------------


def _evaluate(tf: Tf, template: str, scope: dict[str, str]) -> str:
    """A string template whose only interpolations are `local.names.*` and names in `scope`."""
    names = _locals(tf)["names"]

    def replace(match: re.Match[str]) -> str:
        reference = match.group(1)
        if reference.startswith("local.names."):
            return _evaluate(tf, names[reference.removeprefix("local.names.")], scope)
        assert reference in scope, f"cannot evaluate ${{{reference}}} in {template!r}"
        return scope[reference]

    return re.sub(r"\$\{([\w.]+)\}", replace, template)


def _scope(prefix: str, project: str = "acme-shop") -> dict[str, str]:
    return {
        "var.name_prefix": prefix,
        "var.project_id": project,
        "var.region": "europe-west1",
        "path.module": ".",
    }


def _for_each_keys(tf: Tf, body: Body) -> list[str]:
    """The keys of a `for_each = var.log_metrics_enabled ? local.X : {}` or `local.X` map."""
    match = re.search(r"local\.(\w+)", body["for_each"])
    assert match, body["for_each"]
    return sorted(_locals(tf)[match.group(1)])


def _instance_names(tf: Tf, prefix: str, project: str = "acme-shop") -> dict[tuple[str, str], str]:
    """Every Google Cloud name one instance with this prefix takes, by (resource type, address)."""
    found: dict[tuple[str, str], str] = {}
    for kind, name, body in _all_resources(tf):
        if kind not in _IDENTITY:
            continue
        template = body[_IDENTITY[kind]]
        keys = _for_each_keys(tf, body) if "for_each" in body else [""]
        for key in keys:
            scope = {**_scope(prefix, project), "each.key": key}
            found[(kind, f"{name}[{key}]" if key else name)] = _evaluate(tf, template, scope)
    found[("google_monitoring_dashboard", "display_name")] = _evaluate(
        tf, "${local.names.dashboard}", _scope(prefix, project)
    )
    found[("archive_file", "output_path")] = _evaluate(
        tf, _only_data(tf, "archive_file")["output_path"], _scope(prefix, project)
    )
    return found


def _only_data(tf: Tf, kind: str) -> Body:
    [body] = [
        body
        for item in tf.get("data", [])
        for k, named in item.items()
        if k == kind
        for body in named.values()
    ]
    return body


# --- grants -----------------------------------------------------------------------------------


def test_nothing_is_granted_to_the_public() -> None:
    text = _tf_text()
    assert "allUsers" not in text
    assert "allAuthenticatedUsers" not in text


def test_grants_are_members_never_policies_or_bindings(tf: Tf) -> None:
    iam_kinds = {kind for kind, _, _ in _all_resources(tf) if "_iam_" in kind}
    assert iam_kinds <= set(_IAM_TARGET), "only *_iam_member (no policy, no binding)"


def test_only_the_build_account_holds_project_grants_and_only_the_two_it_needs(tf: Tf) -> None:
    member = _account_member(_build_account(tf))
    project_grants = {g for g in _grants(tf) if g.kind == "google_project_iam_member"}
    assert {(g.role, g.member) for g in project_grants} == {
        ("roles/logging.logWriter", member),
        ("roles/storage.objectViewer", member),
    }
    assert all(g.target == "${var.project_id}" for g in project_grants)


def test_function_builds_as_the_account_this_configuration_creates(tf: Tf) -> None:
    build = _build_account(tf)
    assert build in _resources(tf, "google_service_account")
    assert build not in {_runtime_account(tf), _push_account(tf)}


def test_build_account_holds_exactly_what_a_gen2_build_needs(tf: Tf) -> None:
    member = _account_member(_build_account(tf))
    repository = _ref_name(
        _build_config(tf)["docker_repository"], "google_artifact_registry_repository", "id"
    )
    assert _grants_to(tf, member) == {
        # Cloud Build writes the build's log.
        Grant("google_project_iam_member", "roles/logging.logWriter", member, "${var.project_id}"),
        # The image (and the buildpack cache) go to the repository the function names.
        Grant(
            "google_artifact_registry_repository_iam_member",
            "roles/artifactregistry.writer",
            member,
            _ref("google_artifact_registry_repository", repository, "name"),
        ),
        # The build fetches the source from the copy Cloud Functions makes.
        Grant("google_project_iam_member", "roles/storage.objectViewer", member, "${var.project_id}"),
    }


def test_build_account_reads_only_the_function_sources_bucket(tf: Tf) -> None:
    [reader] = [
        b
        for b in _resources(tf, "google_project_iam_member").values()
        if b["role"] == "roles/storage.objectViewer"
    ]
    expression = _block(reader, "condition")["expression"]
    assert expression == (
        'resource.name.startsWith("projects/_/buckets/gcf-v2-sources-'
        '${data.google_project.this.number}-${var.region}")'
    )


def test_builds_repository_cleans_up_but_keeps_the_newest_images(tf: Tf) -> None:
    _, repository = _only(tf, "google_artifact_registry_repository")
    assert repository["format"] == "DOCKER"
    assert repository["cleanup_policy_dry_run"] is False
    policies = {p["action"]: p for p in repository["cleanup_policies"]}
    assert set(policies) == {"KEEP", "DELETE"}
    assert _block(policies["KEEP"], "most_recent_versions")["keep_count"] == "${var.image_keep_count}"
    assert _block(policies["DELETE"], "condition")["older_than"] == "${var.image_retention_days * 86400}s"
    assert repository["location"] == _function(tf)[1]["location"]


def test_the_function_waits_for_its_grants_to_settle(tf: Tf) -> None:
    """Build grants, secret access and the deployers' actAs, then a pause, then the function."""
    settle = _resource(tf, "time_sleep", "iam_settle")
    member = _account_member(_build_account(tf))
    build_grants = {
        f"{kind}.{name}"
        for kind, name, body in _all_resources(tf)
        if kind in _IAM_TARGET and body["member"] == member
    }
    accessor = {
        f"google_secret_manager_secret_iam_member.{name}"
        for name in _resources(tf, "google_secret_manager_secret_iam_member")
    }
    deployers = {
        f"google_service_account_iam_member.{name}"
        for name, body in _resources(tf, "google_service_account_iam_member").items()
        if body["role"] == "roles/iam.serviceAccountUser"
    }
    assert build_grants | accessor | deployers <= _depends_on(settle)
    assert len(build_grants) == 3
    assert "time_sleep.iam_settle" in _depends_on(_function(tf)[1])
    assert re.fullmatch(r"\$\{var\.\w+\}s", settle["create_duration"])


def _graph(tf: Tf) -> dict[str, set[str]]:
    """Resource address -> the addresses it refers to or depends on, through locals too."""
    addresses = {f"{kind}.{name}" for kind, name, _ in _all_resources(tf)}
    scope = _locals(tf)

    def references(text: str, seen: frozenset[str] = frozenset()) -> set[str]:
        found = {a for a in addresses if re.search(rf"\b{re.escape(a)}\b", text)}
        for local in set(re.findall(r"\blocal\.(\w+)", text)) - seen:
            found |= references(json.dumps(scope[local]), seen | {local})
        return found

    return {f"{kind}.{name}": references(json.dumps(body)) for kind, name, body in _all_resources(tf)}


def _reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            todo.extend(graph.get(node, ()))
    return False


@pytest.mark.parametrize(
    "address",
    sorted(
        f"{k}.{n}"
        for k, n, _ in _all_resources(_load())
        if k.startswith("google_") and k != "google_project_service"
    ),
)
def test_every_resource_waits_for_the_apis_to_settle(tf: Tf, address: str) -> None:
    assert _reaches(_graph(tf), address, "time_sleep.apis_settle")


def test_api_wait_follows_the_api_enablement(tf: Tf) -> None:
    settle = _resource(tf, "time_sleep", "apis_settle")
    assert _depends_on(settle) == {"google_project_service.apis"}
    assert "local.apis" in settle["triggers"]["apis"]


def test_pubsub_service_agent_has_exactly_the_dead_letter_grants_and_optional_ones(tf: Tf) -> None:
    agent = _ref("local", "pubsub_service_agent")
    assert re.fullmatch(
        r"serviceAccount:service-\$\{data\.google_project\.\w+\.number\}@gcp-sa-pubsub\.iam\.gserviceaccount\.com",
        _locals(tf)["pubsub_service_agent"],
    )
    push_subscription, _ = _push_subscription(tf)
    assert _grants_to(tf, agent) == {
        Grant(
            "google_service_account_iam_member",
            "roles/iam.serviceAccountTokenCreator",
            agent,
            _ref("google_service_account", _push_account(tf), "name"),
        ),
        Grant(
            "google_pubsub_topic_iam_member",
            "roles/pubsub.publisher",
            agent,
            _ref("google_pubsub_topic", _dead_letter_topic(tf), "name"),
        ),
        Grant(
            "google_pubsub_subscription_iam_member",
            "roles/pubsub.subscriber",
            agent,
            _ref("google_pubsub_subscription", push_subscription, "name"),
        ),
        Grant(
            "google_kms_crypto_key_iam_member",
            "roles/cloudkms.cryptoKeyEncrypterDecrypter",
            agent,
            "${var.topic_kms_key_name}",
        ),
    }


def test_token_creator_is_granted_only_where_the_project_needs_it(tf: Tf) -> None:
    grant = _resource(tf, "google_service_account_iam_member", "pubsub_agent_token_creator")
    assert grant["count"] == "${var.pubsub_agent_token_creator ? 1 : 0}"
    assert _variables(tf)["pubsub_agent_token_creator"]["default"] is False


def test_runtime_account_reads_the_secret_and_publishes_dead_letters_only(tf: Tf) -> None:
    member = _account_member(_runtime_account(tf))
    secret = _block(_service_config(tf), "secret_environment_variables")["secret"]
    assert secret == "${local.secret_id}"
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


def test_each_server_container_account_may_publish_to_the_events_topic_only(tf: Tf) -> None:
    topic = _ref_name(_push_subscription(tf)[1]["topic"], "google_pubsub_topic", "id")
    [body] = [
        b
        for b in _resources(tf, "google_pubsub_topic_iam_member").values()
        if b["member"] == "serviceAccount:${each.value}"
    ]
    assert body["for_each"] == "${toset(var.server_container_service_accounts)}"
    assert (body["role"], body["topic"]) == (
        "roles/pubsub.publisher",
        _ref("google_pubsub_topic", topic, "name"),
    )
    assert _variables(tf)["server_container_service_accounts"]["type"] == "${list(string)}"
    assert "sgtm_service_account_email" not in _variables(tf)


def test_deployers_may_act_as_the_three_accounts_and_no_other(tf: Tf) -> None:
    grant = _resource(tf, "google_service_account_iam_member", "deployer_account_user")
    assert grant["role"] == "roles/iam.serviceAccountUser"
    assert grant["service_account_id"] == "${local.deployable_accounts[each.value.account]}"
    accounts = _locals(tf)["deployable_accounts"]
    assert accounts == {
        role: _ref("google_service_account", account, "name")
        for role, account in (
            ("runtime", _runtime_account(tf)),
            ("push", _push_account(tf)),
            ("build", _build_account(tf)),
        )
    }
    assert (
        'setproduct(var.deployer_members, ["runtime", "push", "build"])'
        in _locals(tf)["deployer_account_grants"]
    )


def test_every_grant_is_accounted_for(tf: Tf) -> None:
    members = {
        _ref("local", "pubsub_service_agent"),
        _account_member(_runtime_account(tf)),
        _account_member(_push_account(tf)),
        _account_member(_build_account(tf)),
        "serviceAccount:${each.value}",  # server containers
        "${each.value.member}",  # deployers
    }
    assert {grant.member for grant in _grants(tf)} == members
    assert len(_grants(tf)) == 12


# --- Pub/Sub ----------------------------------------------------------------------------------


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


@pytest.mark.parametrize("name", sorted(_resources(_load(), "google_pubsub_subscription")))
def test_subscriptions_never_expire(tf: Tf, name: str) -> None:
    body = _resource(tf, "google_pubsub_subscription", name)
    assert _block(body, "expiration_policy")["ttl"] == ""


def test_dead_letter_subscription_keeps_events_for_the_chosen_days_and_survives_destroy(tf: Tf) -> None:
    _, subscription = _dead_letter_subscription(tf)
    assert "push_config" not in subscription
    assert subscription["message_retention_duration"] == "${var.dead_letter_retention_days * 86400}s"
    assert _variables(tf)["dead_letter_retention_days"]["default"] == 7
    assert "<= 31" in _block(_variables(tf)["dead_letter_retention_days"], "validation")["condition"]
    assert _block(subscription, "lifecycle")["prevent_destroy"] is True


@pytest.mark.parametrize("name", sorted(_resources(_load(), "google_pubsub_topic")))
def test_topics_keep_messages_in_the_chosen_regions(tf: Tf, name: str) -> None:
    topic = _resource(tf, "google_pubsub_topic", name)
    policy = _block(topic, "message_storage_policy")
    assert policy["allowed_persistence_regions"] == "${local.message_storage_regions}"
    regions = _locals(tf)["message_storage_regions"]
    assert (
        regions == "${length(var.message_storage_regions) > 0 ? var.message_storage_regions : [var.region]}"
    )


@pytest.mark.parametrize("name", sorted(_resources(_load(), "google_pubsub_topic")))
def test_one_variable_sets_a_customer_managed_key_on_every_topic(tf: Tf, name: str) -> None:
    topic = _resource(tf, "google_pubsub_topic", name)
    assert topic["kms_key_name"] == "${local.topic_kms_key_name}"
    assert (
        _locals(tf)["topic_kms_key_name"] == '${var.topic_kms_key_name != "" ? var.topic_kms_key_name : null}'
    )
    # Pub/Sub can use the key before the topic is created with it.
    assert "google_kms_crypto_key_iam_member.pubsub_agent_topic_key" in _depends_on(topic)
    grant = _resource(tf, "google_kms_crypto_key_iam_member", "pubsub_agent_topic_key")
    assert grant["count"] == '${var.topic_kms_key_name != "" && var.topic_kms_key_grant ? 1 : 0}'


def test_function_reads_the_dead_letter_topic_terraform_made(tf: Tf) -> None:
    env = _service_config(tf)["environment_variables"]
    assert env["DEAD_LETTER_TOPIC"] == _ref("google_pubsub_topic", _dead_letter_topic(tf), "id")


# --- the function -----------------------------------------------------------------------------


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
    assert load_mapping_config(env) == load_mapping_config({})
    assert load_config({**env, **required}) == load_config(required)


def test_the_server_runs_as_many_threads_as_the_platform_sends_requests(tf: Tf) -> None:
    config = _service_config(tf)
    assert config["max_instance_request_concurrency"] == "${var.max_instance_request_concurrency}"
    assert config["environment_variables"]["THREADS"] == "${tostring(var.max_instance_request_concurrency)}"
    assert config["environment_variables"]["GOOGLE_CLOUD_PROJECT"] == "${var.project_id}"


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


def test_function_is_internal_only_without_event_trigger(tf: Tf) -> None:
    assert _service_config(tf)["ingress_settings"] == "ALLOW_INTERNAL_ONLY"
    assert "event_trigger" not in _function(tf)[1]


def test_function_batches_concurrent_pushes_on_a_whole_cpu(tf: Tf) -> None:
    config = _service_config(tf)
    assert _resolve(tf, config["max_instance_request_concurrency"]) > 1
    assert float(_resolve(tf, config["available_cpu"])) >= 1


# --- the token --------------------------------------------------------------------------------


def test_access_token_is_a_secret_environment_variable_only(tf: Tf) -> None:
    config = _service_config(tf)
    assert "PINTEREST_ACCESS_TOKEN" not in config["environment_variables"]
    secret_env = _block(config, "secret_environment_variables")
    assert secret_env["key"] == "PINTEREST_ACCESS_TOKEN"
    assert secret_env["version"] == "${var.secret_version}"
    assert "environment_variables" not in _build_config(tf)


def test_the_token_is_written_write_only_from_an_ephemeral_variable(tf: Tf) -> None:
    _, version = _only(tf, "google_secret_manager_secret_version")
    assert version["secret_data_wo"] == "${var.pinterest_access_token}"
    assert "secret_data" not in version
    assert "plantimestamp()" in version["secret_data_wo_version"]
    token = _variables(tf)["pinterest_access_token"]
    assert (token["ephemeral"], token["sensitive"], token["default"]) == (True, True, None)
    precondition = _block(_block(version, "lifecycle"), "precondition")
    assert precondition["condition"] == "${var.pinterest_access_token != null}"


def test_no_other_variable_can_carry_the_token(tf: Tf) -> None:
    tokenish = {name for name in _variables(tf) if "token" in name.lower()}
    assert tokenish == {"pinterest_access_token", "write_access_token", "pubsub_agent_token_creator"}
    assert _variables(tf)["write_access_token"]["type"] == "bool"


def test_the_token_is_written_only_when_asked_and_never_taken_back(tf: Tf) -> None:
    """Runs without the token (Cloud Build's) leave the version out; leaving it out keeps the token."""
    _, version = _only(tf, "google_secret_manager_secret_version")
    assert version["count"] == "${local.manage_secret && var.write_access_token ? 1 : 0}"
    assert _variables(tf)["write_access_token"]["default"] is False
    assert version["deletion_policy"] == "ABANDON"
    assert "google_secret_manager_secret_version.token" in _depends_on(_function(tf)[1])


def test_an_existing_secret_can_replace_the_one_terraform_creates(tf: Tf) -> None:
    secret = _resource(tf, "google_secret_manager_secret", "pinterest")
    assert secret["count"] == "${local.manage_secret ? 1 : 0}"
    assert _locals(tf)["manage_secret"] == '${var.existing_secret_id == ""}'
    created = "google_secret_manager_secret.pinterest[0].secret_id"
    assert _locals(tf)["secret_id"] == f"${{local.manage_secret ? {created} : var.existing_secret_id}}"
    accessor = _resource(tf, "google_secret_manager_secret_iam_member", "runtime_secret_accessor")
    assert accessor["secret_id"] == "${local.secret_id}"


def test_the_secret_survives_a_careless_destroy(tf: Tf) -> None:
    secret = _resource(tf, "google_secret_manager_secret", "pinterest")
    assert _block(secret, "lifecycle")["prevent_destroy"] is True


def test_the_settings_example_never_writes_the_token() -> None:
    example = (TF_DIR / "terraform.tfvars.example").read_text(encoding="utf-8")
    assigned = re.findall(r"^\s*(\w+)\s*=", example, flags=re.MULTILINE)
    assert "pinterest_access_token" not in assigned
    assert "write_access_token" not in assigned


# --- source archive ---------------------------------------------------------------------------


def _fileset(pattern: str) -> set[str]:
    """Terraform's fileset(): files only; a trailing ** matches everything below."""
    glob = f"{pattern}/*" if pattern.endswith("**") else pattern
    return {p.relative_to(ROOT).as_posix() for p in ROOT.glob(glob) if p.is_file()}


def _archived_files(tf: Tf) -> set[str]:
    scope = _locals(tf)
    assert "setsubtract(" in scope["source_files"]
    included = set().union(*(_fileset(p) for p in scope["source_includes"]))
    excluded = set().union(*(_fileset(p) for p in scope["source_excludes"]))
    return included - excluded


def test_source_archive_holds_the_function_without_the_operator_commands(tf: Tf) -> None:
    files = _archived_files(tf)
    assert {"main.py", "requirements.txt", "lib/__init__.py", "lib/config.py"} <= files
    assert "lib/cli.py" not in files
    assert not [f for f in files if f.startswith("lib/commands/")]
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]


def _imported_modules(path: Path) -> set[str]:
    """Every lib.* module a file imports, at any depth (lazy and TYPE_CHECKING imports too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name == "lib" or name.startswith("lib.")}


def _module_file(module: str) -> str | None:
    base = module.replace(".", "/")
    for candidate in (f"{base}.py", f"{base}/__init__.py"):
        if (ROOT / candidate).is_file():
            return candidate
    return None  # an attribute (from lib.x import name), not a module


def test_everything_main_imports_is_in_the_archive(tf: Tf) -> None:
    files = _archived_files(tf)
    reached, todo = set(), ["main.py"]
    while todo:
        current = todo.pop()
        if current in reached:
            continue
        reached.add(current)
        for module in _imported_modules(ROOT / current):
            path = _module_file(module)
            # A package's __init__ runs before its modules do.
            parents = [_module_file(".".join(module.split(".")[:i])) for i in range(1, module.count(".") + 1)]
            todo.extend(p for p in [path, *parents] if p)
    assert reached <= files, f"imported but not deployed: {sorted(reached - files)}"
    assert not [f for f in reached if f == "lib/cli.py" or f.startswith("lib/commands/")]


def test_source_archive_is_named_by_its_hash(tf: Tf) -> None:
    object_name, body = _only(tf, "google_storage_bucket_object")
    assert re.search(r"\$\{data\.archive_file\.\w+\.output_(md5|sha|sha256|base64sha256)\}", body["name"])
    source = _block(_block(_build_config(tf), "source"), "storage_source")
    assert source["object"] == _ref("google_storage_bucket_object", object_name, "name")


def test_source_bucket_is_private_and_versioned(tf: Tf) -> None:
    _, bucket = _only(tf, "google_storage_bucket")
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "enforced"
    assert _block(bucket, "versioning")["enabled"] is True


# --- names: two instances side by side ----------------------------------------------------------


@pytest.mark.parametrize(("kind", "attribute"), sorted(_IDENTITY.items()))
def test_every_name_comes_from_the_prefix(tf: Tf, kind: str, attribute: str) -> None:
    for name, body in _resources(tf, kind).items():
        assert "${local.names." in body[attribute], f"{kind}.{name}.{attribute} is not built from local.names"
    for template in _locals(tf)["names"].values():
        assert "${var.name_prefix}" in template


@pytest.mark.parametrize(
    ("first", "second"), [("brand-a", "brand-b"), ("shop", "shop-eu"), ("x", "x-dead-letter")]
)
def test_two_instances_with_different_prefixes_share_no_name(tf: Tf, first: str, second: str) -> None:
    one, other = _instance_names(tf, first), _instance_names(tf, second)
    assert set(one) == set(other)
    for kind in {kind for kind, _ in one}:
        ours = {v for (k, _), v in one.items() if k == kind}
        theirs = {v for (k, _), v in other.items() if k == kind}
        assert not ours & theirs, f"{kind}: {sorted(ours & theirs)}"


def test_within_a_kind_no_name_suffix_ends_with_another(tf: Tf) -> None:
    """Names within an instance differ, and no two prefixes can ever produce the same name."""
    marker = "\x00"
    by_kind: dict[str, list[str]] = {}
    for (kind, _), value in _instance_names(tf, marker).items():
        by_kind.setdefault(kind, []).append(value.split(marker, 1)[1])
    for kind, suffixes in by_kind.items():
        assert len(set(suffixes)) == len(suffixes), f"{kind}: one instance uses a name twice"
        for suffix in suffixes:
            assert not [s for s in suffixes if s != suffix and s.endswith(suffix)], (kind, suffix)


@pytest.mark.parametrize("prefix", ["a", "a" * 22])
def test_names_fit_google_clouds_limits_for_any_valid_prefix(tf: Tf, prefix: str) -> None:
    condition = _block(_variables(tf)["name_prefix"], "validation")["condition"]
    pattern = re.search(r'regex\("(.+)", var\.name_prefix\)', condition).group(1)
    assert re.fullmatch(pattern.replace("\\\\", "\\"), prefix)
    assert not re.fullmatch(pattern.replace("\\\\", "\\"), "a" * 23)
    for (kind, address), value in _instance_names(tf, prefix, project="p" * 30).items():
        if kind in _NAME_RULES:
            assert re.fullmatch(_NAME_RULES[kind], value), f"{kind}.{address}: {value!r}"


def test_no_provider_block_so_the_directory_works_as_a_module(tf: Tf) -> None:
    assert "provider" not in tf


def test_the_two_instance_example_calls_this_directory_with_two_prefixes() -> None:
    example = _parse(TF_DIR / "examples" / "two-instances")
    modules = {name: body for item in example["module"] for name, body in item.items()}
    assert len(modules) == 2
    assert {body["source"] for body in modules.values()} == {"../.."}
    prefixes = {body["name_prefix"] for body in modules.values()}
    assert len(prefixes) == 2
    ids = {body["pinterest_ad_account_id"] for body in modules.values()}
    assert len(ids) == 2
    variables = {name for item in example["variable"] for name in item}
    for body in modules.values():
        assert set(body) - {"source", "__is_block__"} <= set(_variables(_load()))
        token = body["pinterest_access_token"].strip("${}").removeprefix("var.")
        assert token in variables


# --- metrics and the dashboard ----------------------------------------------------------------


def _metric_names(tf: Tf, prefix: str = "p") -> dict[str, str]:
    """Each log-based metric's name, by resource address (for_each instances as name[key])."""
    return {
        address: value
        for (kind, address), value in _instance_names(tf, prefix).items()
        if kind == "google_logging_metric"
    }


def _render_dashboard(tf: Tf, prefix: str = "p") -> dict[str, Any]:
    """The dashboard JSON as templatefile() renders it, from the values the configuration passes."""
    _, dashboard = _only(tf, "google_monitoring_dashboard")
    call = re.fullmatch(
        r'\$\{templatefile\("\$\{path\.module\}/(?P<file>[\w.]+)", \{(?P<args>.*)\}\)\}',
        dashboard["dashboard_json"],
    )
    assert call, dashboard["dashboard_json"]
    metrics = _metric_names(tf, prefix)
    values: dict[str, Any] = {}
    for key, expression in re.findall(r"(\w+) = ((?:\{[^}]*\})|[^,]+)", call.group("args")):
        if metric := re.fullmatch(r"google_logging_metric\.(\w+)\[0\]\.name", expression):
            values[key] = metrics[metric.group(1)]
        elif each := re.fullmatch(
            r"\{for key, metric in google_logging_metric\.(\w+) : key => metric\.name\}", expression
        ):
            values[key] = {
                address.split("[")[1].rstrip("]"): name
                for address, name in metrics.items()
                if address.startswith(f"{each.group(1)}[")
            }
        elif subscription := re.fullmatch(r"google_pubsub_subscription\.(\w+)\.name", expression):
            values[key] = _instance_names(tf, prefix)[("google_pubsub_subscription", subscription.group(1))]
        else:
            values[key] = _evaluate(tf, "${" + expression + "}", _scope(prefix))

    def substitute(match: re.Match[str]) -> str:
        value: Any = values
        for part in match.group(1).split("."):
            value = value[part]
        return value

    text = (TF_DIR / call.group("file")).read_text(encoding="utf-8")
    return json.loads(re.sub(r"\$\{([\w.]+)\}", substitute, text))


def _dashboard_filters(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "filter":
                yield value
            else:
                yield from _dashboard_filters(value)
    elif isinstance(node, list):
        for item in node:
            yield from _dashboard_filters(item)


def test_dashboard_json_parses_and_names_only_metrics_this_configuration_defines(tf: Tf) -> None:
    dashboard = _render_dashboard(tf)
    assert dashboard["displayName"] == _evaluate(tf, "${local.names.dashboard}", _scope("p"))
    defined = {_USER_METRIC + name for name in _metric_names(tf).values()} | {_PUBSUB_BACKLOG}
    used = {re.search(r'metric\.type="([^"]+)"', f).group(1) for f in _dashboard_filters(dashboard)}
    assert used <= defined, sorted(used - defined)
    # Every metric is shown somewhere.
    assert used == defined


def test_dashboard_shows_the_dead_letter_backlog_of_this_instance(tf: Tf) -> None:
    name, _ = _dead_letter_subscription(tf)
    subscription = _instance_names(tf, "p")[("google_pubsub_subscription", name)]
    backlog = [f for f in _dashboard_filters(_render_dashboard(tf)) if _PUBSUB_BACKLOG in f]
    assert backlog == [
        f'metric.type="{_PUBSUB_BACKLOG}" resource.type="pubsub_subscription" '
        f'resource.label."subscription_id"="{subscription}"'
    ]


def test_dashboard_tiles_fit_the_grid_without_overlapping(tf: Tf) -> None:
    layout = _render_dashboard(tf)["mosaicLayout"]
    cells: set[tuple[int, int]] = set()
    for tile in layout["tiles"]:
        assert tile["xPos"] + tile["width"] <= layout["columns"]
        area = {
            (x, y)
            for x in range(tile["xPos"], tile["xPos"] + tile["width"])
            for y in range(tile["yPos"], tile["yPos"] + tile["height"])
        }
        assert not cells & area, tile["widget"]["title"]
        cells |= area


@pytest.mark.parametrize("name", sorted(_resources(_load(), "google_logging_metric")))
def test_metrics_can_be_turned_off(tf: Tf, name: str) -> None:
    body = _resource(tf, "google_logging_metric", name)
    gate = body.get("count") or body["for_each"]
    assert gate.startswith("${var.log_metrics_enabled ? ")


def test_dashboard_and_email_alert_go_with_the_metrics(tf: Tf) -> None:
    _, dashboard = _only(tf, "google_monitoring_dashboard")
    assert dashboard["count"] == "${var.log_metrics_enabled && var.dashboard_enabled ? 1 : 0}"
    alert = _resource(tf, "google_monitoring_alert_policy", "email_share")
    assert alert["count"] == "${var.email_share_alert_enabled ? 1 : 0}"
    condition = _block(_variables(tf)["email_share_alert_enabled"], "validation")["condition"]
    assert condition == "${!var.email_share_alert_enabled || var.log_metrics_enabled}"
    assert _variables(tf)["email_share_alert_enabled"]["default"] is False


@pytest.mark.parametrize("name", sorted(_resources(_load(), "google_logging_metric")))
def test_metrics_read_this_functions_log_lines_only(tf: Tf, name: str) -> None:
    body = _resource(tf, "google_logging_metric", name)
    assert body["filter"].startswith("${local.function_logs} AND ")
    function = _function(tf)[1]["name"]
    assert _locals(tf)["function_logs"] == (
        f'resource.type="cloud_run_revision" AND resource.labels.service_name="{function}"'
    )


def test_event_metric_counts_every_line_that_records_an_outcome(tf: Tf) -> None:
    messages = set(_locals(tf)["event_messages"])
    assert messages == {f"event {outcome}" for outcome in Outcome} | {"message dead-lettered"}
    sources = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "lib" / "delivery").glob("*.py"))
    assert '"message dead-lettered"' in sources
    assert '"pinterest request"' in sources
    metric = _resource(tf, "google_logging_metric", "events")
    assert (
        metric["label_extractors"]
        == '${{for key, _ in local.event_labels : key => "EXTRACT(jsonPayload.${key})"}}'
    )
    assert set(_locals(tf)["event_labels"]) == {"outcome", "reason", "event_name"}


def test_coverage_metrics_cover_the_reports_match_keys(tf: Tf) -> None:
    conditions = _locals(tf)["coverage_conditions"]
    assert set(conditions) == {"em", "ph", "external_id", "click_id", "hashed_maids", "ip_ua", "own_event_id"}
    assert conditions["ip_ua"] == (
        'jsonPayload.match_keys:"client_ip_address" AND jsonPayload.match_keys:"client_user_agent"'
    )
    assert conditions["own_event_id"] == "jsonPayload.own_event_id=true"


def test_a_has_test_on_match_keys_cannot_match_another_key(tf: Tf) -> None:
    """`:` also matches a substring: no key tested may be part of another user_data key's name."""
    tested = {
        key
        for condition in _locals(tf)["coverage_conditions"].values()
        for key in re.findall(r'jsonPayload\.match_keys:"(\w+)"', condition)
    }
    assert tested <= set(USER_DATA)
    for key in tested:
        assert not [other for other in USER_DATA if other != key and key in other], key


def test_latency_metric_is_a_distribution_of_the_request_durations(tf: Tf) -> None:
    metric = _resource(tf, "google_logging_metric", "pinterest_latency")
    assert metric["value_extractor"] == "EXTRACT(jsonPayload.duration_ms)"
    descriptor = _block(metric, "metric_descriptor")
    assert (descriptor["value_type"], descriptor["unit"]) == ("DISTRIBUTION", "ms")
    assert _block(metric, "bucket_options")


def test_email_share_alert_divides_the_emails_by_the_processed_events_of_one_name(tf: Tf) -> None:
    alert = _resource(tf, "google_monitoring_alert_policy", "email_share")
    threshold = _block(_block(alert, "conditions"), "condition_threshold")
    assert 'google_logging_metric.with_key["em"].name' in threshold["filter"]
    assert "google_logging_metric.events[0].name" in threshold["denominator_filter"]
    assert 'metric.label.outcome = \\"processed\\"' in json.dumps(threshold["denominator_filter"])
    for key in ("filter", "denominator_filter"):
        assert "var.email_share_alert_event_name" in threshold[key]
    assert threshold["comparison"] == "COMPARISON_LT"


# --- variables, APIs, backend, versions -------------------------------------------------------


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


def test_required_apis_are_enabled_and_left_on(tf: Tf) -> None:
    _, service = _only(tf, "google_project_service")
    assert set(_REQUIRED_APIS) <= set(_locals(tf)["required_apis"])
    assert "local.apis" in service["for_each"]
    assert service["disable_on_destroy"] is False


def test_state_backend_is_a_partial_gcs_configuration(tf: Tf) -> None:
    backends = [b for block in tf["terraform"] for b in block.get("backend", [])]
    assert backends == [{"gcs": {"__is_block__": True}}]


_COMPARISONS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "=": operator.eq}


def _admits(constraint: str, version: str) -> bool:
    """Whether a Terraform version constraint such as ">= 6.23, < 8.0" admits `version`."""
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
        ("6.0.0", False),
        ("6.22.0", False),  # no secret_data_wo yet
        ("6.23.0", True),
        ("6.50.0", True),
        ("7.0.0", True),
        ("7.45.0", True),
        ("8.0.0", False),
    ],
)
def test_google_provider_constraint_admits_only_versions_with_every_argument(
    tf: Tf, version: str, admitted: bool
) -> None:
    [providers] = [b for block in tf["terraform"] for b in block.get("required_providers", [])]
    assert _admits(providers["google"]["version"], version) is admitted


def test_terraform_is_new_enough_for_write_only_arguments(tf: Tf) -> None:
    [required] = [block["required_version"] for block in tf["terraform"] if "required_version" in block]
    assert _admits(required, "1.11.0")
    assert not _admits(required, "1.10.5")


def test_checkov_skips_give_a_reason() -> None:
    skips = re.findall(r"#\s*checkov:skip=(.*)", _tf_text())
    assert skips
    for skip in skips:
        assert re.fullmatch(r"CKV2?_[A-Z]+_\d+:\s*\S.{10,}", skip), skip
