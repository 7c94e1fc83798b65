"""``cga-admin audit``: the audit trail, who did what and how it ended, newest first.

``--since`` and ``--until`` take an ISO 8601 timestamp or an age (``15m``, ``2h``, ``7d``) and
are sent to the admin API as ISO 8601 in UTC.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from cga_admin.client import call, path
from cga_admin.output import (
    JsonOutput,
    fail,
    limit_option,
    list_table,
    print_json,
    print_whole,
    say,
    when,
)

AGE = re.compile(r"(?P<amount>\d+)(?P<unit>[smhdw])")
AGE_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
MOMENT_FORMS = "an age such as 15m, 2h or 7d, or an ISO 8601 timestamp such as 2026-11-24T10:00:00Z"


def _moment(option: str, value: str, now: datetime) -> datetime:
    """``value`` as an aware UTC datetime: ``now`` minus an age, or a timestamp (UTC when it
    names no offset)."""
    text = value.strip()
    try:
        if age := AGE.fullmatch(text):
            return now - timedelta(**{AGE_UNITS[age["unit"]]: int(age["amount"])})
        moment = datetime.fromisoformat(text)
    except OverflowError:
        fail("invalid_request", f"{option} {value!r} reaches further back than a calendar can.")
    except ValueError:
        fail("invalid_request", f"{option} {value!r} is not {MOMENT_FORMS}.")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _details(details: dict[str, Any]) -> str:
    return json.dumps(details, separators=(",", ":"), ensure_ascii=False) if details else "-"


def _latency(latency_ms: float | None) -> str:
    return "-" if latency_ms is None else f"{latency_ms:.0f} ms"


def audit(
    ctx: typer.Context,
    client_id: Annotated[
        str | None, typer.Option("--app", help="Only events of this app (its client id).")
    ] = None,
    user_id: Annotated[
        str | None, typer.Option("--user", help="Only events of this user id.")
    ] = None,
    action: Annotated[
        str | None, typer.Option("--action", help="Only this action, e.g. app.create.")
    ] = None,
    service: Annotated[
        str | None, typer.Option("--service", help="Only events of this service, e.g. auth.")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Only events at or after this moment: an age (15m, 2h, 7d) or an ISO 8601"
            " timestamp (UTC when it has no offset).",
            show_default=False,
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            help="Only events before this moment, in the same forms as --since.",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[int | None, limit_option("events")] = None,
    as_json: JsonOutput = False,
) -> None:
    """Show the audit trail, newest first."""
    now = datetime.now(UTC)
    start = _moment("--since", since, now) if since is not None else None
    end = _moment("--until", until, now) if until is not None else None
    if start is not None and end is not None and start >= end:
        fail(
            "invalid_request",
            f"--since ({start.isoformat()}) must be before --until ({end.isoformat()}).",
        )
    query = {
        "client_id": client_id,
        "user_id": user_id,
        "action": action,
        "service": service,
        "since": start.isoformat() if start else None,
        "until": end.isoformat() if end else None,
        "limit": limit,
    }
    events = call(ctx, "GET", path("audit"), query=query)
    if as_json:
        print_json(events)
        return
    if not events:
        say("No audit events match.")
        return
    print_whole(
        list_table(
            [
                "Occurred",
                "Service",
                "Action",
                "Outcome",
                "App",
                "User",
                "Request ID",
                "Client IP",
                "Latency",
                "Details",
            ],
            (
                [
                    when(event["occurred_at"]),
                    event["service"],
                    event["action"],
                    event["outcome"],
                    event["client_id"] or "-",
                    event["user_id"] or "-",
                    event["request_id"] or "-",
                    event["client_ip"] or "-",
                    _latency(event["latency_ms"]),
                    _details(event["details"]),
                ]
                for event in events
            ),
        )
    )
