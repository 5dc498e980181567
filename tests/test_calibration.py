"""Online calibration of the latency model's tail, on a fake clock: readings in, learned tail out."""

import heapq

import numpy as np
import pytest
from policy_fakes import observe, reading, specs

from farod.model.queueing import latency
from farod.policies import create
from farod.policies.calibration import TAIL_BOUNDS, Calibration

WINDOW_S = 30.0
SERVICE_MS = 154.3
REPLICAS = 3


def heavy_service_ms(rng, size):
    """A shifted lognormal twice as dispersed as the model assumes (shape 0.9), mean 154.3 ms."""
    return 79.3 + 50.03 * np.exp(0.9 * rng.standard_normal(size))


def windows(rates, seed=7):
    """Readings of a FCFS queue with ``REPLICAS`` servers and heavy-tailed service: one 30-s window per
    rate, (request rate, p99 latency ms, mean service ms) as a deployment measures them."""
    rng = np.random.default_rng(seed)
    free = [0.0] * REPLICAS  # when each server is next free, ms
    start, readings = 0.0, []
    for rate in rates:
        arrivals = start + np.cumsum(rng.exponential(1000.0 / rate, int(rate * WINDOW_S * 1.5)))
        arrivals = arrivals[arrivals < start + WINDOW_S * 1000.0]
        service = heavy_service_ms(rng, arrivals.size)
        done = np.empty(arrivals.size)
        for i, (arrival, work) in enumerate(zip(arrivals, service)):
            begin = max(arrival, heapq.heappop(free))
            done[i] = begin + work
            heapq.heappush(free, done[i])
        readings.append((arrivals.size / WINDOW_S, float(np.percentile(done - arrivals, 99)), float(service.mean())))
        start += WINDOW_S * 1000.0
    return readings


def learn(calibration, readings, replicas=REPLICAS, **fields):
    for tick, (rate, p99, processing) in enumerate(readings):
        calibration.observe(observe(10 * tick, a=reading(request_rate=rate, p99_latency_ms=p99,
                                                          processing_time_ms=processing, replicas=replicas, **fields)))


def predicted_ms(tail_ms, rate):
    tail = None if tail_ms is None else tail_ms / 1000.0
    return 1000.0 * float(latency(rate, SERVICE_MS / 1000.0, REPLICAS, tail=tail))


@pytest.mark.parametrize("rate", [8.0, 12.0])  # utilization 0.41 and 0.62
def test_the_tail_converges_under_a_heavier_tailed_service_than_the_model_assumes(rate):
    calibration = Calibration({"a/m": SERVICE_MS}, service_rate=0.0, tail_rate=0.1)
    learn(calibration, windows(np.full(60, rate)))
    tail = calibration.tail_ms("a/m")
    # On fresh readings at the same load the calibrated model predicts the measured p99 (the mean of
    # 30-s windows' p99, each noisy), the uncalibrated one (a constant service time) far below it.
    measured = np.mean([p99 for _, p99, _ in windows(np.full(30, rate), seed=8)])
    assert predicted_ms(tail, rate) == pytest.approx(measured, rel=0.08)
    assert predicted_ms(None, rate) < 0.8 * measured
    assert SERVICE_MS * 1.5 < tail < 484  # between the model's default and the service's own p99


def test_the_tail_stays_within_its_bounds_and_follows_the_calibrated_service_time():
    busy = dict(request_rate=10.0, processing_time_ms=150.0, replicas=10)  # no wait at this load
    high = Calibration({"a/m": 150.0}, service_rate=0.0, tail_rate=0.5)
    low = Calibration({"a/m": 150.0}, service_rate=0.0, tail_rate=0.5)
    for t in range(0, 300, 10):
        high.observe(observe(t, a=reading(p99_latency_ms=5000.0, **busy)))
        low.observe(observe(t, a=reading(p99_latency_ms=50.0, **busy)))
    assert high.tail_ms("a/m") == pytest.approx(TAIL_BOUNDS[1] * 150.0)
    assert low.tail_ms("a/m") == pytest.approx(TAIL_BOUNDS[0] * 150.0)
    both = Calibration({"a/m": 180.0}, service_rate=0.2, tail_rate=0.2)
    for t in range(0, 600, 10):
        both.observe(observe(t, a=reading(p99_latency_ms=450.0, **busy)))
    assert both.service_time_ms("a/m") == pytest.approx(150.0, abs=0.5)
    assert both.tail_ms("a/m") == pytest.approx(450.0, rel=0.01)


def test_no_learning_from_stale_thin_starting_or_saturated_readings():
    calibration = Calibration({"a/m": 150.0}, service_rate=0.0, tail_rate=0.5)
    busy = dict(request_rate=10.0, processing_time_ms=150.0, p99_latency_ms=3000.0, replicas=10)
    for t, fields in enumerate([dict(stale=True), dict(request_rate=6.0),  # 180 requests: too few for a p99
                                dict(running_replicas=8),  # replicas still starting
                                dict(request_rate=30.0, replicas=4),  # utilization 1.1, beyond the cap
                                dict(p99_latency_ms=float("nan")), dict(p99_latency_ms=None)]):
        calibration.observe(observe(10 * t, a=reading(**(busy | fields))))
    assert calibration.tail_ms("a/m") is None  # the model's default: the service time
    off = Calibration({"a/m": 150.0}, service_rate=0.0, tail_rate=0.0)
    off.observe(observe(0, a=reading(**busy)))
    assert off.tail_ms("a/m") is None


def test_a_learned_tail_gives_the_heavy_tailed_job_the_replicas_it_needs():
    seen = observe(400, quota=10, a=reading(history=np.full(40, 10.0 * 60), replicas=3))
    params = dict(forecaster="last", mode="quantile", change_cost=0, headroom_quantiles="")
    plain, tuned = (create("faro-sum", jobs=specs("a", service_time_ms=SERVICE_MS, slo_ms=450.0), quota={"cpu": 10},
                           params=params | {"latency_calibration_rate": rate}) for rate in (0.0, 0.1))
    for policy in (plain, tuned):
        for tick, (rate, p99, processing) in enumerate(windows(np.full(40, 10.0))):
            policy.react(observe(10 * tick, quota=10, a=reading(request_rate=rate, p99_latency_ms=p99,
                                                                   processing_time_ms=processing, replicas=3)))
    # At 3 replicas the model alone predicts 325 ms, within the 450-ms SLO; about 500 ms are measured.
    assert plain.plan(seen).replicas == {"a/m": 3}
    assert tuned.plan(seen).replicas == {"a/m": 4}


def test_a_profiled_tail_is_where_the_model_starts_and_learning_goes_on_from_it():
    busy = dict(request_rate=10.0, processing_time_ms=150.0, replicas=10, p99_latency_ms=300.0)  # no wait
    assert Calibration({"a/m": 150.0}).tail_ms("a/m") is None
    assert Calibration({"a/m": 150.0}, told_tail_ms={"a/m": 450.0}).tail_ms("a/m") == pytest.approx(450.0)
    told = Calibration({"a/m": 150.0}, told_tail_ms={"a/m": 450.0}, service_rate=0.0, tail_rate=0.5)
    told.observe(observe(0, a=reading(**busy)))
    assert told.tail_ms("a/m") == pytest.approx(375.0)  # half way from the profile to the 300 measured


def test_a_policy_told_the_tail_sizes_the_heavy_tailed_job_as_a_calibrated_one_does():
    seen = observe(400, quota=10, a=reading(history=np.full(40, 10.0 * 60), replicas=3))
    params = dict(forecaster="last", mode="quantile", change_cost=0, headroom_quantiles="")
    told = create("faro-sum", jobs=specs("a", service_time_ms=SERVICE_MS, service_tail_ms=350.0, slo_ms=450.0),
                  quota={"cpu": 10}, params=params)
    untold = create("faro-sum", jobs=specs("a", service_time_ms=SERVICE_MS, slo_ms=450.0), quota={"cpu": 10},
                    params=params)
    # At 3 replicas the model predicts 325 ms with the service time as its tail, 521 ms with the 350-ms
    # tail (the queueing.latency values); 4 replicas bring the latter to 416 ms.
    assert untold.plan(seen).replicas == {"a/m": 3} and told.plan(seen).replicas == {"a/m": 4}
