"""The cilantro policy on a fake clock: what it learns from readings, and how it allocates the quota."""

import numpy as np
import pytest
from policy_fakes import observe, reading, specs

from farod.errors import FarodError
from farod.policies import create
from farod.policies.cilantro import CilantroParams, MonotoneBins

SLO = 720.0


def test_the_band_is_monotone_and_narrows_with_readings():
    learner = MonotoneBins(CilantroParams(bins=10, min_replicas_per_rps=0.01, max_replicas_per_rps=10.0))
    lower, upper = learner.band()
    assert lower.tolist() == [0.0] * 10 and upper.tolist() == [1.0] * 10  # nothing known
    for _ in range(200):
        learner.add(0.05, 0.0)  # few replicas per req/s: the SLO missed
        learner.add(1.0, 1.0)  # many: met
    lower, upper = learner.band()
    low, high = learner.bin(0.05), learner.bin(1.0)
    assert upper[low] < 0.3 and lower[high] > 0.7
    assert upper[0] <= upper[low]  # fewer replicas cannot do better than what was seen to fail
    assert lower[-1] >= lower[high]  # more cannot do worse than what was seen to succeed
    assert np.all(np.diff(upper) >= 0) and np.all(np.diff(lower) >= 0) and np.all(lower <= upper)


def test_it_starts_in_proportion_to_load_and_moves_replicas_to_where_the_slo_was_missed():
    policy = create("cilantro", jobs=specs("a", "b"), quota={"cpu": 8})
    assert (policy.plan_interval_s, policy.tick_interval_s) == (60.0, 10.0)

    def readings(a_p99, replicas):
        return dict(a=reading(request_rate=20.0, p99_latency_ms=a_p99, replicas=replicas["a/m"]),
                    b=reading(request_rate=20.0, p99_latency_ms=300.0, replicas=replicas["b/m"]))

    first = policy.plan(observe(0, quota=8, **readings(300.0, {"a/m": 4, "b/m": 4}))).replicas
    assert first == {"a/m": 4, "b/m": 4}  # equal loads, nothing learnt: an even split
    for t in range(10, 600, 10):  # a misses its SLO with 4 replicas, b meets it
        assert policy.react(observe(t, quota=8, **readings(2000.0, first))).replicas == {}
    second = policy.plan(observe(600, quota=8, **readings(2000.0, first))).replicas
    assert second["a/m"] > 4 and sum(second.values()) == 8  # optimism: more might fix a; b's 3 are untried


def test_unsettled_stale_or_idle_readings_teach_nothing():
    policy = create("cilantro", jobs=specs("a"), quota={"cpu": 8}).inner
    for t, seen in enumerate([
        reading(request_rate=10.0, p99_latency_ms=2000.0, replicas=4, running_replicas=3),  # starting
        reading(request_rate=10.0, p99_latency_ms=2000.0, replicas=4, stale=True),
        reading(request_rate=0.0, replicas=4),
        reading(request_rate=10.0, replicas=4),  # no latency
    ]):
        policy.react(observe(10 * t, a=seen))
    assert policy.learners["a/m"].count.sum() == 0
    policy.react(observe(50, a=reading(request_rate=10.0, p99_latency_ms=2000.0, replicas=4)))
    assert policy.learners["a/m"].count.sum() == 1


def test_an_idle_job_keeps_its_minimum_and_the_quota_is_never_exceeded():
    policy = create("cilantro", jobs=specs("a", "b", min_replicas=1), quota={"cpu": 5})
    decision = policy.plan(observe(0, quota=5, a=reading(request_rate=0.0, replicas=1),
                                   b=reading(request_rate=12.0, p99_latency_ms=100.0, replicas=1)))
    assert decision.replicas == {"a/m": 1, "b/m": 4}


def test_parameters_are_checked():
    with pytest.raises(FarodError, match="policy cilantro: learner must be one of bins, got 'gp'"):
        create("cilantro", jobs=specs("a"), quota={"cpu": 4}, params={"learner": "gp"})
    with pytest.raises(FarodError, match="min_replicas_per_rps < max_replicas_per_rps"):
        create("cilantro", jobs=specs("a"), quota={"cpu": 4}, params={"max_replicas_per_rps": 0.001})


def test_the_daemon_runs_it_like_every_policy():
    from daemon_support import JOBS, FakeClock, StubSignals
    from prometheus_client import CollectorRegistry

    from farod.actuators.dryrun import DryRunActuator
    from farod.daemon.controller import Controller
    from farod.daemon.metrics import DaemonMetrics

    actuator = DryRunActuator()
    actuator.applied.update({key: 1 for key in JOBS})
    policy = create("cilantro", jobs=JOBS, quota={"cpu": 10})
    controller = Controller(jobs=JOBS, policy=policy, signals=StubSignals(JOBS), actuator=actuator,
                            metrics=DaemonMetrics(registry=CollectorRegistry()), quota=lambda: {"cpu": 10},
                            clock=FakeClock(), tick_s=10, misses_before_unready=3)
    assert controller.decide("react")["applied"] is not None
    record = controller.decide("plan")
    assert sum(record["targets"].values()) == 10 and actuator.applied == record["targets"]
