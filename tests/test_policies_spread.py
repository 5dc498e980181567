"""The forecast spread's online calibration: bands that hold what they claim, checked against the
readings' true distribution, and plans that follow it."""

import numpy as np
import pytest
from policy_fakes import observe, reading, specs
from scipy import stats

from farod.policies import create
from farod.policies.predictive import JobForecast
from farod.policies.spread import BOUNDS, SpreadCalibration

BAND = (0.05, 0.95)


def calibrate(spread, draws, forecast):
    """Feed readings one by one against the band the widened forecast gives; the share outside each
    edge over the last half of them."""
    above = below = 0
    for n, rps in enumerate(draws):
        widened = spread.widen("a/m", forecast)
        low, high = widened.at(BAND[0])[0], widened.at(BAND[1])[0]
        spread.observe("a/m", float(rps), low=low, high=high)
        if n >= draws.size // 2:
            above += rps > high
            below += rps < low
    return above / (draws.size // 2), below / (draws.size // 2)


@pytest.mark.parametrize("true_sd", [2.0, 0.4])  # a forecast spread 3.3x too narrow, then 1.5x too wide
def test_the_band_converges_on_the_readings_quantiles(true_sd):
    forecast = JobForecast((0.05, 0.5, 0.95), np.array([[9.0], [10.0], [11.0]]))  # claims sd 1/1.645
    draws = np.random.default_rng(1).normal(10.0, true_sd, 20_000)
    spread = SpreadCalibration(rate=0.05, band=BAND)
    above, below = calibrate(spread, draws, forecast)
    assert above == pytest.approx(0.05, abs=0.01) and below == pytest.approx(0.05, abs=0.01)
    widened = spread.widen("a/m", forecast)
    truth = stats.norm(10.0, true_sd)
    assert widened.at(0.95)[0] == pytest.approx(truth.ppf(0.95), rel=0.06)
    assert widened.at(0.05)[0] == pytest.approx(truth.ppf(0.05), rel=0.06)


def test_the_sides_learn_apart_and_stay_within_bounds():
    forecast = JobForecast((0.05, 0.5, 0.95), np.array([[9.0], [10.0], [11.0]]))
    z = np.random.default_rng(2).standard_normal(20_000)
    skewed = 10.0 + z * np.where(z > 0, 2.0, 0.5)  # a split normal: sd 2 above the median, 0.5 below
    spread = SpreadCalibration(rate=0.05, band=BAND)
    calibrate(spread, skewed, forecast)
    up, down = spread.factors("a/m")
    # the forecast's distances are 1 on both sides; the truth's 0.95 / 0.05 quantiles are 1.645 x 2 / 0.5 away
    assert up == pytest.approx(1.645 * 2.0, rel=0.1) and down == pytest.approx(1.645 * 0.5, rel=0.1)
    wild = SpreadCalibration(rate=1.0, band=BAND)
    for _ in range(50):
        wild.observe("a/m", 1e6, low=9.0, high=11.0)
        wild.observe("b/m", 10.0, low=9.0, high=11.0)
    assert wild.factors("a/m")[0] == BOUNDS[1] and wild.factors("b/m") == (BOUNDS[0], BOUNDS[0])
    wild.observe("a/m", float("nan"), low=9.0, high=11.0)
    wild.observe("a/m", None, low=9.0, high=11.0)
    assert wild.factors("a/m")[0] == BOUNDS[1]


def test_a_job_burstier_than_its_forecast_gets_a_wider_band_and_more_replicas():
    # Two jobs at 20 req/s with calm histories (the forecast band is about +-0.7 req/s); then job a's
    # readings spread +-6 req/s. Under a 500-ms SLO 5 replicas serve 20.7 req/s (450 ms) but not 23
    # (606 ms, the queueing.latency values), so a wider band asks for a sixth.
    history = {app: np.random.default_rng(seed).normal(1200.0, 60.0, 40).clip(0) for app, seed in (("a", 3), ("b", 5))}

    def replan(rate):
        policy = create("faro-sum", jobs=specs("a", "b", service_time_ms=180.0, slo_ms=500.0), quota={"cpu": 14},
                        params=dict(forecaster="seasonal", replan_after_s=0, headroom_quantiles="",
                                    spread_calibration_rate=rate))
        seen = lambda t, rps_a: observe(t, quota=14, a=reading(history=history["a"], request_rate=rps_a, replicas=5),  # noqa: E731
                                        b=reading(history=history["b"], request_rate=20.0, replicas=5))
        first = policy.plan(seen(300, 20.0))
        for tick, rps in enumerate(np.random.default_rng(4).normal(20.0, 6.0, 120).clip(0)):
            policy.react(seen(310 + 10 * tick, float(rps)))
        return first, policy.plan(seen(1600, 20.0))

    first, plain = replan(0.0)
    _, calibrated = replan(0.05)
    spread = lambda decision, q: decision.plans["a/m"].forecast_rps[q][0] - decision.plans["a/m"].forecast_rps[0.5][0]  # noqa: E731
    assert spread(plain, 0.9) == pytest.approx(spread(first, 0.9))  # rate 0: the forecaster's own band
    assert spread(calibrated, 0.9) > 3 * spread(plain, 0.9) and spread(calibrated, 0.1) < 3 * spread(plain, 0.1)
    assert plain.replicas == {"a/m": 5, "b/m": 5} and calibrated.replicas == {"a/m": 6, "b/m": 5}


def test_an_early_replan_needs_a_surprise_by_the_forecasters_band_too():
    # An SLO below the service time: every rate is "at risk", so only the band decides. Readings sit
    # at the median until the calibrated band is a quarter of the forecaster's (~ +-0.17 vs +-0.67 req/s).
    history = np.full(40, 600.0)
    policy = create("faro-sum", jobs=specs("a", "b", service_time_ms=180.0, slo_ms=150.0), quota={"cpu": 12},
                    params=dict(forecaster="seasonal", replan_after_s=30, replan_min_interval_s=30,
                                replan_min_planned_utility=0, spread_calibration_rate=0.5))
    replicas = {"a/m": 6, "b/m": 6}

    def seen(t, rps_a):
        return observe(t, quota=12, a=reading(history=history, request_rate=rps_a, replicas=replicas["a/m"]),
                       b=reading(history=history, request_rate=10.0, replicas=replicas["b/m"]))

    policy.plan(seen(300, 10.0))
    assert all(policy.react(seen(t, 10.0)).kind == "react" for t in range(310, 1200, 10))
    plan = policy.plan(seen(1200, 10.0))
    band, sigma = plan.plans["a/m"].forecast_rps, np.sqrt(600) / 60  # the forecaster's: Poisson counts
    assert band[0.9][0] - band[0.5][0] == pytest.approx(0.25 * 1.2816 * sigma, rel=0.1)
    inside_own = 10.0 + 0.6 * 1.645 * sigma  # beyond the calibrated 0.95 edge (10.17), within the forecaster's (10.67)
    assert all(policy.react(seen(t, inside_own)).kind == "react" for t in range(1210, 1500, 10))
    assert "plan" in {policy.react(seen(t, 12.0)).kind for t in range(1500, 1600, 10)}
