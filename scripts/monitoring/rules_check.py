"""Check the alert rules and the Alertmanager config (`make rules-check`).

    python -m scripts.monitoring.rules_check [--root DIR]

- ``promtool check rules`` on every ``monitoring/prometheus-rules/*.rules.yaml``, and
  ``promtool test rules`` on every ``monitoring/prometheus-rules/tests/*.test.yaml``;
- every alert has a unit test case in which it fires and one in which it does not;
- every alert has a known ``severity``, a ``summary``, a ``description`` and a ``runbook_url``;
  rules select only the chart's job names and aggregate only by bounded labels;
- ``amtool check-config`` on ``monitoring/alertmanager/alertmanager.yml``, and
  ``amtool config routes test`` for each case of ``routes.test.yaml`` and for every alert, which
  must reach the receiver its severity names;
- the chart's copies of the rules and dashboards are up to date (``make monitoring-sync``).

Every problem is printed; the exit status is 1 if there was any.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from scripts.monitoring import chart_files
from scripts.monitoring.cli import run_check
from scripts.monitoring.rule_files import (
    CHART,
    JOBS,
    RuleFile,
    load_rule_files,
    rule_paths,
    unit_test_paths,
)

ALERTMANAGER = Path("monitoring/alertmanager")
ALERTMANAGER_CONFIG = ALERTMANAGER / "alertmanager.yml"
ROUTE_CASES = ALERTMANAGER / "routes.test.yaml"
# critical pages, warning goes to Slack (design §5).
SEVERITY_RECEIVERS = {"critical": "pagerduty", "warning": "slack"}
ANNOTATIONS = ("summary", "description", "runbook_url")
# Labels an alert may aggregate by: each takes a handful of values, never one per user or app.
BOUNDED_LABELS = frozenset({"namespace", "job", "backend", "reason", "le"})
JOB_MATCHER = re.compile(r'\bjob\s*(=~|!~|!=|=)\s*"([^"]*)"')
AGGREGATION = re.compile(r"\b(by|without)\s*\(([^)]*)\)")


def _failures(title: str, command: list[str]) -> list[str]:
    """Nothing when ``command`` succeeds, else one problem with its output."""
    # promtool and amtool, found on PATH, on the repository's own files.
    result = subprocess.run(  # noqa: S603
        command, capture_output=True, text=True, check=False, timeout=300
    )
    return [] if result.returncode == 0 else [f"{title}:\n{result.stdout}{result.stderr}"]


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise FileNotFoundError(
            f"{name} is not installed: run `make system-deps` (Debian packages prometheus and "
            "prometheus-alertmanager)"
        )
    return path


def promtool_check(paths: list[Path]) -> list[str]:
    return _failures(
        "promtool check rules", [_tool("promtool"), "check", "rules", *map(str, paths)]
    )


def promtool_test(paths: list[Path]) -> list[str]:
    return _failures("promtool test rules", [_tool("promtool"), "test", "rules", *map(str, paths)])


@dataclass(frozen=True)
class Coverage:
    """The alerts some unit test case expects to fire, and those some case expects silent."""

    firing: frozenset[str]
    silent: frozenset[str]

    @classmethod
    def of(cls, test_files: list[Path]) -> Coverage:
        firing: set[str] = set()
        silent: set[str] = set()
        for path in test_files:
            for test in yaml.safe_load(path.read_text()).get("tests") or []:
                for case in test.get("alert_rule_test") or []:
                    (firing if case.get("exp_alerts") else silent).add(case["alertname"])
        return cls(frozenset(firing), frozenset(silent))


def untested_alerts(sources: list[RuleFile], coverage: Coverage) -> list[str]:
    problems = []
    for source in sources:
        for name in dict.fromkeys(rule["alert"] for rule in source.alerts()):
            where = f"{source.path.name}: {name}"
            if name not in coverage.firing:
                problems.append(f"{where}: no unit test case in which it fires")
            if name not in coverage.silent:
                problems.append(f"{where}: no unit test case in which it stays silent")
    return problems


def _alert_rules(sources: list[RuleFile]) -> Iterator[tuple[str, dict[str, Any]]]:
    for source in sources:
        for rule in source.alerts():
            yield f"{source.path.name}: {rule['alert']}", rule


def annotation_problems(sources: list[RuleFile]) -> list[str]:
    problems = []
    for where, rule in _alert_rules(sources):
        severity = (rule.get("labels") or {}).get("severity")
        if severity not in SEVERITY_RECEIVERS:
            problems.append(f"{where}: severity {severity!r} is none of {list(SEVERITY_RECEIVERS)}")
        annotations = rule.get("annotations") or {}
        problems += [
            f"{where}: no {key} annotation" for key in ANNOTATIONS if not annotations.get(key)
        ]
    return problems


def selector_problems(sources: list[RuleFile]) -> list[str]:
    """Rules must read the chart's jobs and aggregate by bounded labels only."""
    problems = []
    for source in sources:
        for rule in source.rules():
            where = f"{source.path.name}: {rule.get('alert') or rule.get('record')}"
            for operator, value in JOB_MATCHER.findall(rule["expr"]):
                matches = (
                    value in JOBS
                    if operator == "="
                    else any(re.fullmatch(value, job) for job in JOBS)
                )
                if operator in ("=", "=~") and not matches:
                    problems.append(
                        f'{where}: job{operator}"{value}" selects none of {sorted(JOBS)}'
                    )
            for keyword, labels in AGGREGATION.findall(rule["expr"]):
                if keyword == "without":
                    problems.append(f"{where}: aggregates `without (...)`; name the labels kept")
                    continue
                unbounded = {label.strip() for label in labels.split(",")} - BOUNDED_LABELS - {""}
                if unbounded:
                    problems.append(
                        f"{where}: aggregates by unbounded label(s) {sorted(unbounded)}"
                    )
    return problems


def amtool_check(config: Path) -> list[str]:
    return _failures("amtool check-config", [_tool("amtool"), "check-config", str(config)])


@dataclass(frozen=True)
class RouteCase:
    labels: dict[str, str]
    receivers: tuple[str, ...]

    def __str__(self) -> str:
        return " ".join(f"{name}={value}" for name, value in self.labels.items())


def route_cases(root: Path, sources: list[RuleFile]) -> list[RouteCase]:
    """The cases of routes.test.yaml, then one per alert and severity of the rules."""
    cases = [
        RouteCase({k: str(v) for k, v in case["labels"].items()}, tuple(case["receivers"]))
        for case in yaml.safe_load((root / ROUTE_CASES).read_text())
    ]
    severities: dict[str, set[str]] = defaultdict(set)
    for _, rule in _alert_rules(sources):
        severities[rule["alert"]].add((rule.get("labels") or {}).get("severity", ""))
    for alert, alert_severities in severities.items():
        for severity in sorted(alert_severities & set(SEVERITY_RECEIVERS)):
            labels = {"alertname": alert, "severity": severity, "namespace": "cga"}
            cases.append(RouteCase(labels, (SEVERITY_RECEIVERS[severity],)))
    return cases


def route_problems(config: Path, cases: list[RouteCase]) -> list[str]:
    problems = []
    for case in cases:
        command = [
            _tool("amtool"),
            "config",
            "routes",
            "test",
            f"--config.file={config}",
            f"--verify.receivers={','.join(case.receivers)}",
            *(f"{name}={value}" for name, value in case.labels.items()),
        ]
        problems += _failures(f"route {case}: expected {list(case.receivers)}", command)
    return problems


def check(root: Path) -> list[str]:
    """Every problem of the rules and the Alertmanager config under ``root``."""
    sources = load_rule_files(root)
    tests = unit_test_paths(root)
    config = root / ALERTMANAGER_CONFIG
    problems = promtool_check(rule_paths(root))
    problems += promtool_test(tests)
    problems += untested_alerts(sources, Coverage.of(tests))
    problems += annotation_problems(sources)
    problems += selector_problems(sources)
    problems += amtool_check(config)
    problems += route_problems(config, route_cases(root, sources))
    try:
        problems += chart_files.differences(root / CHART, chart_files.chart_files(root))
    except chart_files.SourceError as error:
        problems.append(str(error))
    return problems


def main(argv: list[str] | None = None) -> int:
    return run_check(argv, doc=__doc__, name="rules-check", check=check)


if __name__ == "__main__":
    sys.exit(main())
