"""Admission limits in the live loop: guarded, re-asserted every tick, logged, lifted on a policy swap."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from daemon_support import JOBS, FakeClock, ScriptedPolicy, StubSignals
from farod.actuators.dryrun import DryRunActuator
from farod.daemon.controller import Controller
from farod.daemon.metrics import DaemonMetrics
from farod.policies.base import Decision


class Recording(DryRunActuator):
    """The dry run, remembering the limits of every apply call."""

    def __init__(self):
        super().__init__()
        self.calls: list[dict] = []

    def apply(self, targets, jobs, queue_limits=None):
        self.calls.append(dict(queue_limits or {}))
        super().apply(targets, jobs, queue_limits)


class Limiting(ScriptedPolicy):
    """Plans with the admission limits of ``limits`` (a list: one entry per plan, the last repeats)."""

    def __init__(self, *, limits):
        super().__init__(jobs=JOBS, wants={"a/m": 2, "b/m": 2})
        self.limits = list(limits)

    def plan(self, observation):
        super().plan(observation)
        limits = self.limits.pop(0) if len(self.limits) > 1 else self.limits[0]
        return Decision(replicas=dict(self.wants), kind="plan", queue_limits=limits)


def build(policy):
    actuator, signals, clock = Recording(), StubSignals(JOBS), FakeClock()
    controller = Controller(jobs=JOBS, policy=policy, signals=signals, actuator=actuator,
                            metrics=DaemonMetrics(registry=CollectorRegistry()), quota=lambda: {"cpu": 10}, clock=clock)
    return controller, actuator, signals, clock


def exported_limits(controller):
    """farod_admission_limit_requests by job, as a scrape of /metrics sees it."""
    families = controller.metrics.registry.collect()
    samples = [s for f in families if f.name == "farod_admission_limit_requests" for s in f.samples]
    return {f"{s.labels['application']}/{s.labels['deployment']}": s.value for s in samples}


def test_a_plans_limits_are_reasserted_at_every_tick_and_lifted_by_the_next_plan():
    controller, actuator, _, clock = build(Limiting(limits=[{"a/m": 3, "b/m": None}, {"a/m": None, "b/m": None}]))
    record = controller.decide("plan")
    assert record["jobs"]["a/m"]["queue_limit"] == 3 and record["jobs"]["b/m"]["queue_limit"] is None
    clock.advance(10)
    controller.decide("react")  # a react carries no limits: the plan's stay in force and are re-asserted
    clock.advance(300)
    controller.decide("plan")
    assert actuator.calls == [{"a/m": 3, "b/m": None}, {"a/m": 3, "b/m": None}, {"a/m": None, "b/m": None}]
    assert actuator.queue_limits == {"a/m": None, "b/m": None}


def test_the_limit_in_force_is_a_gauge_and_a_lifted_one_has_no_series():
    controller, _, _, clock = build(Limiting(limits=[{"a/m": 3, "b/m": None}, {"a/m": 5}, {"a/m": None}]))
    controller.decide("plan")
    assert exported_limits(controller) == {"a/m": 3.0}  # b/m never had one: no series, not a 0
    clock.advance(300)
    controller.decide("plan")
    assert exported_limits(controller) == {"a/m": 5.0}
    clock.advance(300)
    controller.decide("plan")
    assert exported_limits(controller) == {}


def test_a_stale_job_gets_no_new_limit_and_keeps_the_one_in_force():
    controller, actuator, signals, clock = build(Limiting(limits=[{"a/m": 3}, {"a/m": 1}]))
    controller.decide("plan")
    signals.status["a/m"] = "stale"
    clock.advance(300)
    record = controller.decide("plan")
    assert record["jobs"]["a/m"]["stale"] is True and record["jobs"]["a/m"]["queue_limit"] == 3
    assert actuator.calls[-1] == {"a/m": 3}


def test_a_policy_swap_lifts_every_limit_farod_set():
    controller, actuator, _, clock = build(Limiting(limits=[{"a/m": 3}]))
    controller.decide("plan")
    controller.swap_policy(ScriptedPolicy(jobs=JOBS, wants={"a/m": 2, "b/m": 2}))
    clock.advance(10)
    controller.decide("react")
    assert actuator.calls == [{"a/m": 3}, {"a/m": None}]
    assert exported_limits(controller) == {}
