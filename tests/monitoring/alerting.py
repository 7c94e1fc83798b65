"""Prometheus and Alertmanager from Debian's packages on loopback ports, configured from the
repository's own alert rules and Alertmanager config, changed only where a test must: where
notifications go, where the routing key is read from, and how long things wait."""

from __future__ import annotations

import copy
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cga_devstack._process import find_binary, free_port
from tests.support.processes import ServiceProcess

REPO_ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = REPO_ROOT / "monitoring" / "prometheus-rules"
ALERTMANAGER_CONFIG = REPO_ROOT / "monitoring" / "alertmanager" / "alertmanager.yml"
# The job label the chart's ServiceMonitor gives each service: the Service's name, which is
# the release's full name and the component.
JOB_PREFIX = "custom-gpt-adapter-"
# Prometheus Operator labels every series with the namespace of the pod it scraped.
NAMESPACE = "custom-gpt-adapter"


def job_name(service: str) -> str:
    return JOB_PREFIX + service


@dataclass(frozen=True)
class Shortened:
    """An alert whose ``for:`` a test changed, so the output can say so."""

    alert: str
    original: str
    shortened: str


def rule_files() -> list[Path]:
    files = sorted(RULES_DIR.glob("*.rules.yaml"))
    assert files, f"no *.rules.yaml in {RULES_DIR}"
    return files


def load_rules(source: Path) -> dict[str, Any]:
    rules = yaml.safe_load(source.read_text())
    assert isinstance(rules, dict), f"{source} is not a Prometheus rule file"
    assert isinstance(rules.get("groups"), list), f"{source} has no `groups: [...]`"
    return rules


def _alerting_rules(rules: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for group in rules["groups"]:
        yield from (rule for rule in group["rules"] if "alert" in rule)


def find_alert(alert: str) -> dict[str, Any]:
    """The rule of ``alert`` as the repository defines it."""
    for source in rule_files():
        for rule in _alerting_rules(load_rules(source)):
            if rule["alert"] == alert:
                return rule
    raise AssertionError(f"no alert {alert} in {RULES_DIR}")


def with_short_for(
    rules: Mapping[str, Any], alert: str, duration: str
) -> tuple[dict[str, Any], list[Shortened]]:
    """``rules`` with ``alert`` pending for ``duration`` instead of its real ``for:``, and
    evaluated at the global interval; every other rule is left as it is."""
    changed = copy.deepcopy(dict(rules))
    shortened = []
    for group in changed["groups"]:
        group.pop("interval", None)
    for rule in _alerting_rules(changed):
        if rule["alert"] == alert:
            shortened.append(Shortened(alert, str(rule.get("for", "0s")), duration))
            rule["for"] = duration
            rule.pop("keep_firing_for", None)
    return changed, shortened


def alertmanager_config(
    source: Path, *, pagerduty_url: str, routing_key_file: Path, slack_url: str, wait: str
) -> dict[str, Any]:
    """The Alertmanager config in ``source``, sending to local receivers and grouping after
    ``wait`` instead of its real group_wait/group_interval."""
    config: dict[str, Any] = yaml.safe_load(source.read_text())
    global_config = config.setdefault("global", {})
    for key in ("pagerduty_url", "slack_api_url", "slack_api_url_file"):
        global_config.pop(key, None)
    for receiver in config.get("receivers", []):
        for pagerduty in receiver.get("pagerduty_configs", []):
            for key in ("routing_key", "service_key", "service_key_file"):
                pagerduty.pop(key, None)
            pagerduty["routing_key_file"] = str(routing_key_file)
            pagerduty["url"] = pagerduty_url
        for slack in receiver.get("slack_configs", []):
            slack.pop("api_url_file", None)
            slack["api_url"] = slack_url
    _shorten_grouping(config["route"], wait)
    # Template paths are relative to the config file, which the test writes elsewhere.
    config["templates"] = [str(source.parent / path) for path in config.get("templates", [])]
    return config


def _shorten_grouping(route: dict[str, Any], wait: str, *, top: bool = True) -> None:
    # The top route sets both, since every route below inherits what it does not set.
    for key in ("group_wait", "group_interval"):
        if top or key in route:
            route[key] = wait
    for child in route.get("routes", []):
        _shorten_grouping(child, wait, top=False)


def prometheus_config(
    targets: Mapping[str, str], alertmanager: str, rules: list[Path], interval: str
) -> dict[str, Any]:
    """Scrape each ``{job: host:port}`` and evaluate ``rules`` every ``interval``."""
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(path) for path in rules],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "scrape_configs": [
            {
                "job_name": job,
                "static_configs": [{"targets": [target], "labels": {"namespace": NAMESPACE}}],
            }
            for job, target in targets.items()
        ],
    }


def write_yaml(path: Path, document: Mapping[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(dict(document), sort_keys=False))
    return path


def start_alertmanager(config: Path, work_dir: Path) -> ServiceProcess:
    return _start(
        "alertmanager",
        "prometheus-alertmanager",
        config,
        work_dir,
        [
            f"--storage.path={work_dir / 'alertmanager-data'}",
            "--cluster.listen-address=",  # one instance: no gossip port
        ],
    )


def start_prometheus(config: Path, work_dir: Path) -> ServiceProcess:
    return _start(
        "prometheus",
        "prometheus",
        config,
        work_dir,
        [f"--storage.tsdb.path={work_dir / 'prometheus-data'}"],
    )


def _start(
    name: str, program: str, config: Path, work_dir: Path, options: list[str]
) -> ServiceProcess:
    """``program`` (Prometheus or Alertmanager: they share the config and web flags) with
    ``config`` and ``options``, on a free loopback port, once ready."""
    port = free_port()
    command = [
        find_binary(program),
        f"--config.file={config}",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--web.external-url=http://127.0.0.1:{port}",
        *options,
    ]
    log_path = work_dir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    server = ServiceProcess(name, port, process, log_path)
    try:
        server.wait_until_live(path="/-/ready")
    except BaseException:
        server.stop()
        raise
    return server
