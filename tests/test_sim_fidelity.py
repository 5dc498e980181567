"""The artifact fidelity settings, one at a time, on tiny traces with constant times (100-ms service,
5-ms proxy each way), so every expected time is computed by hand; then the preset as a whole."""

import numpy as np
import pytest
from test_sim_engine import A, B, CONSTANT, Scripted, Static, first_time, scenario, write_trace

from farod.errors import FarodError
from farod.policies.base import Decision, Policy
from farod.sim import kernel, run
from farod.sim.config import load_config, parse_config
from farod.sim.suite import RunSpec, Suite


class AskOnce(Policy):
    """Asks each target once, at its time, and never again (a plan the cluster may drop)."""

    name = "ask-once"
    tick_interval_s = 10.0

    def __init__(self, *, jobs, schedule):
        super().__init__(jobs=jobs)
        self.schedule = dict(schedule)
        self.seen = []

    def react(self, observation):
        self.seen.append(observation)
        return Decision(replicas=self.schedule.get(observation.now, {}), kind="react")


@pytest.fixture
def light(tmp_path):
    return write_trace(tmp_path / "light.jsonl", {A: [60] * 4, B: [60] * 4})


@pytest.mark.parametrize(("order", "alive"), [("round_robin", (2, 2)), ("job_order", (3, 1))])
def test_grant_order_round_robin_or_first_job_takes_all(light, order, alive):
    sc = scenario(light, 4, grant_order=order)
    policy = Scripted(jobs=sc.jobs, schedule=[(0, {A: 1, B: 1}), (50, {A: 4, B: 3})])
    run(sc, policy)
    assert (max(r for _, r in policy.running(A)), max(r for _, r in policy.running(B))) == alive


@pytest.mark.parametrize(("ungranted", "target_at_200"), [("pending", 3), ("drop", 1)])
def test_an_ungranted_upscale_is_dropped_after_its_retries(light, ungranted, target_at_200):
    sc = scenario(light, 3, ungranted=ungranted, grant_retries=4)
    policy = AskOnce(jobs=sc.jobs, schedule={0: {A: 2, B: 1}, 50: {B: 3}})
    run(sc, policy)
    targets = {obs.now: obs.jobs[B].replicas for obs in policy.seen}
    assert targets[90] == 3  # retried at the 4 decisions after the ask (60..90)
    assert targets[200] == target_at_200  # dropped at the 5th: the target is what B has


@pytest.mark.parametrize(("scope", "ready_at"), [("shared", 103.0), ("job", 165.0)])
def test_a_pod_per_job_frees_its_quota_only_when_reaped(light, scope, ready_at):
    # A gives up a replica at t=100. Shared: B takes A's idle pod (hot, 3 s). Per job: the idle pod holds
    # the quota until it is reaped at t=130, then B's own pod cold-starts (35 s).
    sc = scenario(light, 3, pod_scope=scope)
    policy = Scripted(jobs=sc.jobs, schedule=[(0, {A: 2, B: 1}), (100, {A: 1, B: 2})])
    run(sc, policy)
    assert first_time(policy.running(B), 2) == ready_at


def test_a_job_reuses_its_own_idle_pod_when_pods_are_per_job(light):
    sc = scenario(light, 3, pod_scope="job")
    policy = Scripted(jobs=sc.jobs, schedule=[(0, {A: 2, B: 1}), (100, {A: 1}), (110, {A: 2})])
    run(sc, policy)
    assert first_time([(t, r) for t, r in policy.running(A) if t >= 110], 2) == 113.0


@pytest.mark.parametrize(("setting", "ready_at"), [("accept", 145.0), ("ignore", 170.0)])
def test_a_job_busy_starting_replicas_ignores_new_targets(light, setting, ready_at):
    # t=100: 1 -> 2 (cold, ready at 135). t=110: 2 -> 3. Accepted: ready at 145. Ignored while the job
    # starts its replica; the policy asks again at t=135, when it is up: ready at 170.
    sc = scenario(light, 8, while_scaling=setting)
    policy = Scripted(jobs=sc.jobs, schedule=[(0, {A: 1, B: 1}), (100, {A: 2}), (110, {A: 3})])
    run(sc, policy)
    assert first_time(policy.running(A), 3) == ready_at


@pytest.mark.parametrize("observed", [False, True])
def test_rejected_requests_in_the_observed_mean_latency(tmp_path, observed):
    # One replica, no queue, 20 req/s of 100-ms requests: an M/D/1/1 loss system serves 1 / (1 + 20 · 0.1)
    # of them, 110 ms each. Observed rejections count with their two proxy delays (10 ms).
    trace = write_trace(tmp_path / "busy.jsonl", {A: [1200] * 2})
    sc = scenario(trace, 1, queue_cap=0, max_ongoing=1, drops_in_mean_latency=observed)
    policy = Scripted(jobs=sc.jobs, schedule=[(0, {A: 1})])
    result = run(sc, policy)
    reading = next(obs for obs in policy.seen if obs.now == 60.0).jobs[A]
    served = 1 / 3
    expected = 110 * served + 10 * (1 - served) if observed else 110.0
    assert reading.mean_latency_ms == pytest.approx(expected, rel=0.05)
    assert reading.processing_time_ms == pytest.approx(100.0)  # a rejection has no service time
    assert result.record["dropped"] > result.record["requests"] / 2  # the record counts them either way


def test_the_queue_holds_one_more_when_rejecting_above_the_cap(tmp_path):
    # 1 req/s of 5-s requests on one replica: the queue is full from the first seconds to the end, when
    # what waits drains. Same arrivals and times either way: above the cap, one more request waits.
    trace = write_trace(tmp_path / "slow.jsonl", {A: [60] * 4})

    def served(reject):
        sc = scenario(trace, 1, service={"shape": 0, "loc_ms": 5000, "scale_ms": 0}, queue_cap=2, max_ongoing=1,
                      queue_reject=reject, arrivals="exact")
        record = run(sc, Static(jobs=sc.jobs, replicas={A: 1})).record
        return record["requests"] - record["dropped"]

    assert served("above_cap") == served("at_cap") + 1 == 50


def test_exact_arrivals_keep_each_units_count_and_start_it_at_the_units_start():
    counts = np.array([[3, 0, 5], [1, 2, 0]])
    schedule = kernel.exact_arrivals(counts, 60.0, seed=4)
    assert [len(times) for times in schedule] == [8, 3]
    assert schedule[0][0] == 0.0 and 120.0 in schedule[0] and 60.0 in schedule[1]
    assert all(np.all(np.diff(times) >= 0) and times[-1] < 180.0 for times in schedule)
    again = kernel.exact_arrivals(counts, 60.0, seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(schedule, again))


def test_exact_arrivals_replay_the_traces_counts(tmp_path):
    trace = write_trace(tmp_path / "t.jsonl", {A: [900, 1500, 300], B: [100, 0, 50]})
    sc = scenario(trace, 8, arrivals="exact")
    result = run(sc, Static(jobs=sc.jobs, replicas={A: 4, B: 2}))
    assert result.record["requests"] == 2850
    assert result.timeline.arrivals.sum(axis=1).tolist() == [2700, 150]


def test_the_preset_sets_every_setting_and_each_can_be_overridden():
    artifact = parse_config({"fidelity": "artifact", "pod_scope": "shared"})
    assert (artifact.grant_order, artifact.ungranted, artifact.pod_scope, artifact.arrivals) == (
        "job_order", "drop", "shared", "exact")
    assert artifact.job("a/m").spec("a/m").service_time_ms == 180.0
    assert artifact.policy_params("faro-sum") == {"quantile": 0.6, "startup_s": 65.0, "max_ongoing_requests": 4}
    assert artifact.policy_params("mark") == {}
    assert load_config(None, fidelity_preset="artifact").drops_in_mean_latency is True
    farod = load_config(None)
    assert (farod.fidelity, farod.grant_order, farod.policy_params("faro-sum")) == (
        "farod", "round_robin", {"max_ongoing_requests": 4})
    with pytest.raises(FarodError, match="config.fidelity: must be one of farod, artifact, got 'paper'"):
        parse_config({"fidelity": "paper"})
    with pytest.raises(FarodError, match="config.pod_scope: must be one of shared, job"):
        parse_config({"pod_scope": "node"})


def test_the_faro_policies_get_the_configs_settings_under_the_users_parameters(light):
    suite = Suite(trace=light, policies=["faro-sum"], cpus=[4], seeds=[1],
                  config=parse_config({"fidelity": "artifact"}), policy_params={"faro-sum": {"quantile": 0.8}})
    spec = RunSpec(policy="faro-sum", cpus=4, seed=1)
    params = suite.policy(spec, suite.scenario(spec)).inner.params
    assert (params.quantile, params.startup_s) == (0.8, 65.0)
