"""Render, lint and validate the Helm chart offline (`make chart-check`).

    python -m scripts.chart.check [--chart DIR] [--prod-values-dir DIR] [--tools DIR]

Checks that the chart README's table of values is up to date; then, for the default values,
every ``ci/*-values.yaml`` of the chart and the production values
(``k8s/overlays/prod/values-prod*.yaml``, when present), renders the chart with the Helm SDK
(which enforces ``values.schema.json``), lints it strictly and validates the built-in kinds with
kubernetes-validate (strict, Kubernetes 1.30); validates the custom resources with the
kubernetes-models schemas (a node script) and runs checkov over all the rendered manifests.
Every problem is printed; the exit status is 1 if there was any.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import yaml

from scripts.chart import values_doc

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "custom-gpt-adapter"
PROD_VALUES_DIR = ROOT / "k8s" / "overlays" / "prod"
TOOLS = ROOT / ".tools"
NODE_VALIDATOR = Path(__file__).resolve().parent / "validate-manifests.mjs"
KUBE_VERSION = "1.30"
RELEASE = "cga"
NAMESPACE = "cga"
LINT_WARNING = 2  # helm lint severities: 1 info, 2 warning, 3 error

# A group without a dot, or one under k8s.io, is Kubernetes' own; anything else is a CRD.
BUILT_IN_API = re.compile(r"^(v1|[a-z0-9]+/v\w+|[a-z0-9.]+\.k8s\.io/v\w+)$")


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)

    def fail(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")
        print(f"  FAIL {where}: {message}")  # noqa: T201


@dataclass(frozen=True)
class ValueSet:
    name: str
    values: dict[str, Any]


def value_sets(chart: Path, prod_values_dir: Path) -> list[ValueSet]:
    sets = [ValueSet("default", {})]
    files = sorted((chart / "ci").glob("*-values.yaml"))
    files += sorted(prod_values_dir.glob("values-prod*.yaml"))
    for path in files:
        loaded = yaml.safe_load(path.read_text()) or {}
        sets.append(ValueSet(path.name.removesuffix(".yaml"), loaded))
    return sets


def render_documents(chart: Path, values: dict[str, Any]) -> list[dict[str, Any]]:
    """The chart's manifests (hooks and test pods included) as parsed documents."""
    rendered = helm_python.Chart.load(chart).render(
        values, name=RELEASE, namespace=NAMESPACE, is_install=True
    )
    documents: list[dict[str, Any]] = []
    for template, text in sorted(rendered.items()):
        if not template.endswith((".yaml", ".yml")):
            continue  # NOTES.txt
        documents.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return documents


def is_built_in(document: dict[str, Any]) -> bool:
    return bool(BUILT_IN_API.match(document["apiVersion"]))


def lint(chart: Path, value_set: ValueSet, report: Report) -> None:
    result = helm_python.lint(chart, value_set.values, strict=True, kube_version=KUBE_VERSION)
    for message in result.get("messages", []):
        if message["severity"] >= LINT_WARNING:
            report.fail(f"{value_set.name}: helm lint {message['path']}", message["error"])
    for error in result.get("errors", []):
        if not any(error == m["error"] for m in result.get("messages", [])):
            report.fail(f"{value_set.name}: helm lint", error)


def validate_built_in(name: str, documents: list[dict[str, Any]], report: Report) -> None:
    for document in documents:
        where = f"{name}: {document['kind']}/{document['metadata']['name']}"
        try:
            kubernetes_validate.validate(document, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            report.fail(where, f"{path}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            report.fail(where, error.message)


def validate_custom_resources(files: list[Path], tools: Path, report: Report) -> None:
    if not files:
        return
    if not (tools / "node_modules").is_dir():
        report.fail("custom resources", f"{tools}/node_modules is missing: run `make chart-tools`")
        return
    # Node resolves packages from the script's own folder, so it runs from beside node_modules.
    script = tools / NODE_VALIDATOR.name
    shutil.copyfile(NODE_VALIDATOR, script)
    result = subprocess.run(  # noqa: S603 - fixed program, our own files
        ["node", str(script), *map(str, files)],  # noqa: S607 - node from PATH, like make
        capture_output=True,
        text=True,
        check=False,
    )
    errors = [line for line in result.stdout.splitlines() if line.startswith("ERROR ")]
    for line in errors:
        report.fail("custom resources", line.removeprefix("ERROR "))
    if result.returncode != 0 and not errors:
        report.fail("custom resources", f"validator exited {result.returncode}: {result.stderr}")


def checkov_failures(manifests: Path) -> list[tuple[str, str]]:
    """(check, what failed) for one rendering. Each rendering is scanned on its own: checkov
    links pods to NetworkPolicies by labels, which every rendering of the chart shares."""
    checkov = Path(sys.executable).with_name("checkov")
    result = subprocess.run(  # noqa: S603 - the venv's checkov on our rendered file
        [
            str(checkov),
            *("--file", str(manifests)),
            *("--framework", "kubernetes"),
            "--skip-download",
            *("--output", "json"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        outcome = json.loads(result.stdout)
    except json.JSONDecodeError:
        return [("checkov", f"exited {result.returncode}: {result.stdout}{result.stderr}")]
    runs = outcome if isinstance(outcome, list) else [outcome]
    failures = [
        (f"checkov {failed['check_id']}", f"{failed['resource']}: {failed['check_name']}")
        for run in runs
        for failed in run.get("results", {}).get("failed_checks", [])
    ]
    if result.returncode != 0 and not failures:
        failures.append(("checkov", f"exited {result.returncode}: {result.stderr}"))
    return failures


def run_checkov(files: list[Path], report: Report) -> None:
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for path, failures in zip(files, pool.map(checkov_failures, files), strict=True):
            for check_id, message in failures:
                report.fail(check_id, f"{path.stem}: {message}")


@contextmanager
def step(title: str) -> Iterator[None]:
    started = time.monotonic()
    print(f"- {title}")  # noqa: T201
    yield
    print(f"  ({time.monotonic() - started:.1f} s)")  # noqa: T201


def check(chart: Path, prod_values_dir: Path, tools: Path) -> Report:
    report = Report()
    with step("the README's table of values"):
        if problem := values_doc.readme_problem(chart):
            report.fail("README.md", problem)
    with tempfile.TemporaryDirectory(prefix="chart-check-") as tmp:
        rendered_dir = Path(tmp) / "rendered"
        rendered_dir.mkdir()
        custom_resource_files: list[Path] = []
        with step("render, lint and validate the built-in kinds"):
            for value_set in value_sets(chart, prod_values_dir):
                print(f"  {value_set.name}")  # noqa: T201
                try:
                    documents = render_documents(chart, value_set.values)
                except helm_python.HelmError as error:
                    report.fail(f"{value_set.name}: render", str(error).strip())
                    continue
                lint(chart, value_set, report)
                validate_built_in(value_set.name, [d for d in documents if is_built_in(d)], report)
                (rendered_dir / f"{value_set.name}.yaml").write_text(
                    yaml.safe_dump_all(documents, sort_keys=False)
                )
                custom = [d for d in documents if not is_built_in(d)]
                if custom:
                    path = Path(tmp) / f"{value_set.name}.custom-resources.yaml"
                    path.write_text(yaml.safe_dump_all(custom, sort_keys=False))
                    custom_resource_files.append(path)
        with step("validate the custom resources (kubernetes-models)"):
            validate_custom_resources(custom_resource_files, tools, report)
        with step("checkov"):
            run_checkov(sorted(rendered_dir.iterdir()), report)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chart", type=Path, default=CHART, help="chart directory")
    parser.add_argument(
        "--prod-values-dir",
        type=Path,
        default=PROD_VALUES_DIR,
        help="folder whose values-prod*.yaml files are checked too",
    )
    parser.add_argument("--tools", type=Path, default=TOOLS, help="folder holding node_modules")
    args = parser.parse_args(argv)
    started = time.monotonic()
    report = check(args.chart.resolve(), args.prod_values_dir, args.tools.resolve())
    elapsed = time.monotonic() - started
    if report.problems:
        print(f"chart-check: {len(report.problems)} problem(s) in {elapsed:.0f} s")  # noqa: T201
        return 1
    print(f"chart-check: no problems in {elapsed:.0f} s")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
