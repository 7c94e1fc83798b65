"""The alert rules' source, monitoring/prometheus-rules/, as the monitoring scripts read it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = Path("monitoring/prometheus-rules")
RULE_TESTS = RULES / "tests"
CHART = Path("charts/custom-gpt-adapter")
# The job label the chart's ServiceMonitor gives each service's targets.
JOBS = frozenset(
    f"custom-gpt-adapter-{component}" for component in ("gateway", "auth", "memory-proxy", "worker")
)
# A number the chart replaces with a value: `> 1000  # chart: queueBackup.depth` becomes
# metrics.prometheusRule.queueBackup.depth. A PromQL comment, so the source stays valid PromQL.
CHART_VALUE = re.compile(
    r"(?P<number>\d+(?:\.\d+)?)(?P<marker>[ \t]*# chart: (?P<key>[A-Za-z0-9.]+))$", re.MULTILINE
)

Rule = dict[str, Any]


class NotARuleFile(Exception):
    """A file under monitoring/prometheus-rules/ that is not a Prometheus rule file."""


@dataclass(frozen=True)
class RuleFile:
    """One Prometheus rule file (`groups: [...]`)."""

    path: Path
    groups: list[dict[str, Any]]

    @classmethod
    def load(cls, path: Path) -> RuleFile:
        document = yaml.safe_load(path.read_text())
        if not isinstance(document, dict) or not isinstance(document.get("groups"), list):
            raise NotARuleFile(f"{path} is not a Prometheus rule file with a `groups` list")
        return cls(path, document["groups"])

    def rules(self) -> Iterator[Rule]:
        for group in self.groups:
            yield from group.get("rules") or []

    def alerts(self) -> Iterator[Rule]:
        return (rule for rule in self.rules() if "alert" in rule)


def rule_paths(root: Path = ROOT) -> list[Path]:
    return sorted((root / RULES).glob("*.rules.yaml"))


def unit_test_paths(root: Path = ROOT) -> list[Path]:
    return sorted((root / RULE_TESTS).glob("*.test.yaml"))


def load_rule_files(root: Path = ROOT) -> list[RuleFile]:
    return [RuleFile.load(path) for path in rule_paths(root)]


def alert_names(sources: list[RuleFile]) -> list[str]:
    """Each alert once, in source order (an alert may have several rules, one per severity)."""
    return list(dict.fromkeys(rule["alert"] for source in sources for rule in source.alerts()))


def prometheus_rule_values(root: Path = ROOT) -> dict[str, Any]:
    """The chart's default `metrics.prometheusRule` values."""
    values = yaml.safe_load((root / CHART / "values.yaml").read_text())
    defaults: dict[str, Any] = values["metrics"]["prometheusRule"]
    return defaults
