"""A chaos run's results: the record (``docs/performance/chaos.json``) and its section of
``docs/performance.md``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from scripts.chaos.accounting import (
    Answer,
    ErrorRate,
    Probe,
    Window,
    WriteVerdict,
    error_rate,
    error_recovery,
    readiness_recovery,
    recovery,
    service_ready_after,
    tally,
    unready,
)
from scripts.chaos.faults import FaultRun
from scripts.perf.report import markdown_table

LISTED_WRITES = 20  # lost or duplicated writes named in the record, at most


@dataclass(frozen=True)
class Method:
    """How the run was made; the fields are the record's ``method``."""

    vus: int
    users: int
    writes_per_second: float
    baseline_seconds: float
    observe_seconds: float
    before_seconds: float
    bucket_seconds: float
    tolerance: float
    drain_within_seconds: float


def rate_record(rate: ErrorRate) -> dict[str, Any]:
    return {
        "requests": rate.requests,
        "failed": rate.failed,
        "rate": round(rate.rate, 5),
        "failures_by_status": {str(status): count for status, count in rate.failures.items()},
    }


def seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def fault_record(
    run: FaultRun,
    method: Method,
    answers: Sequence[Answer],
    probes: Sequence[Probe],
    services: Sequence[str],
    threshold: float,
    verdicts: Sequence[WriteVerdict],
) -> dict[str, Any]:
    errors_back = error_recovery(answers, run.after, threshold, method.bucket_seconds)
    ready_back = readiness_recovery(probes, services, run.after)
    writes = tally(verdicts, run.whole)
    return {
        "name": run.fault.name,
        "description": run.fault.description,
        "lasted_seconds": round(run.during.seconds, 1),
        "observed_seconds": round(run.after.seconds, 1),
        "error_rate": {
            "before": rate_record(error_rate(answers, run.before(method.before_seconds))),
            "during": rate_record(error_rate(answers, run.during)),
            "after": rate_record(error_rate(answers, run.after)),
        },
        "unready_services": {
            service: {str(status): count for status, count in statuses.items()}
            for service, statuses in unready(probes, run.whole).items()
        },
        "ready_by_service": {
            service: seconds(service_ready_after(probes, service, run.after))
            for service in services
        },
        "errors_recovered_seconds": seconds(errors_back),
        "ready_recovered_seconds": seconds(ready_back),
        "recovered_seconds": seconds(recovery(errors_back, ready_back)),
        "writes": asdict(writes),
    }


def write_record(verdicts: Sequence[WriteVerdict], client_keys: set[str]) -> dict[str, Any]:
    lost = [v for v in verdicts if v.lost]
    duplicated = [v for v in verdicts if v.duplicates]

    def named(chosen: list[WriteVerdict]) -> list[dict[str, Any]]:
        return [
            {
                "key": v.write.key,
                "job_ids": sorted(v.write.job_ids),
                "statuses": list(v.statuses),
                "stored": v.stored,
            }
            for v in chosen[:LISTED_WRITES]
        ]

    return {
        **asdict(tally(verdicts)),
        "by_writer": sum(v.write.key in client_keys for v in verdicts),
        "by_load": sum(v.write.key not in client_keys for v in verdicts),
        "lost_writes": named(lost),
        "duplicated_writes": named(duplicated),
    }


def build_record(
    *,
    method: Method,
    generated_at: str,
    baseline: Window,
    runs: Sequence[FaultRun],
    answers: Sequence[Answer],
    probes: Sequence[Probe],
    services: Sequence[str],
    verdicts: Sequence[WriteVerdict],
    client_keys: set[str],
    drained: bool,
    k6_exit_status: int,
) -> dict[str, Any]:
    base = error_rate(answers, baseline)
    threshold = base.rate + method.tolerance
    return {
        "generated_at": generated_at,
        "method": asdict(method),
        "memory_bank": "mem0 REST server (simulated)",
        "baseline": {"seconds": round(baseline.seconds, 1), **rate_record(base)},
        "degraded_above": round(threshold, 5),
        "faults": [
            fault_record(run, method, answers, probes, services, threshold, verdicts)
            for run in runs
        ],
        "writes": write_record(verdicts, client_keys),
        "drained": drained,
        "k6_exit_status": k6_exit_status,
    }


def percent(rate: dict[str, Any]) -> str:
    return f"{rate['rate'] * 100:.2f} %"


def after_seconds(value: float | None, observed: float) -> str:
    return f"not within {observed:g} s" if value is None else f"{value:g} s"


def failures(rate: dict[str, Any]) -> str:
    return statuses_text(rate["failures_by_status"]) or "—"


def statuses_text(by_status: dict[str, int]) -> str:
    return ", ".join(
        f"{'no answer' if status == '0' else status}: {count}"
        for status, count in by_status.items()
    )


def unready_text(fault: dict[str, Any]) -> str:
    """Which services failed their probes, how, and which were still failing at the end."""
    failed = fault["unready_services"]
    if not failed:
        return "none"
    stuck = [name for name, back in fault["ready_by_service"].items() if back is None]
    text = "; ".join(f"{name} ({statuses_text(by_status)})" for name, by_status in failed.items())
    return text + (f" — still not ready at the end: {', '.join(stuck)}" if stuck else "")


def internal_errors_text(record: dict[str, Any]) -> str:
    """500s are bugs, whatever the fault: an outage should answer 503 with Retry-After."""
    counts = {
        fault["name"]: sum(
            rate["failures_by_status"].get("500", 0) for rate in fault["error_rate"].values()
        )
        for fault in record["faults"]
    }
    found = [f"{count} under {name}" for name, count in counts.items() if count]
    return f"500 answers: {', '.join(found)}." if found else "No 500 answer."


def summary_table(record: dict[str, Any]) -> str:
    rows = []
    for fault in record["faults"]:
        rates, writes, observed = fault["error_rate"], fault["writes"], fault["observed_seconds"]
        rows.append(
            [
                fault["description"],
                percent(rates["before"]),
                percent(rates["during"]),
                percent(rates["after"]),
                after_seconds(fault["errors_recovered_seconds"], observed),
                after_seconds(fault["ready_recovered_seconds"], observed),
                str(writes["accepted"]),
                str(writes["lost"]),
                str(writes["duplicated"]),
            ]
        )
    total = record["writes"]
    counts = [str(total[name]) for name in ("accepted", "lost", "duplicated")]
    rows.append(["whole run (baseline included)", "", "", "", "", "", *counts])
    return markdown_table(
        [
            "fault",
            "errors before",
            "during",
            "after",
            "errors back to baseline",
            "every /readyz 200",
            "writes accepted",
            "lost",
            "duplicated",
        ],
        rows,
    )


def phase_table(fault: dict[str, Any]) -> str:
    rows = [
        [phase, str(rate["requests"]), str(rate["failed"]), percent(rate), failures(rate)]
        for phase, rate in fault["error_rate"].items()
    ]
    return markdown_table(["phase", "requests", "failed", "error rate", "failures by status"], rows)


def render(record: dict[str, Any]) -> str:
    baseline, writes = record["baseline"], record["writes"]
    verdict = (
        "every accepted write was stored exactly once"
        if writes["lost"] == writes["duplicated"] == 0
        else f"{writes['lost']} accepted writes lost, {writes['duplicated']} stored twice"
    )
    sections = [
        "## Resilience under load (`make chaos`)",
        f"Run of {record['generated_at']}: {verdict}. Baseline (no fault, "
        f"{baseline['seconds']:g} s): {baseline['requests']} requests, "
        f"{percent(baseline)} failed. {internal_errors_text(record)}",
        summary_table(record),
    ]
    for fault in record["faults"]:
        sections += [
            f"### {fault['name']}: {fault['description']}",
            f"Lasted {fault['lasted_seconds']:g} s, watched {fault['observed_seconds']:g} s after."
            f" /readyz failed meanwhile on: {unready_text(fault)}.",
            phase_table(fault),
        ]
    sections += ["### Method", method_text(record)]
    return "\n\n".join(sections)


def method_text(record: dict[str, Any]) -> str:
    method = record["method"]
    return "\n".join(
        [
            "- A private stack on one box: PostgreSQL, Redis, the four services as processes,"
            f" memory-proxy on the `mem0` backend against a {record['memory_bank']} — which,"
            " unlike the `local` backend, does not enforce the write's idempotency key, so a"
            " job written twice shows as two memories.",
            f"- Load: k6 `load` scenario (70 % search, 20 % write, 10 % list + read),"
            f" {method['vus']} VUs over {method['users']} signed-in users, running through"
            f" every phase; beside it a writer saving {method['writes_per_second']:g}"
            " memories/s, each with its own idempotency key, retried with the same key until"
            " accepted, keeping every 202's job id.",
            f"- Baseline {method['baseline_seconds']:g} s without faults, then the faults in"
            f" turn, each watched for {method['observe_seconds']:g} s after it ends. Phases:"
            f" before = the {method['before_seconds']:g} s before the fault, during = from the"
            " injection until the healing is done (the new worker live, Redis or PostgreSQL"
            " accepting connections, the Memory Bank answering), after = from there to the end"
            " of the watch.",
            "- Error rate: failed client requests (k6 and the writer; a failure is k6's"
            " `http_req_failed`, or any writer answer but 202; no answer counts) by the time"
            " the answer came.",
            f"- Errors back to baseline: seconds from the fault's end to the end of the last"
            f" {method['bucket_seconds']:g}-s bucket whose error rate is above the baseline +"
            f" {method['tolerance'] * 100:g} points ({record['degraded_above'] * 100:.2f} %) or"
            " that got no answer at all. Every /readyz 200: seconds until every service's"
            " /readyz, probed every 0.5 s, answers 200 and keeps doing so.",
            f"- Exactly once: after the load, the outbox is drained (at most"
            f" {method['drain_within_seconds']:g} s). Every write the writer was promised (its"
            " 202s) and every other job in the outbox (the load's writes) must be `succeeded`"
            " with exactly one memory in the Memory Bank carrying its job's idempotency key."
            " Writes are counted under the fault whose window (injection to end of watch)"
            " accepted them; a write accepted under one fault can be harmed by the next.",
            "- Numbers come from a 2-core box shared with other work: recovery times are"
            " indicative; lost and duplicated writes are exact.",
        ]
    )
