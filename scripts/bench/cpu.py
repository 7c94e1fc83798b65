"""CPU time of processes, from ``/proc/<pid>/stat``: on a shared box, CPU seconds per request
is a steadier figure than requests per second, which depends on what else runs."""

from __future__ import annotations

import os
import resource
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
# Fields after the command name (which may hold spaces, hence the split at its closing
# parenthesis): utime and stime are the 12th and 13th of them.
_UTIME, _STIME = 11, 12


_PPID = 1


def _stat_fields(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        return stat.read().rpartition(")")[2].split()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far."""
    fields = _stat_fields(pid)
    return (int(fields[_UTIME]) + int(fields[_STIME])) / _TICKS_PER_SECOND


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of the process and of its live descendants: PostgreSQL works in one process
    per connection, and the pools keep those connections open."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                parent = int(_stat_fields(int(entry.name))[_PPID])
            except (FileNotFoundError, ProcessLookupError):
                continue  # ended while we looked
            children.setdefault(parent, []).append(int(entry.name))
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            total += cpu_seconds(current)
        except (FileNotFoundError, ProcessLookupError):
            continue
        pending.extend(children.get(current, []))
    return total


def children_cpu_seconds() -> float:
    """CPU time of this process's children that have ended (and been waited for)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


@dataclass
class CpuUsage:
    """CPU seconds each named process used over a stretch of time (filled in on exit)."""

    seconds: dict[str, float] = field(default_factory=dict)

    def per_request_us(self, requests: int) -> dict[str, float]:
        """Microseconds of each process's CPU per request."""
        if requests <= 0:
            return {name: float("nan") for name in self.seconds}
        return {name: used * 1e6 / requests for name, used in self.seconds.items()}


@contextmanager
def cpu_used(pids: Mapping[str, int], *, children_as: str | None = None) -> Iterator[CpuUsage]:
    """Measure the CPU the process trees ``pids`` (by name) use inside the ``with`` block;
    with ``children_as``, also that of children which ended in it (a load generator run to
    completion inside the block), under that name."""
    before = {name: tree_cpu_seconds(pid) for name, pid in pids.items()}
    children_before = children_cpu_seconds()
    usage = CpuUsage()
    yield usage
    usage.seconds = {name: tree_cpu_seconds(pid) - before[name] for name, pid in pids.items()}
    if children_as:
        usage.seconds[children_as] = children_cpu_seconds() - children_before
