"""Admission limits: penaltysum's accept rates as max_queued_requests, and what the guards let through."""

import numpy as np
import pytest
from policy_fakes import observe, reading, specs

from farod.model.queueing import blocking_probability
from farod.policies import create
from farod.policies.admission import FREE_DROP, MAX_QUEUE, queue_limit
from farod.policies.base import Decision, Policy
from farod.policies.guards import Guarded, guard_queue_limits


def test_blocking_probability_is_the_closed_form_of_mm1n_and_of_erlang_b():
    rho = 0.8
    capacity = np.arange(1, 8)
    expected = rho**capacity * (1 - rho) / (1 - rho ** (capacity + 1))
    assert blocking_probability(0.8, 1.0, 1, capacity) == pytest.approx(expected)
    # N = c: Erlang B, computed by its recursion B(k) = a B(k-1) / (k + a B(k-1)).
    erlang_b = 1.0
    for k in range(1, 6):
        erlang_b = 4.0 * erlang_b / (k + 4.0 * erlang_b)
    assert blocking_probability(2.0, 2.0, 5, [5])[0] == pytest.approx(erlang_b)


@pytest.mark.parametrize("rate, replicas", [(20.0, 2), (12.0, 2), (30.0, 5)])
def test_the_limit_is_the_shortest_queue_that_rejects_no_more_than_the_plan_sheds(rate, replicas):
    service_s, ongoing = 0.154, 4
    previous = 0
    for accept in (0.999, 0.99, 0.95, 0.9, 0.8, 0.6):
        limit = queue_limit(rate=rate, service_time_s=service_s, replicas=replicas, accept_rate=accept,
                            max_ongoing=ongoing)
        blocked = blocking_probability(rate, service_s, replicas, replicas * ongoing + np.arange(1, MAX_QUEUE + 1))
        allowed = max(1 - accept, blocked[-1] + FREE_DROP)
        assert blocked[limit - 1] <= allowed
        assert limit == 1 or blocked[limit - 2] > allowed  # one shorter would reject too much
        assert previous == 0 or limit <= previous  # shedding more never lengthens the queue
        previous = limit


def test_no_limit_where_the_plan_serves_everything_or_nothing_can_be_served():
    assert queue_limit(rate=20, service_time_s=0.15, replicas=2, accept_rate=1.0, max_ongoing=4) is None
    assert queue_limit(rate=20, service_time_s=0.15, replicas=0, accept_rate=0.5, max_ongoing=4) is None
    assert queue_limit(rate=0, service_time_s=0.15, replicas=2, accept_rate=0.5, max_ongoing=4) is None


def flat(rps: float) -> np.ndarray:
    return np.full(40, rps * 60.0)


def penaltysum(**params):
    return create("faro-penaltysum", jobs=specs("a", "b", service_time_ms=180), quota={"cpu": 4},
                  params={"forecaster": "last", **params})


def test_penaltysum_limits_only_the_job_it_sacrifices_and_lifts_the_limit_when_it_can_serve_again():
    policy = penaltysum()  # admission limits are faro-penaltysum's default
    # a: 40 req/s needs ~8 replicas; b: 0.5 req/s is served in full.
    overloaded = policy.plan(observe(300, quota=4, a=reading(history=flat(40), replicas=2),
                                     b=reading(history=flat(0.5), replicas=2)))
    assert overloaded.plans["a/m"].accept_rate < 1.0 and overloaded.plans["b/m"].accept_rate == 1.0
    assert isinstance(overloaded.queue_limits["a/m"], int) and overloaded.queue_limits["a/m"] >= 1
    assert overloaded.queue_limits["b/m"] is None
    calm = policy.plan(observe(600, quota=4, a=reading(history=flat(3), replicas=3),
                               b=reading(history=flat(0.5), replicas=1)))
    assert calm.queue_limits == {"a/m": None, "b/m": None}  # the limit is lifted, not left stale


def test_without_admission_no_decision_touches_a_limit():
    policy = penaltysum(admission=False)
    assert create("faro-sum", jobs=specs("a"), quota={"cpu": 4}).params.admission is False
    decision = policy.plan(observe(300, quota=4, a=reading(history=flat(40), replicas=2),
                                   b=reading(history=flat(2), replicas=2)))
    assert decision.plans["a/m"].accept_rate < 1.0
    assert decision.queue_limits == {}


def test_guards_never_set_a_limit_on_stale_data_but_let_a_lift_through():
    jobs = specs("a", "b", "c")
    observation = observe(0, a=reading(replicas=2, stale=True), b=reading(replicas=2, stale=True),
                          c=reading(replicas=2))
    limits = {"a/m": 3, "b/m": None, "c/m": 5, "x/m": 1}
    assert guard_queue_limits(limits, observation=observation, jobs=jobs) == {"b/m": None, "c/m": 5}
    missing = observe(0, c=reading(replicas=2))
    assert guard_queue_limits({"a/m": 3}, observation=missing, jobs=jobs) == {}


class Asking(Policy):
    name = "asking"

    def react(self, observation):
        return Decision(replicas={"a/m": 3, "b/m": 3}, kind="react", queue_limits={"a/m": 2, "b/m": 4})


def test_every_created_policy_passes_its_limits_through_the_guards():
    jobs = specs("a", "b")
    decision = Guarded(Asking(jobs=jobs)).react(observe(0, a=reading(replicas=2), b=reading(replicas=2, stale=True)))
    assert decision.queue_limits == {"a/m": 2}
