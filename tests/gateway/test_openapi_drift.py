"""The committed docs/api/openapi.json is what `make openapi` writes from the code today."""

from __future__ import annotations

import difflib
import os
import subprocess
import sys
from pathlib import Path

import pytest

COMMITTED = Path("docs/api/openapi.json")


def test_the_committed_openapi_document_is_up_to_date(repo_root: Path, tmp_path: Path) -> None:
    generated = tmp_path / "openapi.json"
    # The command `make openapi` runs, without any CGA_* setting of the calling shell.
    environment = {name: value for name, value in os.environ.items() if not name.startswith("CGA_")}
    subprocess.run(
        [sys.executable, "-m", "cga_gateway.openapi", str(generated)],
        cwd=repo_root,
        env=environment,
        check=True,
        timeout=60,
    )

    committed = (repo_root / COMMITTED).read_text()
    fresh = generated.read_text()
    if fresh != committed:
        difference = difflib.unified_diff(
            committed.splitlines(keepends=True),
            fresh.splitlines(keepends=True),
            f"{COMMITTED} (committed)",
            f"{COMMITTED} (from the code)",
        )
        pytest.fail(
            f"{COMMITTED} is out of date: run `make openapi` and commit the result.\n"
            + "".join(list(difference)[:60])
        )
