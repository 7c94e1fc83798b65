"""The arithmetic of `make chaos` (scripts/chaos/accounting.py): answers cut into phases, when
a fault's errors and unready services ended, and whether each accepted write was stored
exactly once. Times are made up; nothing here waits."""

from __future__ import annotations

from scripts.chaos.accounting import (
    AcceptedWrite,
    Answer,
    ErrorRate,
    Probe,
    Window,
    accepted_writes,
    buckets,
    error_rate,
    error_recovery,
    exactly_once,
    readiness_recovery,
    recovery,
    service_ready_after,
    tally,
    unready,
)
from scripts.chaos.load import load_answers

T0 = 1_000.0


def ok(at: float, status: int = 200) -> Answer:
    return Answer(T0 + at, status, failed=False)


def bad(at: float, status: int = 503) -> Answer:
    return Answer(T0 + at, status, failed=True)


def window(start: float, end: float) -> Window:
    return Window(T0 + start, T0 + end)


def steady(start: float, end: float, per_second: int = 4) -> list[Answer]:
    """Successful answers spread evenly over [start, end)."""
    count = int((end - start) * per_second)
    return [ok(start + n / per_second) for n in range(count)]


# --- phases ---


def test_an_error_rate_counts_the_answers_of_its_window_only_with_failures_by_status() -> None:
    answers = [ok(0.5), bad(1.0), bad(1.5, 500), ok(2.0), bad(2.5, 0), bad(3.0), ok(9.9)]

    rate = error_rate(answers, window(1, 3))

    assert (rate.requests, rate.failed) == (4, 3)
    assert rate.rate == 0.75
    assert rate.failures == {0: 1, 500: 1, 503: 1}


def test_an_empty_window_has_no_error_rate_to_divide() -> None:
    assert error_rate([ok(5)], window(0, 1)) == ErrorRate(0, 0, {})
    assert ErrorRate(0, 0).rate == 0.0


def test_buckets_are_whole_seconds_from_the_window_start_and_drop_a_short_remainder() -> None:
    answers = [ok(0.1), bad(0.9), ok(1.0), ok(2.2), bad(2.6)]

    cut = buckets(answers, window(0, 2.5), width=1.0)

    assert [(b.requests, b.failed) for b in cut] == [(2, 1), (1, 0)]


# --- recovery ---


def test_errors_recover_at_the_end_of_the_last_bucket_above_the_threshold() -> None:
    answers = [*steady(0, 10), bad(0.2), bad(1.2), bad(3.5), bad(3.7)]

    assert error_recovery(answers, window(0, 10), threshold=0.3) == 4.0


def test_errors_recover_at_once_when_no_bucket_is_above_the_threshold() -> None:
    assert error_recovery(steady(0, 10), window(0, 10), threshold=0.0) == 0.0


def test_a_bucket_without_any_answer_is_a_stall_not_a_recovery() -> None:
    answers = [*steady(0, 2), *steady(6, 10)]  # nothing answered from 2 s to 6 s

    assert error_recovery(answers, window(0, 10), threshold=0.05) == 6.0


def test_errors_that_last_to_the_end_of_the_window_never_recovered() -> None:
    answers = [*steady(0, 10), bad(9.5), bad(9.6), bad(9.7)]

    assert error_recovery(answers, window(0, 10), threshold=0.05) is None


def test_a_window_shorter_than_a_bucket_cannot_show_a_recovery() -> None:
    assert error_recovery(steady(0, 1), window(0, 0.5), threshold=0.05) is None


PROBE_STATUSES = {"r": 200, "-": 503, "x": 0}


def probes(service: str, states: str, start: float = 0.0, every: float = 0.5) -> list[Probe]:
    """One probe per character: 'r' ready (200), '-' not (503), 'x' no answer."""
    return [
        Probe(T0 + start + n * every, service, PROBE_STATUSES[state])
        for n, state in enumerate(states)
    ]


def test_readiness_recovers_when_the_last_service_to_fail_answers_200_again() -> None:
    seen = [*probes("gateway", "--rrrrrr"), *probes("worker", "xx-xrrrr"), *probes("auth", "rrrr")]

    assert service_ready_after(seen, "gateway", window(0, 4)) == 1.0
    assert service_ready_after(seen, "worker", window(0, 4)) == 2.0
    assert readiness_recovery(seen, ["gateway", "worker", "auth"], window(0, 4)) == 2.0


def test_a_service_ready_again_then_failing_recovers_only_after_its_last_failure() -> None:
    seen = probes("gateway", "-rr-rrrr")

    assert service_ready_after(seen, "gateway", window(0, 4)) == 2.0


def test_readiness_that_never_failed_recovers_at_once() -> None:
    assert readiness_recovery(probes("auth", "rrrr"), ["auth"], window(0, 2)) == 0.0


def test_a_service_not_ready_at_the_end_of_the_window_never_recovered() -> None:
    seen = [*probes("gateway", "rrrr"), *probes("worker", "rr--")]

    assert readiness_recovery(seen, ["gateway", "worker"], window(0, 2)) is None


def test_a_service_never_probed_in_the_window_never_recovered() -> None:
    assert (
        readiness_recovery(probes("gateway", "rrrr"), ["gateway", "worker"], window(0, 2)) is None
    )


def test_readiness_probes_before_the_window_do_not_count() -> None:
    seen = probes("gateway", "----rrrr")  # unready until 2 s, the fault's end

    assert readiness_recovery(seen, ["gateway"], window(2, 4)) == 0.0


def test_the_services_that_failed_a_probe_in_a_window_are_named_with_their_answers() -> None:
    seen = [*probes("worker", "rx-x"), *probes("gateway", "r-rr"), *probes("auth", "-rrr", 3)]

    assert unready(seen, window(0, 2)) == {"gateway": {503: 1}, "worker": {0: 2, 503: 1}}


def test_recovery_waits_for_both_errors_and_readiness() -> None:
    assert recovery(3.0, 5.5) == 5.5
    assert recovery(7.0, 0.0) == 7.0
    assert recovery(None, 1.0) is None
    assert recovery(1.0, None) is None


# --- exactly once ---


def test_accepted_writes_group_a_clients_receipts_by_key_and_add_the_outbox_only_jobs() -> None:
    receipts = {"w-1": [(T0 + 2, "job-a"), (T0 + 1, "job-a")], "w-2": [], "w-3": [(T0, "job-c")]}
    outbox = {"job-a": T0, "job-c": T0, "job-k6": T0 + 5}

    writes = accepted_writes(receipts, outbox)

    assert sorted(writes, key=lambda w: w.key) == [
        AcceptedWrite("job-k6", frozenset({"job-k6"}), T0 + 5),
        AcceptedWrite("w-1", frozenset({"job-a"}), T0 + 1),
        AcceptedWrite("w-3", frozenset({"job-c"}), T0),
    ]


def write(key: str, *jobs: str, at: float = 0.0) -> AcceptedWrite:
    return AcceptedWrite(key, frozenset(jobs), T0 + at)


def test_a_succeeded_job_with_one_memory_is_stored_exactly_once() -> None:
    [verdict] = exactly_once([write("w", "a")], {"a": "succeeded"}, {"a": 1})

    assert (verdict.lost, verdict.duplicates) == (False, 0)


def test_a_write_is_lost_when_its_job_is_missing_unfinished_failed_or_stored_nowhere() -> None:
    writes = [write("missing", "m"), write("queued", "q"), write("dead", "d"), write("none", "n")]
    statuses = {"q": "queued", "d": "failed", "n": "succeeded"}
    stored = {"q": 0, "d": 0, "n": 0}

    verdicts = exactly_once(writes, statuses, stored)

    assert [(v.write.key, v.lost) for v in verdicts] == [
        ("missing", True),
        ("queued", True),
        ("dead", True),
        ("none", True),
    ]
    assert verdicts[0].statuses == (None,)


def test_a_job_written_twice_is_one_duplicate() -> None:
    [verdict] = exactly_once([write("w", "a")], {"a": "succeeded"}, {"a": 2})

    assert (verdict.lost, verdict.duplicates) == (False, 1)


def test_one_write_accepted_as_two_jobs_stored_once_each_is_a_duplicate() -> None:
    statuses = {"a": "succeeded", "b": "succeeded"}

    [verdict] = exactly_once([write("w", "a", "b")], statuses, {"a": 1, "b": 1})

    assert (verdict.stored, verdict.lost, verdict.duplicates) == (2, False, 1)


def test_a_tally_counts_the_writes_accepted_in_its_window() -> None:
    writes = [write("early", "a", at=1), write("late", "b", at=5), write("twice", "c", at=6)]
    statuses = {"a": "succeeded", "b": "failed", "c": "succeeded"}
    verdicts = exactly_once(writes, statuses, {"a": 1, "b": 0, "c": 3})

    in_window = tally(verdicts, window(4, 10))
    overall = tally(verdicts)

    assert (in_window.accepted, in_window.lost, in_window.duplicated) == (2, 1, 2)
    assert (overall.accepted, overall.lost, overall.duplicated) == (3, 1, 2)


# --- k6's answers ---

K6_HEADER = (
    "metric_name,timestamp,metric_value,check,error,error_code,expected_response,group,method,"
    "name,proto,scenario,service,status,subproto,tls_version,url,extra_tags,metadata\n"
)


def k6_row(metric: str, millis: int, value: float, group: str, scenario: str, status: int) -> str:
    return (
        f"{metric},{millis},{value:f},,,,{'false' if value else 'true'},{group},POST,n,HTTP/1.1,"
        f"{scenario},,{status},,,http://gw/api,,\n"
    )


def test_k6_answers_are_the_scenarios_requests_with_their_time_and_status() -> None:
    csv_text = (
        K6_HEADER
        + k6_row("http_req_failed", 1_000_100, 0, "::setup", "", 200)
        + k6_row("http_req_duration", 1_000_200, 12.5, "", "load", 200)
        + k6_row("http_req_failed", 1_000_200, 0, "", "load", 200)
        + k6_row("http_req_failed", 1_000_750, 1, "", "load", 503)
        + "http_req_failed,1000900,1.0000"  # being written: left for the next read
    )

    assert load_answers(csv_text) == [Answer(1000.2, 200, False), Answer(1000.75, 503, True)]
