"""Reading a service process's JSON log lines, as a log shipper would."""

from __future__ import annotations

import json
from typing import Any

from tests.support.processes import ServiceProcess, wait_for


def log_records(service: ServiceProcess) -> list[dict[str, Any]]:
    records = []
    for line in service.log_lines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # not written by our logging (a crash's output would show here)
    return records


def logged(service: ServiceProcess, event: str, **fields: str) -> list[dict[str, Any]]:
    """The service's log records of this event with these fields, once there is one: a line
    may be written just after the response that tells the test it is due."""

    def records() -> list[dict[str, Any]]:
        return [
            record
            for record in log_records(service)
            if record["event"] == event
            and all(record.get(name) == value for name, value in fields.items())
        ]

    wait_for(f"{service.name} to log {event} {fields}", records)
    return records()


def request_trace_id(service: ServiceProcess, request_id: str) -> str:
    """The trace id in the service's access log line of this request."""
    (line,) = logged(service, "http.request.completed", request_id=request_id)
    return str(line["trace_id"])
