"""Admission limits in the simulator: per-job queue caps that decisions set and lift at run time."""

import math

import numpy as np
import pytest

from farod import policies
from farod.policies.base import Decision, Policy
from farod.sim import Scenario, kernel, run
from farod.sim.config import parse_config
from test_sim_engine import CONSTANT, A, B, write_trace


def waiting_kernel(times: list[float], *, queue_cap: int = 50) -> kernel.KernelState:
    """One job, requests at ``times`` (no proxy delay), constant 100-ms service, one request per replica."""
    return kernel.KernelState.allocate(
        rates=np.zeros((1, 1)), unit_s=60.0, seed=1, service=np.array([[0.0, 0.1, 0.0]]), proxy=np.zeros((1, 3)),
        slots=1, max_ongoing=1, queue_cap=queue_cap, ring_size=256, transit_size=64, expected_requests=256,
        schedule=[np.asarray(times, dtype=float)],
    )


def test_a_job_rejects_beyond_its_limit_and_not_before():
    # No replica is ready until t = 100: every request waits. With a limit of 3 the 4th is the first rejected.
    state = waiting_kernel([1.0 + i for i in range(10)])
    state.set_queue_cap(0, 3)
    kernel.advance(state, 3.5)
    assert (state.arrays.job_i[0, kernel.QUEUE_LENGTH], state.arrays.job_i[0, kernel.REJECTED]) == (3, 0)
    kernel.advance(state, 4.5)
    assert (state.arrays.job_i[0, kernel.QUEUE_LENGTH], state.arrays.job_i[0, kernel.REJECTED]) == (3, 1)
    kernel.advance(state, 10.5)
    assert state.arrays.job_i[0, kernel.REJECTED] == 7
    _, _, latency = state.finished()
    assert np.isinf(latency).sum() == 7


def test_a_lifted_limit_queues_again_and_a_longer_one_grows_the_ring_in_fifo_order():
    state = waiting_kernel([1.0 + i for i in range(12)], queue_cap=4)
    state.set_queue_cap(0, 2)
    kernel.advance(state, 4.5)  # requests at 1, 2 wait; 3, 4 rejected
    state.set_queue_cap(0, 4)  # the run's cap back
    kernel.advance(state, 6.5)  # 5, 6 wait
    state.set_queue_cap(0, 9)  # longer than the ring of 4: it grows, the waiting keep their order
    kernel.advance(state, 12.5)  # 7..12 wait
    assert (state.arrays.job_i[0, kernel.QUEUE_LENGTH], state.arrays.job_i[0, kernel.REJECTED]) == (9, 3)
    assert state.arrays.queue.shape[1] >= 9
    kernel.start_replica(state, job=0, ready_at=20.0, now=12.5)
    kernel.advance(state, math.inf)
    _, _, latency = state.finished()
    served = latency[np.isfinite(latency)]
    arrivals = np.array([1, 2, 5, 6, 7, 8, 9, 10, 11], dtype=float)
    # FIFO: the k-th waiting request finishes at 20 + 0.1 (k + 1).
    assert served == pytest.approx(20.0 + 0.1 * np.arange(1, 10) - arrivals, abs=1e-4)


class Limiting(Policy):
    """Two replicas of A and B each; from ``start`` to ``stop`` A has an admission limit of ``limit``."""

    name = "limiting"
    tick_interval_s = 10.0

    def __init__(self, *, jobs, limit, start, stop):
        super().__init__(jobs=jobs)
        self.limit, self.start, self.stop = limit, start, stop

    def react(self, observation):
        limits = {A: self.limit if self.start <= observation.now < self.stop else None}
        return Decision(replicas={A: 1, B: 1}, kind="react", queue_limits=limits)


def overloaded(tmp_path):
    # A gets 15 req/s on one replica that serves 10 req/s (100 ms, one at a time): its queue fills up.
    trace = write_trace(tmp_path / "over.jsonl", {A: [900] * 6, B: [300] * 6})
    return Scenario(trace=trace, quota={"cpu": 2}, seed=5,
                    config=parse_config({**CONSTANT, "max_ongoing": 1, "queue_cap": 50}))


def test_a_limit_set_by_one_decision_and_lifted_by_a_later_one_counts_its_drops_and_spares_the_other_job(tmp_path):
    sc = overloaded(tmp_path)
    free = run(sc, Limiting(jobs=sc.jobs, limit=None, start=0, stop=0))
    limited = run(sc, Limiting(jobs=sc.jobs, limit=1, start=120, stop=240))
    # Minutes 2 and 3 under the limit: A rejects more than the 5 req/s excess (a queue of one cannot even
    # out bursts), and more than 1% of its requests, so its p99 is a rejection.
    drops, free_drops = limited.timeline.dropped[0], free.timeline.dropped[0]
    assert drops[2:4].sum() > free_drops[2:4].sum() + 100
    assert limited.timeline.p99_ms[0, 2] == limited.timeline.p99_ms[0, 3] == np.inf
    # Without the limit the 50-request queue drops about the excess, 300 a minute.
    assert free.record["admission_dropped"] == 0
    assert free_drops[1:].mean() == pytest.approx(300, rel=0.2)
    # Only what was rejected while the limit was in force counts as admission drops; after the lift at
    # 240 s the queue fills to 50 again and minute 5 drops as much as without any limit.
    assert limited.record["admission_dropped"] == pytest.approx(drops[2:4].sum(), abs=20)
    assert drops[5] == pytest.approx(free_drops[5], rel=0.2)
    # B is untouched: same requests (common random numbers), same latencies, no drops.
    np.testing.assert_array_equal(limited.timeline.p99_ms[1], free.timeline.p99_ms[1])
    assert limited.timeline.dropped[1].sum() == free.timeline.dropped[1].sum() == 0
    # A's served requests wait at most one service under the limit and meet the SLO (720 ms), where
    # behind a queue of 50 none did: a third of the minutes gain about half of A's requests.
    assert free.record["slo_violation_rate"] - limited.record["slo_violation_rate"] > 0.07


def test_penaltysum_with_admission_drops_only_the_sacrificed_jobs_load_and_serves_the_rest_in_time(tmp_path):
    # A: 40 req/s of ~154-ms requests wants ~8 replicas and gets at most 2 of the 3 CPUs; B: 0.5 req/s.
    trace = write_trace(tmp_path / "penalty.jsonl", {A: [2400] * 12, B: [30] * 12})
    sc = Scenario(trace=trace, quota={"cpu": 3}, seed=9)
    records = {}
    for admission in (False, True):
        policy = policies.create("faro-penaltysum", jobs=sc.jobs, quota=sc.quota,
                                 params={"forecaster": "last", "plan_interval_s": 60, "admission": admission})
        records[admission] = run(sc, policy)
    off, on = records[False], records[True]
    assert off.record["admission_dropped"] == 0
    assert on.record["admission_dropped"] > 0.5 * on.record["dropped"] > 0
    assert on.timeline.dropped[1].sum() == off.timeline.dropped[1].sum() == 0  # B keeps every request
    assert on.record["slo_violation_rate"] < off.record["slo_violation_rate"] - 0.05
