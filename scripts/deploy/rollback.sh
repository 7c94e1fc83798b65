#!/usr/bin/env bash
# Roll the release back to an earlier Helm revision and wait for it, then say what (if anything)
# the database needs: helm rollback never touches the schema.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
	cat <<EOF
Usage: $PROGRAM [--release NAME] [--namespace NS] [--revision N] [--timeout 10m]
       [--context KUBE_CONTEXT] [--dry-run]

Roll back with \`helm rollback --wait\` (to the previous revision unless --revision is given),
then print the revision now deployed and how to check the database schema (Alembic) against it.

Options:
  --release NAME      Helm release name (default: cga)
  --namespace NS      namespace of the release (default: cga)
  --revision N        the Helm revision to return to (default: the previous one);
                      list them with: helm history RELEASE --namespace NS
  --timeout DURATION  how long helm waits for the rollback (default: 10m)
  --context NAME      kubeconfig context (default: the current context)
  --log FILE          append the result here (default: as deploy.sh)
  --dry-run           print the helm command and the database guidance; contact no cluster
  -h, --help          show this help
EOF
}

release=cga
namespace=cga
revision=""
timeout=10m
context=""
dry_run=false
deploy_log="${CGA_DEPLOY_LOG:-${XDG_STATE_HOME:-$HOME/.local/state}/custom-gpt-adapter/deploy.log}"
while [ "$#" -gt 0 ]; do
	case "$1" in
	--release | --namespace | --revision | --timeout | --context | --log)
		need_value "$@"
		case "$1" in
		--release) release=$2 ;;
		--namespace) namespace=$2 ;;
		--revision) revision=$2 ;;
		--timeout) timeout=$2 ;;
		--context) context=$2 ;;
		--log) deploy_log=$2 ;;
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

[[ "$release" =~ ^[a-z0-9]([-a-z0-9]{0,51}[a-z0-9])?$ ]] || usage_error "invalid release name '$release'"
[[ "$namespace" =~ ^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$ ]] || usage_error "invalid namespace '$namespace'"
[ -z "$revision" ] || [[ "$revision" =~ ^[1-9][0-9]*$ ]] || usage_error "--revision must be a positive number"
[[ "$timeout" =~ ^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$ ]] || usage_error "invalid --timeout '$timeout' (e.g. 10m)"

# Printed after every rollback (and by --dry-run): helm rolls back the Deployments, never the
# schema, and that is on purpose.
database_guidance() {
	local kube="kubectl${context:+ --context $context} --namespace $namespace"
	# The chart names objects <release>-custom-gpt-adapter-<component> unless the release name
	# already holds the chart name.
	local fullname="$release-custom-gpt-adapter"
	[[ "$release" != *custom-gpt-adapter* ]] || fullname=$release
	cat <<EOF

Database: helm rollback does not change the schema, and normally it need not: migrations are
backward compatible (expand now, contract a release later), so the code rolled back to runs on
the newer schema. To check, compare the database's revision with the newest one the rolled-back
image knows (marked "(head)"):
    $kube exec deploy/${fullname:0:40}-worker -- cga-migrate current
    $kube exec deploy/${fullname:0:40}-worker -- cga-migrate history
- Same revision, or one the history lists: nothing to do.
- A revision the image does not know (the newer release added it): still nothing to do, unless
  that migration's release notes say it is NOT backward compatible. Only then, after a backup
  (scripts/deploy/backup-db.sh), downgrade with the NEWER image, which holds the migration's
  downgrade step: run a one-off pod of the newer image with the pods' environment, and in it
    cga-migrate downgrade <the head revision of the rolled-back image>
EOF
}

helm_command=(helm rollback "$release")
[ -z "$revision" ] || helm_command+=("$revision")
helm_command+=(--namespace "$namespace" --wait --timeout "$timeout")

if $dry_run; then
	[ -z "$context" ] || helm_command+=(--kube-context "$context")
	printf 'dry run: nothing was rolled back. A real run executes:\n  '
	print_command "${helm_command[@]}"
	database_guidance
	exit 0
fi

require_tool helm "install Helm 3.1+ (https://helm.sh/docs/intro/install/)"
require_tool kubectl "install kubectl; it checks the kube context"
if [ -n "$context" ]; then
	kubectl config get-contexts "$context" >/dev/null 2>&1 ||
		die "kube context '$context' not found in your kubeconfig (kubectl config get-contexts)"
else
	context=$(kubectl config current-context 2>/dev/null) ||
		die "no current kube context: select one with kubectl config use-context NAME, or pass --context NAME"
fi
helm_command+=(--kube-context "$context")

helm status "$release" --namespace "$namespace" --kube-context "$context" >/dev/null 2>&1 ||
	die "release $release not found in namespace $namespace (context $context)"

note "rolling back release $release in namespace $namespace (context $context)"
print_command "${helm_command[@]}" >&2
"${helm_command[@]}" || die "helm rollback failed; see: helm history $release --namespace $namespace"

history=$(helm history "$release" --namespace "$namespace" --kube-context "$context" --max 1 --output json) ||
	die "rolled back, but helm history failed: the new revision is unknown"
new_revision=$(printf '%s' "$history" | grep -oE '"revision": *[0-9]+' | head -n 1 | grep -oE '[0-9]+$') ||
	die "rolled back, but no revision in helm history's answer: $history"

mkdir -p "$(dirname "$deploy_log")"
printf '%s release=%s namespace=%s context=%s revision=%s rollback_to=%s\n' \
	"$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$release" "$namespace" "$context" "$new_revision" \
	"${revision:-previous}" >>"$deploy_log"
target="the previous revision"
[ -z "$revision" ] || target="revision $revision"
printf 'rolled back release %s to %s: now revision %s; logged in %s\n' \
	"$release" "$target" "$new_revision" "$deploy_log"
database_guidance
