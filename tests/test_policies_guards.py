"""Shared guards, the registry, parameters and FairShare."""

import numpy as np
import pytest
from policy_fakes import observe, reading, specs

from farod.errors import FarodError
from farod.policies import NAMES, Recording, create
from farod.policies.base import Decision, Observation, Policy
from farod.policies.guards import ClusterLimits, Guarded, StepLimits, guard


class _Asks(Policy):
    """A policy that asks for fixed replicas, to see what the guards let through."""

    name = "asks"

    def __init__(self, jobs, wanted):
        super().__init__(jobs=jobs)
        self.wanted = wanted

    def react(self, observation):
        return Decision(replicas=self.wanted, kind="react")


def test_guards_clamp_to_bounds_and_drop_unknown_jobs():
    jobs = specs("a", min_replicas=2, max_replicas=6)
    policy = Guarded(_Asks(jobs, {"a/m": 9, "zzz/m": 4}))
    assert policy.react(observe(0, a=reading(replicas=3))).replicas == {"a/m": 6}
    policy.inner.wanted = {"a/m": 0}
    assert policy.react(observe(0, a=reading(replicas=3))).replicas == {"a/m": 2}


def test_guards_hold_stale_or_unobserved_jobs():
    policy = Guarded(_Asks(specs("a", "b"), {"a/m": 1, "b/m": 1}))
    decision = policy.react(observe(0, a=reading(replicas=5, stale=True)))
    assert decision.replicas == {}


def test_guards_step_limits():
    policy = Guarded(_Asks(specs("a", "b"), {"a/m": 12, "b/m": 1}), limits=StepLimits(max_scale_up=2, max_scale_down=1))
    decision = policy.react(observe(0, a=reading(replicas=4), b=reading(replicas=8)))
    assert decision.replicas == {"a/m": 6, "b/m": 7}


def test_every_created_policy_is_guarded_and_takes_the_guard_limits():
    jobs = specs("a", max_replicas=4)
    for name in NAMES:
        kwargs = {"future": {"a/m": np.ones(10)}, "recording": Recording(unit_s=60, replicas={"a/m": np.ones(10)})}
        policy = create(name, jobs=jobs, quota={"cpu": 8}, params={"max_scale_up": 1}, **kwargs)
        assert isinstance(policy, Guarded) and policy.name == name
        assert policy.limits.max_scale_up == 1
        assert policy.inner.params.tick_interval_s == policy.tick_interval_s  # what the daemon reads


def test_registry_names_every_policy_of_the_contract():
    assert set(NAMES) == {"faro-sum", "faro-fair", "faro-fairsum", "faro-penaltysum", "aiad", "oneshot", "mark",
                          "fairshare", "rayserve", "oracle", "replay", "cilantro"}


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("hpa", {}, "unknown policy 'hpa'"),
        ("aiad", {"upscale_delay": 1}, "policy aiad: unknown parameter 'upscale_delay'"),
        ("aiad", {"upscale_delay_s": "soon"}, "policy aiad: upscale_delay_s: must be a number, got 'soon'"),
        ("aiad", {"upscale_delay_s": -1}, "policy aiad: upscale_delay_s must be >= 0"),
        ("faro-sum", {"quantile": 1.5}, "policy faro-sum: quantile must be in (0, 1)"),
        ("faro-sum", {"headroom_quantiles": "0.9,0.8"}, "policy faro-sum: headroom_quantiles must be increasing"),
        ("faro-sum", {"utility": "linear"}, "policy faro-sum: utility must be one of"),
        ("faro-fair", {"horizon": 2.5}, "policy faro-fair: horizon: must be an integer, got 2.5"),
        ("rayserve", {"max_scale_down": -2}, "policy rayserve: max_scale_down must be >= 0"),
        ("aiad", {"downscale_delay_s": 1e300}, "policy aiad: downscale_delay_s: must be <= 86400, got 1e+300"),
        ("aiad", {"tick_interval_s": float("inf")}, "policy aiad: tick_interval_s: must be a number, got inf"),
        ("oracle", {}, "policy oracle: needs the true future arrivals"),
    ],
)
def test_registry_errors_name_the_policy_and_parameter(name, params, message):
    with pytest.raises(FarodError) as error:
        create(name, jobs=specs("a"), quota={"cpu": 8}, params=params)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_string_parameters_are_converted():
    policy = create("faro-sum", jobs=specs("a", service_time_ms=180), quota={"cpu": 8},
                    params={"quantile": "0.7", "headroom_quantiles": "0.8,0.9", "horizon": "5"})
    assert policy.inner.params.quantile == 0.7
    assert policy.inner.params.headroom_quantiles == (0.8, 0.9)
    assert policy.inner.params.horizon == 5


def test_oracle_requires_every_job_in_the_future():
    with pytest.raises(FarodError, match="future: no arrivals for job 'b/m'"):
        create("oracle", jobs=specs("a", "b"), quota={"cpu": 8}, future={"a/m": np.ones(5)})


def test_fairshare_splits_the_quota_evenly():
    jobs = specs(*(f"j{i}" for i in range(10)))
    policy = create("fairshare", jobs=jobs, quota={"cpu": 32})
    readings = {f"j{i}": reading(replicas=1) for i in range(10)}
    assert policy.react(observe(0, **readings)).replicas == {key: 3 for key in jobs}


def test_fairshare_respects_every_resource_of_the_quota():
    jobs = specs("a", "b", resources={"cpu": 2, "gpu": 1})
    policy = create("fairshare", jobs=jobs, quota={"cpu": 32, "gpu": 3})
    seen = {"a/m": reading(replicas=1), "b/m": reading(replicas=1)}
    assert policy.react(Observation(now=0, jobs=seen, quota={"cpu": 32, "gpu": 3})).replicas == {"a/m": 1, "b/m": 1}


def test_quota_based_policies_follow_the_observed_quota_not_the_one_they_were_built_with():
    jobs = specs("a", "b")
    hot = {"a/m": reading(replicas=1, running_replicas=1, ongoing_requests=1e6, mean_latency_ms=1e9),
           "b/m": reading(replicas=1, running_replicas=1, ongoing_requests=1e6, mean_latency_ms=1e9)}
    shrunk = Observation(now=0, jobs=hot, quota={"cpu": 6})
    assert create("fairshare", jobs=jobs, quota={"cpu": 32}).react(shrunk).replicas == {"a/m": 3, "b/m": 3}
    ray = create("rayserve", jobs=jobs, quota={"cpu": 32}, params={"upscale_delay_s": 0})
    assert ray.react(shrunk).replicas == {"a/m": 6, "b/m": 6}  # max_replicas = what the quota holds
    oneshot = create("oneshot", jobs=jobs, quota={"cpu": 32}, params={"upscale_delay_s": 0})
    assert oneshot.react(shrunk).replicas == {"a/m": 6, "b/m": 6}


def test_the_pipeline_holds_stale_jobs_then_bounds_then_limits_steps_then_fits_the_quota():
    jobs = specs("a", "b", "c", "d", max_replicas=6)
    seen = {"a/m": reading(replicas=4, stale=True), "b/m": reading(replicas=2), "c/m": reading(replicas=2),
            "d/m": reading(replicas=5)}
    previous = {"a/m": 5, "b/m": 2, "c/m": 2, "d/m": 5}
    asked = {"a/m": 1, "b/m": 9, "c/m": 3, "zzz/m": 4}  # d/m not asked: keeps 5; zzz/m unknown: dropped

    def run(quota, **limits):
        observation = Observation(now=0, jobs=seen, quota={"cpu": quota})
        return guard(asked, observation=observation, jobs=jobs, previous=previous, **limits)

    # stale a/m keeps max(5, 4); b/m 9 -> max 6 -> +3 per job -> 5
    assert run(100, job_limits=StepLimits(max_scale_up=3)) == {"a/m": 5, "b/m": 5, "c/m": 3, "d/m": 5}
    # 4 added over the cluster, round robin: a 4->5, b 2->3, c 2->3, b 3->4
    limits = {"job_limits": StepLimits(max_scale_up=3), "cluster_limits": ClusterLimits(max_added=4)}
    assert run(100, **limits) == {"a/m": 5, "b/m": 4, "c/m": 3, "d/m": 5}
    # 17 replicas in 14 CPUs: upscales shrink, the largest first, never below what runs
    assert run(14, **limits) == {"a/m": 5, "b/m": 2, "c/m": 2, "d/m": 5}


def test_a_guarded_policy_asks_what_the_pipeline_lets_through_short_of_the_quota_fit():
    jobs = specs("a", "b", max_replicas=6)
    policy = Guarded(_Asks(jobs, {"a/m": 9, "b/m": 0}), limits=StepLimits(max_scale_down=1))
    observation = Observation(now=0, jobs={"a/m": reading(replicas=2), "b/m": reading(replicas=3)}, quota={"cpu": 4})
    assert policy.react(observation).replicas == {"a/m": 6, "b/m": 2}  # over the quota: the cluster grants
