"""The arithmetic of a chaos run, free of I/O: client answers bucketed by phase, when the
errors and the readiness probes say the system recovered, and whether every accepted write
was stored exactly once.

Times are Unix seconds, the clock k6, the writer, the probes and PostgreSQL all share on one
box."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

SUCCEEDED = "succeeded"
# memory-proxy sends the worker's ARQ job id (``memory-write:<job id>``) as the idempotency key,
# which the mem0 backend keeps in each memory's metadata.
WRITE_KEY_PREFIX = "memory-write:"


@dataclass(frozen=True)
class Answer:
    """One client request as its client saw it; ``status`` 0 when no answer came."""

    at: float
    status: int
    failed: bool


@dataclass(frozen=True)
class Window:
    start: float
    end: float

    def holds(self, at: float) -> bool:
        return self.start <= at < self.end

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class ErrorRate:
    requests: int
    failed: int
    # Failures by status (0: no answer), to tell a clean 503 from a 500 or a timeout.
    failures: Mapping[int, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.failed / self.requests if self.requests else 0.0


def error_rate(answers: Iterable[Answer], window: Window) -> ErrorRate:
    inside = [answer for answer in answers if window.holds(answer.at)]
    failures = Counter(answer.status for answer in inside if answer.failed)
    return ErrorRate(len(inside), sum(failures.values()), dict(sorted(failures.items())))


def buckets(answers: Iterable[Answer], window: Window, width: float) -> list[ErrorRate]:
    """The window cut into consecutive buckets of ``width`` seconds from its start; a
    remainder shorter than a bucket is left out, too short to judge."""
    count = int(window.seconds // width)
    requests = [0] * count
    failed = [0] * count
    for answer in answers:
        index = int((answer.at - window.start) // width)
        if window.holds(answer.at) and index < count:
            requests[index] += 1
            failed[index] += answer.failed
    return [ErrorRate(total, bad) for total, bad in zip(requests, failed, strict=True)]


def error_recovery(
    answers: Iterable[Answer], after: Window, threshold: float, width: float = 1.0
) -> float | None:
    """Seconds from the start of ``after`` (the fault's end) until the error rate stays at or
    under ``threshold``: the end of the last bucket above it. A bucket with no answer at all
    counts as above — a stalled service answers nothing. None when the window ends degraded."""
    cut = buckets(answers, after, width)

    def degraded(bucket: ErrorRate) -> bool:
        return bucket.requests == 0 or bucket.rate > threshold

    if not cut or degraded(cut[-1]):
        return None
    last_bad = max((index for index, bucket in enumerate(cut) if degraded(bucket)), default=-1)
    return (last_bad + 1) * width


@dataclass(frozen=True)
class Probe:
    """One ``/readyz`` of one service; ``status`` 0 when no answer came in time."""

    at: float
    service: str
    status: int

    @property
    def ready(self) -> bool:
        return self.status == 200


def service_ready_after(probes: Iterable[Probe], service: str, after: Window) -> float | None:
    """Seconds from the start of ``after`` until ``service`` answers ``/readyz`` with 200 and
    keeps doing so to the window's end. None when it was not ready by then."""
    own = sorted(
        (probe for probe in probes if probe.service == service and after.holds(probe.at)),
        key=lambda probe: probe.at,
    )
    if not own or not own[-1].ready:
        return None
    failures = [index for index, probe in enumerate(own) if not probe.ready]
    return own[failures[-1] + 1].at - after.start if failures else 0.0


def readiness_recovery(
    probes: Iterable[Probe], services: Iterable[str], after: Window
) -> float | None:
    """When the last of ``services`` was ready again for good (see :func:`service_ready_after`);
    None when one never was."""
    seen = list(probes)
    each = [service_ready_after(seen, service, after) for service in services]
    back = [seconds for seconds in each if seconds is not None]
    return max(back, default=0.0) if len(back) == len(each) else None


def unready(probes: Iterable[Probe], window: Window) -> dict[str, dict[int, int]]:
    """The services that answered ``/readyz`` with anything but 200 in ``window``, with how
    often per status (0: no answer in time)."""
    failed: dict[str, Counter[int]] = {}
    for probe in probes:
        if window.holds(probe.at) and not probe.ready:
            failed.setdefault(probe.service, Counter())[probe.status] += 1
    return {service: dict(sorted(failed[service].items())) for service in sorted(failed)}


def recovery(error_seconds: float | None, ready_seconds: float | None) -> float | None:
    """Back to normal: errors at the baseline and every service ready, whichever is later."""
    if error_seconds is None or ready_seconds is None:
        return None
    return max(error_seconds, ready_seconds)


@dataclass(frozen=True)
class AcceptedWrite:
    """One write a client asked for once (retries included), with the job id of every 202 it
    got — one, unless intake failed to collapse the retries — and when the first came."""

    key: str
    job_ids: frozenset[str]
    accepted_at: float


@dataclass(frozen=True)
class WriteVerdict:
    write: AcceptedWrite
    statuses: tuple[str | None, ...]  # each job's outbox status; None: not in the outbox
    stored: int  # memories in the Memory Bank for its jobs

    @property
    def lost(self) -> bool:
        return self.stored == 0 or any(status != SUCCEEDED for status in self.statuses)

    @property
    def duplicates(self) -> int:
        return max(self.stored - 1, 0)


def accepted_writes(
    client_accepted: Mapping[str, Sequence[tuple[float, str]]],
    outbox_created: Mapping[str, float],
) -> list[AcceptedWrite]:
    """Every write the API accepted: those a client recorded (by its key: each 202's time and
    job id), then each outbox job no client recorded (the load's own writes) on its own."""
    writes = [
        AcceptedWrite(key, frozenset(job for _, job in accepted), min(at for at, _ in accepted))
        for key, accepted in client_accepted.items()
        if accepted
    ]
    recorded = {job for write in writes for job in write.job_ids}
    writes += [
        AcceptedWrite(job, frozenset({job}), created)
        for job, created in outbox_created.items()
        if job not in recorded
    ]
    return writes


def stored_per_job(write_keys: Iterable[str | None]) -> Counter[str]:
    """How many memories the Memory Bank holds per job, from each memory's idempotency key."""
    return Counter(
        key.removeprefix(WRITE_KEY_PREFIX)
        for key in write_keys
        if key is not None and key.startswith(WRITE_KEY_PREFIX)
    )


def exactly_once(
    writes: Iterable[AcceptedWrite], statuses: Mapping[str, str], stored: Mapping[str, int]
) -> list[WriteVerdict]:
    """Each accepted write's fate: its jobs' statuses and how many memories they left."""
    verdicts = []
    for write in writes:
        jobs = sorted(write.job_ids)
        verdicts.append(
            WriteVerdict(
                write,
                tuple(statuses.get(job) for job in jobs),
                sum(stored.get(job, 0) for job in jobs),
            )
        )
    return verdicts


@dataclass(frozen=True)
class WriteTally:
    accepted: int
    lost: int
    duplicated: int  # extra copies stored


def tally(verdicts: Iterable[WriteVerdict], window: Window | None = None) -> WriteTally:
    """The writes accepted in ``window`` (all when None): how many, lost, extra copies."""
    chosen = [v for v in verdicts if window is None or window.holds(v.write.accepted_at)]
    return WriteTally(len(chosen), sum(v.lost for v in chosen), sum(v.duplicates for v in chosen))
