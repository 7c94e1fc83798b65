"""Writes the Grafana dashboards, as JSON, from their definitions in this package.

python -m monitoring.grafana.generate          # rewrite monitoring/grafana/dashboards/
python -m monitoring.grafana.generate --check  # exit 1 if a dashboard file is out of date
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from monitoring.grafana.model import Json
from monitoring.grafana.overview import overview
from monitoring.grafana.slo import slo

DASHBOARDS_DIR = Path(__file__).resolve().parent / "dashboards"
DASHBOARDS: dict[str, Callable[[], Json]] = {
    "custom-gpt-adapter-overview.json": overview,
    "custom-gpt-adapter-slo.json": slo,
}


def rendered() -> dict[str, str]:
    """Each dashboard file's name and the text it must hold."""
    return {
        name: json.dumps(build(), indent=2, ensure_ascii=False) + "\n"
        for name, build in DASHBOARDS.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only report stale files")
    check = parser.parse_args(argv).check
    stale = [
        name
        for name, text in rendered().items()
        if not (DASHBOARDS_DIR / name).is_file() or (DASHBOARDS_DIR / name).read_text() != text
    ]
    if check:
        for name in stale:
            sys.stderr.write(f"{DASHBOARDS_DIR / name} is out of date: run `make dashboards`\n")
        return 1 if stale else 0
    for name, text in rendered().items():
        (DASHBOARDS_DIR / name).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
