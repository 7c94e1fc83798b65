"""Where Alertmanager's notifications end up, on a loopback port: PagerDuty's Events API v2 and a
Slack incoming webhook, built from their documented contracts.

PagerDuty (developer.pagerduty.com, "Send an Alert Event"): ``POST /v2/enqueue`` with a JSON
event ``{routing_key, event_action, dedup_key?, payload{summary, source, severity, ...},
client?, client_url?, links?, images?}``; an accepted event answers 202
``{"status": "success", "message": "Event processed", "dedup_key": ...}``, an invalid one 400
``{"status": "invalid event", "message": "Event object is invalid", "errors": [...]}``.
Slack: ``POST`` to the webhook's URL with ``{text | attachments | blocks}``; answers 200 ``ok``.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cga_devstack._process import free_port

PAGERDUTY_PATH = "/v2/enqueue"
SLACK_PATH = "/slack/services/T000/B000/alert-test"
EVENT_ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")
ROUTING_KEY_LENGTH = 32
SUMMARY_LIMIT = 1024


@dataclass(frozen=True)
class Received:
    """One accepted notification and when it arrived (``time.monotonic()``)."""

    body: dict[str, Any]
    arrived_at: float


def pagerduty_errors(event: Any) -> list[str]:
    """What PagerDuty would reject in ``event``; empty when it would accept it."""
    if not isinstance(event, dict):
        return ["Event must be a JSON object."]
    errors = []
    if (
        not isinstance(event.get("routing_key"), str)
        or len(event["routing_key"]) != ROUTING_KEY_LENGTH
    ):
        errors.append(f"'routing_key' must be a {ROUTING_KEY_LENGTH}-character string.")
    action = event.get("event_action")
    if action not in EVENT_ACTIONS:
        errors.append(f"'event_action' must be one of {', '.join(EVENT_ACTIONS)}.")
    if action in ("acknowledge", "resolve") and not event.get("dedup_key"):
        errors.append(f"'dedup_key' is required to {action} an alert.")
    if action == "trigger":
        payload = event.get("payload")
        if not isinstance(payload, dict):
            return [*errors, "'payload' is missing or not an object."]
        summary = payload.get("summary")
        if not isinstance(summary, str) or not summary or len(summary) > SUMMARY_LIMIT:
            errors.append(f"'payload.summary' must be a string of 1-{SUMMARY_LIMIT} characters.")
        if not payload.get("source"):
            errors.append("'payload.source' is required.")
        if payload.get("severity") not in SEVERITIES:
            errors.append(f"'payload.severity' must be one of {', '.join(SEVERITIES)}.")
    return errors


class NotificationReceiver:
    """PagerDuty and Slack as Alertmanager calls them; records what each accepted."""

    def __init__(self) -> None:
        self.port = free_port()
        self.pagerduty_events: list[Received] = []
        self.slack_messages: list[Received] = []
        self.rejected: list[tuple[str, Any, list[str]]] = []  # (path, body, errors)
        self._arrivals = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def pagerduty_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PAGERDUTY_PATH}"

    @property
    def slack_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{SLACK_PATH}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def wait_for_page(
        self, description: str, matches: Callable[[dict[str, Any]], bool], timeout: float
    ) -> Received:
        """The first accepted PagerDuty event ``matches`` accepts, waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._arrivals:
            while True:
                found = next((e for e in self.pagerduty_events if matches(e.body)), None)
                if found is not None:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"no PagerDuty event {description} within {timeout:.0f} s; "
                        f"accepted: {[e.body for e in self.pagerduty_events]}, "
                        f"rejected: {self.rejected}"
                    )
                self._arrivals.wait(remaining)

    def _accept(self, path: str, body: Any) -> tuple[HTTPStatus, bytes, str]:
        """The answer to one POST, recording it; runs in the server's request thread."""
        if path == PAGERDUTY_PATH:
            errors = pagerduty_errors(body)
            if errors:
                return self._reject(path, body, errors)
            dedup_key = body.get("dedup_key") or uuid.uuid4().hex
            self._record(self.pagerduty_events, {**body, "dedup_key": dedup_key})
            answer = {"status": "success", "message": "Event processed", "dedup_key": dedup_key}
            return HTTPStatus.ACCEPTED, json.dumps(answer).encode(), "application/json"
        if path == SLACK_PATH:
            if not isinstance(body, dict) or not any(
                body.get(field) for field in ("text", "attachments", "blocks")
            ):
                self.rejected.append((path, body, ["no_text"]))
                return HTTPStatus.BAD_REQUEST, b"no_text", "text/plain"
            self._record(self.slack_messages, body)
            return HTTPStatus.OK, b"ok", "text/plain"
        return HTTPStatus.NOT_FOUND, b"no_service", "text/plain"

    def _reject(self, path: str, body: Any, errors: list[str]) -> tuple[HTTPStatus, bytes, str]:
        self.rejected.append((path, body, errors))
        answer = {"status": "invalid event", "message": "Event object is invalid", "errors": errors}
        return HTTPStatus.BAD_REQUEST, json.dumps(answer).encode(), "application/json"

    def _record(self, into: list[Received], body: dict[str, Any]) -> None:
        with self._arrivals:
            into.append(Received(body, time.monotonic()))
            self._arrivals.notify_all()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                status, content, content_type = receiver._accept(self.path, body)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the test reports what arrived."""

        return Handler
