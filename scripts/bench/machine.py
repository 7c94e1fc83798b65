"""Where and on what a bench ran: the machine and the code."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime

from scripts.bench.settings import ROOT


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git(*args: str) -> str:
    return subprocess.run(  # noqa: S603
        ["git", *args],  # noqa: S607 - git from PATH, like every developer command
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()


def commit() -> str:
    """The commit measured; ``+ local changes`` when the work tree differs from it."""
    head = _git("rev-parse", "--short=12", "HEAD") or "unknown"
    return f"{head} + local changes" if _git("status", "--porcelain") else head


def machine() -> dict[str, str]:
    return {
        "cpu": cpu_model(),
        "cores": str(os.cpu_count()),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
