"""The command line the repository checks share (`make runbook-check`, `make rules-check`)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from scripts.monitoring.rule_files import ROOT


def run_check(
    argv: list[str] | None,
    *,
    doc: str,
    name: str,
    check: Callable[[Path], list[str]],
    scope: Callable[[Path], str] | None = None,
) -> int:
    """Run ``check`` on the repository given by ``--root`` (this one by default), print each
    problem it finds, then ``<name>: [<scope>: ]<verdict>``; the exit status is 1 on any
    problem."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="repository to check")
    root = parser.parse_args(argv).root.resolve()
    problems = check(root)
    for problem in problems:
        print(f"  FAIL {problem}")  # noqa: T201
    verdict = f"{len(problems)} problem(s)" if problems else "no problems"
    checked = f"{scope(root)}: " if scope else ""
    print(f"{name}: {checked}{verdict}")  # noqa: T201
    return 1 if problems else 0
