"""The live alert pipeline, from a failing Memory Bank to the on-call's pager.

The four services run as real processes with a mem0 Memory Bank simulated over HTTP; a real
Prometheus scrapes them and evaluates the repository's alert rules; a real Alertmanager runs the
repository's config and notifies PagerDuty's Events API, simulated on loopback. The Memory Bank
starts failing, GPT searches through the gateway open the circuit breaker, and
CustomGptAdapterCircuitBreakerOpen must page; the test prints how long that took.

Changed from production, and printed when the test runs: scrape and rule evaluation every 1 s;
the alert's ``for:`` shortened; Alertmanager's group_wait and group_interval 1 s; the breaker's
cooldown 5 s; the PagerDuty and Slack URLs and the routing key file pointing at local stand-ins."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.memory_proxy.mem0_simulator import Mem0Simulator, Mode, running_simulator
from tests.monitoring import alerting
from tests.monitoring.alerting import Shortened
from tests.monitoring.receivers import NotificationReceiver
from tests.support.actions import GptUser, sign_in
from tests.support.auth import admin_client, register_app
from tests.support.env import TestStack
from tests.support.metrics import Exposition
from tests.support.processes import ServiceProcess, start_actions_stack, wait_for
from tests.support.writes import start_worker, worker_environment

pytestmark = pytest.mark.e2e

ALERT = "CustomGptAdapterCircuitBreakerOpen"
BACKEND = "mem0"
MEM0_API_KEY = "m0-alert-pipeline-key"
INTERVAL = "1s"  # scrape and rule evaluation
SHORT_FOR = "2s"  # still long enough to go through `pending` on the way to `firing`
GROUP_WAIT = "1s"
BREAKER_COOLDOWN = "5s"  # production: 15 s; only delays the recovery half of the test
BREAKER_OPEN = 2.0
BREAKER_SERIES = (
    f'cga_circuit_breaker_state{{job="{alerting.job_name("memory-proxy")}", backend="{BACKEND}"}}'
)
PAGE_TIMEOUT = 60.0  # a bound for a failing run, not a speed requirement


@dataclass(frozen=True)
class Pipeline:
    services: dict[str, ServiceProcess]
    simulator: Mem0Simulator
    prometheus: ServiceProcess
    receiver: NotificationReceiver
    routing_key: str
    user: GptUser

    def search(self) -> httpx.Response:
        return httpx.post(
            self.services["gateway"].base_url + "/api/v1/memories/search",
            json={"query": "what tea do I drink?"},
            headers=self.user.headers,
            timeout=30,
        )

    def breaker_state(self) -> float:
        """The breaker as memory-proxy reports it on /metrics right now."""
        metrics = Exposition.scrape(self.services["memory-proxy"])
        return metrics.value("cga_circuit_breaker_state", backend=BACKEND)

    def prometheus_values(self, expression: str) -> list[str]:
        """The values of an instant query against the test's Prometheus, one per series."""
        response = httpx.get(
            self.prometheus.base_url + "/api/v1/query", params={"query": expression}, timeout=5
        )
        assert response.status_code == 200, response.text
        return [series["value"][1] for series in response.json()["data"]["result"]]

    def scrape_health(self) -> dict[str, str]:
        """``{job: health}`` of every active scrape target."""
        targets = self.prometheus.get("/api/v1/targets").json()["data"]["activeTargets"]
        return {target["labels"]["job"]: target["health"] for target in targets}


def _start_services(
    stack: TestStack, simulator: Mem0Simulator, log_dir: Path, cleanup: ExitStack
) -> dict[str, ServiceProcess]:
    environment = {
        **stack.environment(),
        **simulator.backend_environment(),
        "CGA_MEMORY_PROXY_BREAKER_COOLDOWN": BREAKER_COOLDOWN,
    }
    services = start_actions_stack(environment, log_dir)
    for service in services.values():
        cleanup.callback(service.stop)
    worker = start_worker(
        worker_environment(environment, services["memory-proxy"].base_url), log_dir, "worker"
    )
    cleanup.callback(worker.stop)
    return {**services, "worker": worker}


def _prometheus_rules(work_dir: Path) -> tuple[list[Path], list[Shortened]]:
    """The repository's rule files, written with the alert under test's ``for:`` shortened."""
    rules_dir = work_dir / "rules"
    rules_dir.mkdir()
    written, shortened = [], []
    for source in alerting.rule_files():
        rules, changed = alerting.with_short_for(alerting.load_rules(source), ALERT, SHORT_FOR)
        written.append(alerting.write_yaml(rules_dir / source.name, rules))
        shortened += changed
    assert shortened, f"no alert {ALERT} in {alerting.RULES_DIR}"
    return written, shortened


def _describe_changes(shortened: list[Shortened]) -> str:
    fors = ", ".join(f"{s.alert} for: {s.original} -> {s.shortened}" for s in shortened)
    return (
        f"\nalert pipeline test settings (shortened for the test, not production values): "
        f"scrape and rule evaluation every {INTERVAL}; {fors}; "
        f"Alertmanager group_wait and group_interval {GROUP_WAIT}; "
        f"memory-proxy breaker cooldown {BREAKER_COOLDOWN}"
    )


@pytest.fixture(scope="module")
def pipeline(stack: TestStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    work_dir = tmp_path_factory.mktemp("alert-pipeline")
    with ExitStack() as cleanup:
        simulator = cleanup.enter_context(running_simulator(MEM0_API_KEY))
        services = _start_services(stack, simulator, work_dir, cleanup)

        receiver = NotificationReceiver()
        receiver.start()
        cleanup.callback(receiver.stop)
        routing_key = secrets.token_hex(16)
        routing_key_file = work_dir / "pagerduty-routing-key"
        routing_key_file.write_text(routing_key)
        alertmanager_config = alerting.alertmanager_config(
            alerting.ALERTMANAGER_CONFIG,
            pagerduty_url=receiver.pagerduty_url,
            routing_key_file=routing_key_file,
            slack_url=receiver.slack_url,
            wait=GROUP_WAIT,
        )
        alertmanager = alerting.start_alertmanager(
            alerting.write_yaml(work_dir / "alertmanager.yml", alertmanager_config), work_dir
        )
        cleanup.callback(alertmanager.stop)

        rule_files, shortened = _prometheus_rules(work_dir)
        targets = {
            alerting.job_name(name): f"127.0.0.1:{service.port}"
            for name, service in services.items()
        }
        prometheus_config = alerting.prometheus_config(
            targets, f"127.0.0.1:{alertmanager.port}", rule_files, INTERVAL
        )
        prometheus = alerting.start_prometheus(
            alerting.write_yaml(work_dir / "prometheus.yml", prometheus_config), work_dir
        )
        cleanup.callback(prometheus.stop)
        print(_describe_changes(shortened))  # noqa: T201 - make alert-test runs with -s

        auth = services["auth"]
        with admin_client(f"http://127.0.0.1:{auth.admin_port}") as admin:
            user = sign_in(auth.base_url, admin, register_app(admin, scopes=["memories:read"]))
        yield Pipeline(services, simulator, prometheus, receiver, routing_key, user)


def _names_the_alert(event: dict[str, Any]) -> bool:
    return ALERT in json.dumps(event)


def _open_the_breaker(pipeline: Pipeline) -> None:
    """Searches through the gateway, as a GPT would send them, until the breaker opens."""
    for _ in range(20):
        answer = pipeline.search()
        assert answer.status_code >= 500, answer.text
        if pipeline.breaker_state() == BREAKER_OPEN:
            return
    raise AssertionError("the breaker did not open after 20 failing searches")


def _search_as_a_gpt_retries(pipeline: Pipeline, attempts: int = 5) -> httpx.Response:
    """Search, waiting Retry-After seconds after each refusal, as ChatGPT backs off."""
    for _ in range(attempts - 1):
        answer = pipeline.search()
        if answer.status_code < 500:
            return answer
        time.sleep(float(answer.headers.get("Retry-After", "1")))
    return pipeline.search()


@pytest.fixture(scope="module")
def page(pipeline: Pipeline) -> dict[str, Any]:
    """The PagerDuty event sent when the Memory Bank fails, once the pipeline has seen it
    healthy."""
    wait_for(
        "Prometheus to see the breaker closed",
        lambda: pipeline.prometheus_values(BREAKER_SERIES) == ["0"],
    )
    healthy = pipeline.search()
    assert healthy.status_code == 200, healthy.text

    faulted_at = time.monotonic()
    pipeline.simulator.fail(Mode.SERVER_ERROR)
    _open_the_breaker(pipeline)
    received = pipeline.receiver.wait_for_page(
        f"triggering {ALERT}",
        lambda event: event["event_action"] == "trigger" and _names_the_alert(event),
        PAGE_TIMEOUT,
    )
    print(  # noqa: T201
        f"\npage arrived {received.arrived_at - faulted_at:.1f} s "
        "after the Memory Bank started failing"
    )
    return received.body


def test_prometheus_scrapes_every_service_under_the_chart_job_names(pipeline: Pipeline) -> None:
    expected = {
        "custom-gpt-adapter-gateway": "up",
        "custom-gpt-adapter-auth": "up",
        "custom-gpt-adapter-memory-proxy": "up",
        "custom-gpt-adapter-worker": "up",
    }

    wait_for("every target to be scraped", lambda: pipeline.scrape_health() == expected)


def test_an_open_breaker_pages_with_the_routing_key_from_the_secret(
    page: dict[str, Any], pipeline: Pipeline
) -> None:
    assert page["routing_key"] == pipeline.routing_key
    assert page["event_action"] == "trigger"
    assert page["dedup_key"]


def test_the_page_is_critical_and_names_the_breaker_and_the_backend(page: dict[str, Any]) -> None:
    payload = page["payload"]
    assert payload["severity"] == "critical"
    assert "breaker" in payload["summary"].lower()
    assert BACKEND in payload["summary"]


def test_the_page_links_to_the_runbook(page: dict[str, Any]) -> None:
    runbook_url = alerting.find_alert(ALERT)["annotations"]["runbook_url"]

    assert runbook_url.endswith(f"/docs/runbooks/{ALERT}.md")
    assert runbook_url in [link["href"] for link in page.get("links", [])]


def test_the_page_resolves_when_the_memory_bank_recovers(
    page: dict[str, Any], pipeline: Pipeline
) -> None:
    pipeline.simulator.heal()
    # The first search after the breaker's cooldown is its trial call, and closes it.
    assert _search_as_a_gpt_retries(pipeline).status_code == 200
    closed_at = time.monotonic()

    resolved = pipeline.receiver.wait_for_page(
        f"resolving {ALERT}",
        lambda event: (
            event["event_action"] == "resolve" and event["dedup_key"] == page["dedup_key"]
        ),
        PAGE_TIMEOUT,
    )

    assert resolved.body["routing_key"] == pipeline.routing_key
    print(  # noqa: T201
        f"\nresolve arrived {resolved.arrived_at - closed_at:.1f} s after the breaker closed"
    )
