"""cloudbuild.yaml: order of the steps, where the settings come from, and the steps' scripts run
with stand-in gcloud and terraform commands (nothing reaches Google)."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML is not installed (requirements-dev.txt)")

ROOT = Path(__file__).resolve().parents[1]
CLOUDBUILD = ROOT / "cloudbuild.yaml"
SETTINGS = "gs://state-bucket/shop/terraform.tfvars"
BUILTINS = {"PROJECT_ID", "BUILD_ID", "PROJECT_NUMBER", "LOCATION", "COMMIT_SHA", "SHORT_SHA", "BRANCH_NAME"}
TERRAFORM_STEPS = ("init", "plan", "apply")


@functools.cache
def _build() -> dict[str, Any]:
    return yaml.safe_load(CLOUDBUILD.read_text(encoding="utf-8"))


def _steps() -> dict[str, dict[str, Any]]:
    return {step["id"]: step for step in _build()["steps"]}


def _waits_for(step_id: str) -> set[str]:
    """Every step that finishes before this one starts (in file order, unless waitFor says)."""
    steps = _build()["steps"]
    index = [s["id"] for s in steps].index(step_id)
    direct = steps[index].get("waitFor", [s["id"] for s in steps[:index]])
    found = set()
    for other in direct:
        if other != "-":
            found |= {other} | _waits_for(other)
    return found


def _script(step_id: str) -> str:
    return _steps()[step_id]["args"][-1]


def _substituted(text: str, workspace: Path, **overrides: str) -> str:
    """The text as Cloud Build runs it: user substitutions replaced, $$ turned into $."""
    values = {**_build()["substitutions"], "_TF_STATE_BUCKET": "state-bucket", "_TF_STATE_PREFIX": "shop"}
    values.update(overrides)
    text = text.replace("$$", "\x00")
    text = re.sub(r"\$\{(_[A-Z0-9_]+)\}", lambda m: str(values[m.group(1)]), text)
    return text.replace("\x00", "$").replace("/workspace", str(workspace))


def _stand_in(bin_dir: Path, name: str, body: str) -> None:
    """A fake command that records its arguments in calls.log."""
    path = bin_dir / name
    path.write_text(f'#!/bin/sh\necho "{name} $*" >> "{bin_dir}/calls.log"\n{body}\n', encoding="utf-8")
    path.chmod(0o755)


def _run(
    script: str, workspace: Path, bin_dir: Path, shell: str = "bash", *, system_path: bool = True
) -> subprocess.CompletedProcess[str]:
    """The script under `shell -ceu`, the stand-ins first on PATH (alone, without system_path)."""
    path = f"{bin_dir}:{os.environ['PATH']}" if system_path else str(bin_dir)
    return subprocess.run(
        [shutil.which(shell) or shell, "-ceu", script],
        cwd=workspace,
        env={"PATH": path, "HOME": str(workspace)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _calls(bin_dir: Path) -> list[str]:
    log = bin_dir / "calls.log"
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


@pytest.fixture
def sandbox(tmp_path: Path) -> tuple[Path, Path]:
    workspace, bin_dir = tmp_path / "workspace", tmp_path / "bin"
    workspace.mkdir()
    bin_dir.mkdir()
    return workspace, bin_dir


def _fake_storage(bin_dir: Path, content: str | None) -> None:
    """gcloud whose `storage cp` copies `content` (or fails as for a missing object)."""
    copy = (
        'printf %s "$CONTENT" > "$4"'
        if content is not None
        else "echo 'One or more URLs matched no objects.' >&2; exit 1"
    )
    _stand_in(
        bin_dir,
        "gcloud",
        f"CONTENT='{content or ''}'\n"
        f'case "$1 $2" in\n  "storage cp") {copy} ;;\n  "storage objects") echo "17 2026-01-01" ;;\nesac',
    )


# --- order ------------------------------------------------------------------------------------


def test_steps_run_settings_and_tests_before_any_terraform_change() -> None:
    assert _waits_for("test") >= {"settings", "terraform-binary"}
    for step in TERRAFORM_STEPS:
        assert {"settings", "test"} <= _waits_for(step), step
    assert "plan" in _waits_for("apply")
    assert "init" in _waits_for("plan")


def test_user_substitutions_are_all_defined_and_all_used() -> None:
    text = CLOUDBUILD.read_text(encoding="utf-8").replace("$$", "")
    used = set(re.findall(r"\$\{(_[A-Z0-9_]+)\}", text))
    assert used == set(_build()["substitutions"])


def test_shell_variables_are_escaped_from_cloud_build() -> None:
    """Cloud Build substitutes $NAME and ${NAME}: shell variables must be written $$NAME."""
    for step in _build()["steps"]:
        for arg in step.get("args", []):
            for name in re.findall(r"(?<!\$)\$\{?([A-Za-z_][A-Za-z0-9_]*)", arg.replace("$$", "")):
                assert name.startswith("_") or name in BUILTINS, f"{step['id']}: ${name}"


# --- the tests --------------------------------------------------------------------------------


def test_tests_run_on_an_image_with_gcloud_the_emulator_and_java() -> None:
    step = _steps()["test"]
    assert step["name"] == "${_TEST_IMAGE}"
    image = _build()["substitutions"]["_TEST_IMAGE"]
    assert re.fullmatch(r"gcr\.io/google\.com/cloudsdktool/google-cloud-cli:(\S+-)?emulators", image)
    script = _script("test")
    assert re.search(r"apt-get install .*\bmake\b.*\bpython3-venv\b.*\bnodejs\b.*\bnpm\b", script)
    assert "sys.version_info < (3, 11)" in script
    assert script.rstrip().endswith("make test")


def test_the_tests_find_terraform_for_the_format_check() -> None:
    copy = _script("terraform-binary")
    assert "/workspace/.tools/" in copy
    assert 'export PATH="/workspace/.tools:$$PATH"' in _script("test")


def test_the_test_step_stops_when_a_tool_is_missing(sandbox: tuple[Path, Path]) -> None:
    workspace, bin_dir = sandbox
    for tool in ("apt-get", "make", "gcloud", "java", "terraform"):
        _stand_in(bin_dir, tool, "exit 0")
    _stand_in(bin_dir, "python3", "exit 0")
    # The stand-ins alone on PATH: everything but node.
    result = _run(_substituted(_script("test"), workspace), workspace, bin_dir, system_path=False)
    assert result.returncode != 0
    assert "node is missing from the test image" in result.stderr
    assert not [c for c in _calls(bin_dir) if c.startswith("make")]


# --- the settings -----------------------------------------------------------------------------


def test_settings_are_fetched_from_beside_the_state(sandbox: tuple[Path, Path]) -> None:
    workspace, bin_dir = sandbox
    _fake_storage(bin_dir, 'project_id = "shop"\n')
    result = _run(_substituted(_script("settings"), workspace), workspace, bin_dir)
    assert result.returncode == 0, result.stderr
    assert (workspace / "settings.tfvars").read_text(encoding="utf-8") == 'project_id = "shop"\n'
    assert f"gcloud storage cp {SETTINGS} {workspace}/settings.tfvars" in _calls(bin_dir)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, f"no settings at {SETTINGS}"),
        ("", f"{SETTINGS} is empty"),
        ('pinterest_access_token = "pina_x"\n', "names the access token"),
        ("  write_access_token = true\n", "names the access token"),
    ],
)
def test_the_build_stops_without_usable_settings(
    sandbox: tuple[Path, Path], content: str | None, message: str
) -> None:
    workspace, bin_dir = sandbox
    _fake_storage(bin_dir, content)
    result = _run(_substituted(_script("settings"), workspace), workspace, bin_dir)
    assert result.returncode != 0
    assert message in result.stderr


def test_the_build_stops_without_a_state_bucket(sandbox: tuple[Path, Path]) -> None:
    workspace, bin_dir = sandbox
    _fake_storage(bin_dir, "x = 1\n")
    result = _run(_substituted(_script("settings"), workspace, _TF_STATE_BUCKET=""), workspace, bin_dir)
    assert result.returncode != 0
    assert "_TF_STATE_BUCKET is not set" in result.stderr
    assert _calls(bin_dir) == []


def test_plan_refuses_to_run_without_the_settings(sandbox: tuple[Path, Path]) -> None:
    workspace, bin_dir = sandbox
    _stand_in(bin_dir, "terraform", "exit 0")
    result = _run(_substituted(_script("plan"), workspace), workspace, bin_dir, shell="sh")
    assert result.returncode != 0
    assert "refusing to plan" in result.stderr
    assert _calls(bin_dir) == []


def test_plan_uses_the_settings_file_alone(sandbox: tuple[Path, Path]) -> None:
    workspace, bin_dir = sandbox
    (workspace / "settings.tfvars").write_text('project_id = "shop"\n', encoding="utf-8")
    _stand_in(bin_dir, "terraform", "exit 0")
    result = _run(_substituted(_script("plan"), workspace), workspace, bin_dir, shell="sh")
    assert result.returncode == 0, result.stderr
    settings, plan = workspace / "settings.tfvars", workspace / "tfplan"
    assert _calls(bin_dir) == [
        f"terraform plan -input=false -lock-timeout=10m -var-file={settings} -out={plan}"
    ]


def test_no_terraform_step_sets_a_variable_on_the_command_line() -> None:
    for step_id in TERRAFORM_STEPS:
        text = " ".join(_steps()[step_id]["args"])
        assert not re.search(r"-var[= ]", text), step_id
        assert "TF_VAR_" not in text, step_id
    assert "TF_VAR_" not in CLOUDBUILD.read_text(encoding="utf-8")


@pytest.mark.parametrize("step_id", TERRAFORM_STEPS)
def test_terraform_waits_for_a_held_state_lock(step_id: str) -> None:
    assert "-lock-timeout=" in " ".join(_steps()[step_id]["args"])


def test_init_reads_the_state_from_the_same_place_as_the_settings() -> None:
    args = _steps()["init"]["args"]
    assert "-backend-config=bucket=${_TF_STATE_BUCKET}" in args
    assert "-backend-config=prefix=${_TF_STATE_PREFIX}" in args
    assert 'settings="gs://${_TF_STATE_BUCKET}/${_TF_STATE_PREFIX}/terraform.tfvars"' in _script("settings")


@pytest.mark.parametrize(("apply", "applied"), [("true", True), ("false", False), ("", False)])
def test_apply_runs_the_reviewed_plan_only_when_asked(
    sandbox: tuple[Path, Path], apply: str, applied: bool
) -> None:
    workspace, bin_dir = sandbox
    _stand_in(bin_dir, "terraform", "exit 0")
    result = _run(_substituted(_script("apply"), workspace, _APPLY=apply), workspace, bin_dir, shell="sh")
    assert result.returncode == 0, result.stderr
    expected = [f"terraform apply -input=false -lock-timeout=10m {workspace}/tfplan"] if applied else []
    assert _calls(bin_dir) == expected


def test_terraform_image_is_new_enough_for_write_only_arguments() -> None:
    major, minor, _ = (int(p) for p in _build()["substitutions"]["_TF_VERSION"].split("."))
    assert (major, minor) >= (1, 11)
    for step_id in (*TERRAFORM_STEPS, "terraform-binary"):
        assert _steps()[step_id]["name"] == "hashicorp/terraform:${_TF_VERSION}"


def test_builds_run_as_a_user_chosen_account_can_log() -> None:
    assert _build()["options"]["logging"] == "CLOUD_LOGGING_ONLY"
