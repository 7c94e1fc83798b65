from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path


class ServerError(RuntimeError):
    """A private server could not be started or stopped."""


def run(command: Sequence[str], *, as_user: str | None = None) -> str:
    """Run a command, raising :class:`ServerError` with its output when it fails."""
    if as_user is not None:
        command = ["runuser", "-u", as_user, "--", *command]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip()
        raise ServerError(f"{' '.join(command)} failed ({result.returncode}): {output}")
    return result.stdout


def find_binary(name: str, *search_globs: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for pattern in search_globs:
        candidates = sorted(Path("/").glob(pattern.lstrip("/")), reverse=True)
        if candidates:
            return str(candidates[0])
    raise ServerError(f"{name} not found; install it (make dev installs it with apt-get)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise ServerError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


def chown_to(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)


def process_alive(pid: int) -> bool:
    """True unless the process is gone or a zombie (daemons may be reparented to an init
    that does not reap them promptly)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def read_pid(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None
    return pid if process_alive(pid) else None


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0
