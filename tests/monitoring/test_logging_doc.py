"""docs/operations/logging.md against what the services really log: the field tables against the
lines of the real processes, the event catalogue against the code, the masking rules against
the logging pipeline; and the log-shipping example against the same fields and the chart."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import structlog
import yaml

from cga_core.config import LogFormat
from cga_core.logging import configure_logging
from tests.monitoring.conftest import MonitoredStack

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "operations" / "logging.md"
SHIPPING = ROOT / "monitoring" / "log-shipping" / "fluent-bit.yaml"
CHART_HELPERS = ROOT / "charts" / "custom-gpt-adapter" / "templates" / "_helpers.tpl"
SOURCES = [ROOT / "libs", ROOT / "services"]
HTTP_SERVICES = ("gateway", "auth", "memory-proxy")
ACCESS_EVENT = "http.request.completed"
AUDIT_LOGGER = "cga.auth.audit"
# The "When" of a field that every line of a request or a job carries.
IN_REQUESTS = "requests and jobs"
# Values that name one person, request or object: never a Loki label.
IDS = {"trace_id", "span_id", "request_id", "job_id", "client_id", "user_id", "grant_id"}
HEADING = re.compile(r"^#+\s+(.*)$")
CODE = re.compile(r"`([^`]+)`")
EVENT_CALL = re.compile(
    r"""logger\.(?:debug|info|warning|error|exception|critical)\(\s*f?"([a-z_]+(?:\.[a-z_{}]+)+)\""""
)

Line = dict[str, Any]


def _sections() -> dict[str, list[str]]:
    """The doc's lines under each heading."""
    sections: dict[str, list[str]] = {}
    current: list[str] = []
    for line in DOC.read_text().splitlines():
        heading = HEADING.match(line)
        if heading:
            current = sections.setdefault(heading[1], [])
        else:
            current.append(line)
    return sections


def _table(section: str) -> dict[str, list[str]]:
    """The rows of the section's table whose first cell is a name in backticks, by name."""
    rows = {}
    for line in _sections()[section]:
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        name = CODE.fullmatch(cells[0]) if line.startswith("|") else None
        if name:
            rows[name[1]] = cells[1:]
    assert rows, f"no table in section {section!r} of {DOC}"
    return rows


def _fields(section: str) -> dict[str, str]:
    """Documented field → its "When"."""
    return {name: cells[0] for name, cells in _table(section).items()}


def _required(fields: dict[str, str], *when: str) -> set[str]:
    return {name for name, condition in fields.items() if condition in when}


def _code_in_bullets(section: str) -> list[str]:
    """The names in backticks of the section's bullet list, once each, in order."""
    bullets: list[str] = []
    for line in _sections()[section]:
        if line.startswith("- "):
            bullets.append(line)
        elif bullets and line.startswith("  "):
            bullets[-1] += line
    return list(dict.fromkeys(value for bullet in bullets for value in CODE.findall(bullet)))


COMMON = _fields("Every line")
ACCESS = _fields("Access lines")
JOB = _fields("Job lines")
AUDIT = _fields("Audit lines")
ON_REQUEST_LINES = _required(COMMON, "always", IN_REQUESTS)


def _json_lines(monitored_stack: MonitoredStack, service: str) -> list[Line]:
    lines = []
    for text in monitored_stack.services[service].log_lines():
        try:
            line = json.loads(text)
        except json.JSONDecodeError:
            continue
        if isinstance(line, dict):
            lines.append(line)
    return lines


def _only(lines: list[Line], **fields: Any) -> Line:
    matching = [line for line in lines if fields.items() <= line.items()]
    assert len(matching) == 1, f"{len(matching)} lines with {fields}"
    return matching[0]


def _assert_documented(line: Line, documented: dict[str, str], required: set[str]) -> None:
    undocumented = set(line) - set(documented)
    missing = required - set(line)
    assert not undocumented, f"{line['event']}: {undocumented} not in {DOC.name}"
    assert not missing, f"{line['event']}: documented {missing} missing"


@pytest.mark.e2e
@pytest.mark.parametrize("service", HTTP_SERVICES)
def test_access_lines_carry_the_documented_fields(
    monitored_stack: MonitoredStack, service: str
) -> None:
    lines = [
        line for line in _json_lines(monitored_stack, service) if line["event"] == ACCESS_EVENT
    ]

    assert lines
    for line in lines:
        _assert_documented(line, COMMON | ACCESS, ON_REQUEST_LINES | _required(ACCESS, "always"))


@pytest.mark.e2e
def test_job_lines_carry_the_documented_fields(monitored_stack: MonitoredStack) -> None:
    job_id = monitored_stack.traffic.job_id
    line = _only(
        _json_lines(monitored_stack, "worker"), event="worker.write.succeeded", job_id=job_id
    )

    _assert_documented(line, COMMON | JOB, ON_REQUEST_LINES | _required(JOB, "always"))


@pytest.mark.e2e
def test_audit_lines_carry_the_documented_fields(monitored_stack: MonitoredStack) -> None:
    lines = [
        line for line in _json_lines(monitored_stack, "auth") if line["logger"] == AUDIT_LOGGER
    ]

    assert {line["event"] for line in lines} >= {"auth.login", "auth.token.issue"}
    for line in lines:
        _assert_documented(line, COMMON | AUDIT, ON_REQUEST_LINES | _required(AUDIT, "always"))


@pytest.mark.e2e
def test_the_gateway_names_the_calling_app(monitored_stack: MonitoredStack) -> None:
    traffic = monitored_stack.traffic
    line = _only(
        _json_lines(monitored_stack, "gateway"),
        event=ACCESS_EVENT,
        request_id=traffic.write_request_id,
    )

    assert "client_id" in COMMON
    assert line["client_id"] == traffic.app.client_id


@pytest.mark.e2e
def test_a_write_is_followed_from_its_request_to_its_job_and_across_services(
    monitored_stack: MonitoredStack,
) -> None:
    traffic = monitored_stack.traffic
    request = _only(
        _json_lines(monitored_stack, "gateway"),
        event=ACCESS_EVENT,
        request_id=traffic.write_request_id,
    )
    job = _only(
        _json_lines(monitored_stack, "worker"),
        event="worker.write.succeeded",
        job_id=traffic.job_id,
    )
    memory_proxy = [
        line
        for line in _json_lines(monitored_stack, "memory-proxy")
        if line["event"] == ACCESS_EVENT and line.get("trace_id") == request["trace_id"]
    ]

    assert (request["method"], request["status"]) == ("POST", 202)
    assert job["request_id"] == request["request_id"]
    assert job["trace_id"] == request["trace_id"]
    # The worker writes in batches: one call to memory-proxy, one result per job.
    assert [(line["method"], line["path"], line["status"]) for line in memory_proxy] == [
        ("POST", "/internal/v1/memories/batch", 200)
    ]


def _logged_events() -> set[str]:
    events = set()
    for source in SOURCES:
        for path in source.rglob("*.py"):
            for name in EVENT_CALL.findall(path.read_text()):
                events.add(re.sub(r"\{(\w+)\}", r"<\1>", name))
    return events


def test_every_event_the_code_logs_is_in_the_catalogue() -> None:
    logged = _logged_events()

    assert ACCESS_EVENT in logged
    assert logged <= set(_table("Events")), f"undocumented: {logged - set(_table('Events'))}"


def _json_logger() -> structlog.stdlib.BoundLogger:
    """The services' pipeline, writing to the test's captured stdout. Configured inside the
    test itself: pytest resets the logging handlers between a fixture and its test."""
    configure_logging(service="gateway", level="INFO", log_format=LogFormat.JSON)
    logger: structlog.stdlib.BoundLogger = structlog.get_logger("cga.test")
    return logger


def _written(capsys: pytest.CaptureFixture[str]) -> Line:
    (text,) = capsys.readouterr().out.splitlines()
    line: Line = json.loads(text)
    return line


@pytest.mark.parametrize("key", _code_in_bullets("Masked fields"))
def test_a_documented_secret_field_is_masked(capsys: pytest.CaptureFixture[str], key: str) -> None:
    _json_logger().info("test.secret_field", **{key.upper(): "hunter2-value"})

    assert _written(capsys)[key.upper()] == "[redacted]"


# `cga_at_`, …, and the first word of `Bearer …`; not the `Bearer [redacted]` they become.
MASKED_VALUES = list(
    dict.fromkeys(
        value.split()[0] for value in _code_in_bullets("Masked values") if "[redacted]" not in value
    )
)


@pytest.mark.parametrize("prefix", MASKED_VALUES)
def test_a_documented_secret_value_is_masked_anywhere_in_a_text(
    capsys: pytest.CaptureFixture[str], prefix: str
) -> None:
    secret = "Zx9-secret-part"
    separator = " " if prefix in {"Bearer", "Basic"} else ""

    _json_logger().info("test.secret_value", detail=f"sent {prefix}{separator}{secret} upstream")

    detail = _written(capsys)["detail"]
    assert secret not in detail
    assert "[redacted]" in detail


def _shipping() -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = [
        document for document in yaml.safe_load_all(SHIPPING.read_text()) if document
    ]
    return documents


def _of_kind(kind: str) -> dict[str, Any]:
    (document,) = [document for document in _shipping() if document["kind"] == kind]
    return document


def _pipeline() -> dict[str, Any]:
    config_map = _of_kind("ConfigMap")
    (text,) = config_map["data"].values()
    pipeline: dict[str, Any] = yaml.safe_load(text)["pipeline"]
    return pipeline


def _loki_output() -> dict[str, Any]:
    (output,) = [output for output in _pipeline()["outputs"] if output["name"] == "loki"]
    loki: dict[str, Any] = output
    return loki


def _loki_labels() -> dict[str, str]:
    pairs = (pair.strip().split("=", 1) for pair in _loki_output()["labels"].split(","))
    return dict(pairs)


@pytest.mark.parametrize(
    "document", _shipping(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}"
)
def test_the_log_shipping_manifests_are_valid_for_kubernetes(document: dict[str, Any]) -> None:
    kubernetes_validate.validate(document, "1.30", strict=True)


def test_loki_gets_only_the_namespace_the_service_and_the_level_as_labels() -> None:
    labels = _loki_labels()
    chart_labels = CHART_HELPERS.read_text()

    assert set(labels) == {"namespace", "service", "level"}
    assert labels["namespace"] == "$kubernetes['namespace_name']"
    # The service: the component label the chart puts on every pod.
    assert labels["service"] == "$kubernetes['labels']['app.kubernetes.io/component']"
    assert "app.kubernetes.io/component: {{ .component }}" in chart_labels
    # The level: a field every line carries.
    assert labels["level"] == "$level"
    assert COMMON["level"] == "always"


def test_ids_stay_fields_of_the_json_line() -> None:
    output = _loki_output()
    removed = {key.strip() for key in output["remove_keys"].split(",")}
    documented = set(COMMON) | set(ACCESS) | set(JOB) | set(AUDIT)

    assert output["line_format"] == "json"
    assert not removed & documented
    assert not IDS & set(_loki_labels())
    assert IDS - {"job_id"} <= documented
    assert "job_id" in JOB


def test_only_the_charts_pods_are_shipped() -> None:
    (grep,) = (stage for stage in _pipeline()["filters"] if stage["name"] == "grep")
    accessor, pattern = grep["regex"].split()

    assert accessor == "$kubernetes['labels']['app.kubernetes.io/part-of']"
    assert re.fullmatch(pattern, "custom-gpt-adapter")
    assert "app.kubernetes.io/part-of: custom-gpt-adapter" in CHART_HELPERS.read_text()


def test_fluent_bit_reads_the_config_the_daemonset_mounts() -> None:
    pod = _of_kind("DaemonSet")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    config_path = Path(container["args"][container["args"].index("-c") + 1])
    mounts = {mount["name"]: mount["mountPath"] for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    config_volume = next(name for name, path in mounts.items() if path == str(config_path.parent))

    assert volumes[config_volume]["configMap"]["name"] == _of_kind("ConfigMap")["metadata"]["name"]
    assert config_path.name in _of_kind("ConfigMap")["data"]
