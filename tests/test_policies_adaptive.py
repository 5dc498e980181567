"""Faro's expected-utility mode, early replanning and online calibration, on a fake clock."""

import numpy as np
import pytest
from policy_fakes import observe, reading, specs

from farod.errors import FarodError
from farod.model.queueing import latency
from farod.policies import create
from farod.policies.calibration import Calibration
from farod.policies.faro import level_weights
from farod.policies.replan import Band, BandWatch

MINUTES = 40


def flat(rps: float) -> np.ndarray:
    return np.full(MINUTES, rps * 60.0)


def faro(quota=12, apps=("a", "b"), service_time_ms=180.0, **params):
    params.setdefault("forecaster", "seasonal")
    return create("faro-sum", jobs=specs(*apps, service_time_ms=service_time_ms), quota={"cpu": quota}, params=params)


def noisy(rps: float, seed: int, spread: float = 0.1) -> np.ndarray:
    """A history around ``rps`` with some spread, so the forecast quantiles form a band."""
    return np.random.default_rng(seed).normal(rps * 60.0, rps * 60.0 * spread, MINUTES).clip(0)


# --- expected utility ----------------------------------------------------------------------------------------


def test_level_weights_are_the_mass_between_midpoints():
    assert level_weights([0.1, 0.3, 0.5, 0.7, 0.9]).tolist() == pytest.approx([0.2] * 5)
    assert level_weights([0.5, 0.9]).tolist() == pytest.approx([0.7, 0.3])


def test_expected_mode_plans_over_every_level_and_reports_them():
    seen = observe(300, quota=12, a=reading(history=noisy(20, 1), replicas=3), b=reading(history=noisy(5, 2), replicas=3))
    expected = faro(mode="expected", headroom_quantiles="").plan(seen)
    assert expected.reason == "sum expected over quantiles 0.1,0.3,0.5,0.7,0.9"
    assert set(expected.plans["a/m"].forecast_rps) == {0.1, 0.3, 0.5, 0.7, 0.9}
    assert sum(expected.replicas.values()) <= 12
    spread = observe(300, quota=40, a=reading(history=noisy(20, 1, spread=0.4), replicas=1),
                     b=reading(history=noisy(10, 2, spread=0.4), replicas=1))
    low = faro(quota=40, mode="expected", expected_levels="0.05,0.1", headroom_quantiles="").plan(spread)
    high = faro(quota=40, mode="expected", expected_levels="0.9,0.99", headroom_quantiles="").plan(spread)
    # the levels are what is planned for: the same replicas are worth less against the upper levels
    assert low.replicas == high.replicas
    assert low.plans["a/m"].utility > high.plans["a/m"].utility


def test_bad_adaptive_parameters_fail_with_their_name():
    for params, name in [({"mode": "mean"}, "mode"), ({"expected_levels": "0.9,0.5"}, "expected_levels"),
                         ({"replan_band": "0.6,0.9"}, "replan_band"), ({"change_cost": -1}, "change_cost"),
                         ({"reversal_cost": -0.1}, "reversal_cost"), ({"reversal_window_s": -1}, "reversal_window_s"),
                         ({"replan_min_planned_utility": 1.5}, "replan_min_planned_utility"),
                         ({"replan_risk_margin": -0.1}, "replan_risk_margin"),
                         ({"service_calibration_rate": 2}, "service_calibration_rate"),
                         ({"calibration_bounds": "1.5,2"}, "calibration_bounds")]:
        with pytest.raises(FarodError, match=name):
            faro(**params)


# --- early replanning ----------------------------------------------------------------------------------------


def test_band_watch_needs_a_sustained_departure_and_the_minimum_interval():
    watch = BandWatch(after_s=30, min_interval_s=120, tick_s=10, step_s=60)
    watch.planned(0.0, {"a/m": Band(low=np.full(7, 5.0), middle=np.full(7, 8.0), high=np.full(7, 10.0))})
    seen = lambda t, rps: observe(t, a=reading(request_rate=rps, replicas=2))  # noqa: E731
    assert [watch.departures(seen(t, 20.0)) for t in (100, 110, 120)] == [{}, {}, {"a/m": 2.5}]
    # an interrupted departure starts over; a low one reports a shift below 1; none within 120 s of a plan
    watch.planned(200.0, {"a/m": Band(low=np.full(7, 5.0), middle=np.full(7, 8.0), high=np.full(7, 10.0))})
    assert all(not watch.departures(seen(t, 2.0)) for t in range(200, 320, 10))
    assert watch.departures(seen(320, 2.0)) == {"a/m": 0.25}
    assert watch.departures(seen(330, 3.0)) == {"a/m": 0.375}  # still out, no new plan: still reported
    assert [watch.departures(seen(t, rps)) for t, rps in ((340, 8.0), (350, 1.0), (360, 1.0))] == [{}] * 3
    assert watch.departures(seen(370, 1.0)) == {"a/m": 0.25}  # clipped to 1/MAX_SHIFT


def test_a_job_that_leaves_its_band_gets_replicas_before_the_next_plan():
    policy = faro(quota=12, replan_after_s=30, replan_min_interval_s=60)
    history = dict(a=noisy(10, 3), b=noisy(10, 4))
    plan = policy.plan(observe(300, quota=12, **{k: reading(history=h, replicas=3) for k, h in history.items()}))
    replicas = dict(plan.replicas)

    def tick(t, rate_a):
        return policy.react(observe(t, quota=12, a=reading(history=history["a"], request_rate=rate_a, replicas=replicas["a/m"]),
                                    b=reading(history=history["b"], request_rate=10.0, replicas=replicas["b/m"])))

    assert all(tick(t, 10.0).replicas == {} for t in range(310, 420, 10))  # in band: nothing happens
    decisions = {t: tick(t, 30.0) for t in range(420, 460, 10)}
    early = [t for t, d in decisions.items() if d.kind == "plan"]
    assert early == [440]  # 30 s out of the band: the third reading
    decision = decisions[440]
    assert decision.reason.startswith("early replan (a/m x")
    assert decision.replicas["a/m"] > replicas["a/m"] and decision.replicas["b/m"] <= replicas["b/m"]
    assert sum(decision.replicas.values()) <= 12
    # the replan re-centred the band on the new level: the same rate no longer triggers
    replicas = dict(decision.replicas)
    assert all(tick(t, 30.0).kind == "react" for t in range(450, 600, 10))


def test_a_departure_the_replicas_absorb_moves_nothing():
    policy = faro(quota=12, replan_after_s=30, replan_min_interval_s=30, replan_band=(0.3, 0.7), headroom_quantiles="")
    history = dict(a=noisy(10, 3), b=noisy(10, 4))
    plan = policy.plan(observe(300, quota=12, **{k: reading(history=h, replicas=3) for k, h in history.items()}))
    replicas = dict(plan.replicas)
    above_band = 1.2 * plan.plans["a/m"].forecast_rps[0.7][0]
    assert 1000 * latency(above_band, 0.18, replicas["a/m"]) < 720  # out of the band, yet within the SLO

    def tick(t, rate_a):
        return policy.react(observe(t, quota=12, a=reading(history=history["a"], request_rate=rate_a, replicas=replicas["a/m"]),
                                    b=reading(history=history["b"], request_rate=10.0, replicas=replicas["b/m"])))

    assert all(tick(t, above_band).kind == "react" for t in range(310, 600, 10))
    at_risk = replicas["a/m"] / 0.18  # as many requests/s as the replicas can serve
    assert [tick(t, at_risk).kind for t in (600, 610)] == ["plan", "react"]  # out of the band since 340


def test_a_risk_margin_replans_only_for_misses_larger_than_it():
    history = dict(a=noisy(10, 3), b=noisy(10, 4))

    def kinds(margin, miss):
        """What the ticks decide while a's rate makes the model predict ``miss`` times its SLO."""
        policy = faro(quota=12, replan_after_s=30, replan_min_interval_s=30, headroom_quantiles="",
                      replan_risk_margin=margin)
        plan = policy.plan(observe(300, quota=12, **{k: reading(history=h, replicas=3) for k, h in history.items()}))
        replicas = dict(plan.replicas)
        rate_a = next(r for r in np.arange(10.0, 200.0, 0.01) if 1000 * latency(r, 0.18, replicas["a/m"]) > miss * 720)
        return {policy.react(observe(t, quota=12, a=reading(history=history["a"], request_rate=rate_a, replicas=replicas["a/m"]),
                                     b=reading(history=history["b"], request_rate=10.0, replicas=replicas["b/m"]))).kind
                for t in range(310, 600, 10)}

    assert "plan" in kinds(0.0, miss=1.15) and kinds(0.3, miss=1.15) == {"react"}
    assert "plan" in kinds(0.3, miss=1.45)


def test_a_job_its_plan_already_let_miss_triggers_no_replan():
    # Two jobs that need ~4 replicas each under a quota of 5: the plan knowingly lets one of them miss.
    policy = faro(quota=5, replan_after_s=30, replan_min_interval_s=30, headroom_quantiles="")
    history = dict(a=noisy(15, 3), b=noisy(15, 4))
    plan = policy.plan(observe(300, quota=5, **{k: reading(history=h, replicas=2) for k, h in history.items()}))
    missing = min(plan.plans, key=lambda key: plan.plans[key].utility)
    assert plan.plans[missing].utility < 0.9 <= max(p.utility for p in plan.plans.values())
    replicas = dict(plan.replicas)

    def tick(t, surge):
        return policy.react(observe(t, quota=5, **{key.split("/")[0]: reading(
            history=history[key.split("/")[0]], request_rate=15.0 * (3 if key == surge else 1), replicas=replicas[key])
            for key in replicas}))

    assert all(tick(t, surge=missing).kind == "react" for t in range(310, 600, 10))
    other = next(key for key in replicas if key != missing)
    assert "plan" in {tick(t, surge=other).kind for t in range(600, 700, 10)}  # one it expected to meet does


def test_early_replanning_turned_off_never_replans():
    policy = faro(quota=12, replan_after_s=0)
    history = noisy(10, 5)
    policy.plan(observe(300, quota=12, a=reading(history=history, replicas=3), b=reading(history=history, replicas=3)))
    kinds = {policy.react(observe(t, quota=12, a=reading(history=history, request_rate=40.0, replicas=3),
                                  b=reading(history=history, request_rate=10.0, replicas=3))).kind for t in range(310, 600, 10)}
    assert kinds == {"react"}


def test_a_change_cost_keeps_small_gains_from_moving_replicas():
    seen = observe(300, quota=8, a=reading(history=flat(20), replicas=4), b=reading(history=flat(4), replicas=4))
    free = faro(quota=8, forecaster="last", headroom_quantiles="").plan(seen).replicas
    sticky = faro(quota=8, forecaster="last", headroom_quantiles="", change_cost=0.5).plan(seen).replicas
    assert free == {"a/m": 5, "b/m": 3} and sticky == {"a/m": 4, "b/m": 4}  # 2 moves for ~0.4 utility


# --- calibration ---------------------------------------------------------------------------------------------


def test_service_time_converges_to_the_measured_one_within_bounds():
    calibration = Calibration({"a/m": 180.0, "b/m": 180.0}, service_rate=0.1, bounds=(0.5, 2.0))
    for t in range(0, 600, 10):
        calibration.observe(observe(t, a=reading(processing_time_ms=150.0, replicas=2),
                                    b=reading(processing_time_ms=900.0, replicas=2)))
    assert calibration.service_time_ms("a/m") == pytest.approx(150.0, abs=0.5)
    assert calibration.service_time_ms("b/m") == 360.0  # 2x the profiled value at most
    stale = Calibration({"a/m": 180.0}, service_rate=0.1)
    stale.observe(observe(0, a=reading(processing_time_ms=150.0, replicas=2, stale=True)))
    assert stale.service_time_ms("a/m") == 180.0


def test_the_profile_counts_as_five_readings_then_the_rate_takes_over():
    calibration = Calibration({"a/m": 120.0}, service_rate=0.02)
    estimates = []
    for t in range(0, 1000, 10):
        calibration.observe(observe(t, a=reading(processing_time_ms=150.0, replicas=2)))
        estimates.append(calibration.service_time_ms("a/m"))
    n = np.arange(1, 46)
    np.testing.assert_allclose(estimates[:45], (5 * 120.0 + n * 150.0) / (5 + n))  # a running mean
    gap = 150.0 - estimates[44]
    np.testing.assert_allclose(150.0 - np.array(estimates[45:]), gap * 0.98 ** np.arange(1, 56))  # then EWMA 0.02


def test_a_service_time_that_drifts_from_the_plans_replans_early():
    history = dict(a=noisy(10, 3), b=noisy(10, 4))
    policy = faro(quota=12, service_time_ms=120.0, replan_after_s=30, replan_min_interval_s=30)
    plan = policy.plan(observe(300, quota=12, **{k: reading(history=h, replicas=3) for k, h in history.items()}))

    def tick(t, processing_a):
        return policy.react(observe(t, quota=12, **{k: reading(history=h, request_rate=10.0, replicas=plan.replicas[f"{k}/m"],
                                                                 processing_time_ms=processing_a if k == "a" else 120.0)
                                                     for k, h in history.items()}))

    assert all(tick(t, 125.0).kind == "react" for t in range(310, 600, 10))  # within 10% of the plan's
    early = [d.reason for d in (tick(t, 150.0) for t in range(600, 1200, 10)) if d.kind == "plan"]
    assert early and all("early replan (a/m service time 1" in why and "b/m" not in why for why in early)


def test_a_policy_told_the_wrong_service_time_plans_like_one_told_the_truth_after_calibrating():
    seen = dict(a=reading(history=flat(20), replicas=4), b=reading(history=flat(10), replicas=4))
    plan = dict(quota=6, forecaster="last", mode="quantile", change_cost=0)
    truth = faro(service_time_ms=150.0, **plan).plan(observe(300, quota=6, **seen)).replicas
    assert truth == {"a/m": 4, "b/m": 2}
    for told in (120.0, 180.0):
        policy = faro(service_time_ms=told, service_calibration_rate=0.1, **plan)
        uncalibrated = faro(service_time_ms=told, **plan).plan(observe(300, quota=6, **seen)).replicas
        assert uncalibrated != truth
        for t in range(0, 300, 10):
            policy.react(observe(t, quota=6, a=reading(processing_time_ms=150.0, replicas=4),
                                 b=reading(processing_time_ms=150.0, replicas=2)))
        assert policy.plan(observe(300, quota=6, **seen)).replicas == truth


@pytest.mark.parametrize("name, reason", [("faro-sum", "sum expected over quantiles 0.1,0.3,0.5,0.7,0.9"),
                                          ("faro-penaltysum", "penaltysum expected over quantiles 0.1,0.3,0.5,0.7,0.9"),
                                          ("faro-fairsum", "fairsum at quantile 0.7"), ("faro-fair", "fair at quantile 0.7")])
def test_the_spread_objectives_keep_the_quantile_unless_told(name, reason):
    seen = observe(300, quota=8, a=reading(history=flat(40), replicas=4), b=reading(history=flat(40), replicas=4))
    policy = create(name, jobs=specs("a", "b", service_time_ms=180.0), quota={"cpu": 8}, params={"forecaster": "last"})
    assert policy.plan(seen).reason == reason
    told = create(name, jobs=specs("a", "b", service_time_ms=180.0), quota={"cpu": 8},
                  params={"forecaster": "last", "mode": "expected"})
    assert "expected over" in told.plan(seen).reason
