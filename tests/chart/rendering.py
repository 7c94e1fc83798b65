"""Rendering the chart offline (Helm SDK, no helm binary) and reading the manifests it makes."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "custom-gpt-adapter"
RELEASE = "cga"
NAMESPACE = "cga"
FULLNAME = "cga-custom-gpt-adapter"
COMPONENTS = ("gateway", "auth", "memory-proxy", "worker")
CI_VALUES = sorted(CHART.glob("ci/*-values.yaml"))

Manifest = dict[str, Any]


def render_templates(values: dict[str, Any] | None = None, chart: Path = CHART) -> dict[str, str]:
    """Template path -> rendered text (NOTES.txt included); raises on a schema violation."""
    return helm_python.Chart.load(chart).render(
        values or {}, name=RELEASE, namespace=NAMESPACE, is_install=True
    )


def render(values: dict[str, Any] | None = None, chart: Path = CHART) -> list[Manifest]:
    """Every manifest the chart renders, hooks and the test pod included."""
    manifests: list[Manifest] = []
    for template, text in sorted(render_templates(values, chart).items()):
        if template.endswith(".yaml"):
            manifests.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return manifests


def ci_values(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text()) or {}
    return loaded


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def named(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    matches = [m for m in of_kind(manifests, kind) if m["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def component_name(component: str) -> str:
    return f"{FULLNAME}-{component}"


def pod_specs(manifests: list[Manifest]) -> Iterator[tuple[str, Manifest]]:
    """(where, pod spec) of every Deployment, Job and Pod."""
    for manifest in manifests:
        where = f"{manifest['kind']}/{manifest['metadata']['name']}"
        if manifest["kind"] in ("Deployment", "Job"):
            yield where, manifest["spec"]["template"]["spec"]
        elif manifest["kind"] == "Pod":
            yield where, manifest["spec"]


def copy_chart(destination: Path) -> Path:
    """A private copy of the chart, to change files in."""
    copy = destination / "custom-gpt-adapter"
    shutil.copytree(CHART, copy)
    return copy
