#!/usr/bin/env bash
# Deploy (install or upgrade) custom-gpt-adapter with Helm and the production kustomize overlay
# as post-renderer; --dry-run renders and validates offline and prints the helm command instead.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CHART_DIR="$REPO_ROOT/charts/custom-gpt-adapter"
OVERLAY_DIR="$REPO_ROOT/k8s/overlays/prod"
# The overlay ships its own post-renderer (kustomize over the rendered chart).
POST_RENDERER="$OVERLAY_DIR/kustomize-post-renderer.sh"
PLUGIN_NAME="cga-kustomize"

usage() {
	cat <<EOF
Usage: $PROGRAM --image-digest sha256:... [--release NAME] [--namespace NS] [--values FILE]...
       [--timeout 10m] [--context KUBE_CONTEXT] [--dry-run [--manifests FILE]]

Install or upgrade the release with
  helm upgrade --install --atomic --wait --timeout ...
      --post-renderer k8s/overlays/prod/kustomize-post-renderer.sh
after the pre-flight \`make chart-check\`; then print and log the new revision and run
scripts/deploy/smoke.sh when it exists. A failed upgrade is rolled back by helm (--atomic).

Options:
  --release NAME        Helm release name (default: cga)
  --namespace NS        namespace of the release; it must exist (default: cga)
  --values FILE         production values; repeatable, later files win
                        (default: k8s/overlays/prod/values-prod.yaml)
  --image-digest D      the image to run, by digest (sha256:<64 hex>); sets image.digest.
                        Required, except with --dry-run: a tag alone is never deployed
  --timeout DURATION    how long helm waits for the rollout (default: 10m)
  --context NAME        kubeconfig context to deploy to (default: the current context)
  --log FILE            append the deployed revision here
                        (default: \$CGA_DEPLOY_LOG or ~/.local/state/custom-gpt-adapter/deploy.log)
  --dry-run             no cluster: lint, render with the values, apply the overlay, parse every
                        manifest (helm-python-sdk, as make chart-check does) and print the exact
                        helm command a real run would execute; needs no helm and no cluster
  --manifests FILE      with --dry-run: also write the post-rendered manifests to FILE
  -h, --help            show this help

Smoke tests: scripts/deploy/smoke.sh (or \$CGA_DEPLOY_SMOKE) runs after a successful rollout with
CGA_DEPLOY_RELEASE, CGA_DEPLOY_NAMESPACE, CGA_DEPLOY_REVISION and CGA_DEPLOY_CONTEXT set.
EOF
}

release=cga
namespace=cga
values_files=()
image_digest=""
timeout=10m
context=""
dry_run=false
manifests_file=""
deploy_log="${CGA_DEPLOY_LOG:-${XDG_STATE_HOME:-$HOME/.local/state}/custom-gpt-adapter/deploy.log}"
while [ "$#" -gt 0 ]; do
	case "$1" in
	--release | --namespace | --values | --image-digest | --timeout | --context | --log | --manifests)
		need_value "$@"
		case "$1" in
		--release) release=$2 ;;
		--namespace) namespace=$2 ;;
		--values) values_files+=("$2") ;;
		--image-digest) image_digest=$2 ;;
		--timeout) timeout=$2 ;;
		--context) context=$2 ;;
		--log) deploy_log=$2 ;;
		--manifests) manifests_file=$2 ;;
		esac
		shift 2
		;;
	--dry-run)
		dry_run=true
		shift
		;;
	-h | --help)
		usage
		exit 0
		;;
	*) usage_error "unknown argument: $1" ;;
	esac
done

[[ "$release" =~ ^[a-z0-9]([-a-z0-9]{0,51}[a-z0-9])?$ ]] ||
	usage_error "invalid release name '$release' (lower-case letters, digits and '-', at most 53)"
[[ "$namespace" =~ ^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$ ]] || usage_error "invalid namespace '$namespace'"
[ -z "$image_digest" ] || [[ "$image_digest" =~ ^sha256:[0-9a-f]{64}$ ]] ||
	usage_error "--image-digest must be sha256: followed by 64 hex digits"
[[ "$timeout" =~ ^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$ ]] || usage_error "invalid --timeout '$timeout' (e.g. 10m, 90s, 1h30m)"
[ -z "$manifests_file" ] || $dry_run || usage_error "--manifests only goes with --dry-run"
# Production runs exactly the image that was tested: never a tag alone.
$dry_run || [ -n "$image_digest" ] || usage_error "--image-digest is required (production pins the image by digest)"
[ "${#values_files[@]}" -gt 0 ] || values_files=("$OVERLAY_DIR/values-prod.yaml")

if ! $dry_run; then
	require_tool helm "install Helm 3.1+ (https://helm.sh/docs/intro/install/)"
	require_tool kubectl "install kubectl; it checks the context and runs the kustomize overlay"
fi
[ -f "$CHART_DIR/Chart.yaml" ] ||
	die "no Helm chart at ${CHART_DIR#"$REPO_ROOT/"} (Chart.yaml missing): nothing to deploy"
for file in "${values_files[@]}"; do
	[ -f "$file" ] || die "values file $file not found"
done
[ -x "$POST_RENDERER" ] ||
	die "${POST_RENDERER#"$REPO_ROOT/"} not found or not executable: the production overlay's Helm post-renderer"

# Helm 3 takes the post-renderer as a path; Helm 4 only as the name of a postrenderer/v1 plugin.
# Without a helm binary (dry run on a laptop or CI) the command is printed for Helm 4.
helm_major=4
if command -v helm >/dev/null 2>&1; then
	helm_version=$(helm version --template '{{.Version}}' 2>/dev/null) || die "helm version failed: is helm working?"
	helm_major=${helm_version#v}
	helm_major=${helm_major%%.*}
	if ! [[ "$helm_major" =~ ^[0-9]+$ ]] || [ "$helm_major" -lt 3 ]; then
		die "helm $helm_version is too old: Helm 3.1 or newer is needed"
	fi
fi

helm_command=(helm upgrade "$release" "$CHART_DIR" --install --namespace "$namespace")
[ -z "$context" ] || helm_command+=(--kube-context "$context")
for file in "${values_files[@]}"; do
	helm_command+=(--values "$file")
done
[ -z "$image_digest" ] || helm_command+=(--set "image.digest=$image_digest")
if [ "$helm_major" -ge 4 ]; then
	helm_command+=(--rollback-on-failure --wait --timeout "$timeout" --post-renderer "$PLUGIN_NAME")
else
	helm_command+=(--atomic --wait --timeout "$timeout" --post-renderer "$POST_RENDERER")
fi

if $dry_run; then
	printf 'dry run: a real run executes, after the pre-flight "make chart-check":\n'
	if [ "$helm_major" -ge 4 ]; then
		printf '  # HELM_PLUGINS: a temporary directory with the %s postrenderer/v1 plugin running %s\n' \
			"$PLUGIN_NAME" "${POST_RENDERER#"$REPO_ROOT/"}"
	fi
	printf '  '
	print_command "${helm_command[@]}"
	render_args=(--chart "$CHART_DIR" --release "$release" --namespace "$namespace" --post-renderer "$POST_RENDERER")
	for file in "${values_files[@]}"; do
		render_args+=(--values "$file")
	done
	[ -z "$image_digest" ] || render_args+=(--set "image.digest=$image_digest")
	[ -z "$manifests_file" ] || render_args+=(--output "$manifests_file")
	"$(project_python)" "$REPO_ROOT/scripts/deploy/render_chart.py" "${render_args[@]}" ||
		die "the chart does not render and validate with these values; nothing would be deployed"
	printf 'dry run: the chart renders and validates with these values; nothing was deployed.\n'
	exit 0
fi

kube=(kubectl)
if [ -n "$context" ]; then
	kubectl config get-contexts "$context" >/dev/null 2>&1 ||
		die "kube context '$context' not found in your kubeconfig (kubectl config get-contexts)"
	kube+=(--context "$context")
else
	context=$(kubectl config current-context 2>/dev/null) ||
		die "no current kube context: select one with kubectl config use-context NAME, or pass --context NAME"
	# Pinned, so that a context switched meanwhile cannot redirect the upgrade.
	kube+=(--context "$context")
	helm_command+=(--kube-context "$context")
fi
"${kube[@]}" get namespace "$namespace" >/dev/null 2>&1 ||
	die "namespace $namespace not found in context $context (or the cluster is unreachable): create it first"

note "pre-flight: make chart-check"
make --no-print-directory -C "$REPO_ROOT" chart-check || die "pre-flight make chart-check failed; nothing was deployed"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
if [ "$helm_major" -ge 4 ]; then
	mkdir -p "$scratch/plugins/$PLUGIN_NAME"
	cat >"$scratch/plugins/$PLUGIN_NAME/plugin.yaml" <<EOF
apiVersion: v1
type: postrenderer/v1
name: $PLUGIN_NAME
version: 0.1.0
runtime: subprocess
runtimeConfig:
  platformCommand:
    - command: $POST_RENDERER
EOF
	export HELM_PLUGINS="$scratch/plugins"
fi

note "deploying release $release to namespace $namespace in context $context"
print_command "${helm_command[@]}" >&2
"${helm_command[@]}" ||
	die "helm upgrade failed and the release was rolled back; see: helm history $release --namespace $namespace"

history=$(helm history "$release" --namespace "$namespace" --kube-context "$context" --max 1 --output json) ||
	die "deployed, but helm history failed: the revision is unknown"
revision=$(printf '%s' "$history" | grep -oE '"revision": *[0-9]+' | head -n 1 | grep -oE '[0-9]+$') ||
	die "deployed, but no revision in helm history's answer: $history"

commit=$(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
values_list=$(printf '%s,' "${values_files[@]}")
mkdir -p "$(dirname "$deploy_log")"
printf '%s release=%s namespace=%s context=%s revision=%s image_digest=%s commit=%s values=%s\n' \
	"$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$release" "$namespace" "$context" "$revision" \
	"${image_digest:-none}" "$commit" "${values_list%,}" >>"$deploy_log"
printf 'deployed release %s revision %s to namespace %s (context %s); logged in %s\n' \
	"$release" "$revision" "$namespace" "$context" "$deploy_log"

smoke="${CGA_DEPLOY_SMOKE:-$REPO_ROOT/scripts/deploy/smoke.sh}"
if [ -f "$smoke" ]; then
	note "smoke tests: $smoke"
	CGA_DEPLOY_RELEASE=$release CGA_DEPLOY_NAMESPACE=$namespace CGA_DEPLOY_REVISION=$revision \
		CGA_DEPLOY_CONTEXT=$context bash "$smoke" ||
		die "smoke tests failed against revision $revision: roll back with scripts/deploy/rollback.sh --release $release --namespace $namespace --context $context"
	printf 'smoke tests passed against revision %s\n' "$revision"
else
	note "no smoke tests at $smoke; skipped"
fi
