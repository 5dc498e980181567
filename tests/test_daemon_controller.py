"""The controller's rules on a fake clock: hold on no data, back off, follow the leader, swap, fit the quota."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from daemon_support import JOBS, FakeClock, ScriptedPolicy, StubSignals
from farod.actuators.base import ActuationError
from farod.actuators.dryrun import DryRunActuator
from farod.daemon.config import SafetyConfig
from farod.daemon.controller import Controller
from farod.daemon.metrics import DaemonMetrics

CONTRACT_NAMES = {"farod_target_replicas", "farod_forecast_requests_per_second", "farod_predicted_latency_seconds",
                  "farod_utility", "farod_quota_used_ratio", "farod_decision_duration_seconds",
                  "farod_actuation_errors", "farod_signal_stale", "farod_policy_info", "farod_leader"}


def build(wants, *, quota=None, start=None, **kwargs):
    clock = FakeClock()
    actuator = DryRunActuator()
    actuator.applied.update(start or {"a/m": 3, "b/m": 3})
    registry = CollectorRegistry()
    signals = StubSignals(JOBS)
    quotas = quota or {"cpu": 10}
    controller = Controller(jobs=JOBS, policy=ScriptedPolicy(jobs=JOBS, wants=wants), signals=signals,
                            actuator=actuator, metrics=DaemonMetrics(registry=registry),
                            quota=lambda: quotas, clock=clock, tick_s=10, misses_before_unready=3, **kwargs)
    return controller, clock, actuator, signals, registry


def sample(registry, name, **labels):
    return registry.get_sample_value(name, labels)


def test_a_decision_applies_exports_and_logs_its_inputs():
    controller, _, actuator, _, registry = build({"a/m": 5, "b/m": 2})
    record = controller.decide("plan")
    assert actuator.applied == {"a/m": 5, "b/m": 2}
    assert record["targets"] == {"a/m": 5, "b/m": 2} and record["applied"] is True
    assert record["jobs"]["a/m"]["spec"]["slo_ms"] == 500 and record["jobs"]["a/m"]["history"]
    assert record["jobs"]["a/m"]["signals"]["request_rate"] == {"value": 5.0, "status": "ok"}
    assert sample(registry, "farod_target_replicas", application="a", deployment="m") == 5
    assert sample(registry, "farod_quota_used_ratio", resource="cpu") == 0.7
    assert sample(registry, "farod_policy_info", policy="scripted") == 1
    assert sample(registry, "farod_decision_duration_seconds_count") == 1


def test_metric_names_are_exactly_the_contract_plus_the_slo_and_admission_gauges():
    controller, _, _, _, registry = build({"a/m": 5})
    controller.decide("plan")
    names = {metric.name for metric in registry.collect()}
    assert names == CONTRACT_NAMES | {"farod_slo_seconds", "farod_admission_limit_requests"}
    assert sample(registry, "farod_slo_seconds", application="a", deployment="m", le="500.0") == 0.5
    assert sample(registry, "farod_actuation_errors_total", reason="http_5xx") == 0  # exported from the start


def test_stale_or_missing_signals_hold_the_job_but_not_the_others():
    controller, _, actuator, signals, registry = build({"a/m": 1, "b/m": 6})
    signals.status["a/m"] = "stale"
    controller.decide("react")
    assert actuator.applied == {"a/m": 3, "b/m": 6}  # a/m keeps 3 although the policy asked 1
    assert sample(registry, "farod_signal_stale", application="a", deployment="m", signal="request_rate") == 1
    assert sample(registry, "farod_signal_stale", application="b", deployment="m", signal="request_rate") == 0
    signals.status["a/m"] = "missing"
    record = controller.decide("react")
    assert actuator.applied["a/m"] == 3 and record["jobs"]["a/m"]["stale"] is True


def test_prometheus_down_holds_everything_backs_off_in_wall_time_and_recovers():
    controller, clock, actuator, signals, registry = build({"a/m": 1, "b/m": 1})
    signals.down = True
    seen = []
    for _ in range(12):  # two minutes of 10 s ticks
        record = controller.decide("react")
        seen.append(record is not None)
        clock.advance(10)
    assert actuator.applied == {"a/m": 3, "b/m": 3}  # nothing scaled down, nothing sent
    assert seen[:2] == [True, True] and not all(seen)  # retries thin out: backoff
    assert controller.misses >= 3 and not controller.ready
    assert sample(registry, "farod_signal_stale", application="a", deployment="m", signal="prometheus") == 1
    signals.down = False
    clock.advance(60)  # past the longest backoff
    assert controller.decide("react") is not None
    assert controller.ready and controller.misses == 0
    assert sample(registry, "farod_signal_stale", application="a", deployment="m", signal="prometheus") == 0
    assert actuator.applied == {"a/m": 1, "b/m": 1}


def test_a_follower_decides_and_exports_but_never_actuates():
    leader = {"now": False}
    controller, _, actuator, _, registry = build({"a/m": 6, "b/m": 1}, is_leader=lambda: leader["now"])
    record = controller.decide("plan")
    assert record["applied"] is False and actuator.applied == {"a/m": 3, "b/m": 3}
    assert sample(registry, "farod_leader") == 0
    leader["now"] = True
    controller.decide("react")
    assert actuator.applied == {"a/m": 6, "b/m": 1} and sample(registry, "farod_leader") == 1


def test_swapped_policy_takes_over_at_the_next_decision():
    controller, _, actuator, _, registry = build({"a/m": 4, "b/m": 4})
    controller.decide("react")
    controller.swap_policy(ScriptedPolicy(jobs=JOBS, wants={"a/m": 2, "b/m": 2}, name="other"))
    assert controller.policy.name == "scripted"
    record = controller.decide("react")
    assert record["policy"] == "other" and actuator.applied == {"a/m": 2, "b/m": 2}
    assert sample(registry, "farod_policy_info", policy="other") == 1
    assert sample(registry, "farod_policy_info", policy="scripted") is None


def test_quota_is_read_at_every_decision_and_never_exceeded():
    quota = {"cpu": 10}
    controller, _, actuator, _, registry = build({"a/m": 8, "b/m": 8}, quota=quota)
    controller.decide("plan")
    assert sum(actuator.applied.values()) == 10
    quota["cpu"] = 6  # a ResourceQuota shrank
    controller.decide("react")
    assert sum(actuator.applied.values()) == 6
    assert sample(registry, "farod_quota_used_ratio", resource="cpu") == 1.0


def test_safety_limits_bound_a_decision():
    controller, _, actuator, _, _ = build({"a/m": 9, "b/m": 1},
                                          safety=SafetyConfig(max_replicas_added=2, max_replicas_removed=1))
    controller.decide("plan")
    assert actuator.applied == {"a/m": 5, "b/m": 2}


def test_actuation_error_counts_holds_and_retries_next_tick():
    controller, _, actuator, _, registry = build({"a/m": 5, "b/m": 3})
    original = actuator.apply
    failures = iter([ActuationError("HTTP 500", reason="http_5xx")])

    def flaky(targets, jobs, queue_limits=None):
        error = next(failures, None)
        if error:
            raise error
        original(targets, jobs, queue_limits)

    actuator.apply = flaky
    record = controller.decide("plan")
    assert record["applied"] is False and record["error"] == "http_5xx"
    assert actuator.applied == {"a/m": 3, "b/m": 3}
    assert sample(registry, "farod_actuation_errors_total", reason="http_5xx") == 1
    controller.policy.wants = {}  # the next tick asks nothing new: the plan's targets are re-asserted
    controller.decide("react")
    assert actuator.applied == {"a/m": 5, "b/m": 3}


def test_a_policy_that_raises_holds():
    controller, _, actuator, _, _ = build({"a/m": 1, "b/m": 1})

    def broken(observation):
        raise ZeroDivisionError("bug")

    controller.policy.react = broken
    record = controller.decide("react")
    assert "policy failed" in record["reason"] and actuator.applied == {"a/m": 3, "b/m": 3}


def test_policy_sees_wall_clock_now_from_the_injected_clock():
    controller, clock, _, _, _ = build({})
    controller.decide("react")
    clock.advance(37.5)
    controller.decide("react")
    first, second = controller.policy.seen
    assert second.now - first.now == 37.5 and second.jobs["a/m"].replicas == 3
