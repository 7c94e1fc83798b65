"""The SLO dashboard of the Actions API (the gateway's /api/v1/* routes), with the objectives
and alert windows of monitoring/prometheus-rules/slo.rules.yaml: for each objective its SLI, the
error budget left over 30 days, and the burn rates the multi-window alerts compare."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from monitoring.grafana.model import GREEN, Json, Panel, Query, Row, Threshold, dashboard
from monitoring.grafana.promql import (
    ACTIONS_ROUTES,
    NAMESPACE,
    increase,
    job,
    share,
    summed,
)

UID = "cga-slo"
DURATION = "cga_http_request_duration_seconds"
SLO_PERIOD = "30d"
ACTIONS = [job("gateway"), ACTIONS_ROUTES]
# The burn rates the alerts page at (the first two) or open a ticket at, each over a long
# window confirmed by a short one; slowest first.
ALERT_WINDOWS = (("3d", "6h", 1.0), ("1d", "2h", 3.0), ("6h", "30m", 6.0), ("1h", "5m", 14.4))
BURN_RATE_STEPS = [
    GREEN,
    *(
        Threshold(color, factor)
        for color, (_, _, factor) in zip(
            ("yellow", "orange", "red", "dark-red"), ALERT_WINDOWS, strict=True
        )
    ),
]


@dataclass(frozen=True)
class Objective:
    name: str
    target: float
    meaning: str
    # The share of bad requests over a window (a PromQL range), from the raw series.
    bad_over: Callable[[str], str]
    # The same share as the SLO rules record it: `<record><window>`, e.g. `…:ratio_rate1h`.
    record: str

    @property
    def budget(self) -> float:
        return round(1 - self.target, 6)


def _errors_over(window: str) -> str:
    return share(
        summed(increase("cga_http_requests_total", [*ACTIONS, 'status="5xx"'], window)),
        summed(increase("cga_http_requests_total", ACTIONS, window)),
    )


def _slow_over(window: str) -> str:
    fast = summed(increase(f"{DURATION}_bucket", [*ACTIONS, 'le="1.0"'], window))
    return f"1 - (\n{fast}\n/\n{summed(increase(f'{DURATION}_count', ACTIONS, window))}\n)"


AVAILABILITY = Objective(
    "Availability",
    0.999,
    "of Actions requests answer without a 5xx",
    _errors_over,
    "namespace:cga_actions_requests_errors:ratio_rate",
)
LATENCY = Objective(
    "Latency",
    0.99,
    "of Actions requests answer within 1 s",
    _slow_over,
    "namespace:cga_actions_requests_slow:ratio_rate",
)


def _percent(value: float) -> str:
    return f"{value * 100:g} %"


def _sli(objective: Objective, window: str, period: str, description: str) -> Panel:
    """The share of good requests over ``window``, which the title calls ``period``; green
    from the objective's target up."""
    return Panel(
        f"{objective.name} SLI ({period})",
        description,
        [Query(f"1 - (\n{objective.bad_over(window)}\n)")],
        kind="stat",
        unit="percentunit",
        decimals=3,
        width=6,
        height=5,
        thresholds=[Threshold("red"), Threshold("green", objective.target)],
    )


def _objective_row(objective: Objective) -> Row:
    budget_left = f"1 - (\n{objective.bad_over(SLO_PERIOD)}\n) / {objective.budget}"
    return Row(
        f"{objective.name}: {_percent(objective.target)} {objective.meaning} ({SLO_PERIOD})",
        [
            _sli(
                objective,
                SLO_PERIOD,
                SLO_PERIOD,
                f"Share of Actions requests that were good over {SLO_PERIOD}.",
            ),
            _sli(
                objective,
                "$__range",
                "dashboard range",
                "Share of Actions requests that were good over the time range picked above.",
            ),
            Panel(
                f"{objective.name} error budget left",
                f"What is left of the {SLO_PERIOD} error budget ({_percent(objective.budget)} "
                "of requests may be bad); below 0 the objective is missed.",
                [Query(budget_left)],
                kind="stat",
                unit="percentunit",
                decimals=1,
                width=6,
                height=5,
                thresholds=[Threshold("red"), Threshold("orange", 0), Threshold("green", 0.25)],
            ),
            Panel(
                f"{objective.name} error budget left over time",
                f"The {SLO_PERIOD} error budget left, at each moment of the range.",
                [Query(budget_left, "budget left")],
                unit="percentunit",
                width=6,
                height=5,
                threshold_lines=True,
                thresholds=[Threshold("red"), Threshold("green", 0)],
            ),
            Panel(
                f"{objective.name} burn rate",
                "How many times faster than allowed the budget burns, over each alert window "
                "(recorded by the SLO rules). An alert fires when a long window and its short "
                "one both burn faster than its factor: "
                + ", ".join(
                    f"{factor:g} ({long}, {short})" for long, short, factor in ALERT_WINDOWS
                )
                + ".",
                [
                    Query(
                        f"{objective.record}{window}{{{NAMESPACE}}} / {objective.budget}",
                        window,
                    )
                    for window in _windows()
                ],
                width=24,
                minimum=0,
                threshold_lines=True,
                thresholds=BURN_RATE_STEPS,
            ),
        ],
    )


def _windows() -> list[str]:
    """Every window of the alerts, shortest first."""
    windows = {window for pair in ALERT_WINDOWS for window in pair[:2]}
    return sorted(windows, key=_seconds)


def _seconds(window: str) -> int:
    return int(window[:-1]) * {"m": 60, "h": 3600, "d": 86400}[window[-1]]


def slo() -> Json:
    return dashboard(
        uid=UID,
        title="custom-gpt-adapter / SLOs",
        description="Availability and latency objectives of the Actions API: SLIs, error "
        "budgets and burn rates.",
        namespace_source=f"cga_http_requests_total{{{job('gateway')}}}",
        rows=[_objective_row(AVAILABILITY), _objective_row(LATENCY)],
    )
