"""smoke.sh against the real services: auth, memory-proxy and a gateway as processes on loopback
(auth and the gateway on different ports, as locally), and a smoke app registered through the
admin API. Where the script asks kubectl (the Ingress host, the credentials Secret), kubectl is
a stand-in that answers as the real one does; deploy.sh runs with the stand-ins of its tests."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cga_devstack._process import free_port
from tests.deploy import test_deploy_scripts
from tests.deploy.conftest import DEPLOY_SCRIPTS, run_script
from tests.deploy.test_deploy_scripts import DIGEST, FakeCluster, write_executable
from tests.support.auth import RegisteredApp, admin_client, register_app
from tests.support.env import TestStack
from tests.support.processes import ServiceProcess, executable, start_actions_stack

# deploy.sh's stand-in cluster (helm, kubectl, make) and values file, shared with its tests.
cluster = test_deploy_scripts.cluster
values_file = test_deploy_scripts.values_file

STEPS = ["metadata", "jwks", "credentials", "token", "search"]


@dataclass(frozen=True)
class Release:
    auth: ServiceProcess
    gateway: ServiceProcess
    app: RegisteredApp

    def env(self, **overrides: str) -> dict[str, str]:
        """What an operator exports to smoke-test this release without a cluster."""
        return {
            "CGA_SMOKE_ISSUER_URL": self.auth.base_url,
            "CGA_SMOKE_API_URL": self.gateway.base_url,
            "CGA_SMOKE_CLIENT_ID": self.app.client_id,
            "CGA_SMOKE_CLIENT_SECRET": self.app.client_secret,
            **overrides,
        }


@pytest.fixture(scope="module")
def release(stack: TestStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Release]:
    services = start_actions_stack(stack.environment(), tmp_path_factory.mktemp("smoke-logs"))
    try:
        auth = services["auth"]
        with admin_client(f"http://127.0.0.1:{auth.admin_port}") as admin:
            app = register_app(admin, name="Deploy smoke test", scopes=["memories:read"])
        yield Release(auth, services["gateway"], app)
    finally:
        for service in services.values():
            service.stop()


@dataclass(frozen=True)
class Kubectl:
    """A kubectl stand-in: the Ingress host and the Secret's keys come from FAKE_* variables."""

    bin: Path
    calls: Path

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
            "FAKE_CALLS": str(self.calls),
            **extra,
        }

    def lines(self) -> list[str]:
        return self.calls.read_text().splitlines() if self.calls.exists() else []


@pytest.fixture
def kubectl(tmp_path: Path) -> Kubectl:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    write_executable(
        bin_dir / "kubectl",
        """echo "kubectl $*" >>"$FAKE_CALLS"
case "$*" in
*"get ingress"*) printf '%s' "${FAKE_INGRESS_HOST:-}" ;;
*"get secret"*)
    if [ -z "${FAKE_CLIENT_ID:-}" ]; then
        name=$(printf '%s\\n' "$@" | grep -A1 -x secret | tail -n 1)
        echo "Error from server (NotFound): secrets \\"$name\\" not found" >&2
        exit 1
    fi
    case "$*" in
    *"{.data.client_id}"*) printf '%s' "$FAKE_CLIENT_ID" | base64 -w0 ;;
    *"{.data.client_secret}"*) printf '%s' "$FAKE_CLIENT_SECRET" | base64 -w0 ;;
    esac ;;
esac
""",
    )
    return Kubectl(bin_dir, tmp_path / "calls.log")


def smoke(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # Variables of the shell running the tests must not choose the release under test.
    clean = {name: "" for name in os.environ if name.startswith(("CGA_SMOKE_", "CGA_DEPLOY_"))}
    return run_script("smoke.sh", *args, env={**clean, **env}, timeout=60)


def passed_steps(result: subprocess.CompletedProcess[str]) -> list[str]:
    lines = result.stdout.splitlines()
    return [line.split()[1] for line in lines if line.startswith("smoke: ") and " ok: " in line]


def assert_nothing_secret(result: subprocess.CompletedProcess[str], release: Release) -> None:
    output = result.stdout + result.stderr
    assert release.app.client_secret not in output
    assert "cga_at_" not in output, "an access token was printed"


def test_smoke_passes_against_the_running_services(release: Release) -> None:
    result = smoke(env=release.env())

    assert result.returncode == 0, result.stderr
    assert passed_steps(result) == STEPS
    lines = result.stdout.splitlines()
    assert f"issuer {release.auth.base_url}, token endpoint" in lines[0]
    assert "RS256, kid " in lines[1]
    assert f"client {release.app.client_id} from CGA_SMOKE_CLIENT_ID" in lines[2]
    assert "bearer, expires in " in lines[3]
    assert lines[4].endswith(
        f"POST {release.gateway.base_url}/api/v1/memories/search: HTTP 200, 0 result(s)"
    )
    assert lines[-1] == f"smoke: all checks passed against {release.gateway.base_url}"
    assert_nothing_secret(result, release)


def test_a_wrong_secret_fails_at_the_token(release: Release) -> None:
    result = smoke(env=release.env(CGA_SMOKE_CLIENT_SECRET="cga_cs_" + "x" * 40))

    assert result.returncode == 1
    assert passed_steps(result) == ["metadata", "jwks", "credentials"]
    assert result.stderr.startswith("smoke.sh: error: token: HTTP 401 (invalid_client")
    assert result.stderr.count("\n") == 1
    assert_nothing_secret(result, release)


def test_a_gateway_that_is_down_fails_the_search(release: Release) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"

    result = smoke(env=release.env(CGA_SMOKE_API_URL=nowhere))

    assert result.returncode == 1
    assert passed_steps(result) == ["metadata", "jwks", "credentials", "token"]
    assert result.stderr.startswith(
        f"smoke.sh: error: search: no answer from {nowhere}/api/v1/memories/search: curl: (7)"
    )
    assert_nothing_secret(result, release)


def test_an_issuer_other_than_the_url_fails_the_metadata(release: Release) -> None:
    # The same server under another name: its metadata names the issuer it was configured with.
    other_name = release.auth.base_url.replace("127.0.0.1", "localhost")

    result = smoke("--issuer-url", other_name, env=release.env())

    assert result.returncode == 1
    assert passed_steps(result) == []
    assert result.stderr == (
        f"smoke.sh: error: metadata: the issuer is '{release.auth.base_url}',"
        f" expected '{other_name}'\n"
    )


def test_credentials_come_from_the_releases_secret(release: Release, kubectl: Kubectl) -> None:
    env = release.env(
        CGA_SMOKE_CLIENT_ID="",
        CGA_SMOKE_CLIENT_SECRET="",
        CGA_DEPLOY_RELEASE="memory",
        CGA_DEPLOY_NAMESPACE="prod-ns",
        CGA_DEPLOY_CONTEXT="prod-eu",
        FAKE_CLIENT_ID=release.app.client_id,
        FAKE_CLIENT_SECRET=release.app.client_secret,
    )

    result = smoke(env=kubectl.env(**env))

    assert result.returncode == 0, result.stderr
    assert passed_steps(result) == STEPS
    assert (
        f"client {release.app.client_id} from Secret memory-smoke-client in namespace prod-ns"
    ) in result.stdout
    prefix = "kubectl --namespace prod-ns --context prod-eu get secret memory-smoke-client"
    assert kubectl.lines() == [
        f"{prefix} --output jsonpath={{.data.client_id}}",
        f"{prefix} --output jsonpath={{.data.client_secret}}",
    ]
    assert_nothing_secret(result, release)


def test_a_missing_secret_is_named(release: Release, kubectl: Kubectl) -> None:
    env = release.env(CGA_SMOKE_CLIENT_ID="", CGA_SMOKE_CLIENT_SECRET="")

    result = smoke("--credentials-secret", "smoke-app", env=kubectl.env(**env))

    assert result.returncode == 1
    assert result.stderr == (
        "smoke.sh: error: credentials: kubectl get secret failed in namespace cga:"
        ' Error from server (NotFound): secrets "smoke-app" not found\n'
    )


def test_the_base_url_is_the_host_of_the_releases_ingress(kubectl: Kubectl) -> None:
    env = {"CGA_DEPLOY_RELEASE": "memory", "FAKE_INGRESS_HOST": "memory.invalid"}

    result = smoke("--namespace", "prod-ns", env=kubectl.env(**env))

    assert result.returncode == 1
    assert kubectl.lines() == [
        "kubectl --namespace prod-ns get ingress --selector"
        " app.kubernetes.io/instance=memory,app.kubernetes.io/component=ingress"
        " --output jsonpath={.items[0].spec.rules[0].host}"
    ]
    assert result.stderr.startswith(
        "smoke.sh: error: metadata: no answer from"
        " https://memory.invalid/.well-known/oauth-authorization-server: curl: (6)"
    )


def test_a_release_without_an_ingress_needs_a_base_url(kubectl: Kubectl) -> None:
    result = smoke(env=kubectl.env())

    assert result.returncode == 1
    assert result.stderr == (
        "smoke.sh: error: base URL: no Ingress of release cga in namespace cga; pass --base-url\n"
    )


def test_deploy_runs_the_smoke_test_after_the_rollout(
    release: Release, cluster: FakeCluster, values_file: Path
) -> None:
    result = run_script(
        "deploy.sh",
        *("--values", str(values_file), "--image-digest", DIGEST),
        env=cluster.env(FAKE_CONTEXT="prod-eu", **release.env()),
    )

    assert result.returncode == 0, result.stderr
    assert f"deploy.sh: smoke tests: {DEPLOY_SCRIPTS / 'smoke.sh'}" in result.stderr
    assert passed_steps(result) == STEPS
    assert "smoke tests passed against revision 7" in result.stdout


def test_deploy_reports_failing_smoke_tests_with_the_rollback(
    release: Release, cluster: FakeCluster, values_file: Path
) -> None:
    result = run_script(
        "deploy.sh",
        *("--values", str(values_file), "--image-digest", DIGEST),
        env=cluster.env(FAKE_CONTEXT="prod-eu", **release.env(CGA_SMOKE_CLIENT_SECRET="wrong")),
    )

    assert result.returncode == 1
    assert "smoke.sh: error: token: HTTP 401" in result.stderr
    assert "smoke tests failed against revision 7: roll back with" in result.stderr


def test_help_exits_zero_and_shows_the_usage() -> None:
    result = run_script("smoke.sh", "--help")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: smoke.sh ")


def test_smoke_script_is_shellcheck_clean() -> None:
    result = subprocess.run(
        [executable("shellcheck"), "--external-sources", "smoke.sh"],
        cwd=DEPLOY_SCRIPTS,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stdout
