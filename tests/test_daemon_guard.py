"""The quota guard and safety limits in front of every actuator."""

from __future__ import annotations

from farod.actuators.base import ordered_changes
from farod.policies.guards import fit_quota, limit_steps, quota_used
from farod.jobs import JobSpec

JOBS = {key: JobSpec(application=key, deployment="m", slo_ms=500, min_replicas=1) for key in ("a", "b", "c")}
GPU_JOBS = {"g": JobSpec(application="g", deployment="m", slo_ms=500, resources={"cpu": 2, "gpu": 1})}


def usage(targets, jobs=JOBS, resource="cpu"):
    return sum(jobs[key].resources.get(resource, 0) * n for key, n in targets.items())


def test_fits_by_trimming_the_largest_upscale_first_and_keeps_downscales():
    fitted = fit_quota({"a": 6, "b": 1, "c": 3}, current={"a": 2, "b": 3, "c": 2}, jobs=JOBS, quota={"cpu": 8})
    assert usage(fitted) <= 8
    assert fitted["b"] == 1  # the policy's downscale stands
    assert fitted == {"a": 4, "b": 1, "c": 3}  # a asked +4, c +1: a gives back both


def test_within_quota_is_untouched():
    targets = {"a": 3, "b": 3, "c": 2}
    assert fit_quota(targets, current={"a": 1, "b": 1, "c": 1}, jobs=JOBS, quota={"cpu": 8}) == targets


def test_shrunken_quota_takes_from_the_jobs_furthest_above_their_minimum():
    fitted = fit_quota({"a": 5, "b": 2, "c": 1}, current={"a": 5, "b": 2, "c": 1}, jobs=JOBS, quota={"cpu": 5})
    assert usage(fitted) <= 5 and all(n >= 1 for n in fitted.values())
    assert fitted == {"a": 2, "b": 2, "c": 1}


def test_minimums_are_the_floor_even_over_quota():
    assert fit_quota({"a": 3, "b": 3, "c": 3}, current={}, jobs=JOBS, quota={"cpu": 2}) == {"a": 1, "b": 1, "c": 1}


def test_several_resources_each_constrain():
    fitted = fit_quota({"g": 4}, current={"g": 1}, jobs=GPU_JOBS, quota={"cpu": 100, "gpu": 2})
    assert fitted == {"g": 2}
    assert quota_used(fitted, jobs=GPU_JOBS, quota={"cpu": 100, "gpu": 2}) == {"cpu": 0.04, "gpu": 1.0}


def test_step_limits_share_the_budget_round_robin():
    limited = limit_steps({"a": 9, "b": 9, "c": 1}, current={"a": 1, "b": 1, "c": 5}, max_added=4, max_removed=1)
    assert limited == {"a": 3, "b": 3, "c": 4}
    assert limit_steps({"a": 9}, current={"a": 1}) == {"a": 9}  # 0: no limit


def test_apply_order_is_downscales_then_upscales_then_unchanged():
    order = ordered_changes({"a": 4, "b": 1, "c": 2}, current={"a": 2, "b": 3, "c": 2})
    assert order == [("b", 1), ("a", 4), ("c", 2)]
