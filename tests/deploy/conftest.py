"""The deployment scripts, run as an operator runs them: real bash, real PostgreSQL tools."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_SCRIPTS = REPO_ROOT / "scripts" / "deploy"

RunScript = Callable[..., subprocess.CompletedProcess[str]]


def run_script(
    script: str,
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run ``scripts/deploy/<script>`` with bash, stdin closed (as in CI, never a terminal)."""
    return subprocess.run(
        ["bash", str(DEPLOY_SCRIPTS / script), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
        cwd=cwd or REPO_ROOT,
    )


@pytest.fixture
def deploy_script() -> RunScript:
    return run_script
