#!/usr/bin/env bash
# Offline checks of terraform/: `terraform fmt -check` where Terraform is installed, then checkov
# in its own virtual environment (.venv-checkov), which must never share one with python-hcl2.
# Quiet on success apart from a one-line summary; prints the findings and exits 1 on failure.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV=.venv-checkov
REQUIREMENTS=requirements-checkov.txt
STAMP="$VENV/.requirements"  # copy of the requirements the venv was built from
TF_DIR=terraform

fmt_status="fmt skipped: terraform not installed"
if command -v terraform >/dev/null 2>&1; then
  # fmt reads no CLI configuration; /dev/null silences the warning about a missing one.
  if ! fmt_out=$(TF_CLI_CONFIG_FILE=/dev/null terraform fmt -check -recursive "$TF_DIR/" 2>&1); then
    echo "terraform fmt: these files need \`terraform fmt -recursive $TF_DIR/\`:" >&2
    echo "$fmt_out" >&2
    exit 1
  fi
  fmt_status="fmt ok"
fi

if [[ ! -x "$VENV/bin/checkov" ]] || ! cmp -s "$REQUIREMENTS" "$STAMP"; then
  echo "checkov: installing $(grep -m1 '^checkov==' "$REQUIREMENTS") into $VENV (once)"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  if ! install_log=$("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS" 2>&1); then
    echo "$install_log" >&2
    exit 1
  fi
  cp "$REQUIREMENTS" "$STAMP"
fi

# --skip-download: no guideline metadata from the network (it would print a traceback offline).
status=0
report=$("$VENV/bin/checkov" -d "$TF_DIR" --framework terraform --skip-download --compact --quiet 2>&1) || status=$?
summary=$(grep -m1 -o 'Passed checks: [0-9]*, Failed checks: [0-9]*, Skipped checks: [0-9]*' <<<"$report" || true)

if [[ $status -ne 0 || -z "$summary" ]]; then
  echo "$report" >&2
  echo "check_terraform: FAILED ($fmt_status; checkov exit $status${summary:+; $summary})" >&2
  exit 1
fi
echo "check_terraform: $fmt_status; checkov $summary"
