"""PromQL fragments the dashboards are written with: the selectors of our scrape jobs and the
few shapes every panel repeats (a rate summed by labels, a share of requests, a quantile)."""

from __future__ import annotations

from collections.abc import Sequence

# The job label the chart's ServiceMonitor gives each service's targets.
JOB_PREFIX = "custom-gpt-adapter-"
NAMESPACE = 'namespace="$namespace"'
RATE_WINDOW = "$__rate_interval"
ACTIONS_ROUTES = 'handler=~"/api/v1/.+"'


def job(service: str) -> str:
    return f'job="{JOB_PREFIX}{service}"'


ANY_JOB = f'job=~"{JOB_PREFIX}.+"'


def selector(*matchers: str) -> str:
    """``{…}`` with the dashboard's namespace and these matchers."""
    return "{" + ", ".join([*matchers, NAMESPACE]) + "}"


def series(metric: str, matchers: Sequence[str]) -> str:
    return f"{metric}{selector(*matchers)}"


def rate(metric: str, matchers: Sequence[str], window: str = RATE_WINDOW) -> str:
    return f"rate({series(metric, matchers)}[{window}])"


def increase(metric: str, matchers: Sequence[str], window: str) -> str:
    return f"increase({series(metric, matchers)}[{window}])"


def _aggregated(operator: str, inner: str, by: Sequence[str]) -> str:
    return f"{operator} by ({', '.join(by)}) ({inner})" if by else f"{operator}({inner})"


def summed(inner: str, by: Sequence[str] = ()) -> str:
    return _aggregated("sum", inner, by)


def highest(inner: str, by: Sequence[str] = ()) -> str:
    return _aggregated("max", inner, by)


def share(part: str, whole: str) -> str:
    """``part / whole``, 0 rather than nothing while ``part`` has no series yet (no request
    has failed so far), so a panel shows 0 % instead of "No data"."""
    return f"({part} or 0 * {whole})\n/\n{whole}"


def quantile(q: float, histogram: str, matchers: Sequence[str], by: Sequence[str] = ()) -> str:
    buckets = summed(rate(f"{histogram}_bucket", matchers), ["le", *by])
    return f"histogram_quantile({q}, {buckets})"
