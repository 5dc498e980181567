"""The latency model against the contract's reference values and its defining properties."""

import numpy as np
import pytest

from farod.model.queueing import erlang_c, latency, wait_percentile


@pytest.mark.parametrize("percentile, expected", [(80, 0.358), (90, 0.704), (95, 1.051), (99, 1.856)])
def test_mmc_wait_percentiles_match_reference(percentile, expected):
    assert round(float(wait_percentile(8.0, 1.0, 10, percentile=percentile)), 3) == expected


def test_capped_latency_matches_reference():
    assert round(float(latency(19.0, 0.15, 3, percentile=90)), 3) == 1.252


def test_erlang_c_small_cases_by_hand():
    # M/M/1: P(wait) = rho.  M/M/2 with a = 1: C = (a^2/2 * 2/(2-a)) / (1 + a + a^2/2 * 2/(2-a)) = 1/3.
    assert float(erlang_c(1, 0.4)) == pytest.approx(0.4)
    assert float(erlang_c(2, 1.0)) == pytest.approx(1 / 3)
    assert float(erlang_c(5, 0.0)) == 0.0


def test_stable_for_many_servers_and_near_saturation():
    servers = np.array([1, 10, 100, 1000, 10_000])
    for rho in (0.5, 0.9, 0.99, 0.999999):
        probability = erlang_c(servers, rho * servers)
        assert np.all(np.isfinite(probability)) and np.all((probability >= 0) & (probability <= 1))
    # Heavier traffic at the same size waits more often, approaching certainty as rho -> 1.
    assert float(erlang_c(10_000, 9_999.999)) > 0.99
    values = latency(np.array([9_000.0, 9_400.0, 9_499.0, 20_000.0]), 1.0, 10_000)
    assert np.all(np.isfinite(values)) and np.all(np.diff(values) >= 0)


def test_more_replicas_never_raise_latency():
    rates = np.linspace(0, 60, 121)[:, None]
    servers = np.arange(1, 41)[None, :]
    values = latency(rates, 0.18, servers)
    assert np.all(np.diff(values, axis=1) <= 1e-12)
    assert np.all(np.diff(values, axis=0) >= -1e-12)  # and more load never lowers it


def test_overload_grows_linearly_beyond_the_cap():
    capacity = 0.95 * 4 / 0.2  # max_rho * c / s
    at_cap = float(latency(capacity, 0.2, 4))
    assert float(latency(2 * capacity, 0.2, 4)) == pytest.approx(2 * at_cap)
    assert float(latency(10 * capacity, 0.2, 4)) == pytest.approx(10 * at_cap)


def test_the_tail_adds_to_the_wait_and_scales_beyond_the_cap():
    assert float(latency(0.0, 0.18, 3, tail=0.45)) == pytest.approx(0.45)  # idle: the request's own p99
    wait = float(latency(12.0, 0.18, 3)) - 0.18
    assert float(latency(12.0, 0.18, 3, tail=0.45)) == pytest.approx(0.45 + wait)
    capacity = 0.95 * 3 / 0.18
    assert float(latency(2 * capacity, 0.18, 3, tail=0.45)) == pytest.approx(2 * float(latency(capacity, 0.18, 3, tail=0.45)))


def test_idle_and_empty_deployments():
    assert float(latency(0.0, 0.18, 3)) == pytest.approx(0.18)
    assert float(latency(1.0, 0.18, 0)) == np.inf


def test_vectorized_over_jobs_counts_and_steps():
    rates = np.random.default_rng(0).uniform(0, 30, size=(5, 1, 7))
    servers = np.arange(1, 9).reshape(1, 8, 1)
    grid = latency(rates, 0.18, servers)
    assert grid.shape == (5, 8, 7)
    assert grid[3, 4, 2] == pytest.approx(float(latency(rates[3, 0, 2], 0.18, 5)))
