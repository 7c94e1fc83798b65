#!/usr/bin/env bash
# Post-deploy smoke test through the public URL, as ChatGPT reaches a release: the OAuth server's
# metadata and signing keys, a client_credentials token for a smoke app, one authenticated search.
# It only reads. deploy.sh runs it after a rollout; it can be run by hand at any time.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
	cat <<EOF
Usage: $PROGRAM [--base-url URL | --issuer-url URL --api-url URL] [--release NAME]
       [--namespace NS] [--context KUBE_CONTEXT] [--credentials-secret NAME] [--timeout SECONDS]

Checks a deployed release, one line per step, and exits 1 at the first failure with the reason:
  metadata     GET <issuer>/.well-known/oauth-authorization-server: issuer is exactly <issuer>,
               token endpoint and JWKS advertised, client_credentials supported
  jwks         GET the jwks_uri: keys present, an RS256 signing key, every key with a kid
  credentials  the smoke app's client id and secret (from the environment or a Secret)
  token        POST the token endpoint (client_credentials, scope memories:read): a bearer
               token signed with a published kid
  search       POST <api>/api/v1/memories/search with the token: 200 and {"results": [...]}
The client secret and the token are never printed nor put on a command line.

Options (each also read from the environment variable shown):
  --base-url URL        public origin of the release, e.g. https://memory.example.com
                        (CGA_SMOKE_BASE_URL; default: https:// and the host of the release's
                        Ingress, found with kubectl)
  --issuer-url URL      the OAuth server, when not the base URL (CGA_SMOKE_ISSUER_URL)
  --api-url URL         the Actions API, when not the base URL (CGA_SMOKE_API_URL)
  --release NAME        Helm release (CGA_DEPLOY_RELEASE; default: cga)
  --namespace NS        namespace of the release (CGA_DEPLOY_NAMESPACE; default: cga)
  --context NAME        kubeconfig context (CGA_DEPLOY_CONTEXT; default: the current context)
  --credentials-secret NAME
                        Secret with keys client_id and client_secret of the smoke app, read
                        with kubectl when CGA_SMOKE_CLIENT_ID and CGA_SMOKE_CLIENT_SECRET are
                        not set (CGA_SMOKE_CREDENTIALS_SECRET; default: <release>-smoke-client)
  --timeout SECONDS     time each request may take (CGA_SMOKE_TIMEOUT; default: 10)
  -h, --help            show this help

The smoke app: cga-admin apps create --name "Deploy smoke test" --scope memories:read
--redirect-uri <base URL>/unused; its token searches the app's own (empty) memories.
EOF
}

release=${CGA_DEPLOY_RELEASE:-cga}
namespace=${CGA_DEPLOY_NAMESPACE:-cga}
context=${CGA_DEPLOY_CONTEXT:-}
base_url=${CGA_SMOKE_BASE_URL:-}
issuer_url=${CGA_SMOKE_ISSUER_URL:-}
api_url=${CGA_SMOKE_API_URL:-}
credentials_secret=${CGA_SMOKE_CREDENTIALS_SECRET:-}
request_timeout=${CGA_SMOKE_TIMEOUT:-10}
while [ "$#" -gt 0 ]; do
	case "$1" in
	--base-url | --issuer-url | --api-url | --release | --namespace | --context | --credentials-secret | --timeout)
		need_value "$@"
		case "$1" in
		--base-url) base_url=$2 ;;
		--issuer-url) issuer_url=$2 ;;
		--api-url) api_url=$2 ;;
		--release) release=$2 ;;
		--namespace) namespace=$2 ;;
		--context) context=$2 ;;
		--credentials-secret) credentials_secret=$2 ;;
		--timeout) request_timeout=$2 ;;
		esac
		shift 2
		;;
	-h | --help)
		usage
		exit 0
		;;
	*) usage_error "unknown argument: $1" ;;
	esac
done
[[ "$request_timeout" =~ ^[0-9]+(\.[0-9]+)?$ ]] || usage_error "--timeout must be a number of seconds"
for url in "$base_url" "$issuer_url" "$api_url"; do
	[ -z "$url" ] || [[ "$url" =~ ^https?://[^/]+ ]] || usage_error "not an http(s) URL: $url"
done

require_tool curl "install curl (apt-get install curl)"
python=$(project_python)
kube=(kubectl --namespace "$namespace")
[ -z "$context" ] || kube+=(--context "$context")

# Secrets go to files only this user can read, in a directory removed on exit.
umask 077
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

passed() {
	printf 'smoke: %-12s ok: %s\n' "$1" "$2"
}

# kube_read WHAT ARGS...: kubectl's answer; on failure, exit naming WHAT and kubectl's error.
kube_read() {
	local what=$1
	shift
	require_tool kubectl "install kubectl, or pass the URLs and credentials (see --help)"
	"${kube[@]}" "$@" 2>"$scratch/kubectl.err" ||
		die "$what: kubectl ${*:1:2} failed in namespace $namespace: $(tail -n 1 "$scratch/kubectl.err")"
}

if [ -z "$base_url" ] && { [ -z "$issuer_url" ] || [ -z "$api_url" ]; }; then
	selector="app.kubernetes.io/instance=$release,app.kubernetes.io/component=ingress"
	host=$(kube_read "base URL" get ingress --selector "$selector" \
		--output 'jsonpath={.items[0].spec.rules[0].host}')
	[ -n "$host" ] ||
		die "base URL: no Ingress of release $release in namespace $namespace; pass --base-url"
	base_url="https://$host"
fi
issuer_url=${issuer_url:-$base_url}
issuer_url=${issuer_url%/}
api_url=${api_url:-$base_url}
api_url=${api_url%/}

# request STEP URL CURL_ARGS...: the answer's body in $scratch/STEP.body, its status in $status;
# no answer at all ends the test with curl's reason.
request() {
	local step=$1 url=$2
	shift 2
	status=$(curl --silent --show-error --max-time "$request_timeout" \
		--output "$scratch/$step.body" --write-out '%{http_code}' "$@" "$url" 2>"$scratch/curl.err") ||
		die "$step: no answer from $url: $(tail -n 1 "$scratch/curl.err")"
}

# check STEP ARGS...: judges the answer to STEP (Python below); prints the step's line, or exits
# with the reason.
check() {
	local step=$1 verdict
	if verdict=$("$python" -c "$CHECKS" "$step" "$scratch" "$status" "${@:2}"); then
		passed "$step" "$verdict"
	else
		die "$step: $verdict"
	fi
}

# The judgement of each answer, with the standard library only. Results the next steps need
# (endpoints, key ids, the Authorization header) are written to the scratch directory.
CHECKS=$(
	cat <<'PY'
import base64, json, sys
from pathlib import Path

ACCESS_TOKEN_PREFIX = "cga_at_"


class Failed(Exception):
    pass


def answer(step, status):
    text = (scratch / f"{step}.body").read_text(errors="replace")
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if status != "200":
        said = body if isinstance(body, dict) else {}
        reason = ": ".join(str(said[k]) for k in ("error", "error_description", "detail") if said.get(k))
        raise Failed(f"HTTP {status}" + (f" ({reason})" if reason else ""))
    if not isinstance(body, dict):
        raise Failed("HTTP 200 but the body is not a JSON object")
    return body


def metadata(status, issuer):
    body = answer("metadata", status)
    if body.get("issuer") != issuer:
        raise Failed(f"the issuer is {body.get('issuer')!r}, expected {issuer!r}")
    for key in ("token_endpoint", "jwks_uri"):
        if not isinstance(body.get(key), str):
            raise Failed(f"no {key} in the metadata")
        (scratch / key).write_text(body[key])
    if "client_credentials" not in body.get("grant_types_supported", []):
        raise Failed("the client_credentials grant is not supported")
    return f"issuer {issuer}, token endpoint {body['token_endpoint']}"


def jwks(status):
    keys = answer("jwks", status).get("keys")
    if not isinstance(keys, list) or not keys:
        raise Failed("no keys in the JWKS")
    kids = [key.get("kid") for key in keys if isinstance(key, dict)]
    if len(kids) != len(keys) or not all(isinstance(kid, str) and kid for kid in kids):
        raise Failed("a key without a kid: tokens could not name their key")
    if not any(key.get("kty") == "RSA" and key.get("alg") == "RS256" for key in keys):
        raise Failed("no RS256 key")
    (scratch / "kids").write_text("\n".join(kids))
    return f"{len(keys)} key(s), RS256, kid {', '.join(kids)}"


def token(status):
    body = answer("token", status)
    access = body.get("access_token")
    if not isinstance(access, str) or not access.startswith(ACCESS_TOKEN_PREFIX):
        raise Failed(f"no {ACCESS_TOKEN_PREFIX}... access_token in the answer")
    if str(body.get("token_type", "")).lower() != "bearer":
        raise Failed(f"token_type is {body.get('token_type')!r}, expected bearer")
    expires_in = body.get("expires_in")
    if not isinstance(expires_in, int) or expires_in <= 0:
        raise Failed("no positive expires_in")
    encoded = access.removeprefix(ACCESS_TOKEN_PREFIX).split(".")[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except ValueError:
        raise Failed("the access token is not a JWT") from None
    kids = (scratch / "kids").read_text().splitlines()
    if header.get("alg") != "RS256" or header.get("kid") not in kids:
        raise Failed(f"signed with {header.get('alg')} key {header.get('kid')!r}, not a published RS256 kid")
    (scratch / "authorization").write_text(f"Authorization: Bearer {access}\n")
    return f"bearer, expires in {expires_in} s, signed with kid {header['kid']}"


def search(status, url):
    results = answer("search", status).get("results")
    if not isinstance(results, list):
        raise Failed("no results list in the answer")
    for item in results:
        if not (isinstance(item, dict) and isinstance(item.get("id"), str) and isinstance(item.get("content"), str)):
            raise Failed("a result without id and content")
    return f"POST {url}: HTTP 200, {len(results)} result(s)"


step, scratch, status, *extra = sys.argv[1:]
scratch = Path(scratch)
try:
    print({"metadata": metadata, "jwks": jwks, "token": token, "search": search}[step](status, *extra))
except Failed as failure:
    print(failure)
    sys.exit(1)
PY
)

request metadata "$issuer_url/.well-known/oauth-authorization-server"
check metadata "$issuer_url"

request jwks "$(cat "$scratch/jwks_uri")"
check jwks

if [ -n "${CGA_SMOKE_CLIENT_ID:-}${CGA_SMOKE_CLIENT_SECRET:-}" ]; then
	[ -n "${CGA_SMOKE_CLIENT_ID:-}" ] && [ -n "${CGA_SMOKE_CLIENT_SECRET:-}" ] ||
		die "credentials: set both CGA_SMOKE_CLIENT_ID and CGA_SMOKE_CLIENT_SECRET, or neither"
	client_id=$CGA_SMOKE_CLIENT_ID
	printf '%s' "$CGA_SMOKE_CLIENT_SECRET" >"$scratch/client_secret"
	origin="CGA_SMOKE_CLIENT_ID and CGA_SMOKE_CLIENT_SECRET"
else
	secret=${credentials_secret:-$release-smoke-client}
	for key in client_id client_secret; do
		encoded=$(kube_read credentials get secret "$secret" --output "jsonpath={.data.$key}")
		[ -n "$encoded" ] || die "credentials: Secret $secret in namespace $namespace has no key $key"
		printf '%s' "$encoded" | base64 --decode >"$scratch/$key" 2>/dev/null ||
			die "credentials: key $key of Secret $secret is not base64"
	done
	client_id=$(cat "$scratch/client_id")
	origin="Secret $secret in namespace $namespace"
fi
passed credentials "client $client_id from $origin"

request token "$(cat "$scratch/token_endpoint")" \
	--data-urlencode grant_type=client_credentials \
	--data-urlencode scope=memories:read \
	--data-urlencode "client_id=$client_id" \
	--data-urlencode "client_secret@$scratch/client_secret"
check token

search_url="$api_url/api/v1/memories/search"
request search "$search_url" \
	--header "@$scratch/authorization" \
	--header 'Content-Type: application/json' \
	--data '{"query": "deploy smoke test", "limit": 1}'
check search "$search_url"

printf 'smoke: all checks passed against %s\n' "$api_url"
