"""Faro's policies, MArk and the oracle on hand-built observations (real solver, real forecasters)."""

import math

import numpy as np
import pytest
from policy_fakes import observe, reading, specs

from farod.errors import FarodError
from farod.policies import create

MINUTES = 40


def flat(rps: float) -> np.ndarray:
    """A history of MINUTES minutes at ``rps`` requests/s."""
    return np.full(MINUTES, rps * 60.0)


def faro(name="faro-sum", quota=8, apps=("a", "b"), **params):
    params.setdefault("forecaster", "last")
    return create(name, jobs=specs(*apps, service_time_ms=180), quota={"cpu": quota}, params=params)


def test_faro_plans_with_the_solver_within_the_quota():
    policy = faro(quota=8)
    decision = policy.plan(observe(300, quota=8, a=reading(history=flat(30), replicas=2),
                                   b=reading(history=flat(1), replicas=2)))
    assert decision.kind == "plan"
    assert sum(decision.replicas.values()) <= 8
    assert decision.replicas["a/m"] > decision.replicas["b/m"] >= 1
    assert decision.objective == pytest.approx(sum(plan.utility for plan in decision.plans.values()))


def test_faro_holds_a_stale_job_and_reserves_its_replicas():
    policy = faro(quota=8)
    decision = policy.plan(observe(300, quota=8, a=reading(history=flat(30), replicas=2),
                                   b=reading(history=flat(1), replicas=5, stale=True)))
    assert decision.replicas == {"a/m": 3}


def test_spare_quota_raises_the_quantile_only_while_quota_is_idle():
    light = dict(a=reading(history=flat(12), replicas=2), b=reading(history=flat(12), replicas=2))
    roomy = faro(quota=32, mode="quantile").plan(observe(300, quota=32, **light))
    plain = faro(quota=32, mode="quantile", headroom_quantiles="").plan(observe(300, quota=32, **light))
    assert roomy.reason.endswith("quantile 0.99") and plain.reason.endswith("quantile 0.7")
    assert all(roomy.replicas[key] >= plain.replicas[key] for key in plain.replicas)
    assert sum(roomy.replicas.values()) > sum(plain.replicas.values())
    busy = dict(a=reading(history=flat(40), replicas=4), b=reading(history=flat(40), replicas=4))
    tight = faro(quota=8, mode="quantile").plan(observe(300, quota=8, **busy))
    assert tight.reason.endswith("quantile 0.7") and sum(tight.replicas.values()) == 8


def test_new_replicas_only_serve_after_startup():
    def plan(startup_s):
        policy = faro(quota=16, apps=("a",), startup_s=startup_s, headroom_quantiles="")
        return policy.plan(observe(300, quota=16, a=reading(history=flat(20), replicas=1)))

    instant, slow = plan(0), plan(60)
    assert slow.replicas == instant.replicas and instant.replicas["a/m"] > 1
    assert instant.plans["a/m"].utility == 1.0
    assert slow.plans["a/m"].utility < 0.9  # the first minute runs on the one current replica


def test_penaltysum_sheds_load_it_cannot_serve_and_says_so():
    policy = faro("faro-penaltysum", quota=2, apps=("a",))
    decision = policy.plan(observe(300, quota=2, a=reading(history=flat(40), replicas=2)))
    assert decision.replicas == {"a/m": 2}
    assert decision.plans["a/m"].accept_rate < 1.0


@pytest.mark.parametrize("name", ["faro-sum", "faro-fair", "faro-fairsum", "faro-penaltysum", "mark"])
def test_predictive_policies_fall_back_to_one_more_replica_between_plans(name):
    policy = faro(name, quota=8, apps=("a",))
    assert policy.plan_interval_s == 300 and policy.tick_interval_s == 10
    fired = [policy.react(observe(t, a=reading(mean_latency_ms=2000.0, replicas=3))).replicas for t in (0, 10, 20)]
    assert fired == [{}, {}, {"a/m": 4}]


def test_service_time_is_learned_from_observations_when_the_spec_has_none():
    policy = create("faro-sum", jobs=specs("a"), quota={"cpu": 8}, params={"forecaster": "last"})
    assert policy.plan(observe(300, a=reading(history=flat(20), replicas=1))).replicas == {}
    policy.react(observe(310, a=reading(history=flat(20), replicas=1, processing_time_ms=180.0)))
    assert policy.plan(observe(600, a=reading(history=flat(20), replicas=1))).replicas["a/m"] >= 5


def test_nothing_is_planned_without_history():
    assert faro().plan(observe(0, a=reading(replicas=3), b=reading(replicas=3))).replicas == {}


def test_mark_sizes_each_job_for_its_peak_ignoring_the_quota():
    policy = create("mark", jobs=specs("a", "b", service_time_ms=180), quota={"cpu": 4},
                    params={"forecaster": "last"})
    decision = policy.plan(observe(300, quota=4, a=reading(history=flat(20), replicas=1),
                                   b=reading(history=flat(20), replicas=1)))
    assert decision.replicas == {"a/m": math.ceil(20 * 0.18 / 0.72), "b/m": 5}


def test_oracle_reads_the_future_and_only_the_oracle_does():
    jobs = specs("a", "b", service_time_ms=180)
    future = {"a/m": np.r_[np.full(3, 60.0), np.full(20, 3000.0)], "b/m": np.full(23, 60.0)}
    oracle = create("oracle", jobs=jobs, quota={"cpu": 16}, future=future)
    decision = oracle.plan(observe(0, quota=16, a=reading(replicas=1), b=reading(replicas=1)))
    assert decision.replicas["a/m"] > decision.replicas["b/m"]
    assert decision.reason.startswith("sum")
    blind = create("faro-fairsum", jobs=jobs, quota={"cpu": 16}, future=future)
    assert blind.plan(observe(0, quota=16, a=reading(replicas=1), b=reading(replicas=1))).replicas == {}


def test_earlier_days_reach_the_forecasters():
    jobs = specs("a", service_time_ms=180)
    days = {"a/m": np.tile(np.r_[np.full(20, 600.0), np.full(20, 6000.0)], (3, 1))}  # load jumps at minute 20
    policy = create("mark", jobs=jobs, quota={"cpu": 64}, params={"forecaster": "seasonal"}, train=days)
    blind = create("mark", jobs=jobs, quota={"cpu": 64}, params={"forecaster": "seasonal"})
    today = observe(900, quota=64, a=reading(history=np.full(15, 600.0), replicas=3))
    assert policy.plan(today).replicas["a/m"] > blind.plan(today).replicas["a/m"]


def test_fairsum_never_plans_idle_quota():
    # Two equally overloaded jobs and one spare CPU: lifting either widens the spread by more than it adds,
    # so fairsum's own optimum idles the CPU at every quantile; it must go where it adds the most utility.
    overloaded = {"a": reading(history=flat(6), replicas=1), "b": reading(history=flat(6), replicas=1)}
    decision = faro("faro-fairsum", quota=3).plan(observe(300, quota=3, **overloaded))
    assert sorted(decision.replicas.values()) == [1, 2]
    utilities = sorted(plan.utility for plan in decision.plans.values())
    assert utilities[0] < 0.1 and utilities[1] > 0.9
    assert decision.objective == pytest.approx(sum(utilities) - 2 * (utilities[1] - utilities[0]), abs=1e-5)


def test_oracle_objective_is_a_parameter_defaulting_to_sum():
    jobs = specs("a")
    future = {"a/m": np.full(60, 600.0)}
    assert create("oracle", jobs=jobs, quota={"cpu": 4}, future=future).inner.objective == "sum"
    fair = create("oracle", jobs=jobs, quota={"cpu": 4}, future=future, params={"objective": "fairsum"})
    assert fair.inner.objective == "fairsum" and fair.inner.name == "oracle"
    with pytest.raises(FarodError, match="objective"):
        create("oracle", jobs=jobs, quota={"cpu": 4}, future=future, params={"objective": "max"})
