"""Run one k6 scenario of ``load/k6`` and keep its summary as the run's record.

    python -m scripts.load.run_k6 SCENARIO [--results-dir DIR] [--external] [-- K6 ARGS...]

By default the run gets a private stack of its own (PostgreSQL, Redis and the four services,
as real processes on loopback ports); the scenario's setup() creates its app and users through
the admin API and signs them in. With ``--external``, k6 runs against the ``LOAD_*`` variables
already in the environment instead (``make dev``, a staging deployment).

The record of a run is ``DIR/<scenario>-<UTC time>/``: k6's ``summary.json`` and the services'
logs. The exit status is k6's: 0 when every threshold held, 99 when one was crossed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scripts.load.stack import private_stack
from tests.support.processes import executable

ROOT = Path(__file__).resolve().parents[2]
K6_DIR = ROOT / "load" / "k6"
RESULTS_DIR = K6_DIR / "results"
THRESHOLDS_CROSSED = 99


def scenarios() -> list[str]:
    return sorted(script.stem for script in K6_DIR.glob("*.js"))


def k6_command(scenario: str, summary_path: Path, k6_args: Sequence[str] = ()) -> list[str]:
    return [
        executable("k6"),
        "run",
        # No REST API: it would take a fixed port, and runs may overlap.
        "--address=",
        f"--summary-export={summary_path}",
        *k6_args,
        str(K6_DIR / f"{scenario}.js"),
    ]


def run_scenario(
    scenario: str,
    environment: dict[str, str],
    summary_path: Path,
    k6_args: Sequence[str] = (),
) -> int:
    """Run k6 with ``environment`` added to ours; its exit status."""
    command = k6_command(scenario, summary_path, k6_args)
    return subprocess.run(command, env={**os.environ, **environment}, check=False).returncode  # noqa: S603


def crossed_thresholds(summary: dict[str, Any]) -> list[str]:
    """The thresholds a run's exported summary marks as crossed, as ``metric: expression``."""
    return [
        f"{metric}: {expression}"
        for metric, values in summary["metrics"].items()
        for expression, crossed in values.get("thresholds", {}).items()
        if crossed
    ]


def verdict(scenario: str, exit_status: int, summary_path: Path) -> str:
    if exit_status == 0:
        return f"k6 {scenario}: every threshold held; summary in {summary_path}"
    if exit_status == THRESHOLDS_CROSSED and summary_path.exists():
        crossed = crossed_thresholds(json.loads(summary_path.read_text()))
        return f"k6 {scenario}: thresholds crossed:\n  " + "\n  ".join(crossed)
    return f"k6 {scenario}: failed with exit status {exit_status}"


def split_k6_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """Our arguments, and those after ``--``, which go to ``k6 run`` untouched."""
    if "--" not in argv:
        return argv, []
    cut = argv.index("--")
    return argv[:cut], argv[cut + 1 :]


def main(argv: list[str] | None = None) -> int:
    own_args, k6_args = split_k6_args(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="run_k6",
        usage="%(prog)s [-h] [--results-dir DIR] [--external] SCENARIO [-- K6 ARGS...]",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("scenario", choices=scenarios())
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument(
        "--external",
        action="store_true",
        help="run against the LOAD_* URLs of the environment instead of a private stack",
    )
    args = parser.parse_args(own_args)

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    record = args.results_dir / f"{args.scenario}-{stamp}"
    record.mkdir(parents=True)
    summary_path = record / "summary.json"
    if args.external:
        exit_status = run_scenario(args.scenario, {}, summary_path, k6_args)
    else:
        log_dir = record / "logs"
        log_dir.mkdir()
        with private_stack(log_dir) as targets:
            exit_status = run_scenario(args.scenario, targets.environment(), summary_path, k6_args)
    print(verdict(args.scenario, exit_status, summary_path), file=sys.stderr)  # noqa: T201
    return exit_status


if __name__ == "__main__":
    sys.exit(main())
