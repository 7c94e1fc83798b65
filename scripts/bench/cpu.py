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
# parenthesis): utime, stime, cutime and cstime are the 12th to the 15th of them.
_TIMES = slice(11, 15)


_PPID = 1


def _stat_fields(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        return stat.read().rpartition(")")[2].split()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process and its ended children it has waited for (a
    PostgreSQL connection closed meanwhile) have used so far."""
    return sum(int(ticks) for ticks in _stat_fields(pid)[_TIMES]) / _TICKS_PER_SECOND


def tree_cpu_seconds(pids: Mapping[str, int]) -> dict[str, float]:
    """CPU time of each process (by name), of its live descendants and of the ended ones they
    waited for: PostgreSQL works in one process per connection. One pass over /proc for all."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                parent = int(_stat_fields(int(entry.name))[_PPID])
            except (FileNotFoundError, ProcessLookupError):
                continue  # ended while we looked
            children.setdefault(parent, []).append(int(entry.name))
    return {name: _tree_total(pid, children) for name, pid in pids.items()}


def _tree_total(pid: int, children: Mapping[int, list[int]]) -> float:
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
    before = tree_cpu_seconds(pids)
    children_before = children_cpu_seconds()
    usage = CpuUsage()
    yield usage
    after = tree_cpu_seconds(pids)
    usage.seconds = {name: after[name] - before[name] for name in pids}
    if children_as:
        usage.seconds[children_as] = children_cpu_seconds() - children_before
