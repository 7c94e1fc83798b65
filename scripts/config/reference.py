"""Write the configuration reference from the settings classes themselves.

``docs/configuration.md`` (a table per service and one for the system-wide ``CGA_*`` variables)
and ``.env.production.example`` (every variable, secrets as ``CHANGE_ME``) are generated from
each class's ``model_fields``: names by ``variable_name``, descriptions, defaults and types.
Run ``make config-docs`` after changing a setting; the tests fail while the files are stale.

    python scripts/config/reference.py [--docs FILE] [--env-example FILE] [--check]
"""

from __future__ import annotations

import argparse
import enum
import sys
import types
import typing
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import annotated_types
from pydantic import AnyHttpUrl, SecretStr
from pydantic.fields import FieldInfo

from cga_auth.settings import AuthSettings
from cga_core.config import CommonSettings
from cga_core.migrations.cli import MigrationSettings
from cga_gateway.settings import GatewaySettings
from cga_memory_proxy.settings import MemoryProxySettings
from cga_worker.settings import WorkerSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCS_PATH = REPO_ROOT / "docs" / "configuration.md"
ENV_EXAMPLE_PATH = REPO_ROOT / ".env.production.example"

PLACEHOLDER = "CHANGE_ME"
EXAMPLE_DOMAIN = "https://memory.example.com"
# In-cluster Service names the Helm chart gives release "cga": <release>-custom-gpt-adapter-<svc>.
IN_CLUSTER = "http://cga-custom-gpt-adapter-{}"
DOC_DEFAULT_WIDTH = 60


@dataclass(frozen=True)
class Service:
    name: str
    program: str
    settings: type[CommonSettings]
    role: str


SERVICES = (
    Service("gateway", "cga-gateway", GatewaySettings, "the public Actions API"),
    Service("auth", "cga-auth", AuthSettings, "the OAuth 2.0 server and its admin API"),
    Service(
        "memory-proxy",
        "cga-memory-proxy",
        MemoryProxySettings,
        "the only caller of the Memory Bank (cluster-internal)",
    ),
    Service("worker", "cga-worker", WorkerSettings, "ARQ jobs: durable writes, audit, sweeps"),
    Service("migrate", "cga-migrate", MigrationSettings, "the schema migrations (migration Job)"),
)


class Commented:
    """A production value left commented out in the example, with the reason."""

    def __init__(self, reason: str, value: str = "") -> None:
        self.reason = reason
        self.value = value


# Production values of the example where the development default will not do. Everything else
# keeps its default; secrets are always the placeholder.
PRODUCTION_VALUES: dict[str, str | Commented] = {
    "CGA_ENV": "production",
    "CGA_LOG_FORMAT": "json",
    "CGA_OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector.monitoring:4318",
    **{
        f"CGA_{prefix}_HOST": "0.0.0.0"  # noqa: S104 - containers listen on the pod's address
        for prefix in ("GATEWAY", "AUTH", "MEMORY_PROXY", "WORKER")
    },
    "CGA_GATEWAY_PUBLIC_URL": EXAMPLE_DOMAIN,
    "CGA_GATEWAY_AUTH_PUBLIC_URL": EXAMPLE_DOMAIN,
    "CGA_GATEWAY_AUTH_INTERNAL_URL": IN_CLUSTER.format("auth:8001"),
    "CGA_GATEWAY_MEMORY_PROXY_URL": IN_CLUSTER.format("memory-proxy:8002"),
    "CGA_GATEWAY_PRIVACY_POLICY": Commented("unset: the built-in text (docs/configuration.md)"),
    "CGA_GATEWAY_PRIVACY_CONTACT": "privacy@example.com",
    "CGA_AUTH_PUBLIC_URL": EXAMPLE_DOMAIN,
    "CGA_AUTH_PRIVACY_POLICY_URL": f"{EXAMPLE_DOMAIN}/privacy",
    "CGA_MEMORY_PROXY_BACKEND": "local",
    "CGA_MEMORY_PROXY_MEM0_API_KEY": Commented(
        "only for CGA_MEMORY_PROXY_BACKEND=mem0", PLACEHOLDER
    ),
    "CGA_MEMORY_PROXY_MEM0_PLATFORM_API_KEY": Commented(
        "only for CGA_MEMORY_PROXY_BACKEND=mem0-platform", PLACEHOLDER
    ),
    "CGA_WORKER_MEMORY_PROXY_URL": IN_CLUSTER.format("memory-proxy:8002"),
}


@dataclass
class Variable:
    """One environment variable, with the services that read it (and how each describes it)."""

    name: str
    field_name: str
    info: FieldInfo
    services: list[str] = field(default_factory=list)
    descriptions: dict[str, str] = field(default_factory=dict)

    @property
    def secret(self) -> bool:
        return is_secret(self.info.annotation)

    @property
    def description(self) -> str:
        """The description; a system-wide one that services word differently names each."""
        distinct = set(self.descriptions.values())
        if len(distinct) > 1:
            return " ".join(f"{service}: {text}" for service, text in self.descriptions.items())
        return self.info.description or ""


def is_secret(annotation: object) -> bool:
    """SecretStr, or SecretStr | None."""
    members, _ = _union_members(annotation)
    return SecretStr in members


def _union_members(annotation: object) -> tuple[list[object], bool]:
    members = list(typing.get_args(annotation)) if _is_union(annotation) else [annotation]
    optional = type(None) in members
    return [m for m in members if m is not type(None)], optional


def _is_union(annotation: object) -> bool:
    return isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union


def type_name(info: FieldInfo) -> str:
    members, optional = _union_members(info.annotation)
    names = []
    for member in members:
        if member is SecretStr:
            names.append("secret string")
        elif member is timedelta:
            names.append("duration")
        elif member is AnyHttpUrl:
            names.append("URL")
        elif isinstance(member, type) and issubclass(member, enum.Enum):
            names.append("one of " + ", ".join(f"`{item.value}`" for item in member))
        elif member is bool:
            names.append("boolean")
        elif member is int:
            names.append("integer")
        elif member is float:
            names.append("number")
        elif member is str:
            names.append("string")
        else:
            names.append(getattr(member, "__name__", str(member)))
    described = " or ".join(names)
    bounds = _bounds(info)
    if bounds:
        described += f" ({bounds})"
    return described + (", optional" if optional else "")


def _bounds(info: FieldInfo) -> str:
    low = high = None
    for constraint in info.metadata:
        if isinstance(constraint, annotated_types.Ge):
            low = constraint.ge
        elif isinstance(constraint, annotated_types.Le):
            high = constraint.le
    if low is not None and high is not None:
        return f"{low} to {high}"
    if low is not None:
        return f"≥ {low}"
    if high is not None:
        return f"≤ {high}"
    return ""


def format_duration(value: timedelta) -> str:
    """In the settings' own duration syntax (``90d``, ``2h``, ``30s``, ``500ms``)."""
    milliseconds = round(value.total_seconds() * 1000)
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if milliseconds and milliseconds % size == 0:
            return f"{milliseconds // size}{unit}"
    return f"{milliseconds}ms"


def format_value(value: object) -> str:
    """A default as it would be written in the environment."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, AnyHttpUrl):
        text = str(value)
        return text[:-1] if value.path == "/" and text.endswith("/") else text
    return str(value)


def default_for_docs(variable: Variable) -> str:
    if variable.secret:
        return "(secret)"
    default = variable.info.default
    if default is None:
        return "unset"
    text = format_value(default)
    if text == "":
        return '`""`'
    if len(text) > DOC_DEFAULT_WIDTH:
        text = text[: DOC_DEFAULT_WIDTH - 1].rstrip() + "…"
    return f"`{text}`"


def collect() -> tuple[dict[str, Variable], dict[str, list[Variable]]]:
    """The system-wide variables (read under one name by several services), and each service's
    own ones, in the classes' field order."""
    system: dict[str, Variable] = {}
    own: dict[str, list[Variable]] = {}
    for service in SERVICES:
        prefix = str(service.settings.model_config.get("env_prefix", ""))
        own[service.name] = []
        for field_name, info in service.settings.model_fields.items():
            name = service.settings.variable_name(field_name)
            if name.startswith(prefix):
                own[service.name].append(Variable(name, field_name, info, [service.name]))
            else:
                variable = system.setdefault(name, Variable(name, field_name, info))
                variable.services.append(service.name)
                variable.descriptions[service.name] = info.description or ""
    return system, own


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_docs() -> str:
    system, own = collect()
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated by `make config-docs` (scripts/config/reference.py) from the settings",
        "     classes; edit the settings' descriptions, not this file. -->",
        "",
        "Every setting is an environment variable. Values read by every service are named",
        "`CGA_*` and listed once below; each service's own values carry its prefix",
        "(`CGA_GATEWAY_*`, `CGA_AUTH_*`, …). Durations are seconds or a number with a unit",
        "(`500ms`, `30s`, `5m`, `2h`, `90d`). Secrets are never shown with their default: outside",
        "`CGA_ENV=development`/`test` a service refuses to start while a secret is empty or still",
        "has its development default. `.env.production.example` lists every variable with a",
        "production value; in Kubernetes the Helm chart sets them from its values (ConfigMap) and",
        "from a Secret or ExternalSecret (secrets).",
        "",
        "## System-wide variables",
        "",
        "| Variable | Used by | Type | Default | Secret | Description |",
        "|---|---|---|---|---|---|",
    ]
    for variable in system.values():
        lines.append(
            f"| `{variable.name}` | {', '.join(variable.services)} | {type_name(variable.info)}"
            f" | {default_for_docs(variable)} | {'yes' if variable.secret else 'no'}"
            f" | {_cell(variable.description)} |"
        )
    for service in SERVICES:
        prefix = service.settings.model_config.get("env_prefix", "")
        lines += [
            "",
            f"## {service.name}",
            "",
            f"`{service.program}`: {service.role}. Its own variables (`{prefix}*`); it also"
            f" reads the system-wide {_system_list(system, service.name)}.",
            "",
            "| Variable | Type | Default | Secret | Description |",
            "|---|---|---|---|---|",
        ]
        for variable in own[service.name]:
            lines.append(
                f"| `{variable.name}` | {type_name(variable.info)}"
                f" | {default_for_docs(variable)} | {'yes' if variable.secret else 'no'}"
                f" | {_cell(variable.description)} |"
            )
    return "\n".join(lines) + "\n"


def _system_list(system: dict[str, Variable], service: str) -> str:
    return ", ".join(f"`{v.name}`" for v in system.values() if service in v.services)


def _comment(text: str, width: int = 98) -> Iterator[str]:
    words = text.split()
    line = "#"
    for word in words:
        if len(line) + 1 + len(word) > width and line != "#":
            yield line
            line = "#"
        line += " " + word
    if line != "#":
        yield line


def _env_entry(variable: Variable, used_by: str | None = None) -> Iterable[str]:
    yield from _comment(variable.description)
    if used_by:
        yield f"# Used by: {used_by}."
    override = PRODUCTION_VALUES.get(variable.name)
    if isinstance(override, Commented):
        yield f"# ({override.reason})"
        yield f"# {variable.name}={override.value}"
    elif variable.secret:
        yield f"{variable.name}={PLACEHOLDER}"
    elif override is not None:
        yield f"{variable.name}={override}"
    elif variable.info.default is None:
        yield f"{variable.name}="
    else:
        yield f"{variable.name}={format_value(variable.info.default)}"
    yield ""


def _section(title: str) -> str:
    header = f"# ---- {title} "
    return header + "-" * max(4, 98 - len(header))


def render_env_example() -> str:
    system, own = collect()
    lines = [
        "# custom-gpt-adapter: production environment, every variable of every service.",
        "# Generated by `make config-docs` (scripts/config/reference.py) from the settings",
        "# classes; docs/configuration.md describes each variable. Secrets read CHANGE_ME: set",
        "# them from your secret store and never commit them. Durations: 500ms, 30s, 5m, 2h, 90d.",
        "",
        _section("System-wide: read by every service under the same name"),
        "",
    ]
    for variable in system.values():
        lines += _env_entry(variable, ", ".join(variable.services))
    for service in SERVICES:
        lines += [_section(f"{service.name} ({service.program}): {service.role}"), ""]
        for variable in own[service.name]:
            lines += _env_entry(variable)
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=Path, default=DOCS_PATH)
    parser.add_argument("--env-example", type=Path, default=ENV_EXAMPLE_PATH)
    parser.add_argument(
        "--check", action="store_true", help="fail if the files differ instead of writing them"
    )
    args = parser.parse_args(argv)
    outputs = {args.docs: render_docs(), args.env_example: render_env_example()}
    stale = []
    for path, content in outputs.items():
        if args.check:
            if not path.exists() or path.read_text() != content:
                stale.append(path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
    if stale:
        names = ", ".join(str(p) for p in stale)
        sys.stderr.write(f"out of date: {names}; run `make config-docs`\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
