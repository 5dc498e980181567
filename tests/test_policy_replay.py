"""The replay policy: the recorded replicas of a trace, driven through the same guards and simulator."""

import json

import numpy as np
import pytest

from farod import policies
from farod.cli import main
from farod.errors import FarodError
from farod.jobs import JobSpec
from farod.policies.base import Decision, JobObservation, Observation, Policy
from farod.policies.replay import Recording
from farod.sim.engine import Scenario, run
from farod.sim.suite import RunSpec, Suite, run_one
from farod.trace import read_trace

BUNDLED = "farod/data/azure_twitter_10jobs_day10.jsonl"
JOBS = {"a/m": JobSpec(application="a", deployment="m", slo_ms=720, max_replicas=4)}
VARYING = ("p99_ms", "slo_violation_rate", "lost_utility", "requests", "dropped", "avg_replicas", "max_replicas",
           "scaling_actions", "avg_pods")  # fmt: skip


def replay(recorded, **params):
    recording = Recording(unit_s=60.0, replicas={"a/m": np.array(recorded, dtype=float)})
    return policies.create("replay", jobs=JOBS, quota={"cpu": 8}, params=params, recording=recording)


def asked(policy, now):
    seen = {"a/m": JobObservation(history=np.zeros(0), replicas=2, running_replicas=2)}
    return policy.react(Observation(now=now, jobs=seen, quota={"cpu": 8})).replicas["a/m"]


def test_replays_the_unit_holds_gaps_and_leads():
    policy = replay([np.nan, 2, np.nan, 3])
    assert [asked(policy, t) for t in (0, 59, 60, 130, 185, 10_000)] == [2, 2, 2, 2, 3, 3]
    assert [asked(replay([1, 2, 3], lead_s=35), t) for t in (0, 24, 25, 85)] == [1, 1, 2, 3]


def test_guards_apply_to_the_replay():
    assert asked(replay([9, 0]), 0) == 4  # max_replicas
    assert asked(replay([9, 0]), 60) == 1  # min_replicas


def test_refused_without_recorded_replicas():
    with pytest.raises(FarodError, match="policy replay: the trace records no replicas \\("):
        policies.create("replay", jobs=JOBS, quota={"cpu": 8})
    with pytest.raises(FarodError, match="records no replicas for job 'a/m'"):
        replay([np.nan, np.nan])
    with pytest.raises(FarodError, match="policy replay: lead_s must be >= 0"):
        replay([1], lead_s=-1)


class FixedSchedule(Policy):
    """The counts fed back by hand: per job, replicas[unit] asserted every 10 s."""

    name = "fixed"

    def __init__(self, *, jobs, schedule):
        super().__init__(jobs=jobs)
        self.schedule = schedule

    def react(self, observation):
        unit = int(observation.now // 60)
        return Decision(replicas={key: int(counts[min(unit, counts.size - 1)])
                                  for key, counts in self.schedule.items()}, kind="react")  # fmt: skip


def with_replicas(tmp_path, trace, replicas):
    """The trace written back with a replicas field per line, as `farod trace export` writes it."""
    path = tmp_path / "recorded.jsonl"
    with open(path, "w") as out:
        for unit in range(trace.counts.shape[1]):
            line = {"ts": unit, "counts": {}, "replicas": {}}
            for k, key in enumerate(trace.keys):
                application, deployment = key.split("/")
                line["counts"].setdefault(application, {})[deployment] = trace.counts[k, unit]
                line["replicas"].setdefault(application, {})[deployment] = int(replicas[k, unit])
            out.write(json.dumps(line) + "\n")
    return path


def test_replay_of_recorded_replicas_reproduces_the_run_of_the_same_schedule(tmp_path):
    trace = read_trace(BUNDLED, minutes=40)
    scenario = Scenario(trace=trace, quota={"cpu": 32}, seed=42)
    what_aiad_ran = run(scenario, policies.create("aiad", jobs=scenario.jobs, quota=scenario.quota))
    schedule = np.rint(what_aiad_ran.timeline.replicas).astype(int)
    assert len({tuple(row) for row in schedule}) > 1 and (np.diff(schedule, axis=1) != 0).any()

    fixed = run(scenario, FixedSchedule(jobs=scenario.jobs, schedule=dict(zip(trace.keys, schedule))))
    recorded = read_trace(with_replicas(tmp_path, trace, schedule))
    replayed = run_one(Suite(trace=recorded, policies=["replay"], cpus=[32], seeds=[42]),
                       RunSpec(policy="replay", cpus=32, seed=42))  # fmt: skip
    assert {name: replayed.record[name] for name in VARYING} == {name: fixed.record[name] for name in VARYING}
    np.testing.assert_array_equal(replayed.timeline.replicas, fixed.timeline.replicas)


def test_replay_of_what_fairshare_runs_is_fairshare(tmp_path):
    trace = read_trace(BUNDLED, minutes=20)
    recorded = read_trace(with_replicas(tmp_path, trace, np.full(trace.counts.shape, 3)))
    suite = Suite(trace=recorded, policies=["replay", "fairshare"], cpus=[32], seeds=[24])
    replayed, fairshare = (run_one(suite, spec).record for spec in suite.runs)
    assert {name: replayed[name] for name in VARYING} == {name: fairshare[name] for name in VARYING}


def test_compare_without_recorded_replicas_is_one_line(capsys):
    code = main(["compare", "--cpus", "32", "--policies", "aiad,replay", "--minutes", "5", "--seeds", "1"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "policy replay: the trace records no replicas" in err
