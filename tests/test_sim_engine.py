"""The simulator end to end on tiny traces: start-up delays, reaping, quota, queue cap, reproducibility.

Service and proxy times are constants here (a shifted lognormal with shape 0), so every expected value
is computed by hand; a scripted policy asks for replicas at given times and records what it observed.
"""

import json

import numpy as np
import pytest

from farod.errors import FarodError
from farod.policies.base import Decision, Policy
from farod.sim import Scenario, run
from farod.sim.config import parse_config
from farod.trace import read_trace

A, B = "a/m", "b/m"


def write_trace(path, counts: dict[str, list[int]]):
    minutes = len(next(iter(counts.values())))
    with open(path, "w") as handle:
        for minute in range(minutes):
            line = {app.split("/")[0]: {"m": per_minute[minute]} for app, per_minute in counts.items()}
            handle.write(json.dumps({"ts": minute, "counts": line}) + "\n")
    return read_trace(path)


class Scripted(Policy):
    """Asks for the replicas of the latest schedule entry at or before now; keeps what it observed."""

    name = "scripted"
    tick_interval_s = 1.0

    def __init__(self, *, jobs, schedule):
        super().__init__(jobs=jobs)
        self.schedule = sorted(schedule, key=lambda entry: entry[0])
        self.seen = []

    def react(self, observation):
        self.seen.append(observation)
        wanted = {}
        for at, targets in self.schedule:
            if at <= observation.now:
                wanted.update(targets)
        return Decision(replicas=wanted, kind="react")

    def running(self, key):
        """(time, running replicas) at every tick."""
        return [(obs.now, obs.jobs[key].running_replicas) for obs in self.seen]


class Static(Policy):
    """FairShare-like: a fixed allocation asked at every tick."""

    name = "static"

    def __init__(self, *, jobs, replicas):
        super().__init__(jobs=jobs)
        self.replicas = replicas

    def react(self, observation):
        return Decision(replicas=dict(self.replicas), kind="react")


CONSTANT = {
    "service": {"shape": 0, "loc_ms": 100, "scale_ms": 0},
    "proxy": {"shape": 0, "loc_ms": 5, "scale_ms": 0},
}


def first_time(series, value):
    return next(t for t, running in series if running == value)


def scenario(trace, cpus, **config):
    return Scenario(trace=trace, quota={"cpu": cpus}, seed=7, config=parse_config({**CONSTANT, **config}))


@pytest.fixture
def light(tmp_path):
    return write_trace(tmp_path / "light.jsonl", {A: [60] * 4, B: [60] * 4})


class Planning(Static):
    """Plans every minute and keeps when it was asked to."""

    plan_interval_s = 60.0

    def __init__(self, *, jobs):
        super().__init__(jobs=jobs, replicas={A: 1, B: 1})
        self.planned_at = []

    def plan(self, observation):
        self.planned_at.append(observation.now)
        return Decision(replicas=dict(self.replicas), kind="plan")


@pytest.mark.parametrize(("phase", "expected"), [(0.0, [0, 60, 120, 180]), (0.25, [0, 15, 75, 135, 195])])
def test_the_plan_clock_starts_at_t0_then_keeps_its_phase(light, phase, expected):
    sc = Scenario(trace=light, quota={"cpu": 4}, seed=7, config=parse_config(CONSTANT), plan_phase=phase)
    policy = Planning(jobs=sc.jobs)
    result = run(sc, policy)
    assert policy.planned_at == expected
    assert result.record["plan_phase"] == phase


@pytest.mark.parametrize("phase", [1.0, -0.5, float("nan")])
def test_a_plan_phase_outside_0_to_1_is_refused(light, phase):
    with pytest.raises(FarodError, match="plan phase must be in \\[0, 1\\)"):
        Scenario(trace=light, quota={"cpu": 4}, seed=7, plan_phase=phase)


def test_a_new_pod_makes_a_cold_start_of_35_s(light):
    sc = scenario(light, 4)
    policy = Scripted(jobs=sc.jobs, schedule=[(0, {A: 1, B: 1}), (100, {A: 2})])
    run(sc, policy)
    assert first_time(policy.running(A), 2) == 135.0
    assert all(running == 1 for t, running in policy.running(A) if t < 135)


def test_a_replica_on_an_idle_pod_starts_hot_in_3_s_and_downscales_apply_before_upscales(light):
    # The quota is full (2 + 1 pods); in one decision A gives up a replica and B wants one more:
    # applied downscale first, B's replica lands on A's idle pod at once.
    sc = scenario(light, 3)
    policy = Scripted(jobs=sc.jobs, schedule=[(0, {A: 2, B: 1}), (100, {A: 1, B: 2})])
    run(sc, policy)
    assert first_time(policy.running(B), 2) == 103.0
    assert first_time([(t, r) for t, r in policy.running(A) if t >= 100], 1) == 101.0


def test_an_upscale_beyond_the_quota_is_truncated_and_retried_when_room_appears(light):
    sc = scenario(light, 3)
    policy = Scripted(jobs=sc.jobs, schedule=[(0, {A: 2, B: 1}), (50, {B: 3}), (100, {A: 1})])
    run(sc, policy)
    # B asked 3 at t=50 but the quota was full; at t=100 A's pod went idle and B got it, hot.
    assert max(running for t, running in policy.running(B) if t < 100) == 1
    assert first_time(policy.running(B), 2) == 103.0
    assert max(running for _, running in policy.running(B)) == 2
    assert policy.seen[-1].jobs[B].replicas == 3  # the target stays what was asked


def test_idle_pods_are_reaped_after_30_s(light):
    # A's pod idles at t=100 and is reaped at t=130: B's upscale at t=140 needs a new pod (cold).
    sc = scenario(light, 3)
    policy = Scripted(jobs=sc.jobs, schedule=[(0, {A: 2, B: 1}), (100, {A: 1}), (140, {B: 2})])
    run(sc, policy)
    assert first_time(policy.running(B), 2) == 175.0


def test_idle_pods_count_against_the_quota_until_reaped(light):
    # At t=100 A frees a pod; C-like competition: A asks it back at t=120 (hot, still idle) while the
    # quota (3) forbids any new pod.
    sc = scenario(light, 3)
    policy = Scripted(jobs=sc.jobs, schedule=[(0, {A: 2, B: 1}), (100, {A: 1}), (120, {A: 2})])
    run(sc, policy)
    assert first_time([(t, r) for t, r in policy.running(A) if t >= 120], 2) == 123.0


def test_start_up_of_the_run_places_the_first_decision_ready(light):
    sc = scenario(light, 8)
    policy = Scripted(jobs=sc.jobs, schedule=[(0, {A: 3, B: 2})])
    result = run(sc, policy)
    assert policy.running(A)[1] == (1.0, 3)
    assert result.record["avg_replicas"] == pytest.approx(5.0)
    assert result.record["max_replicas"] == 5


def test_the_queue_cap_rejects_and_every_request_is_accounted_for(tmp_path):
    # One replica serving 100 ms requests one at a time, no queue: at 20 req/s most are rejected, and
    # a request that is served never waited: its latency is exactly 5 + 100 + 5 ms.
    trace = write_trace(tmp_path / "busy.jsonl", {A: [1200] * 2})
    sc = scenario(trace, 1, queue_cap=0, max_ongoing=1)
    result = run(sc, Static(jobs=sc.jobs, replicas={A: 1}))
    record = result.record
    assert record["dropped"] > record["requests"] / 2
    assert record["p99_ms"] == pytest.approx(110.0, abs=1e-3)
    assert result.timeline.arrivals.sum() == record["requests"]


def test_requests_are_conserved_and_the_run_drains_after_the_trace(tmp_path):
    trace = write_trace(tmp_path / "t.jsonl", {A: [900, 1500, 300], B: [100, 0, 50]})
    sc = Scenario(trace=trace, quota={"cpu": 6}, seed=3)  # Faro defaults: lognormal times
    result = run(sc, Static(jobs=sc.jobs, replicas={A: 4, B: 1}))
    arrivals = result.timeline.arrivals
    assert arrivals[1, 1] == 0  # a minute with rate 0 has no arrival
    assert arrivals.sum() == result.record["requests"]
    assert abs(arrivals[0].sum() - 2700) < 5 * np.sqrt(2700)  # Poisson around the trace's counts
    assert np.isnan(result.timeline.p99_ms[1, 1])


def test_the_same_seed_gives_the_same_record_and_another_seed_another(tmp_path):
    trace = write_trace(tmp_path / "t.jsonl", {A: [1500, 1600], B: [400, 800]})

    def record(seed):
        sc = Scenario(trace=trace, quota={"cpu": 6}, seed=seed)
        policy = Scripted(jobs=sc.jobs, schedule=[(0, {A: 3, B: 1}), (40, {A: 4, B: 2}), (90, {A: 2})])
        rec = dict(run(sc, policy).record)
        return {k: v for k, v in rec.items() if k not in ("wall_s", "decision_ms_p50")}

    assert record(42) == record(42)
    assert record(42) != record(43)


def test_observations_hold_what_a_deployment_can_measure(light):
    sc = scenario(light, 4)
    policy = Scripted(jobs=sc.jobs, schedule=[(0, {A: 1, B: 1})])
    run(sc, policy)
    first = policy.seen[0].jobs[A]
    assert first.history.size == 0 and first.request_rate is None and first.mean_latency_ms is None
    late = next(obs for obs in policy.seen if obs.now == 150.0).jobs[A]
    assert late.history.size == 2  # minutes 0 and 1 are complete at t=150
    assert late.history.sum() == pytest.approx(120, abs=40)
    assert 110.0 <= late.mean_latency_ms < 200  # 5 + 100 + 5 ms, plus a little queueing at 1 req/s
    assert late.processing_time_ms == pytest.approx(100.0)
    assert 0 < late.request_rate < 3
    assert 0 < late.ongoing_requests < 1  # ~1 req/s x 0.1 s in service
    assert late.replicas == 1 and late.running_replicas == 1


def test_a_quota_below_the_minimums_is_refused(light):
    with pytest.raises(FarodError, match="below the .* the jobs' min_replicas need"):
        scenario(light, 1).jobs  # noqa: B018


def test_every_quota_resource_limits_the_pods(light):
    config = parse_config({**CONSTANT, "resources": {"cpu": 1, "memory_gib": 4}, "quota": {"memory_gib": 12}})
    sc = Scenario(trace=light, quota={**config.quota, "cpu": 32}, seed=1, config=config)
    policy = Scripted(jobs=sc.jobs, schedule=[(0, {A: 10, B: 1}), (60, {B: 5})])
    result = run(sc, policy)
    assert result.record["max_replicas"] == 3  # 12 GiB / 4 GiB, although 32 CPUs would allow more
    assert max(running for _, running in policy.running(B)) == 1


def test_policies_are_told_the_profiled_service_time_not_the_true_one(light):
    assert scenario(light, 4).jobs[A].service_time_ms == 100.0  # default: the true mean
    told = scenario(light, 4, profiled_service_ms=180, jobs={B: {"profiled_service_ms": 250}})
    assert (told.jobs[A].service_time_ms, told.jobs[B].service_time_ms) == (180.0, 250.0)
    assert told.config.job(A).service.mean_ms == 100.0  # the replicas still draw the true times
    with pytest.raises(FarodError, match=r"config.profiled_service_ms: must be > 0"):
        parse_config({"profiled_service_ms": 0})
