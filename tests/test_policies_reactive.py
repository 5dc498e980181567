"""Reactive policies on a fake clock: hysteresis timings, AIAD, Oneshot, Ray Serve, Faro's fallback."""

import pytest
from policy_fakes import observe, reading, specs, ticks

from farod.policies import create
from farod.policies.fallback import ReactiveFallback
from farod.policies.hysteresis import Hysteresis

SLO = 720.0


def test_hysteresis_fires_after_the_delay_and_restarts():
    window = Hysteresis(up_s=30, down_s=600, tick_s=10)
    fired = [t for t in range(0, 100, 10) if window.update("j", +1, now=t)]
    assert fired == [20, 50, 80]  # the 3rd reading of each run; acting restarts the count


def test_hysteresis_reversal_or_neutral_reading_restarts_the_clock():
    window = Hysteresis(up_s=30, down_s=600, tick_s=10)
    assert not any(window.update("j", +1, now=t) for t in (0, 10))
    assert not window.update("j", 0, now=20)
    assert [t for t in (30, 40, 50, 60) if window.update("j", +1, now=t)] == [50]
    assert not any(window.update("j", -1, now=t) for t in range(70, 660, 10))
    assert window.update("j", -1, now=660)  # the 60th reading below


def test_hysteresis_measures_time_not_ticks():
    window = Hysteresis(up_s=30, tick_s=10)
    assert not window.update("j", +1, now=0)
    assert window.update("j", +1, now=45)  # one late tick is enough once 30 s have passed


def _hot_then_cool(policy, *, replicas_hot, replicas_cool, hot_ms=900.0, cool_ms=300.0, ongoing=None):
    """Readings of the 1-based reading number that first triggers an upscale, then a downscale."""
    def hot(t):
        return {"a": reading(mean_latency_ms=hot_ms, ongoing_requests=ongoing[0] if ongoing else None,
                             replicas=replicas_hot)}

    def cool(t):
        return {"a": reading(mean_latency_ms=cool_ms, ongoing_requests=ongoing[1] if ongoing else None,
                             replicas=replicas_cool)}

    up = min(ticks(policy, hot, until=100))
    down = ticks(policy, cool, start=1000, until=2000)
    return int(up // 10) + 1, (int((min(down) - 1000) // 10) + 1 if down else None)


@pytest.mark.parametrize("name", ["aiad", "oneshot", "rayserve"])
def test_every_reactive_policy_acts_on_the_3rd_reading_up_and_the_60th_down(name):
    policy = create(name, jobs=specs("a"), quota={"cpu": 32})
    triggers = _hot_then_cool(policy, replicas_hot=3, replicas_cool=6, ongoing=(20.0, 2.0))
    assert triggers == (3, 60)


def test_the_fallback_counts_its_checks_by_the_same_rule():
    for name in ("faro-sum", "mark"):
        policy = create(name, jobs=specs("a", service_time_ms=180), quota={"cpu": 32})
        assert _hot_then_cool(policy, replicas_hot=3, replicas_cool=6) == (3, None)  # never removes
    fallback = ReactiveFallback(jobs=specs("a"), checks=3, tick_interval_s=10)
    assert _hot_then_cool(fallback, replicas_hot=3, replicas_cool=6) == (3, None)


def test_aiad_adds_after_30s_above_and_removes_after_600s_below():
    policy = create("aiad", jobs=specs("a"), quota={"cpu": 32})
    hot = ticks(policy, lambda t: {"a": reading(mean_latency_ms=900.0, replicas=3)}, until=60)
    assert hot == {20.0: {"a/m": 4}, 50.0: {"a/m": 4}}
    cool = ticks(policy, lambda t: {"a": reading(mean_latency_ms=300.0, replicas=3)}, start=100, until=800)
    assert cool == {690.0: {"a/m": 2}}


def test_aiad_adds_to_the_running_replicas_not_to_a_pending_backlog():
    policy = create("aiad", jobs=specs("a"), quota={"cpu": 32}, params={"upscale_delay_s": 0})
    pending = reading(mean_latency_ms=900.0, replicas=5, running_replicas=3)
    assert policy.react(observe(0, a=pending)).replicas == {"a/m": 5}
    assert policy.react(observe(10, a=reading(mean_latency_ms=900.0, replicas=5))).replicas == {"a/m": 6}


def test_aiad_never_scales_down_a_stale_job_or_below_the_minimum():
    policy = create("aiad", jobs=specs("a", min_replicas=2), quota={"cpu": 32})
    stale = ticks(policy, lambda t: {"a": reading(mean_latency_ms=100.0, replicas=4, stale=True)}, until=1200)
    assert stale == {}
    low = ticks(policy, lambda t: {"a": reading(mean_latency_ms=100.0, replicas=2)}, until=700)
    assert low == {590.0: {"a/m": 2}}  # asks for 1, the guard clamps to min_replicas


def test_aiad_treats_an_idle_job_as_below_the_slo_but_missing_latency_with_traffic_as_unknown():
    policy = create("aiad", jobs=specs("a", "b"), quota={"cpu": 32})
    def read(t):
        return {"a": reading(request_rate=0.0, replicas=3), "b": reading(request_rate=5.0, replicas=3)}

    assert ticks(policy, read, until=600) == {590.0: {"a/m": 2}}


def test_oneshot_scales_by_latency_over_slo():
    policy = create("oneshot", jobs=specs("a"), quota={"cpu": 32})
    hot = ticks(policy, lambda t: {"a": reading(mean_latency_ms=2.5 * SLO, replicas=4)}, until=30)
    assert hot == {20.0: {"a/m": 10}}
    cool = ticks(policy, lambda t: {"a": reading(mean_latency_ms=0.3 * SLO, replicas=10)}, start=40, until=640)
    assert cool == {630.0: {"a/m": 3}}


def test_oneshot_asks_for_the_quota_when_requests_are_rejected():
    policy = create("oneshot", jobs=specs("a"), quota={"cpu": 12}, params={"upscale_delay_s": 0})
    rejecting = reading(mean_latency_ms=float("inf"), replicas=2)
    assert policy.react(observe(0, quota=12, a=rejecting)).replicas == {"a/m": 12}


def test_fallback_adds_one_replica_after_three_consecutive_checks_and_never_removes():
    fallback = ReactiveFallback(jobs=specs("a"), checks=3, tick_interval_s=10)
    latencies = {0: 900, 10: 900, 20: 500, 30: 900, 40: 900, 50: 900, 60: 900, 70: 900, 80: 900, 90: 100}
    fired = {t: fallback.react(observe(t, a=reading(mean_latency_ms=ms, replicas=5))).replicas
             for t, ms in latencies.items()}
    assert {t: r for t, r in fired.items() if r} == {50: {"a/m": 6}, 80: {"a/m": 6}}


def test_fallback_spends_only_free_quota_worst_job_first():
    fallback = ReactiveFallback(jobs=specs("a", "b", "c"), checks=1)
    readings = dict(a=reading(mean_latency_ms=900.0, replicas=3), b=reading(mean_latency_ms=2000.0, replicas=3),
                    c=reading(mean_latency_ms=100.0, replicas=3))
    assert fallback.react(observe(0, quota=10, **readings)).replicas == {"b/m": 4}
    assert fallback.react(observe(10, quota=9, **readings)).replicas == {}


def test_fallback_waits_for_replicas_that_are_still_starting():
    fallback = ReactiveFallback(jobs=specs("a"), checks=1)
    starting = reading(mean_latency_ms=900.0, replicas=4, running_replicas=3)
    assert fallback.react(observe(0, a=starting)).replicas == {}
    assert fallback.react(observe(10, a=reading(mean_latency_ms=900.0, replicas=4))).replicas == {"a/m": 5}


def _ray(**params):
    return create("rayserve", jobs=specs("a"), quota={"cpu": 8}, params=params)


def test_rayserve_scales_up_to_ongoing_over_target_after_30s():
    policy = _ray()
    decisions = ticks(policy, lambda t: {"a": reading(ongoing_requests=9.0, replicas=2)}, until=40)
    assert decisions == {20.0: {"a/m": 5}}  # ceil(9 / 2), on the 3rd reading


def test_rayserve_downscale_waits_600s_and_a_reversal_restarts_the_delay():
    policy = _ray()
    def quiet(t):
        return {"a": reading(ongoing_requests=1.0 if t != 300 else 20.0, replicas=4)}

    assert ticks(policy, quiet, until=1000) == {900.0: {"a/m": 1}}  # the t=300 burst: the count restarts at 310


def test_rayserve_caps_at_the_quota_and_holds_without_running_replicas():
    policy = _ray()
    assert ticks(policy, lambda t: {"a": reading(ongoing_requests=100.0, replicas=4)}, until=20,
                 quota=8) == {20.0: {"a/m": 8}}
    def starting(t):
        return {"a": reading(ongoing_requests=50.0, replicas=4, running_replicas=0)}

    assert ticks(_ray(), starting, until=100) == {}


def test_rayserve_smoothing_factor_and_stuck_downscale():
    up = _ray(upscaling_factor=0.5, upscale_delay_s=0)
    assert up.react(observe(0, a=reading(ongoing_requests=20.0, replicas=2))).replicas == {"a/m": 6}  # 2 + .5·8
    down = _ray(downscaling_factor=0.1, downscale_delay_s=0)
    assert down.react(observe(0, a=reading(ongoing_requests=5.0, replicas=4))).replicas == {"a/m": 3}


@pytest.mark.parametrize("name", ["aiad", "oneshot", "rayserve"])
def test_reactive_policies_plan_nothing(name):
    policy = create(name, jobs=specs("a"), quota={"cpu": 8})
    assert policy.plan_interval_s is None
    assert policy.plan(observe(0, a=reading(replicas=1))).replicas == {}
