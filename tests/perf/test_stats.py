"""The bench's arithmetic: percentiles, goals, ratios and replica counts."""

from __future__ import annotations

import math

import pytest

from scripts.bench.stats import Comparison, Goal, Percentiles, number, percentile, ratio, replicas


def test_percentile_interpolates_between_closest_ranks() -> None:
    samples = [float(n) for n in range(1, 101)]  # 1..100

    assert percentile(samples, 50) == pytest.approx(50.5)
    assert percentile(samples, 95) == pytest.approx(95.05)
    assert percentile(samples, 0) == 1
    assert percentile(samples, 100) == 100


def test_percentile_ignores_the_order_of_samples() -> None:
    assert percentile([9.0, 1.0, 5.0], 50) == 5


def test_percentile_of_one_sample_is_that_sample() -> None:
    assert percentile([3.5], 99) == 3.5


@pytest.mark.parametrize("q", [-1, 101])
def test_percentile_out_of_range_is_refused(q: float) -> None:
    with pytest.raises(ValueError, match="out of range"):
        percentile([1.0], q)


def test_percentile_of_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 50)


def test_percentiles_subtract_percentile_by_percentile() -> None:
    path = Percentiles(p50=3.0, p95=6.0, p99=10.0)
    direct = Percentiles(p50=0.5, p95=1.0, p99=2.5)

    assert path.minus(direct) == Percentiles(2.5, 5.0, 7.5)


@pytest.mark.parametrize(
    ("comparison", "value", "met"),
    [
        (Comparison.AT_MOST, 1.0, True),
        (Comparison.AT_MOST, 1.01, False),
        (Comparison.AT_LEAST, 1.0, True),
        (Comparison.AT_LEAST, 0.99, False),
        (Comparison.BELOW, 0.99, True),
        (Comparison.BELOW, 1.0, False),
    ],
)
def test_goal_is_met_on_its_side_of_the_target(
    comparison: Comparison, value: float, met: bool
) -> None:
    assert Goal(comparison, 1.0).met(value) is met


@pytest.mark.parametrize("comparison", list(Comparison))
def test_a_value_not_measured_meets_no_goal(comparison: Comparison) -> None:
    assert not Goal(comparison, 1.0).met(math.nan)


def test_goal_describes_itself_with_its_unit() -> None:
    assert Goal(Comparison.AT_LEAST, 1000, "/s").describe() == "≥ 1,000/s"
    assert Goal(Comparison.AT_MOST, 1.0, " ms").describe() == "≤ 1.00 ms"


def test_ratio_of_nothing_measured_is_zero() -> None:
    assert ratio(410, 1320) == pytest.approx(0.3106, abs=1e-4)
    assert ratio(5, 0) == 0


@pytest.mark.parametrize(
    ("value", "shown"),
    [(1234.5, "1,234"), (56.78, "56.8"), (0.3106, "0.31"), (math.nan, "n/a")],
)
def test_numbers_are_shown_with_sensible_precision(value: float, shown: str) -> None:
    assert number(value) == shown


def test_replicas_cover_the_demand_at_the_target_utilization() -> None:
    # 1,000 requests/s at 2 ms each is 2 cores of work; at 50 % per core, 4 replicas.
    assert replicas(1000, 0.002, 0.5) == 4
    # A fraction of a replica is a whole one.
    assert replicas(1000, 0.002, 0.6) == 4


def test_at_least_one_replica_runs() -> None:
    assert replicas(0, 0.002, 0.5) == 1


def test_replicas_refuse_an_impossible_utilization() -> None:
    with pytest.raises(ValueError, match="utilization"):
        replicas(10, 0.001, 1.5)
