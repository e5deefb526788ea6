#!/bin/bash
# Checks of infrastructure/ without a cloud account.
#
#   scripts/infra.sh lint       terraform fmt -check, tflint, checkov
#   scripts/infra.sh validate   the google provider built into a filesystem mirror, then
#                               terraform init -backend=false, validate, and three plans
#                               (-refresh=false, placeholder credentials) as JSON
#
# Every tool comes from the Go module proxy or PyPI, built once into
# .devstack/cache/infra (INFRA_TOOLS to put it elsewhere).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS=${INFRA_TOOLS:-$ROOT/.devstack/cache/infra}
OUT=$ROOT/build/infra

TERRAFORM_VERSION=v1.5.7 # the last release under the MPL
TFLINT_VERSION=v0.64.0
CHECKOV_VERSION=3.3.30
# The proxy serves the google provider only by commit: this one is from
# 28 Aug 2026, two days after 8.0.0; the mirror presents it as 8.0.0.
GOOGLE_PROVIDER_COMMIT=v1.20.1-0.20260828184646-f3721fb45fa3
GOOGLE_PROVIDER_AS=8.0.0

TERRAFORM=$TOOLS/terraform-$TERRAFORM_VERSION/terraform
TFLINT=$TOOLS/tflint-$TFLINT_VERSION/tflint
CHECKOV=$TOOLS/checkov-$CHECKOV_VERSION/bin/checkov
MIRROR=$TOOLS/mirror
# The mirror names the provider by the platform it was built for: this machine's.
PROVIDER_DIR=$MIRROR/registry.terraform.io/hashicorp/google/$GOOGLE_PROVIDER_AS/$(go env GOOS)_$(go env GOARCH)

export TF_CLI_CONFIG_FILE=/dev/null CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1

# go_tool DIR MODULE@VERSION: build a Go command into DIR once.
go_tool() {
  local dir=$1 module=$2
  [ -n "$(ls -A "$dir" 2>/dev/null)" ] && return
  echo "building $module (once)" >&2
  local started=$SECONDS
  GOBIN=$dir go install "$module"
  echo "built $module in $((SECONDS - started)) s" >&2
}

tools() {
  go_tool "$(dirname "$TERRAFORM")" "github.com/hashicorp/terraform@$TERRAFORM_VERSION"
  go_tool "$(dirname "$TFLINT")" "github.com/terraform-linters/tflint@$TFLINT_VERSION"
  if [ ! -x "$CHECKOV" ]; then
    python3 -m venv "$TOOLS/checkov-$CHECKOV_VERSION"
    "$TOOLS/checkov-$CHECKOV_VERSION/bin/pip" install --quiet "checkov==$CHECKOV_VERSION"
  fi
}

google_provider() {
  local build=$TOOLS/google-provider-$GOOGLE_PROVIDER_COMMIT
  go_tool "$build" "github.com/hashicorp/terraform-provider-google@$GOOGLE_PROVIDER_COMMIT"
  mkdir -p "$PROVIDER_DIR"
  ln -sf "$build/terraform-provider-google" "$PROVIDER_DIR/terraform-provider-google_v$GOOGLE_PROVIDER_AS"
}

lint() {
  tools
  "$TERRAFORM" -chdir="$ROOT/infrastructure" fmt -check -diff -recursive
  (cd "$ROOT/infrastructure" && "$TFLINT" --format compact)
  BC_SKIP_MAPPING=TRUE "$CHECKOV" --directory "$ROOT/infrastructure" --framework terraform \
    --compact --quiet --skip-download
}

# plan NAME TERRAFORM-ARGS...: a plan of infrastructure/, as JSON in build/infra/plan-NAME.json,
# with the example's values and secrets drawn as `make secrets` draws them.
plan() {
  local name=$1
  shift
  (cd "$ROOT/infrastructure" &&
    GOOGLE_OAUTH_ACCESS_TOKEN=placeholder "$TERRAFORM" plan -refresh=false -input=false \
      -lock=false -no-color -var-file="$ROOT/terraform.tfvars.example" \
      -var-file="$OUT/plan-secrets.tfvars.json" -var smtp_password=plan-smtp-login \
      -var "package_path=$OUT/fraudstream.tar.gz" "$@" -out="$OUT/plan-$name.bin" >"$OUT/plan-$name.txt" &&
    "$TERRAFORM" show -json "$OUT/plan-$name.bin" >"$OUT/plan-$name.json")
  echo "plan-$name: $(grep -E '^Plan:' "$OUT/plan-$name.txt")"
}

# refused NAME TERRAFORM-ARGS...: a plan that must be refused; what Terraform said goes to
# build/infra/plan-NAME.txt, its exit status on the last line.
refused() {
  local name=$1 status=0
  shift
  (cd "$ROOT/infrastructure" &&
    GOOGLE_OAUTH_ACCESS_TOKEN=placeholder "$TERRAFORM" plan -refresh=false -input=false \
      -lock=false -no-color -var-file="$ROOT/terraform.tfvars.example" \
      -var-file="$OUT/plan-secrets.tfvars.json" -var smtp_password=plan-smtp-login \
      -var "package_path=$OUT/fraudstream.tar.gz" "$@") >"$OUT/plan-$name.txt" 2>&1 || status=$?
  echo "exit status $status" >>"$OUT/plan-$name.txt"
  echo "plan-$name: exit status $status (refused, as it must be, unless 0)"
}

# The example alone, as a user who copied it and applied, and the example with the
# placeholder key it once carried: both plans must be refused (no secret of the
# deployment may be a value printed in the repository). Planned in a copy
# of infrastructure/ without a secrets file a user may have there; what Terraform said
# goes to build/infra/plan-example-only.txt and plan-placeholder.txt, its exit status
# on the last line.
plan_example_only() {
  local copy=$OUT/example-only/infrastructure status=0
  rm -rf "$OUT/example-only" && mkdir -p "$copy" "$OUT/example-only/fraudstream/runtime"
  cp -r "$ROOT"/infrastructure/*.tf "$ROOT/infrastructure/startup" "$copy/"
  cp "$ROOT/fraudstream/runtime/dashboard.json" "$OUT/example-only/fraudstream/runtime/"
  (cd "$copy" &&
    TF_DATA_DIR=$copy/.terraform "$TERRAFORM" init -backend=false -input=false -no-color \
      -plugin-dir="$MIRROR" >/dev/null &&
    GOOGLE_OAUTH_ACCESS_TOKEN=placeholder TF_DATA_DIR=$copy/.terraform "$TERRAFORM" plan \
      -refresh=false -input=false -lock=false -no-color -var-file="$ROOT/terraform.tfvars.example" \
      -var "package_path=$OUT/fraudstream.tar.gz") >"$OUT/plan-example-only.txt" 2>&1 || status=$?
  echo "exit status $status" >>"$OUT/plan-example-only.txt"
  echo "plan-example-only: exit status $status (refused, as it must be, unless 0)"
  # And the placeholder the example once carried, given with every other secret drawn.
  status=0
  (cd "$copy" &&
    GOOGLE_OAUTH_ACCESS_TOKEN=placeholder TF_DATA_DIR=$copy/.terraform "$TERRAFORM" plan \
      -refresh=false -input=false -lock=false -no-color -var-file="$ROOT/terraform.tfvars.example" \
      -var-file="$OUT/plan-secrets.tfvars.json" -var smtp_password=plan-smtp-login \
      -var confirmation_token_key=change-me-to-32-or-more-random-characters \
      -var "package_path=$OUT/fraudstream.tar.gz") >"$OUT/plan-placeholder.txt" 2>&1 || status=$?
  echo "exit status $status" >>"$OUT/plan-placeholder.txt"
  echo "plan-placeholder: exit status $status (refused, as it must be, unless 0)"
}

validate() {
  tools
  google_provider
  mkdir -p "$OUT"
  git -C "$ROOT" archive --format=tar.gz -o "$OUT/fraudstream.tar.gz" HEAD
  export TF_DATA_DIR=$OUT/terraform-data
  (cd "$ROOT/infrastructure" &&
    "$TERRAFORM" init -backend=false -input=false -no-color -plugin-dir="$MIRROR" >/dev/null &&
    "$TERRAFORM" validate -no-color)
  python3 "$ROOT/scripts/deployment_secrets.py" --output "$OUT/plan-secrets.tfvars.json" >/dev/null
  local zones='zones=["europe-west1-b","europe-west1-c","europe-west1-d"]'
  plan spread -var "$zones"
  # A stand-in for a trained model: a plan only hashes and uploads the file.
  printf 'model bytes for the plan\n' >"$OUT/gbm.onnx"
  plan single -var "$zones" -var kafka_layout=single -var confirmation_domain=confirm.example.com \
    -var producer_count=3 -var 'consumer_count={fraud=2,non_fraud=3}' -var force_destroy=true -var detector=gbm -var "detector_model_path=$OUT/gbm.onnx" \
    -var 'consumer_autoscaling={fraud={max_vms=4,lag_per_vm=20000},non_fraud={max_vms=6,lag_per_vm=120000}}'
  # As a fresh project's first apply sees it: the zones are read once the APIs are on.
  plan fresh
  # More notification consumers than the topics have partitions.
  refused too-many-consumers -var "$zones" -var topic_partitions=4 \
    -var 'consumer_count={fraud=1,non_fraud=5}'
  # An autoscaler allowed to grow a kind past the partitions.
  refused autoscaled-past-partitions -var "$zones" \
    -var 'consumer_autoscaling={non_fraud={max_vms=7,lag_per_vm=120000}}'
  plan_example_only
}

case "${1:-}" in
  lint) lint ;;
  validate) validate ;;
  *) echo "usage: $0 lint|validate" >&2; exit 2 ;;
esac
