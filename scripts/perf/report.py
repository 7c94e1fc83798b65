"""docs/performance.md: hand-written prose around generated sections.

Each measuring command (``make bench``, ``make chaos``) owns a named section, fenced by
``<!-- begin: NAME -->`` / ``<!-- end: NAME -->`` markers, and rewrites only that section; the
machine-readable record of the same run goes to ``docs/performance/NAME.json``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

REPORT = Path("docs/performance.md")
RECORDS = Path("docs/performance")


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- begin: {name} -->", f"<!-- end: {name} -->"


def write_section(name: str, markdown: str, record: dict[str, Any], root: Path = Path()) -> Path:
    """Replace section ``name`` of the report (appended when the report lacks it) and write
    its record; returns the record's path."""
    report = root / REPORT
    begin, end = _markers(name)
    block = f"{begin}\n{markdown.strip()}\n{end}"
    text = report.read_text() if report.exists() else "# Performance\n"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(text)
    path = root / RECORDS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return path


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
