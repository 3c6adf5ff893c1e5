"""scripts/deploy_gcloud.sh in --dry-run: it prints what Terraform would set up, and never runs gcloud
(a stand-in gcloud first on PATH records any call, and every test checks there was none)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.test_terraform import _archived_files, _instance_names, _load

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "deploy_gcloud.sh"
PROJECT = "acme-shop"
REQUIRED = ("--project", PROJECT, "--region", "europe-west1", "--ad-account-id", "549755885175")


@pytest.fixture
def stand_in(tmp_path: Path) -> Path:
    """A directory whose gcloud records that it was called and fails."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    gcloud = bin_dir / "gcloud"
    gcloud.write_text(f'#!/bin/sh\necho "$*" >> "{tmp_path}/gcloud-calls"\nexit 1\n', encoding="utf-8")
    gcloud.chmod(0o755)
    return bin_dir


def _deploy(stand_in: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{stand_in}:{os.environ['PATH']}"}
    result = subprocess.run(
        ["bash", str(SCRIPT), *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    calls = stand_in.parent / "gcloud-calls"
    assert not calls.exists(), f"gcloud was called: {calls.read_text(encoding='utf-8')}"
    return result


def _dry_run(stand_in: Path, *args: str, stdin: str = "") -> list[list[str]]:
    """The commands a dry run prints (VAR=$(command) as the command; here-documents and comments left out)."""
    result = _deploy(stand_in, "--dry-run", *REQUIRED, *args, stdin=stdin)
    assert result.returncode == 0, result.stderr
    commands, in_heredoc = [], False
    for line in result.stdout.splitlines():
        if in_heredoc:
            in_heredoc = line != "EOF"
        elif line.startswith("cat > "):
            in_heredoc = True
        elif captured := re.fullmatch(r"[A-Z_]+=\$\((.*)\)", line):
            commands.append(shlex.split(captured.group(1)))
        elif not line.startswith("#"):
            commands.append(shlex.split(line))
    return commands


def _gcloud(commands: list[list[str]], *words: str) -> list[list[str]]:
    """The gcloud commands that start with these words."""
    return [c for c in commands if c[: len(words) + 1] == ["gcloud", *words]]


def _flag(command: list[str], name: str) -> str:
    [value] = [arg.split("=", 1)[1] for arg in command if arg.startswith(f"{name}=")]
    return value


def _environment(stand_in: Path, *args: str) -> dict[str, str]:
    """The function's environment file, as the dry run prints it."""
    output = _deploy(stand_in, "--dry-run", *REQUIRED, *args).stdout
    block = re.search(r"cat > \S+/env\.yaml <<'EOF'\n(.*?)\nEOF", output, flags=re.DOTALL)
    assert block, output
    return dict(re.fullmatch(r'(\w+): "?(.*?)"?', line).groups() for line in block.group(1).splitlines())


def test_a_dry_run_prints_a_whole_deployment_and_runs_nothing(stand_in: Path) -> None:
    commands = _dry_run(stand_in)
    assert len(_gcloud(commands, "functions", "deploy")) == 1
    assert len(_gcloud(commands, "pubsub", "subscriptions", "create")) == 2
    assert not [c for c in commands if c[0] not in {"gcloud", "mkdir", "tar", "sleep"}]


def test_the_function_runs_as_many_threads_as_requests_it_takes(stand_in: Path) -> None:
    [deploy] = _gcloud(_dry_run(stand_in, "--concurrency", "40"), "functions", "deploy")
    assert _flag(deploy, "--concurrency") == "40"
    environment = _environment(stand_in, "--concurrency", "40")
    assert environment["THREADS"] == "40"
    assert environment["GOOGLE_CLOUD_PROJECT"] == PROJECT
    assert environment["DEAD_LETTER_TOPIC"] == f"projects/{PROJECT}/topics/pinterest-capi-dead-letter"
    assert environment["PINTEREST_TEST_MODE"] == "false"
    assert _environment(stand_in, "--test-mode")["PINTEREST_TEST_MODE"] == "true"


def test_the_function_is_built_by_its_own_account_into_its_own_repository(stand_in: Path) -> None:
    commands = _dry_run(stand_in)
    [deploy] = _gcloud(commands, "functions", "deploy")
    build = f"pinterest-capi-build@{PROJECT}.iam.gserviceaccount.com"
    assert _flag(deploy, "--build-service-account") == f"projects/{PROJECT}/serviceAccounts/{build}"
    repository = f"projects/{PROJECT}/locations/europe-west1/repositories/pinterest-capi-builds"
    assert _flag(deploy, "--docker-repository") == repository
    grants = {
        (c[2], _flag(c, "--role"))
        for c in commands
        if "add-iam-policy-binding" in c and _flag(c, "--member") == f"serviceAccount:{build}"
    }
    assert grants == {
        ("add-iam-policy-binding", "roles/logging.logWriter"),
        ("add-iam-policy-binding", "roles/storage.objectViewer"),
        ("repositories", "roles/artifactregistry.writer"),
    }
    [reader] = [c for c in commands if "--role=roles/storage.objectViewer" in c]
    assert "gcf-v2-sources-<PROJECT_NUMBER>-europe-west1" in _flag(reader, "--condition")
    # The build waits for the grants to settle.
    assert ["sleep", "60"] in commands[: commands.index(deploy)]


def test_the_function_is_internal_and_reads_the_token_from_secret_manager(stand_in: Path) -> None:
    [deploy] = _gcloud(_dry_run(stand_in), "functions", "deploy")
    assert {
        "--gen2",
        "--trigger-http",
        "--no-allow-unauthenticated",
        "--ingress-settings=internal-only",
    } <= set(deploy)
    assert _flag(deploy, "--set-secrets") == "PINTEREST_ACCESS_TOKEN=pinterest-capi-access-token:latest"
    assert _flag(deploy, "--service-account") == f"pinterest-capi-runtime@{PROJECT}.iam.gserviceaccount.com"


def test_the_push_subscription_backs_off_and_dead_letters(stand_in: Path) -> None:
    commands = _dry_run(stand_in, "--max-delivery-attempts", "12")
    [push] = [
        c
        for c in _gcloud(commands, "pubsub", "subscriptions", "create")
        if "--push-endpoint=<FUNCTION_URL>" in c
    ]
    assert push[4] == "pinterest-capi-forwarder-push"
    assert _flag(push, "--topic") == "pinterest-capi-events"
    assert (_flag(push, "--min-retry-delay"), _flag(push, "--max-retry-delay")) == ("10s", "600s")
    assert _flag(push, "--dead-letter-topic") == "pinterest-capi-dead-letter"
    assert _flag(push, "--max-delivery-attempts") == "12"
    assert _flag(push, "--ack-deadline") == "600"
    assert _flag(push, "--expiration-period") == "never"
    assert (
        _flag(push, "--push-auth-service-account") == f"pinterest-capi-push@{PROJECT}.iam.gserviceaccount.com"
    )
    assert _flag(push, "--push-auth-token-audience") == "<FUNCTION_URL>"


def test_the_token_creator_grant_is_made_only_when_asked(stand_in: Path) -> None:
    def token_creators(*args: str) -> list[list[str]]:
        return [c for c in _dry_run(stand_in, *args) if "--role=roles/iam.serviceAccountTokenCreator" in c]

    assert token_creators() == []
    [grant] = token_creators("--pubsub-agent-token-creator")
    assert grant[4] == f"pinterest-capi-push@{PROJECT}.iam.gserviceaccount.com"
    assert (
        _flag(grant, "--member")
        == "serviceAccount:service-<PROJECT_NUMBER>@gcp-sa-pubsub.iam.gserviceaccount.com"
    )


def test_each_server_container_account_may_publish_events(stand_in: Path) -> None:
    accounts = ["sgtm@acme-shop.iam.gserviceaccount.com", "preview@acme-shop.iam.gserviceaccount.com"]
    commands = _dry_run(stand_in, "--server-account", accounts[0], "--server-account", accounts[1])
    publishers = [
        _flag(c, "--member")
        for c in _gcloud(commands, "pubsub", "topics", "add-iam-policy-binding")
        if c[4] == "pinterest-capi-events"
    ]
    assert publishers == [f"serviceAccount:{a}" for a in accounts]


def test_topics_stay_in_the_chosen_regions_with_the_chosen_key(stand_in: Path) -> None:
    key = "projects/acme-shop/locations/europe-west1/keyRings/capi/cryptoKeys/topics"
    commands = _dry_run(
        stand_in,
        "--message-storage-region",
        "europe-west1",
        "--message-storage-region",
        "europe-west4",
        "--kms-key",
        key,
    )
    topics = _gcloud(commands, "pubsub", "topics", "create")
    assert [t[4] for t in topics] == ["pinterest-capi-events", "pinterest-capi-dead-letter"]
    for topic in topics:
        assert _flag(topic, "--message-storage-policy-allowed-regions") == "europe-west1,europe-west4"
        assert _flag(topic, "--topic-encryption-key") == key
    [grant] = _gcloud(commands, "kms", "keys", "add-iam-policy-binding")
    assert grant[4] == key
    assert commands.index(grant) < commands.index(topics[0])


def test_topics_default_to_the_functions_region(stand_in: Path) -> None:
    for topic in _gcloud(_dry_run(stand_in), "pubsub", "topics", "create"):
        assert _flag(topic, "--message-storage-policy-allowed-regions") == "europe-west1"
        assert not [a for a in topic if a.startswith("--topic-encryption-key")]


def test_dead_letters_are_kept_for_the_chosen_days(stand_in: Path) -> None:
    commands = _dry_run(stand_in, "--dead-letter-retention-days", "3")
    [pull] = [
        c
        for c in _gcloud(commands, "pubsub", "subscriptions", "create")
        if c[4].endswith("-dead-letter-pull")
    ]
    assert _flag(pull, "--message-retention-duration") == "3d"
    assert _flag(pull, "--expiration-period") == "never"


def test_names_are_terraforms_for_the_same_prefix(stand_in: Path) -> None:
    output = _deploy(stand_in, "--dry-run", *REQUIRED, "--prefix", "brand-a").stdout
    names = _instance_names(_load(), "brand-a", project=PROJECT)
    for kind in (
        "google_cloudfunctions2_function",
        "google_pubsub_topic",
        "google_pubsub_subscription",
        "google_secret_manager_secret",
        "google_artifact_registry_repository",
    ):
        for (k, _), name in names.items():
            if k == kind:
                assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", output), name
    for (kind, _), account in names.items():
        if kind == "google_service_account":
            assert f"{account}@{PROJECT}.iam.gserviceaccount.com" in output
    assert "pinterest-capi" not in output


def test_the_source_is_what_terraform_archives(stand_in: Path) -> None:
    result = _deploy(stand_in, "--list-source")
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) == _archived_files(_load())
    [pack] = [c for c in _dry_run(stand_in) if c[:2] == ["tar", "-C"] and "-cf" in c]
    assert set(pack[pack.index("-cf") + 2 :]) == _archived_files(_load())


def test_the_token_is_never_printed(stand_in: Path, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("pina_secret_token_value", encoding="utf-8")
    result = _deploy(stand_in, "--dry-run", *REQUIRED, "--token-file", str(token))
    assert "pina_secret_token_value" not in result.stdout + result.stderr
    [add] = [shlex.split(line) for line in result.stdout.splitlines() if "secrets versions add" in line]
    assert _flag(add, "--data-file") == str(token)
    piped = _deploy(stand_in, "--dry-run", *REQUIRED, "--token-file", "-", stdin="pina_piped_token")
    assert "pina_piped_token" not in piped.stdout + piped.stderr


@pytest.mark.parametrize("managed", ["THREADS", "GOOGLE_CLOUD_PROJECT", "PINTEREST_ACCESS_TOKEN"])
def test_an_env_file_cannot_override_what_the_script_sets(
    stand_in: Path, tmp_path: Path, managed: str
) -> None:
    settings = tmp_path / "env.yaml"
    settings.write_text(f'CONSENT_POLICY: "respect"\n{managed}: "x"\n', encoding="utf-8")
    result = _deploy(stand_in, "--dry-run", *REQUIRED, "--env-file", str(settings))
    assert result.returncode == 2
    assert "may not set" in result.stderr


def test_an_env_file_adds_the_mapping_settings(stand_in: Path, tmp_path: Path) -> None:
    settings = tmp_path / "env.yaml"
    settings.write_text('CONSENT_POLICY: "opt_out"\nEVENT_NAME_MAP: "{}"\n', encoding="utf-8")
    environment = _environment(stand_in, "--env-file", str(settings))
    assert environment["CONSENT_POLICY"] == "opt_out"
    assert environment["THREADS"] == "80"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "--project, --region and --ad-account-id are required"),
        ((*REQUIRED[:4], "--ad-account-id", "act_12"), "--ad-account-id must be"),
        ((*REQUIRED, "--prefix", "Bad_Prefix"), "--prefix must be"),
        ((*REQUIRED, "--max-delivery-attempts", "3"), "--max-delivery-attempts must be from 5 to 100"),
        ((*REQUIRED, "--timeout", "900"), "--timeout must be at most 600"),
        ((*REQUIRED, "--frobnicate"), "unknown option: --frobnicate"),
    ],
)
def test_bad_arguments_are_refused_before_anything_runs(
    stand_in: Path, args: tuple[str, ...], message: str
) -> None:
    result = _deploy(stand_in, "--dry-run", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == "" or result.stdout.startswith("Usage:")


def test_help_describes_every_option(stand_in: Path) -> None:
    text = SCRIPT.read_text(encoding="utf-8")
    handled = set(re.findall(r"^\s+(--[a-z-]+)\)", text, flags=re.MULTILINE))
    usage = _deploy(stand_in, "--help").stdout
    assert handled
    assert handled <= set(re.findall(r"--[a-z-]+", usage))
