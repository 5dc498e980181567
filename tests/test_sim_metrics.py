"""The Faro metrics on request sets small enough to compute by hand."""

import numpy as np
import pytest

from farod.sim.metrics import request_metrics

SLO = np.array([1.0, 1.0])  # seconds, two jobs
INF = np.inf


def metrics(rows, *, units=2, slo=SLO):
    job, unit, latency = (np.array(column) for column in zip(*rows))
    return request_metrics(job=job, unit=unit, latency_s=latency, slo_s=slo, units=units)


def test_violation_rate_is_the_mean_over_minutes_of_the_mean_over_jobs():
    # minute 0: job 0 has 3 of 4 within the SLO (0.75), job 1 has 1 of 1 (1.0) -> 0.875
    # minute 1: job 0 has 0 of 1 (0.0), job 1 has no arrival (left out)          -> 0.0
    rows = [(0, 0, 0.2), (0, 0, 0.5), (0, 0, 1.0), (0, 0, 1.5), (1, 0, 0.3), (0, 1, INF)]
    m = metrics(rows)
    assert m.slo_violation_rate == pytest.approx(1 - (0.875 + 0.0) / 2)
    assert m.request_slo_attainment == pytest.approx(4 / 6)
    assert m.requests == 6
    assert m.dropped == 1


def test_lost_utility_uses_the_p99_of_each_job_minute():
    # job 0 minute 0: latencies 0.5 and 2.0 -> p99 = 0.5 + 0.99 * 1.5 = 1.985 -> utility 1/1.985
    # job 1 minute 0: 0.4 -> utility 1; job 0 minute 1: rejected -> p99 inf -> utility 0
    rows = [(0, 0, 0.5), (0, 0, 2.0), (1, 0, 0.4), (0, 1, INF)]
    m = metrics(rows)
    minute0_lost = 1 - 1 / 1.985
    minute1_lost = 1.0  # job 1 has no arrival in minute 1: it loses nothing
    assert m.lost_utility == pytest.approx((minute0_lost + minute1_lost) / 2)
    assert m.job_unit_p99_s[0, 0] == pytest.approx(1.985)
    assert m.job_unit_p99_s[0, 1] == INF
    assert np.isnan(m.job_unit_p99_s[1, 1])


def test_lost_utility_equals_jobs_minus_mean_utility_when_every_job_has_arrivals():
    rows = [(0, 0, 2.0), (1, 0, 0.5), (0, 1, 4.0), (1, 1, 1.0)]
    m = metrics(rows)
    utilities = [(0.5 + 1.0), (0.25 + 1.0)]
    assert m.lost_utility == pytest.approx(2 - np.mean(utilities))


def test_p99_of_completed_requests_ignores_rejections():
    rows = [(0, 0, 0.1 * k) for k in range(1, 101)] + [(1, 0, INF)] * 5
    m = metrics(rows, units=1)
    assert m.p99_ms == pytest.approx(np.percentile(np.arange(1, 101) * 0.1, 99) * 1000)
    assert m.dropped == 5


def test_a_p99_touching_a_rejection_is_infinite_and_a_minute_without_arrivals_is_left_out():
    # job 0 minute 0: 99 fast requests and 1 rejected: the 0.99 position interpolates towards +inf
    rows = [(0, 0, 0.1)] * 99 + [(0, 0, INF)] + [(0, 2, 0.1)]
    m = metrics(rows, units=3, slo=np.array([1.0]))
    assert m.job_unit_p99_s[0, 0] == INF
    assert m.lost_utility == pytest.approx((1.0 + 0.0) / 2)  # minute 1 has no arrival at all
    assert m.slo_violation_rate == pytest.approx(1 - (0.99 + 1.0) / 2)


def test_each_job_is_judged_against_its_own_slo():
    rows = [(0, 0, 0.8), (1, 0, 0.8)]
    m = metrics(rows, units=1, slo=np.array([1.0, 0.5]))
    assert m.slo_violation_rate == pytest.approx(0.5)
    assert m.lost_utility == pytest.approx(1 - 0.5 / 0.8)
