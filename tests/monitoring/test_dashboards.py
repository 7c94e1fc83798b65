"""The Grafana dashboards: generated, sound JSON models, every query valid PromQL that reads
only series the real services expose (or the alert rules record), on the service that has them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from monitoring.grafana.generate import DASHBOARDS_DIR, rendered
from monitoring.grafana.model import SCHEMA_VERSION
from monitoring.grafana.promql import JOB_PREFIX
from tests.monitoring.conftest import MonitoredStack

RULES_DIR = Path(__file__).resolve().parents[2] / "monitoring" / "prometheus-rules"
UIDS = {
    "custom-gpt-adapter-overview.json": "cga-overview",
    "custom-gpt-adapter-slo.json": "cga-slo",
}
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
GRID_COLUMNS = 24
# Sample values for the variables Grafana replaces before a query reaches Prometheus.
VARIABLES = {"__rate_interval": "1m", "__range": "6h", "__interval": "30s", "namespace": "default"}
VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)|\[\[(\w+)\]\]")
LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.+),\s*(?P<label>\w+)\)$", re.DOTALL)
# Written by Prometheus itself for every target, not exposed by the services.
TARGET_SERIES = frozenset({"up"})
# Labels Prometheus gives every series of a target (prometheus-operator's discovery).
TARGET_LABELS = frozenset({"job", "namespace", "pod", "instance", "service", "container"})

Json = dict[str, Any]


@dataclass(frozen=True)
class DashboardQuery:
    dashboard: str
    where: str
    expr: str

    def __str__(self) -> str:
        return f"{self.dashboard}: {self.where}"


def _dashboards() -> dict[str, Json]:
    return {
        path.name: json.loads(path.read_text()) for path in sorted(DASHBOARDS_DIR.glob("*.json"))
    }


def _query_panels(dashboard: Json) -> Iterator[Json]:
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def _queries() -> list[DashboardQuery]:
    found = []
    for name, dashboard in _dashboards().items():
        for panel in _query_panels(dashboard):
            for target in panel["targets"]:
                where = f"panel {panel['id']} {panel['title']} ({target['refId']})"
                found.append(DashboardQuery(name, where, target["expr"]))
        for variable in dashboard["templating"]["list"]:
            if variable["type"] == "query":
                match = LABEL_VALUES.match(variable["query"])
                assert match, f"{name}: variable {variable['name']} is not label_values(...)"
                found.append(
                    DashboardQuery(name, f"variable {variable['name']}", match["selector"])
                )
    return found


QUERIES = _queries()


def _substituted(expr: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        assert name in VARIABLES, f"unknown variable ${name}"
        return VARIABLES[name]

    return VARIABLE.sub(value, expr)


def _selectors(expr: str) -> list[promql_parser.VectorSelector]:
    found: list[promql_parser.VectorSelector] = []

    def collect(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            found.append(node)

    promql_parser.walk(promql_parser.parse(_substituted(expr)), collect)
    return found


def _recorded_series() -> set[str]:
    return {
        rule["record"]
        for path in RULES_DIR.glob("*.rules.yaml")
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "record" in rule
    }


def test_the_dashboard_files_are_the_generated_ones() -> None:
    files = {path.name: path.read_text() for path in DASHBOARDS_DIR.glob("*.json")}

    assert files == rendered(), "run `make dashboards`"


def test_each_dashboard_has_its_stable_uid_and_the_current_schema() -> None:
    dashboards = _dashboards()

    assert {name: dashboard["uid"] for name, dashboard in dashboards.items()} == UIDS
    for dashboard in dashboards.values():
        assert dashboard["schemaVersion"] == SCHEMA_VERSION
        assert dashboard.get("id") is None  # Grafana assigns its own on import
        assert dashboard["title"]
        assert dashboard["panels"]


@pytest.mark.parametrize("name", sorted(UIDS))
def test_the_data_source_and_the_namespace_are_variables(name: str) -> None:
    variables = {v["name"]: v for v in _dashboards()[name]["templating"]["list"]}

    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["namespace"]["type"] == "query"
    assert variables["namespace"]["datasource"] == DATASOURCE


@pytest.mark.parametrize("name", sorted(UIDS))
def test_panels_have_unique_ids_and_share_the_grid_without_overlapping(name: str) -> None:
    panels = _dashboards()[name]["panels"]
    ids = [panel["id"] for panel in panels]
    taken: dict[tuple[int, int], int] = {}

    assert len(ids) == len(set(ids))
    for panel in panels:
        place = panel["gridPos"]
        assert place["x"] >= 0, panel["title"]
        assert min(place["w"], place["h"]) > 0, panel["title"]
        assert place["x"] + place["w"] <= GRID_COLUMNS, panel["title"]
        for x in range(place["x"], place["x"] + place["w"]):
            for y in range(place["y"], place["y"] + place["h"]):
                assert (x, y) not in taken, f"{panel['title']} overlaps panel {taken[(x, y)]}"
                taken[(x, y)] = panel["id"]


@pytest.mark.parametrize("name", sorted(UIDS))
def test_every_panel_queries_the_data_source_variable(name: str) -> None:
    for panel in _query_panels(_dashboards()[name]):
        ref_ids = [target["refId"] for target in panel["targets"]]

        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]


@pytest.mark.parametrize("query", QUERIES, ids=str)
def test_every_query_is_valid_promql_naming_its_metric(query: DashboardQuery) -> None:
    selectors = _selectors(query.expr)

    assert selectors
    for selector in selectors:
        assert selector.name, f"a selector without a metric name: {selector}"


@pytest.mark.e2e
@pytest.mark.parametrize("query", QUERIES, ids=str)
def test_every_query_reads_series_the_services_expose_or_the_rules_record(
    monitored_stack: MonitoredStack, query: DashboardQuery
) -> None:
    recorded = _recorded_series()
    labels_of: dict[str, dict[str, set[str]]] = {}
    for service, exposition in monitored_stack.after_traffic.items():
        for family in exposition.families.values():
            for sample in family.samples:
                labels_of.setdefault(service, {}).setdefault(sample.name, set()).update(
                    sample.labels
                )

    for selector in _selectors(query.expr):
        name = str(selector.name)
        matchers = {matcher.name: matcher for matcher in selector.matchers.matchers}
        if name in recorded or name in TARGET_SERIES:
            assert set(matchers) <= TARGET_LABELS, selector
            continue
        job = matchers.get("job")
        services = (
            [job.value.removeprefix(JOB_PREFIX)]
            if job and job.op == promql_parser.MatchOp.Equal
            else list(labels_of)
        )
        exposing = [service for service in services if name in labels_of.get(service, {})]
        assert exposing, f"no service in {services} exposes {name}"
        known = TARGET_LABELS.union(*(labels_of[service][name] for service in exposing))
        assert set(matchers) <= known, f"{selector}: labels {set(matchers) - known} unknown"
