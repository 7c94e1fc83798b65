"""The chart's copies of the alert rules and dashboards (`make monitoring-sync`): up to date with
their sources, and refused when the source says something the chart would not render."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from scripts.monitoring import chart_files, rules_check
from scripts.monitoring.rule_files import CHART, ROOT, RULES, load_rule_files


def test_the_chart_files_are_what_the_generator_writes_from_the_sources(tmp_path: Path) -> None:
    generated = tmp_path / "chart"

    chart_files.write(generated, chart_files.chart_files())

    written = sorted(p.relative_to(generated) for p in generated.rglob("*") if p.is_file())
    assert chart_files.RULES_FILE in written
    for path in written:
        assert (ROOT / CHART / path).read_bytes() == (generated / path).read_bytes(), (
            f"{CHART / path} is stale: run `make monitoring-sync`"
        )
    assert chart_files.differences(ROOT / CHART, chart_files.chart_files()) == []


def test_the_generated_rule_file_holds_every_source_group_and_passes_promtool() -> None:
    generated = ROOT / CHART / chart_files.RULES_FILE
    groups = yaml.safe_load(generated.read_text())["groups"]

    assert groups == [group for source in load_rule_files() for group in source.groups]
    assert rules_check.promtool_check([generated]) == []


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """A copy of the rule source, the dashboards and the chart to change things in."""
    shutil.copytree(ROOT / "monitoring", tmp_path / "monitoring")
    shutil.copytree(ROOT / CHART, tmp_path / CHART)
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def test_check_mode_reports_a_stale_copy_and_sync_repairs_it(repository: Path) -> None:
    _edit(repository / RULES / "worker.rules.yaml", "for: 5m", "for: 7m")
    stale = repository / CHART / chart_files.CHART_DASHBOARDS / "removed.json"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_text("{}")

    assert chart_files.main(["--check", "--root", str(repository)]) == 1
    assert chart_files.main(["--root", str(repository)]) == 0

    assert chart_files.main(["--check", "--root", str(repository)]) == 0
    assert not stale.exists()
    assert "for: 7m" in (repository / CHART / chart_files.RULES_FILE).read_text()


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (
            "> 1000  # chart: queueBackup.depth",
            "> 900  # chart: queueBackup.depth",
            "900 is marked `# chart: queueBackup.depth`, whose default in values.yaml is 1000",
        ),
        (
            "# chart: queueBackup.depth",
            "# chart: queueBackup.size",
            "`# chart: queueBackup.size` names no number",
        ),
        (
            "main/docs/runbooks/CustomGptAdapterWorkerDown.md",
            "main/docs/CustomGptAdapterWorkerDown.md",
            "CustomGptAdapterWorkerDown: runbook_url is https://",
        ),
    ],
    ids=["threshold-differs", "unknown-value", "runbook-url"],
)
def test_a_source_the_chart_would_render_differently_is_refused(
    repository: Path, old: str, new: str, problem: str
) -> None:
    _edit(repository / RULES / "worker.rules.yaml", old, new)

    with pytest.raises(chart_files.SourceError, match=r"worker\.rules\.yaml") as refused:
        chart_files.chart_files(repository)

    assert problem in str(refused.value)
