"""`make chart-check` fails, and says why, when the chart or its values are broken.

It runs the real checker (Helm SDK, kubernetes-validate, the kubernetes-models node script and
checkov) on a private copy of the chart, so the repository's chart stays untouched.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.chart.rendering import REPO, copy_chart

TOOLS = REPO / ".tools"


@pytest.fixture
def broken_chart(tmp_path: Path) -> Path:
    if not (TOOLS / "node_modules").is_dir():
        pytest.fail("the chart validators are not installed: run `make chart-tools` first")
    chart = copy_chart(tmp_path)
    ci = chart / "ci"
    # Passes the schema, fails policy: a tag pulled only when missing never gets a moved tag.
    (ci / "stale-image-values.yaml").write_text("image:\n  pullPolicy: IfNotPresent\n")
    # Refused by the values schema.
    (ci / "typo-values.yaml").write_text("gateway:\n  replicas: 3\n")
    (ci / "monitoring-values.yaml").write_text("metrics:\n  serviceMonitor:\n    enabled: true\n")
    # Templates that make invalid manifests: a field Services do not have, a scheme the
    # ServiceMonitor CRD does not know.
    service = chart / "templates" / "service.yaml"
    service.write_text(
        service.read_text().replace(
            "  type: ClusterIP", "  type: ClusterIP\n  sessionAffinityy: None"
        )
    )
    monitor = chart / "templates" / "servicemonitor.yaml"
    monitor.write_text(monitor.read_text().replace("scheme: http", "scheme: gopher"))
    return chart


def run_checker(chart: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "scripts.chart.check",
            "--chart",
            str(chart),
            "--prod-values-dir",
            str(tmp_path / "no-prod-values"),
            "--tools",
            str(TOOLS),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
    )


def test_the_checker_fails_on_broken_values_and_manifests(
    broken_chart: Path, tmp_path: Path
) -> None:
    result = run_checker(broken_chart, tmp_path)

    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    # The schema refuses the typo.
    assert "FAIL typo-values: render" in output
    assert "additional properties" in output or "false schema" in output
    # kubernetes-validate refuses the unknown Service field, for every value set.
    assert "FAIL default: Service/cga-custom-gpt-adapter-gateway" in output
    assert "sessionAffinityy" in output
    # The ServiceMonitor CRD schema refuses the scheme.
    assert "ServiceMonitor/cga-custom-gpt-adapter" in output
    assert "scheme" in output
    # checkov refuses the pull policy.
    assert "FAIL checkov CKV_K8S_15: stale-image-values" in output
    assert "problem(s)" in output.splitlines()[-1]
