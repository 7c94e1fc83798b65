"""The bench's results as one report: the JSON record (docs/performance/bench.json) and the
generated ``bench`` section of docs/performance.md, both built from the same objects."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from scripts.bench.figures import Figure, Layer
from scripts.bench.stats import number, replicas
from scripts.perf.report import markdown_table

# The sizing table: concurrent GPT users, and how busy a replica's core may get.
SIZING_USERS = (100, 1_000, 10_000)
TARGET_UTILIZATION = 0.6
SIZED_SERVICES = ("gateway", "memory-proxy", "worker")
NOT_SINGLE_CORE = frozenset({"postgresql", "k6"})


@dataclass(frozen=True)
class BenchReport:
    date: str
    machine: dict[str, str]
    commit: str
    settings: dict[str, Any]
    figures: list[Figure]
    latency_budget: list[Layer]
    memory_bank_impact: dict[str, dict[str, float]]
    # CPU µs per request of each process, by run ("search", "write", "load", ...).
    cpu_us_per_request: dict[str, dict[str, float]]
    # GPT requests per concurrent user per second in the load run (think time included).
    requests_per_user_second: float
    # scripts/perf/search_cache.py's record: each mode's figures and the break-even hit ratios.
    search_cache: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        record = asdict(self)
        for entry, figure in zip(record["figures"], self.figures, strict=True):
            entry["goal"] = figure.goal.describe()
            entry["verdict"] = figure.verdict
        record["sizing"] = self.sizing()
        cleaned: dict[str, Any] = _nan_as_null(record)
        return cleaned

    def sizing(self) -> dict[str, dict[str, int]]:
        """Replicas of each service per number of concurrent GPT users, from the CPU each
        spent per request in the load run."""
        cost = self.cpu_us_per_request.get("load", {})
        return {
            service: {
                str(users): replicas(
                    users * self.requests_per_user_second,
                    cost[service] / 1e6,
                    TARGET_UTILIZATION,
                )
                for users in SIZING_USERS
            }
            for service in SIZED_SERVICES
            if service in cost
        }

    def headline(self) -> str:
        met = sum(figure.met for figure in self.figures)
        return (
            f"Measured {self.date} on {self.machine['cpu']}, {self.machine['cores']} cores,"
            f" {self.machine['kernel']}, Python {self.machine['python']}; commit"
            f" `{self.commit}`. {met} of {len(self.figures)} goals met."
        )

    def figures_table(self) -> str:
        rows = [
            [
                figure.title,
                f"{number(figure.value)}{figure.goal.unit}" if figure.measured else "—",
                figure.goal.describe(),
                figure.verdict if figure.met else f"**{figure.verdict}**",
            ]
            for figure in self.figures
        ]
        return markdown_table(["figure", "value", "goal", "verdict"], rows)

    def markdown(self) -> str:
        parts = [
            "## Measured by `make bench`",
            f"{self.headline()} Settings: {_settings_line(self.settings)}.",
            "### Figures",
            self.figures_table(),
            "### Runs behind each figure",
            _runs_table(self.figures),
            "### Latency budget of one search, by layer (1 connection)",
            _budget_table(self.latency_budget),
            "### Memory Bank impact: upstream calls per GPT request",
            _impact_table(self.memory_bank_impact),
        ]
        if self.search_cache:
            parts += [
                "### Search cache: one search at a time, at memory-proxy (the cache is off unless"
                " `CGA_MEMORY_PROXY_SEARCH_CACHE_TTL` is set)",
                _search_cache_table(self.search_cache),
            ]
        parts += [
            "### CPU per request, by process and run",
            _cpu_table(self.cpu_us_per_request),
            "### What saturates first",
            _saturation_lines(self.cpu_us_per_request),
        ]
        sizing = self.sizing()
        if sizing:
            parts += [
                "### Replicas per concurrent GPT users",
                f"From the load run: {self.requests_per_user_second:.2f} requests per user per"
                f" second, each replica's core at most {TARGET_UTILIZATION:.0%} busy.",
                _sizing_table(sizing),
            ]
        if self.notes:
            parts += ["### Notes", "\n".join(f"- {note}" for note in self.notes)]
        return "\n\n".join(parts)


def _nan_as_null(value: Any) -> Any:
    """JSON has no NaN: what was not measured is null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _nan_as_null(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_nan_as_null(item) for item in value]
    return value


def _settings_line(settings: dict[str, Any]) -> str:
    return ", ".join(f"`{name}={value}`" for name, value in settings.items())


def _runs_table(figures: list[Figure]) -> str:
    rows = []
    for figure in figures:
        for index, run in enumerate(figure.runs):
            rows.append([figure.title if index == 0 else "", run.name, run.result])
        if figure.note:
            rows.append(["", "", figure.note])
    return markdown_table(["figure", "run", "raw numbers"], rows)


def _budget_table(layers: list[Layer]) -> str:
    rows = [
        [
            layer.name,
            number(layer.latency_ms.p50),
            number(layer.latency_ms.p95),
            number(layer.latency_ms.p99),
        ]
        for layer in layers
    ]
    return markdown_table(["layer", "p50 ms", "p95 ms", "p99 ms"], rows)


def _impact_table(impact: dict[str, dict[str, float]]) -> str:
    rows = [
        [
            endpoint,
            number(sum(routes.values())),
            ", ".join(f"{route}: {number(count)}" for route, count in routes.items()) or "none",
        ]
        for endpoint, routes in impact.items()
    ]
    return markdown_table(["endpoint", "upstream calls", "calls the Memory Bank receives"], rows)


_CACHE_MODES = {
    "off": "without the cache",
    "hit": "cache on, the same search again (hits)",
    "miss": "cache on, a new search each time (misses)",
}


def _search_cache_table(record: dict[str, Any]) -> str:
    rows = []
    for mode, description in _CACHE_MODES.items():
        figures = record["modes"][mode]
        latency, cpu = figures["latency_ms"], figures["cpu_us_per_search"]
        rows.append(
            [
                description,
                f"{figures['memory_bank_searches']:,} of {figures['searches']:,}",
                f"{number(latency['p50'])} / {number(latency['p95'])} / {number(latency['p99'])}",
                ", ".join(f"{name} {_cpu_cell(us)}" for name, us in cpu.items() if name != "total"),
                _cpu_cell(cpu["total"]),
            ]
        )
    table = markdown_table(
        ["searches", "reached the Memory Bank", "p50 / p95 / p99 ms", "CPU by process", "CPU"],
        rows,
    )
    break_even = record["break_even_hit_ratio"]
    return (
        f"{table}\n\nThe cache pays for itself above these shares of hits, with this stub as the"
        f" Memory Bank: {_share(break_even['cpu'])} by CPU, {_share(break_even['latency_p50'])}"
        " by p50 latency. A remote Memory Bank makes a hit save its whole call."
    )


def _share(ratio: float | None) -> str:
    return "never (hits saved nothing)" if ratio is None else f"{ratio:.0%}"


def _cpu_table(cpu: dict[str, dict[str, float]]) -> str:
    processes = sorted({name for per_run in cpu.values() for name in per_run})
    rows = [
        [run, *(_cpu_cell(per_run.get(name)) for name in processes)] for run, per_run in cpu.items()
    ]
    return markdown_table(["run", *processes], rows)


def _cpu_cell(microseconds: float | None) -> str:
    return "—" if microseconds is None else f"{microseconds:,.0f} µs"


def _saturation_lines(cpu: dict[str, dict[str, float]]) -> str:
    """Per run, the single-process service that spends the most CPU per request: it reaches
    its one core first (PostgreSQL spreads over cores, and k6 is the generator)."""
    lines = []
    for run, per_process in cpu.items():
        services = {name: us for name, us in per_process.items() if name not in NOT_SINGLE_CORE}
        if not services:
            continue
        busiest = max(services, key=lambda name: services[name])
        ceiling = 1e6 / services[busiest] if services[busiest] > 0 else float("nan")
        lines.append(
            f"- {run}: {busiest}, {services[busiest]:,.0f} µs per request: at most"
            f" ~{number(ceiling)} requests/s per process"
        )
    return "\n".join(lines)


def _sizing_table(sizing: dict[str, dict[str, int]]) -> str:
    rows = [
        [service, *(str(per_users[str(users)]) for users in SIZING_USERS)]
        for service, per_users in sizing.items()
    ]
    return markdown_table(["service", *(f"{users:,} users" for users in SIZING_USERS)], rows)
