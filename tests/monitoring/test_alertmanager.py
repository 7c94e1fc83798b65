"""monitoring/alertmanager/alertmanager.yml: valid for amtool, routing each severity to its
receiver, reading its secrets from files, and, run by a real Alertmanager, muting what its
inhibition rules say and notifying PagerDuty and Slack (simulated from their documented
contracts in tests/monitoring/receivers.py) with the alerts' texts and runbooks."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import yaml

from scripts.monitoring import rules_check
from scripts.monitoring.rule_files import ROOT, load_rule_files
from tests.monitoring import alerting
from tests.monitoring.receivers import NotificationReceiver
from tests.support.processes import ServiceProcess, wait_for

CONFIG = ROOT / rules_check.ALERTMANAGER_CONFIG
SECRETS_DIR = "/etc/alertmanager/secrets/custom-gpt-adapter-alerting/"
ROUTE_CASES = rules_check.route_cases(ROOT, load_rule_files())
GROUP_WAIT = "1s"
DELIVERY_TIMEOUT = 30.0  # a bound for a failing run, not a speed requirement


def test_amtool_accepts_the_config() -> None:
    assert rules_check.amtool_check(CONFIG) == []


@pytest.mark.parametrize("case", ROUTE_CASES, ids=str)
def test_each_alert_reaches_the_receiver_its_severity_names(
    case: rules_check.RouteCase,
) -> None:
    assert rules_check.route_problems(CONFIG, [case]) == []


def test_a_route_to_the_wrong_receiver_is_reported() -> None:
    page = rules_check.RouteCase(
        {"alertname": "CustomGptAdapterWorkerDown", "severity": "critical"}, ("slack",)
    )

    (problem,) = rules_check.route_problems(CONFIG, [page])

    assert "expected ['slack']" in problem
    assert "pagerduty" in problem


def _receiver_configs(config: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for receiver in config["receivers"]:
        for kind, configs in receiver.items():
            if kind.endswith("_configs"):
                yield from ((kind, entry) for entry in configs)


def test_the_routing_key_and_the_webhook_come_from_one_mounted_secret() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    found = dict(_receiver_configs(config))

    assert set(found) == {"pagerduty_configs", "slack_configs"}
    assert found["pagerduty_configs"]["routing_key_file"].startswith(SECRETS_DIR)
    assert found["slack_configs"]["api_url_file"].startswith(SECRETS_DIR)
    inline = {"routing_key", "service_key", "api_url", "slack_api_url", "pagerduty_url"}
    for _, entry in _receiver_configs(config):
        assert not inline & set(entry)
    assert not inline & set(config.get("global", {}))


@dataclass(frozen=True)
class Alert:
    name: str
    severity: str
    namespace: str
    extra: tuple[tuple[str, str], ...] = ()

    @property
    def labels(self) -> dict[str, str]:
        labels = {"alertname": self.name, "severity": self.severity, "namespace": self.namespace}
        return labels | dict(self.extra)

    @property
    def summary(self) -> str:
        return f"{self.name} {self.severity} in {self.namespace}"

    @property
    def runbook_url(self) -> str:
        return f"https://runbooks.example.org/{self.name}.md"

    def posted(self) -> dict[str, Any]:
        """The alert as Prometheus posts it to Alertmanager's API (v2)."""
        return {
            "labels": self.labels,
            "annotations": {
                "summary": self.summary,
                "description": f"What {self.name} means in {self.namespace}.",
                "runbook_url": self.runbook_url,
            },
            "startsAt": datetime.now(UTC).isoformat(),
        }


PAGE = Alert("CustomGptAdapterErrorBudgetBurn", "critical", "cga", (("long_window", "1h"),))
TICKET = Alert("CustomGptAdapterErrorBudgetBurn", "warning", "cga", (("long_window", "1d"),))
WORKER_DOWN = Alert("CustomGptAdapterWorkerDown", "critical", "cga")
BACKLOG = Alert("CustomGptAdapterQueueBackup", "warning", "cga")
OTHER_BACKLOG = Alert("CustomGptAdapterQueueBackup", "warning", "staging")
BREAKER = Alert("CustomGptAdapterCircuitBreakerOpen", "critical", "cga", (("backend", "mem0"),))
ERRORS = Alert(
    "CustomGptAdapterHighErrorRate", "warning", "cga", (("job", "custom-gpt-adapter-gateway"),)
)
DEAD_LETTERS = Alert("CustomGptAdapterDeadLetters", "warning", "cga")
ALERTS = (PAGE, TICKET, WORKER_DOWN, BACKLOG, OTHER_BACKLOG, BREAKER, ERRORS, DEAD_LETTERS)
PAGES = {PAGE, WORKER_DOWN, BREAKER}
INHIBITED = {TICKET, BACKLOG, ERRORS}
TO_SLACK = {OTHER_BACKLOG, DEAD_LETTERS}


@dataclass(frozen=True)
class Notified:
    alertmanager: ServiceProcess
    receiver: NotificationReceiver
    routing_key: str


@pytest.fixture(scope="module")
def notified(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Notified]:
    """A real Alertmanager with the repository's config, sent every alert of ALERTS at once."""
    work_dir = tmp_path_factory.mktemp("alertmanager")
    receiver = NotificationReceiver()
    receiver.start()
    try:
        routing_key = secrets.token_hex(16)
        routing_key_file = work_dir / "pagerduty-routing-key"
        routing_key_file.write_text(routing_key)
        config = alerting.alertmanager_config(
            CONFIG,
            pagerduty_url=receiver.pagerduty_url,
            routing_key_file=routing_key_file,
            slack_url=receiver.slack_url,
            wait=GROUP_WAIT,
        )
        config_path = alerting.write_yaml(work_dir / "alertmanager.yml", config)
        alertmanager = alerting.start_alertmanager(config_path, work_dir)
        try:
            posted = httpx.post(
                f"{alertmanager.base_url}/api/v2/alerts",
                json=[alert.posted() for alert in ALERTS],
                timeout=10,
            )
            assert posted.status_code == 200, posted.text
            yield Notified(alertmanager, receiver, routing_key)
        finally:
            alertmanager.stop()
    finally:
        receiver.stop()


def _states(alertmanager: ServiceProcess) -> dict[Alert, dict[str, Any]]:
    listed = httpx.get(f"{alertmanager.base_url}/api/v2/alerts", timeout=10).json()
    by_labels = {tuple(sorted(alert.labels.items())): alert for alert in ALERTS}
    return {by_labels[tuple(sorted(a["labels"].items()))]: a["status"] for a in listed}


def test_inhibition_mutes_the_alerts_a_firing_cause_explains(notified: Notified) -> None:
    wait_for("Alertmanager to hold every alert", lambda: len(_states(notified.alertmanager)) == 8)
    states = _states(notified.alertmanager)

    muted = {alert for alert, status in states.items() if status["inhibitedBy"]}

    assert muted == INHIBITED
    for alert in INHIBITED:
        assert states[alert]["state"] == "suppressed"


def _slack_titles(receiver: NotificationReceiver) -> list[str]:
    return [
        attachment["title"]
        for message in receiver.slack_messages
        for attachment in message.body["attachments"]
    ]


def test_critical_alerts_page_with_the_routing_key_and_the_runbook(notified: Notified) -> None:
    receiver = notified.receiver
    wait_for("the pages", lambda: len(receiver.pagerduty_events) >= len(PAGES), DELIVERY_TIMEOUT)

    events = {event.body["payload"]["summary"]: event.body for event in receiver.pagerduty_events}

    assert set(events) == {f"[FIRING:1] {alert.summary} (cga)" for alert in PAGES}
    for alert in PAGES:
        event = events[f"[FIRING:1] {alert.summary} (cga)"]
        assert event["routing_key"] == notified.routing_key
        assert event["payload"]["severity"] == "critical"
        assert {"href": alert.runbook_url, "text": "Runbook"} in event["links"]
    assert receiver.rejected == []


def test_warnings_go_to_slack_with_their_texts_and_the_muted_ones_do_not(
    notified: Notified,
) -> None:
    receiver = notified.receiver
    wait_for(
        "the Slack messages",
        lambda: len(receiver.slack_messages) >= len(TO_SLACK),
        DELIVERY_TIMEOUT,
    )
    # The pages were flushed after the same group_wait as any muted warning would have been.
    wait_for("the pages", lambda: len(receiver.pagerduty_events) >= len(PAGES), DELIVERY_TIMEOUT)

    titles = _slack_titles(receiver)

    expected = {f"[FIRING:1] {alert.summary} ({alert.namespace})" for alert in TO_SLACK}
    assert sorted(titles) == sorted(expected)
    (dead_letters,) = (
        attachment["text"]
        for message in receiver.slack_messages
        for attachment in message.body["attachments"]
        if DEAD_LETTERS.summary in attachment["title"]
    )
    assert f"*{DEAD_LETTERS.summary}*" in dead_letters
    assert f"What {DEAD_LETTERS.name} means in cga." in dead_letters
    assert f"<{DEAD_LETTERS.runbook_url}|Runbook>" in dead_letters
