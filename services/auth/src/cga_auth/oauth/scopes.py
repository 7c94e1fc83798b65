from __future__ import annotations

MEMORIES_READ = "memories:read"
MEMORIES_WRITE = "memories:write"
MEMORIES_DELETE = "memories:delete"

SCOPE_DESCRIPTIONS = {
    MEMORIES_READ: "Search and read your saved memories",
    MEMORIES_WRITE: "Save new memories for you",
    MEMORIES_DELETE: "Delete your saved memories",
}
SUPPORTED_SCOPES = tuple(SCOPE_DESCRIPTIONS)


def parse_scope(scope: str | None) -> list[str]:
    """Split a space-separated scope, dropping duplicates, keeping a stable order."""
    requested = set((scope or "").split())
    return [name for name in SUPPORTED_SCOPES if name in requested] + sorted(
        requested - set(SUPPORTED_SCOPES)
    )


def format_scope(scopes: list[str]) -> str:
    return " ".join(parse_scope(" ".join(scopes)))
