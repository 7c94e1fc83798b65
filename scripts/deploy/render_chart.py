"""Offline render of the Helm chart for ``deploy.sh --dry-run``.

The same offline render as ``make chart-check`` (PyPI ``helm-python-sdk``: Helm's own Go code,
no helm binary, no cluster), with the release's values files and ``--set`` values: lint
(strict), render, parse every manifest, then pipe them through the post-renderer exactly as
``helm upgrade --post-renderer`` does, and parse its output too.

    render_chart.py --chart DIR --values FILE --release NAME --namespace NS \
        [--set KEY=VALUE] [--post-renderer EXECUTABLE] [--output FILE]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import yaml


class DeployError(Exception):
    """A problem an operator fixes; printed as one line."""


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's coalescing of ``--set`` values over ``--values`` ones: maps merge, the rest is
    replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def parse_manifests(text: str, source: str) -> list[dict[str, Any]]:
    """Every non-empty YAML document, each checked to be a Kubernetes object."""
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as exc:
        raise DeployError(f"{source} is not valid YAML: {exc}") from None
    for document in documents:
        if not isinstance(document, dict) or not {"apiVersion", "kind"} <= document.keys():
            raise DeployError(f"{source} holds a document that is no Kubernetes object")
        if not document.get("metadata", {}).get("name"):
            raise DeployError(f"{source}: a {document['kind']} has no metadata.name")
    return documents


def post_render(manifests: str, post_renderer: Path) -> str:
    """Helm's post-renderer contract: manifests on stdin, manifests on stdout, 0 on success."""
    if not os.access(post_renderer, os.X_OK):
        raise DeployError(f"post-renderer {post_renderer} not found or not executable")
    result = subprocess.run(  # noqa: S603 - the repository's own post-renderer
        [str(post_renderer)], input=manifests, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise DeployError(f"the post-renderer {post_renderer} failed: {result.stderr.strip()}")
    return result.stdout


def _load_helm() -> Any:
    try:
        import helm_python  # noqa: PLC0415 - only the render needs it
    except ImportError:
        raise DeployError(
            f"helm-python-sdk is not installed for {sys.executable}: run `make install`"
        ) from None
    return helm_python


def render(args: argparse.Namespace) -> str:
    helm = _load_helm()
    chart_dir: Path = args.chart
    if not (chart_dir / "Chart.yaml").is_file():
        raise DeployError(f"no Helm chart at {chart_dir} (Chart.yaml missing)")
    values: dict[str, Any] = {}
    for values_file in args.values:
        if not values_file.is_file():
            raise DeployError(f"values file {values_file} not found")
        try:
            values = deep_merge(values, helm.values_from_yaml(values_file.read_text()))
        except helm.HelmError as exc:
            raise DeployError(f"values file {values_file}: {exc}") from None
    for expression in args.set:
        values = deep_merge(values, helm.parse_set_string(expression))

    report = helm.lint(
        chart_dir,
        values,
        strict=True,
        namespace=args.namespace,
        kube_version=args.kube_version,
    )
    problems = [m for m in report.get("messages") or [] if m.get("severity", 0) >= 2]
    # Each schema violation is reported once per template directory: show it once.
    problems_text = "; ".join(
        dict.fromkeys(" ".join(str(m.get("error", "")).split()) for m in problems)
    )
    if report.get("errors") or problems:
        raise DeployError(f"helm lint failed: {problems_text or report.get('errors')}")
    try:
        rendered: dict[str, str] = helm.Chart.load(chart_dir).render(
            values, name=args.release, namespace=args.namespace, is_install=True
        )
    except helm.HelmError as exc:
        raise DeployError(f"helm render failed: {exc}") from None

    parts = []
    for template, text in sorted(rendered.items()):
        if template.endswith("NOTES.txt") or not text.strip():
            continue
        if parse_manifests(text, template):
            parts.append(f"---\n# Source: {template}\n{text.strip()}\n")
    manifests = "".join(parts)
    objects = parse_manifests(manifests, "the rendered chart")
    print_summary("rendered", objects)
    if args.post_renderer is not None:
        manifests = post_render(manifests, args.post_renderer)
        objects = parse_manifests(manifests, f"the output of {args.post_renderer}")
        print_summary(f"after the post-renderer {args.post_renderer}", objects)
    return manifests


def print_summary(stage: str, objects: list[dict[str, Any]]) -> None:
    kinds = Counter(str(obj["kind"]) for obj in objects)
    listing = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
    sys.stderr.write(f"{stage}: {len(objects)} objects ({listing})\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="render_chart.py", description=__doc__)
    parser.add_argument("--chart", type=Path, required=True)
    parser.add_argument("--values", type=Path, action="append", default=[])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--release", required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--kube-version", default="v1.30.0")
    parser.add_argument("--post-renderer", type=Path, help="pipe the manifests through this")
    parser.add_argument("--output", type=Path, help="write the final manifests here")
    args = parser.parse_args(argv)
    try:
        manifests = render(args)
        if args.output is not None:
            args.output.write_text(manifests)
    except DeployError as exc:
        message = " ".join(str(exc).split())
        sys.stderr.write(f"{parser.prog}: error: {message}\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
