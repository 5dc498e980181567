"""The request kernel against queueing theory: one replica serving FIFO is an M/G/1 queue."""

import math

import numpy as np
import pytest

from farod.sim import kernel

SHAPE, LOC, SCALE = 0.4225, 0.0793, 0.0686  # the Faro service time, seconds


def single_server_latencies(*, rate: float, minutes: int, service, max_ongoing: int) -> np.ndarray:
    state = kernel.KernelState.allocate(
        rates=np.full((1, minutes), rate),
        unit_s=60.0,
        seed=11,
        service=np.array([service]),
        proxy=np.zeros((1, 3)),  # no proxy delay: latency = waiting + service
        slots=1,
        max_ongoing=max_ongoing,
        queue_cap=100_000,
        ring_size=1024,
        transit_size=64,
        expected_requests=int(rate * 60 * minutes * 1.1),
    )
    kernel.start_replica(state, job=0, ready_at=0.0, now=0.0)
    kernel.advance(state, math.inf)
    job, unit, latency = state.finished()
    assert state.arrays.arrivals.sum() == len(latency)  # every request finished, none rejected
    return latency.astype(float)


@pytest.mark.parametrize("max_ongoing", [1, 4])
def test_mean_latency_matches_pollaczek_khinchine(max_ongoing):
    # M/G/1: W = E[S] + rate * E[S^2] / (2 (1 - rho)), whatever part of the queue sits at the replica.
    rate = 4.0
    mean = LOC + SCALE * math.exp(SHAPE**2 / 2)
    second_moment = LOC**2 + 2 * LOC * SCALE * math.exp(SHAPE**2 / 2) + SCALE**2 * math.exp(2 * SHAPE**2)
    rho = rate * mean
    expected = mean + rate * second_moment / (2 * (1 - rho))
    latencies = single_server_latencies(rate=rate, minutes=120, service=(SHAPE, LOC, SCALE), max_ongoing=max_ongoing)
    assert len(latencies) == pytest.approx(rate * 7200, rel=0.03)
    assert latencies.mean() == pytest.approx(expected, rel=0.08)
    assert latencies.min() >= LOC


def test_deterministic_service_is_md1():
    # M/D/1 with s = 0.1 s at 5 req/s (rho = 0.5): W = s + rho * s / (2 (1 - rho)) = 0.15 s.
    latencies = single_server_latencies(rate=5.0, minutes=120, service=(0.0, 0.1, 0.0), max_ongoing=4)
    assert latencies.mean() == pytest.approx(0.15, rel=0.06)
    assert latencies.min() == pytest.approx(0.1)
