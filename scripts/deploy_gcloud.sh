#!/usr/bin/env bash
# Deploy the forwarder with gcloud alone: the same resources, names and settings as terraform/
# (without the log-based metrics and dashboard, which only Terraform creates). Safe to run again:
# what exists is updated, not duplicated. --dry-run prints every command and runs none.
#
#   scripts/deploy_gcloud.sh --project my-project --region europe-west1 --ad-account-id 549755885175 \
#     --server-account sgtm@my-project.iam.gserviceaccount.com --token-file - --test-mode
#
# Run from anywhere; it reads the function's source from this repository. See --help.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"

usage() {
  cat <<'EOF'
Usage: scripts/deploy_gcloud.sh --project ID --region REGION --ad-account-id DIGITS [options]

  --prefix NAME                 start of every resource name (default pinterest-capi), as Terraform's name_prefix
  --server-account EMAIL        GTM server container account allowed to publish (repeat for the preview server's)
  --token-file FILE|-           write the access token from FILE (- reads standard input) as a new secret version;
                                needed on the first run, and to rotate the token
  --test-mode                   send events with ?test=true (PINTEREST_TEST_MODE=true)
  --env-file FILE               YAML of further function settings (EVENT_NAME_MAP: "{}", CONSENT_POLICY: respect, ...)
  --message-storage-region R    region the topics may store messages in (repeat; default --region)
  --kms-key KEY                 customer-managed key for both topics (projects/P/locations/L/keyRings/R/cryptoKeys/K)
  --pubsub-agent-token-creator  grant the Pub/Sub service agent token creator on the push account (projects whose
                                agent predates 8 April 2021)
  --concurrency N (80)  --timeout SECONDS (60)  --memory QTY (512Mi)  --cpu N (1)
  --min-instances N (0)  --max-instances N (10)  --max-delivery-attempts N (10)
  --dead-letter-retention-days N (7)  --runtime NAME (python312)
  --list-source                 print the files the function is deployed from, and exit
  --dry-run                     print every command, run none
  -h, --help                    this help
EOF
}

die() {
  echo "deploy_gcloud: $*" >&2
  exit 2
}

# --- options ----------------------------------------------------------------------------------

PROJECT="" REGION="" AD_ACCOUNT="" PREFIX="pinterest-capi" TOKEN_FILE="" ENV_FILE="" KMS_KEY=""
TEST_MODE=false TOKEN_CREATOR=false DRY_RUN=false LIST_SOURCE=false
CONCURRENCY=80 TIMEOUT=60 MEMORY=512Mi CPU=1 MIN_INSTANCES=0 MAX_INSTANCES=10
MAX_DELIVERY_ATTEMPTS=10 DEAD_LETTER_DAYS=7 RUNTIME=python312
SERVER_ACCOUNTS=() STORAGE_REGIONS=()

while (($#)); do
  case "$1" in
    --project) PROJECT="${2:?}"; shift ;;
    --region) REGION="${2:?}"; shift ;;
    --ad-account-id) AD_ACCOUNT="${2:?}"; shift ;;
    --prefix) PREFIX="${2:?}"; shift ;;
    --server-account) SERVER_ACCOUNTS+=("${2:?}"); shift ;;
    --token-file) TOKEN_FILE="${2:?}"; shift ;;
    --env-file) ENV_FILE="${2:?}"; shift ;;
    --message-storage-region) STORAGE_REGIONS+=("${2:?}"); shift ;;
    --kms-key) KMS_KEY="${2:?}"; shift ;;
    --concurrency) CONCURRENCY="${2:?}"; shift ;;
    --timeout) TIMEOUT="${2:?}"; shift ;;
    --memory) MEMORY="${2:?}"; shift ;;
    --cpu) CPU="${2:?}"; shift ;;
    --min-instances) MIN_INSTANCES="${2:?}"; shift ;;
    --max-instances) MAX_INSTANCES="${2:?}"; shift ;;
    --max-delivery-attempts) MAX_DELIVERY_ATTEMPTS="${2:?}"; shift ;;
    --dead-letter-retention-days) DEAD_LETTER_DAYS="${2:?}"; shift ;;
    --runtime) RUNTIME="${2:?}"; shift ;;
    --test-mode) TEST_MODE=true ;;
    --pubsub-agent-token-creator) TOKEN_CREATOR=true ;;
    --dry-run) DRY_RUN=true ;;
    --list-source) LIST_SOURCE=true ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
  shift
done

# The files the function runs: main.py, requirements.txt and lib/ without the operator commands
# (lib/cli.py, lib/commands/), exactly what terraform/function.tf archives.
source_files() {
  (
    cd "$ROOT"
    printf '%s\n' main.py requirements.txt
    find lib -type f -name '*.py' ! -path 'lib/commands/*' ! -path lib/cli.py
  ) | LC_ALL=C sort
}

if $LIST_SOURCE; then
  source_files
  exit 0
fi

[[ -n "$PROJECT" && -n "$REGION" && -n "$AD_ACCOUNT" ]] || { usage >&2; die "--project, --region and --ad-account-id are required"; }
[[ "$PROJECT" =~ ^[a-z][a-z0-9-]{4,28}[a-z0-9]$ ]] || die "--project must be a project id"
[[ "$REGION" =~ ^[a-z]+-[a-z]+[0-9]+$ ]] || die "--region must be a region such as europe-west1"
[[ "$AD_ACCOUNT" =~ ^[0-9]{1,18}$ ]] || die "--ad-account-id must be the ad account's digits"
[[ "$PREFIX" =~ ^[a-z]([a-z0-9-]{0,20}[a-z0-9])?$ ]] || die "--prefix must be 1-22 lowercase letters, digits or hyphens"
for number in "$CONCURRENCY" "$TIMEOUT" "$MIN_INSTANCES" "$MAX_INSTANCES" "$MAX_DELIVERY_ATTEMPTS" "$DEAD_LETTER_DAYS"; do
  [[ "$number" =~ ^[0-9]+$ ]] || die "not a whole number: $number"
done
((TIMEOUT <= 600)) || die "--timeout must be at most 600 (the push subscription's ack deadline)"
((MAX_DELIVERY_ATTEMPTS >= 5 && MAX_DELIVERY_ATTEMPTS <= 100)) || die "--max-delivery-attempts must be from 5 to 100"
((DEAD_LETTER_DAYS >= 1 && DEAD_LETTER_DAYS <= 31)) || die "--dead-letter-retention-days must be from 1 to 31"
[[ -z "$ENV_FILE" || -r "$ENV_FILE" ]] || die "cannot read --env-file $ENV_FILE"
[[ -z "$TOKEN_FILE" || "$TOKEN_FILE" == - || -r "$TOKEN_FILE" ]] || die "cannot read --token-file $TOKEN_FILE"
((${#STORAGE_REGIONS[@]})) || STORAGE_REGIONS=("$REGION")

# The names Terraform gives the same prefix (terraform/main.tf, local.names).
FUNCTION="$PREFIX-forwarder"
EVENTS_TOPIC="$PREFIX-events"
PUSH_SUBSCRIPTION="$PREFIX-forwarder-push"
DEAD_LETTER_TOPIC="$PREFIX-dead-letter"
DEAD_LETTER_SUBSCRIPTION="$PREFIX-dead-letter-pull"
SECRET="$PREFIX-access-token"
REPOSITORY="$PREFIX-builds"
RUNTIME_SA="$PREFIX-runtime@$PROJECT.iam.gserviceaccount.com"
PUSH_SA="$PREFIX-push@$PROJECT.iam.gserviceaccount.com"
BUILD_SA="$PREFIX-build@$PROJECT.iam.gserviceaccount.com"

# --- running commands -------------------------------------------------------------------------
# A dry run prints to descriptor 3 (standard output), so commands run inside $(...) print too.

exec 3>&1
export CLOUDSDK_CORE_DISABLE_PROMPTS=1

quoted() { printf '%q ' "$@" | sed 's/ $//'; }

# Run a command, or with --dry-run print it (shell-quoted) instead.
run() {
  if $DRY_RUN; then
    echo "$(quoted "$@")" >&3
  else
    "$@"
  fi
}

# Whether a resource exists: a describe command, quiet. A dry run assumes nothing exists yet,
# so it prints what a first deployment runs.
exists() {
  if $DRY_RUN; then
    echo "# if missing: $(quoted "$@")" >&3
    return 1
  fi
  "$@" >/dev/null 2>&1
}

# Print a command's output, or with --dry-run print the command and the placeholder it stands for.
capture() {
  local placeholder="$1"
  shift
  if $DRY_RUN; then
    echo "$placeholder=\$($(quoted "$@"))" >&3
    echo "<$placeholder>"
  else
    "$@"
  fi
}

# Write a file (content on stdin), or with --dry-run print it as a here-document.
write_file() {
  local path="$1"
  if $DRY_RUN; then
    {
      echo "cat > $(printf '%q' "$path") <<'EOF'"
      cat
      echo "EOF"
    } >&3
  else
    cat >"$path"
  fi
}

gc() { run gcloud "$@" --project="$PROJECT"; }

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# A token on standard input is read now, before any command could read (or prompt on) it.
if [[ "$TOKEN_FILE" == - ]] && ! $DRY_RUN; then
  (umask 077 && cat >"$WORK/token")
  [[ -s "$WORK/token" ]] || die "no token on standard input"
  TOKEN_FILE="$WORK/token"
fi

# --- the deployment ---------------------------------------------------------------------------

enable_apis() {
  local apis=(artifactregistry cloudbuild cloudfunctions iam logging pubsub run secretmanager storage)
  [[ -z "$KMS_KEY" ]] || apis+=(cloudkms)
  gc services enable "${apis[@]/%/.googleapis.com}"
}

create_accounts() {
  local id role created=false
  for role in runtime push build; do
    id="$PREFIX-$role"
    exists gcloud iam service-accounts describe "$id@$PROJECT.iam.gserviceaccount.com" --project="$PROJECT" || {
      gc iam service-accounts create "$id" --display-name="Pinterest CAPI forwarder $PREFIX ($role)"
      created=true
    }
  done
  # A new account can be missing from IAM's view for a few seconds; grants to it would fail.
  if $created; then run sleep 30; fi
}

# The build account: the build's logs, the builds repository, the source copy (as in iam.tf).
grant_build_account() {
  local number="$1" policy="$WORK/cleanup-policy.json"
  gc projects add-iam-policy-binding "$PROJECT" --member="serviceAccount:$BUILD_SA" \
    --role=roles/logging.logWriter --condition=None
  gc projects add-iam-policy-binding "$PROJECT" --member="serviceAccount:$BUILD_SA" \
    --role=roles/storage.objectViewer \
    --condition="expression=resource.name.startsWith(\"projects/_/buckets/gcf-v2-sources-$number-$REGION\"),title=$PREFIX-function-sources"
  exists gcloud artifacts repositories describe "$REPOSITORY" --location="$REGION" --project="$PROJECT" ||
    gc artifacts repositories create "$REPOSITORY" --location="$REGION" --repository-format=docker \
      --description="Images of the $FUNCTION function, built by Cloud Build."
  write_file "$policy" <<'EOF'
[
  {"name": "keep-recent", "action": {"type": "Keep"}, "mostRecentVersions": {"keepCount": 10}},
  {"name": "delete-old", "action": {"type": "Delete"}, "condition": {"tagState": "any", "olderThan": "30d"}}
]
EOF
  gc artifacts repositories set-cleanup-policies "$REPOSITORY" --location="$REGION" --policy="$policy"
  gc artifacts repositories add-iam-policy-binding "$REPOSITORY" --location="$REGION" \
    --member="serviceAccount:$BUILD_SA" --role=roles/artifactregistry.writer
}

# Both topics keep messages in the chosen regions, with the customer-managed key if one is given.
create_topics() {
  local agent="$1" topic flags
  flags=(--message-storage-policy-allowed-regions="$(IFS=,; echo "${STORAGE_REGIONS[*]}")")
  if [[ -n "$KMS_KEY" ]]; then
    flags+=(--topic-encryption-key="$KMS_KEY")
    run gcloud kms keys add-iam-policy-binding "$KMS_KEY" --member="serviceAccount:$agent" \
      --role=roles/cloudkms.cryptoKeyEncrypterDecrypter
  fi
  for topic in "$EVENTS_TOPIC" "$DEAD_LETTER_TOPIC"; do
    if exists gcloud pubsub topics describe "$topic" --project="$PROJECT"; then
      gc pubsub topics update "$topic" "${flags[@]}"
    else
      gc pubsub topics create "$topic" "${flags[@]}"
    fi
  done
  local retention=(--message-retention-duration="${DEAD_LETTER_DAYS}d" --expiration-period=never)
  if exists gcloud pubsub subscriptions describe "$DEAD_LETTER_SUBSCRIPTION" --project="$PROJECT"; then
    gc pubsub subscriptions update "$DEAD_LETTER_SUBSCRIPTION" "${retention[@]}"
  else
    gc pubsub subscriptions create "$DEAD_LETTER_SUBSCRIPTION" --topic="$DEAD_LETTER_TOPIC" --ack-deadline=60 "${retention[@]}"
  fi
}

# The secret, its token (from --token-file only: never an argument, never printed), its reader.
prepare_secret() {
  exists gcloud secrets describe "$SECRET" --project="$PROJECT" ||
    gc secrets create "$SECRET" --replication-policy=automatic
  if [[ -n "$TOKEN_FILE" ]]; then
    gc secrets versions add "$SECRET" --data-file="$TOKEN_FILE"
  elif ! $DRY_RUN && [[ -z "$(gcloud secrets versions list "$SECRET" --project="$PROJECT" --filter=state:enabled --limit=1 --format='value(name)')" ]]; then
    die "secret $SECRET holds no token yet: pass --token-file FILE (or - to read it from standard input)"
  fi
  gc secrets add-iam-policy-binding "$SECRET" --member="serviceAccount:$RUNTIME_SA" \
    --role=roles/secretmanager.secretAccessor
  gc pubsub topics add-iam-policy-binding "$DEAD_LETTER_TOPIC" --member="serviceAccount:$RUNTIME_SA" \
    --role=roles/pubsub.publisher
}

# Settings set here (the same Terraform sets); an --env-file may add the mapping settings but not these.
# THREADS follows --concurrency, as in Terraform: every push the platform sends has a server thread
# at once, so the batcher sees it (terraform/function.tf says why).
write_environment() {
  local env="$WORK/env.yaml" managed="PINTEREST_AD_ACCOUNT_ID|PINTEREST_TEST_MODE|DEAD_LETTER_TOPIC|THREADS|GOOGLE_CLOUD_PROJECT|PINTEREST_ACCESS_TOKEN"
  if [[ -n "$ENV_FILE" ]] && grep -Eq "^[[:space:]]*($managed)[[:space:]]*:" "$ENV_FILE"; then
    die "--env-file may not set $managed: this script sets them"
  fi
  {
    cat <<EOF
PINTEREST_AD_ACCOUNT_ID: "$AD_ACCOUNT"
PINTEREST_TEST_MODE: "$TEST_MODE"
DEAD_LETTER_TOPIC: "projects/$PROJECT/topics/$DEAD_LETTER_TOPIC"
THREADS: "$CONCURRENCY"
GOOGLE_CLOUD_PROJECT: "$PROJECT"
EOF
    [[ -z "$ENV_FILE" ]] || cat "$ENV_FILE"
  } | write_file "$env"
  echo "$env"
}

deploy_function() {
  local stage="$WORK/source" env
  env="$(write_environment)"
  local files=() file
  while IFS= read -r file; do files+=("$file"); done < <(source_files)
  run mkdir -p "$stage"
  run tar -C "$ROOT" -cf "$WORK/source.tar" "${files[@]}"
  run tar -C "$stage" -xf "$WORK/source.tar"
  # Grants take a while to apply everywhere; the build must see the build account's.
  run sleep 60
  gc functions deploy "$FUNCTION" --gen2 --region="$REGION" --runtime="$RUNTIME" \
    --source="$stage" --entry-point=handle_pubsub --trigger-http \
    --no-allow-unauthenticated --ingress-settings=internal-only \
    --service-account="$RUNTIME_SA" \
    --build-service-account="projects/$PROJECT/serviceAccounts/$BUILD_SA" \
    --docker-repository="projects/$PROJECT/locations/$REGION/repositories/$REPOSITORY" \
    --set-secrets="PINTEREST_ACCESS_TOKEN=$SECRET:latest" --env-vars-file="$env" \
    --memory="$MEMORY" --cpu="$CPU" --concurrency="$CONCURRENCY" --timeout="${TIMEOUT}s" \
    --min-instances="$MIN_INSTANCES" --max-instances="$MAX_INSTANCES"
}

# Pushes carry the push account's OIDC token; back off 10-600 s; dead-letter after N attempts.
connect_subscription() {
  local agent="$1" url flags
  url="$(capture FUNCTION_URL gcloud functions describe "$FUNCTION" --gen2 --region="$REGION" \
    --project="$PROJECT" --format='value(serviceConfig.uri)')"
  gc run services add-iam-policy-binding "$FUNCTION" --region="$REGION" \
    --member="serviceAccount:$PUSH_SA" --role=roles/run.invoker
  if $TOKEN_CREATOR; then
    gc iam service-accounts add-iam-policy-binding "$PUSH_SA" --member="serviceAccount:$agent" \
      --role=roles/iam.serviceAccountTokenCreator
  fi
  gc pubsub topics add-iam-policy-binding "$DEAD_LETTER_TOPIC" --member="serviceAccount:$agent" \
    --role=roles/pubsub.publisher
  flags=(--push-endpoint="$url" --push-auth-service-account="$PUSH_SA" --push-auth-token-audience="$url"
    --ack-deadline=600 --min-retry-delay=10s --max-retry-delay=600s
    --dead-letter-topic="$DEAD_LETTER_TOPIC" --max-delivery-attempts="$MAX_DELIVERY_ATTEMPTS" --expiration-period=never)
  if exists gcloud pubsub subscriptions describe "$PUSH_SUBSCRIPTION" --project="$PROJECT"; then
    gc pubsub subscriptions update "$PUSH_SUBSCRIPTION" "${flags[@]}"
  else
    gc pubsub subscriptions create "$PUSH_SUBSCRIPTION" --topic="$EVENTS_TOPIC" "${flags[@]}"
  fi
  gc pubsub subscriptions add-iam-policy-binding "$PUSH_SUBSCRIPTION" --member="serviceAccount:$agent" \
    --role=roles/pubsub.subscriber
}

grant_publishers() {
  local account
  # (The +... form keeps bash 3, macOS's, from calling an empty array unbound.)
  for account in ${SERVER_ACCOUNTS[@]+"${SERVER_ACCOUNTS[@]}"}; do
    gc pubsub topics add-iam-policy-binding "$EVENTS_TOPIC" --member="serviceAccount:$account" \
      --role=roles/pubsub.publisher
  done
}

main() {
  local number agent
  enable_apis
  number="$(capture PROJECT_NUMBER gcloud projects describe "$PROJECT" --format='value(projectNumber)')"
  agent="service-$number@gcp-sa-pubsub.iam.gserviceaccount.com"
  # The Pub/Sub service agent moves messages to the dead-letter topic and signs the push token.
  gc beta services identity create --service=pubsub.googleapis.com
  create_accounts
  grant_build_account "$number"
  create_topics "$agent"
  prepare_secret
  deploy_function
  connect_subscription "$agent"
  grant_publishers
  $DRY_RUN || echo "deployed: publish to projects/$PROJECT/topics/$EVENTS_TOPIC"
}

main
