from __future__ import annotations

from prometheus_client import Counter

TOKENS_ISSUED = Counter(
    "cga_tokens_issued_total", "Access tokens issued, by grant type.", ["grant"]
)
AUTH_FAILURES = Counter(
    "cga_auth_failures_total",
    "Failed sign-ins, client authentications and token requests, by reason.",
    ["reason"],
)
