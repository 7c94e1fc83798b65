"""The alert rules of monitoring/prometheus-rules/: valid for promtool, passing their unit tests,
every alert tested both ways, annotated, and reading only what the services really export."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from cga_core.metrics import instrument_metrics
from scripts.monitoring import rules_check
from scripts.monitoring.rule_files import (
    ROOT,
    RULE_TESTS,
    RULES,
    RuleFile,
    alert_names,
    load_rule_files,
    rule_paths,
    unit_test_paths,
)

# The alerts the design (§5) asks for, by name.
REQUIRED_ALERTS = {
    "CustomGptAdapterHighErrorRate",
    "CustomGptAdapterHighLatencyP95",
    "CustomGptAdapterCircuitBreakerOpen",
    "CustomGptAdapterQueueBackup",
    "CustomGptAdapterWorkerDown",
    "CustomGptAdapterDeadLetters",
    "CustomGptAdapterAuthFailuresSpike",
    "CustomGptAdapterErrorBudgetBurn",
    "CustomGptAdapterLatencyBudgetBurn",
}
BUCKET_MATCHER = re.compile(r'\ble="([^"]+)"')


@pytest.fixture(scope="module")
def sources() -> list[RuleFile]:
    return load_rule_files()


def test_every_required_alert_is_defined(sources: list[RuleFile]) -> None:
    assert set(alert_names(sources)) >= REQUIRED_ALERTS


def test_promtool_accepts_every_rule_file() -> None:
    paths = rule_paths()
    assert paths
    assert rules_check.promtool_check(paths) == []


def test_every_alert_passes_its_promtool_unit_tests() -> None:
    paths = unit_test_paths()
    assert paths
    assert rules_check.promtool_test(paths) == []


def test_every_alert_has_a_case_where_it_fires_and_one_where_it_stays_silent(
    sources: list[RuleFile],
) -> None:
    coverage = rules_check.Coverage.of(unit_test_paths())

    assert rules_check.untested_alerts(sources, coverage) == []


def test_the_coverage_check_names_an_alert_without_cases(tmp_path: Path) -> None:
    (tmp_path / RULES).mkdir(parents=True)
    shutil.copytree(ROOT / RULE_TESTS, tmp_path / RULE_TESTS)
    for path in rule_paths():
        shutil.copy(path, tmp_path / RULES / path.name)
    (tmp_path / RULES / "new.rules.yaml").write_text(
        "groups:\n"
        "  - name: new\n"
        "    rules:\n"
        "      - alert: CustomGptAdapterUntested\n"
        "        expr: vector(1)\n"
    )
    sources = load_rule_files(tmp_path)

    problems = rules_check.untested_alerts(sources, rules_check.Coverage.of(unit_test_paths()))

    assert problems == [
        "new.rules.yaml: CustomGptAdapterUntested: no unit test case in which it fires",
        "new.rules.yaml: CustomGptAdapterUntested: no unit test case in which it stays silent",
    ]


def test_a_failing_unit_test_fails_the_check(tmp_path: Path) -> None:
    broken = tmp_path / "tests" / "worker.test.yaml"
    broken.parent.mkdir()
    source = (ROOT / RULE_TESTS / "worker.test.yaml").read_text()
    broken.write_text(
        source.replace("../worker.rules.yaml", str(ROOT / RULES / "worker.rules.yaml")).replace(
            "severity: critical", "severity: warning"
        )
    )

    (problem,) = rules_check.promtool_test([broken])

    assert "CustomGptAdapterWorkerDown" in problem


def test_every_alert_has_a_routed_severity_and_its_annotations(sources: list[RuleFile]) -> None:
    assert rules_check.annotation_problems(sources) == []


def test_rules_select_the_chart_jobs_and_aggregate_by_bounded_labels(
    sources: list[RuleFile],
) -> None:
    assert rules_check.selector_problems(sources) == []


def test_the_selector_check_refuses_a_release_named_job_and_a_per_user_label(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bad.rules.yaml"
    path.write_text(
        "groups:\n"
        "  - name: bad\n"
        "    rules:\n"
        "      - alert: CustomGptAdapterBad\n"
        '        expr: sum by (namespace, user_id) (up{job="cga-custom-gpt-adapter-worker"})\n'
    )

    problems = rules_check.selector_problems([RuleFile.load(path)])

    assert len(problems) == 2
    assert "selects none of" in problems[0]
    assert "['user_id']" in problems[1]


async def _exported_buckets() -> set[str]:
    """The `le` values of cga_http_request_duration_seconds as a service exports them."""
    app = FastAPI()

    @app.get("/api/v1/probe")
    def probe() -> dict[str, str]:
        return {}

    instrument_metrics(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        await client.get("/api/v1/probe")
        exposition = (await client.get("/metrics")).text
    families = text_string_to_metric_families(exposition)
    return {
        sample.labels["le"]
        for family in families
        for sample in family.samples
        if sample.name == "cga_http_request_duration_seconds_bucket"
    }


async def test_rules_read_buckets_the_services_export(sources: list[RuleFile]) -> None:
    exported = await _exported_buckets()
    read = {
        bucket
        for source in sources
        for rule in source.rules()
        for bucket in BUCKET_MATCHER.findall(rule["expr"])
    }
    assert read
    assert read <= exported
    # histogram_quantile cannot report more than the highest finite bucket: the p95 alert's
    # threshold must lie below it to ever fire.
    (p95,) = (
        rule
        for source in sources
        for rule in source.alerts()
        if rule["alert"] == "CustomGptAdapterHighLatencyP95"
    )
    threshold = float(re.findall(r">\s*([0-9.]+)\s*$", p95["expr"].strip())[0])
    assert threshold < max(float(le) for le in exported if le != "+Inf")
