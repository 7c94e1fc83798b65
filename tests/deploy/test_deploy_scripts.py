"""deploy.sh, rollback.sh and the kustomize post-renderer.

A real rollout needs a cluster, which tests do not have: there, helm, kubectl and make are
stand-ins that record how they were called and answer as the real tools document (``helm
version --template``, ``helm history --output json``), so what is checked is what the scripts
ask of them. The dry run and the post-renderer run for real (helm-python-sdk, kustomize)."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy.conftest import DEPLOY_SCRIPTS, REPO_ROOT, run_script

CHART = REPO_ROOT / "charts" / "custom-gpt-adapter"
OVERLAY = REPO_ROOT / "k8s" / "overlays" / "prod"
PROD_VALUES = OVERLAY / "values-prod.yaml"
POST_RENDERER = OVERLAY / "kustomize-post-renderer.sh"
DIGEST = "sha256:" + "ab" * 32
SCRIPTS = ("deploy.sh", "rollback.sh", "backup-db.sh", "restore-db.sh")


def write_executable(path: Path, body: str) -> None:
    path.write_text("#!/usr/bin/env bash\nset -euo pipefail\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def path_without(scratch: Path, *programs: str) -> str:
    """A PATH of one directory of symlinks to everything on the current PATH but ``programs``."""
    base = scratch / "path-without-bin"
    base.mkdir(exist_ok=True)
    for directory in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(directory):
            continue
        for entry in os.scandir(directory):
            target = base / entry.name
            if entry.name in programs or target.exists() or target.is_symlink():
                continue
            target.symlink_to(entry.path)
    return str(base)


@dataclass
class FakeCluster:
    """helm, kubectl and make stand-ins that append their arguments to one log."""

    bin: Path
    calls: Path
    deploy_log: Path
    smoke_calls: Path

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
            "FAKE_CALLS": str(self.calls),
            "CGA_DEPLOY_LOG": str(self.deploy_log),
            **extra,
        }

    def lines(self) -> list[str]:
        return self.calls.read_text().splitlines() if self.calls.exists() else []

    def calls_of(self, program: str) -> list[str]:
        return [line for line in self.lines() if line.startswith(program + " ")]


@pytest.fixture
def cluster(tmp_path: Path) -> FakeCluster:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.log"
    write_executable(
        bin_dir / "helm",
        """echo "helm $*" >>"$FAKE_CALLS"
case "$1" in
version) echo "${FAKE_HELM_VERSION:-v3.17.3}" ;;
history) echo '[{"revision":7,"updated":"2026-11-24T22:00:00Z","status":"deployed"}]' ;;
upgrade)
    if [ -n "${HELM_PLUGINS:-}" ]; then
        echo "plugin $(tr '\\n' ' ' <"$HELM_PLUGINS/cga-kustomize/plugin.yaml")" >>"$FAKE_CALLS"
    fi
    exit "${FAKE_HELM_UPGRADE_EXIT:-0}" ;;
esac
""",
    )
    write_executable(
        bin_dir / "kubectl",
        """echo "kubectl $*" >>"$FAKE_CALLS"
case "$*" in
"config current-context") [ -n "${FAKE_CONTEXT:-}" ] && echo "$FAKE_CONTEXT" || exit 1 ;;
"config get-contexts"*) [ "$3" = "${FAKE_CONTEXT:-}" ] ;;
*"get namespace"*) exit 0 ;;
esac
""",
    )
    write_executable(
        bin_dir / "make",
        """echo "make $*" >>"$FAKE_CALLS"
exit "${FAKE_MAKE_EXIT:-0}"
""",
    )
    smoke_calls = tmp_path / "smoke.log"
    write_executable(
        tmp_path / "smoke.sh",
        f"""echo "release=$CGA_DEPLOY_RELEASE namespace=$CGA_DEPLOY_NAMESPACE \
revision=$CGA_DEPLOY_REVISION context=$CGA_DEPLOY_CONTEXT" >>"{smoke_calls}"
exit "${{FAKE_SMOKE_EXIT:-0}}"
""",
    )
    return FakeCluster(bin_dir, calls, tmp_path / "deploy.log", smoke_calls)


@pytest.fixture
def values_file(tmp_path: Path) -> Path:
    path = tmp_path / "values-prod.yaml"
    path.write_text("# production values of the test\n")
    return path


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_exits_zero_and_shows_the_usage(script: str) -> None:
    result = run_script(script, "--help")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: ")


@pytest.mark.parametrize("script", SCRIPTS)
def test_scripts_are_executable(script: str) -> None:
    assert os.access(DEPLOY_SCRIPTS / script, os.X_OK)


def test_an_unknown_option_is_a_usage_error() -> None:
    result = run_script("deploy.sh", "--relase", "cga")

    assert result.returncode == 2
    assert result.stderr.strip() == "deploy.sh: unknown argument: --relase (see deploy.sh --help)"


def test_dry_run_renders_the_chart_and_prints_the_helm_command(tmp_path: Path) -> None:
    """The real chart, the production values and the overlay's own post-renderer."""
    manifests = tmp_path / "manifests.yaml"
    result = run_script(
        "deploy.sh",
        "--dry-run",
        "--image-digest",
        DIGEST,
        "--manifests",
        str(manifests),
        # No helm binary: the printed command is for Helm 4, whose SDK renders here.
        env={"PATH": path_without(tmp_path, "helm")},
    )

    if not (CHART / "Chart.yaml").exists():
        assert result.returncode == 1
        assert "deploy.sh: error: no Helm chart at charts/custom-gpt-adapter" in result.stderr
        return
    assert result.returncode == 0, result.stderr
    assert (
        f"helm upgrade cga {CHART} --install --namespace cga --values {PROD_VALUES}"
        f" --set image.digest={DIGEST} --rollback-on-failure --wait --timeout 10m"
        " --post-renderer cga-kustomize"
    ) in result.stdout
    assert (
        "the chart renders and validates with these values; nothing was deployed" in result.stdout
    )
    assert re.search(r"^rendered: \d+ objects \(.*\d+ Deployment", result.stderr, re.MULTILINE)
    assert f"after the post-renderer {POST_RENDERER}:" in result.stderr
    rendered = manifests.read_text()
    assert f"@{DIGEST}" in rendered
    assert "kind: Deployment" in rendered


def test_dry_run_stops_on_values_the_chart_rejects(tmp_path: Path) -> None:
    bad_values = tmp_path / "bad.yaml"
    bad_values.write_text("image:\n  digest: 42\n  repository: [not, a, string]\n")

    result = run_script("deploy.sh", "--dry-run", "--values", str(bad_values))

    assert result.returncode == 1
    assert "helm lint failed:" in result.stderr
    assert "at '/image/digest': got number, want string" in result.stderr
    assert "nothing would be deployed" in result.stderr
    assert "renders and validates" not in result.stdout


def test_dry_run_needs_no_cluster_tools(tmp_path: Path) -> None:
    """Without helm nor a kube context the dry run still gets as far as the chart."""
    result = run_script(
        "deploy.sh",
        "--dry-run",
        "--values",
        str(tmp_path / "missing.yaml"),
        env={"PATH": path_without(tmp_path, "helm"), "KUBECONFIG": str(tmp_path / "none")},
    )

    assert result.returncode == 1
    assert "helm not found" not in result.stderr
    assert f"values file {tmp_path / 'missing.yaml'} not found" in result.stderr


@pytest.mark.parametrize(
    ("script", "args", "missing"),
    [
        ("deploy.sh", ["--image-digest", DIGEST], "helm"),
        ("rollback.sh", [], "helm"),
    ],
)
def test_a_missing_cluster_tool_is_named(
    script: str, args: list[str], missing: str, tmp_path: Path
) -> None:
    result = run_script(script, *args, env={"PATH": path_without(tmp_path, missing)})

    assert result.returncode == 1
    assert result.stderr.startswith(f"{script}: error: {missing} not found on PATH: install Helm")


def test_a_missing_kubectl_is_named(cluster: FakeCluster, tmp_path: Path) -> None:
    (cluster.bin / "kubectl").unlink()
    path = f"{cluster.bin}{os.pathsep}{path_without(tmp_path, 'kubectl')}"

    result = run_script("deploy.sh", "--image-digest", DIGEST, env={**cluster.env(), "PATH": path})

    assert result.returncode == 1
    assert result.stderr.startswith("deploy.sh: error: kubectl not found on PATH")


@pytest.mark.parametrize("script", ["backup-db.sh", "restore-db.sh"])
def test_missing_postgresql_tools_are_named(script: str, tmp_path: Path) -> None:
    dump = tmp_path / "x.dump"
    dump.write_bytes(b"PGDMP")
    tool = "pg_dump" if script == "backup-db.sh" else "pg_restore"

    result = run_script(
        script,
        "--database-url",
        "postgresql+asyncpg://cga@127.0.0.1:5432/cga",
        *(["--input", str(dump)] if script == "restore-db.sh" else []),
        env={
            "PATH": path_without(tmp_path, tool),
            "CGA_PG_BIN_GLOB": str(tmp_path / "no-postgresql-here"),
        },
    )

    assert result.returncode == 1
    assert result.stderr.startswith(f"{script}: error: {tool} not found on PATH nor in ")


def test_deploy_without_a_kube_context_deploys_nothing(
    cluster: FakeCluster, values_file: Path
) -> None:
    result = run_script(
        "deploy.sh", "--values", str(values_file), "--image-digest", DIGEST, env=cluster.env()
    )

    assert result.returncode == 1
    assert "deploy.sh: error: no current kube context" in result.stderr
    assert not cluster.calls_of("make")
    assert not [call for call in cluster.calls_of("helm") if "upgrade" in call]


def test_deploy_to_an_unknown_context_is_refused(cluster: FakeCluster, values_file: Path) -> None:
    result = run_script(
        "deploy.sh",
        *("--values", str(values_file), "--image-digest", DIGEST, "--context", "staging"),
        env=cluster.env(),
    )

    assert result.returncode == 1
    assert "kube context 'staging' not found in your kubeconfig" in result.stderr


@pytest.mark.parametrize(
    ("helm_version", "atomic", "post_renderer"),
    [
        ("v3.17.3", "--atomic", str(POST_RENDERER)),
        ("v4.0.1", "--rollback-on-failure", "cga-kustomize"),
    ],
)
def test_deploy_checks_upgrades_logs_the_revision_and_runs_the_smoke_tests(
    cluster: FakeCluster,
    values_file: Path,
    tmp_path: Path,
    helm_version: str,
    atomic: str,
    post_renderer: str,
) -> None:
    result = run_script(
        "deploy.sh",
        "--values",
        str(values_file),
        "--image-digest",
        DIGEST,
        "--timeout",
        "15m",
        env=cluster.env(
            FAKE_CONTEXT="prod-eu",
            FAKE_HELM_VERSION=helm_version,
            CGA_DEPLOY_SMOKE=str(tmp_path / "smoke.sh"),
        ),
    )

    assert result.returncode == 0, result.stderr
    calls = cluster.lines()
    upgrade = next(call for call in calls if call.startswith("helm upgrade"))
    assert calls.index(f"make --no-print-directory -C {REPO_ROOT} chart-check") < calls.index(
        upgrade
    )
    assert upgrade == (
        f"helm upgrade cga {CHART} --install --namespace cga --values {values_file}"
        f" --set image.digest={DIGEST} {atomic} --wait --timeout 15m"
        f" --post-renderer {post_renderer} --kube-context prod-eu"
    )
    assert "deployed release cga revision 7 to namespace cga (context prod-eu)" in result.stdout
    log = cluster.deploy_log.read_text()
    assert "release=cga namespace=cga context=prod-eu revision=7" in log
    assert f"image_digest={DIGEST}" in log
    assert cluster.smoke_calls.read_text().strip() == (
        "release=cga namespace=cga revision=7 context=prod-eu"
    )
    assert "smoke tests passed against revision 7" in result.stdout
    if helm_version.startswith("v4"):
        plugin = next(call for call in calls if call.startswith("plugin "))
        assert "type: postrenderer/v1" in plugin
        assert f"command: {POST_RENDERER}" in plugin


def test_a_failed_pre_flight_deploys_nothing(cluster: FakeCluster, values_file: Path) -> None:
    result = run_script(
        "deploy.sh",
        "--values",
        str(values_file),
        "--image-digest",
        DIGEST,
        env=cluster.env(FAKE_CONTEXT="prod-eu", FAKE_MAKE_EXIT="2"),
    )

    assert result.returncode == 1
    assert "pre-flight make chart-check failed; nothing was deployed" in result.stderr
    assert not [call for call in cluster.calls_of("helm") if "upgrade" in call]


def test_a_failed_upgrade_is_reported_and_not_logged(
    cluster: FakeCluster, values_file: Path, tmp_path: Path
) -> None:
    result = run_script(
        "deploy.sh",
        "--values",
        str(values_file),
        "--image-digest",
        DIGEST,
        env=cluster.env(
            FAKE_CONTEXT="prod-eu",
            FAKE_HELM_UPGRADE_EXIT="1",
            CGA_DEPLOY_SMOKE=str(tmp_path / "smoke.sh"),
        ),
    )

    assert result.returncode == 1
    assert "helm upgrade failed and the release was rolled back" in result.stderr
    assert not cluster.deploy_log.exists()
    assert not cluster.smoke_calls.exists()


def test_failing_smoke_tests_point_at_the_rollback(
    cluster: FakeCluster, values_file: Path, tmp_path: Path
) -> None:
    result = run_script(
        "deploy.sh",
        "--values",
        str(values_file),
        "--image-digest",
        DIGEST,
        env=cluster.env(
            FAKE_CONTEXT="prod-eu", FAKE_SMOKE_EXIT="1", CGA_DEPLOY_SMOKE=str(tmp_path / "smoke.sh")
        ),
    )

    assert result.returncode == 1
    assert (
        "smoke tests failed against revision 7: roll back with scripts/deploy/rollback.sh"
        " --release cga --namespace cga --context prod-eu"
    ) in result.stderr


def test_a_real_deploy_needs_an_image_digest(cluster: FakeCluster, values_file: Path) -> None:
    result = run_script(
        "deploy.sh", "--values", str(values_file), env=cluster.env(FAKE_CONTEXT="prod-eu")
    )

    assert result.returncode == 2
    assert "--image-digest is required (production pins the image by digest)" in result.stderr
    assert cluster.lines() == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--image-digest", "latest"], "--image-digest must be sha256: followed by 64 hex digits"),
        (["--release", "Bad_Name"], "invalid release name 'Bad_Name'"),
        (["--timeout", "ten"], "invalid --timeout 'ten'"),
        (["--values"], "--values needs a value"),
    ],
)
def test_bad_arguments_are_usage_errors(args: list[str], message: str) -> None:
    result = run_script("deploy.sh", "--dry-run", *args)

    assert result.returncode == 2
    assert message in result.stderr


def test_rollback_goes_back_waits_and_explains_the_database(cluster: FakeCluster) -> None:
    result = run_script("rollback.sh", "--revision", "5", env=cluster.env(FAKE_CONTEXT="prod-eu"))

    assert result.returncode == 0, result.stderr
    assert (
        "helm rollback cga 5 --namespace cga --wait --timeout 10m --kube-context prod-eu"
        in cluster.lines()
    )
    assert "rolled back release cga to revision 5: now revision 7" in result.stdout
    assert "cga-migrate current" in result.stdout
    assert "cga-migrate downgrade" in result.stdout
    assert "rollback_to=5" in cluster.deploy_log.read_text()


def test_rollback_dry_run_contacts_no_cluster(cluster: FakeCluster) -> None:
    result = run_script("rollback.sh", "--dry-run", env=cluster.env())

    assert result.returncode == 0, result.stderr
    assert "helm rollback cga --namespace cga --wait --timeout 10m" in result.stdout
    assert "cga-migrate current" in result.stdout
    assert cluster.lines() == []


def test_rollback_without_a_kube_context_is_refused(cluster: FakeCluster) -> None:
    result = run_script("rollback.sh", env=cluster.env())

    assert result.returncode == 1
    assert "rollback.sh: error: no current kube context" in result.stderr
    assert not [call for call in cluster.calls_of("helm") if "rollback" in call]
