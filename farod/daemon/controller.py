"""One decision of the live loop: observe, decide, guard, actuate, export, log -- or hold.

Example::

    controller = Controller(jobs=jobs, policy=policy, signals=signals, actuator=actuator,
                            metrics=DaemonMetrics(registry=CollectorRegistry()), quota=lambda: {"cpu": 8})
    record = controller.decide("plan")
    record["targets"]
    # -> {'serve-cluster0/classifier': 3, 'serve-cluster1/classifier': 2}

The controller has no thread and no timer of its own (the scheduler in :mod:`farod.daemon.runner`
calls :meth:`Controller.decide`) and reads time only from the injected ``clock``, so every rule below
runs on a fake clock in tests:

- **no data, no scale-down**: a job whose signals are stale or missing, or whose deployment the
  cluster does not report, keeps what it has (``farod_signal_stale`` says which signal); a job the
  cluster no longer has is left alone rather than re-created;
- **Prometheus or the cluster unreachable**: everything holds, nothing is sent; retries back off
  (tick, 2x tick, ... up to ``max_backoff_s``, in wall-clock time); after ``misses_before_unready``
  consecutive misses the daemon reports not ready;
- **actuation**: every decision re-asserts the full set of targets (idempotent); a failure counts in
  ``farod_actuation_errors_total{reason}`` and the targets are retried at the next tick;
- **leader**: ``is_leader()`` is asked before every actuation; a follower decides and exports like a
  dry run, so a fail-over starts from warm forecasters;
- **quota**: ``quota()`` is called at every decision (a Kubernetes ResourceQuota may change) and the
  guard pipeline of :mod:`farod.policies.guards` (stale hold, bounds, step limits, quota fit) makes
  the applied allocation fit it;
- **policy swap**: :meth:`swap_policy` (a validated config reload) takes effect at the next decision.
- **admission limits** (a plan's ``queue_limits``, :mod:`farod.policies.admission`): the latest per
  job is re-asserted with the targets at every decision (so a failed write is retried); a stale job
  gets no new limit (:func:`~farod.policies.guards.guard_queue_limits`); a policy swap lifts every
  limit farod set (the new policy may not manage admission).

Each decision is one structured log line (``event="decision"``) carrying what it was decided from --
quota, job specs, signals, cluster state, the recent history at plans, the policy's plans -- so
``farod explain`` can replay it.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import structlog

from farod.actuators.base import ActuationError, Actuator, DeploymentState
from farod.daemon.config import SafetyConfig
from farod.daemon.history import ArrivalHistory
from farod.daemon.metrics import DaemonMetrics
from farod.daemon.record import DecisionRecord, JobRecord, problem_to_record
from farod.errors import FarodError
from farod.jobs import JobSpec
from farod.policies.base import Decision, JobObservation, Observation, Policy
from farod.policies.guards import ClusterLimits, guard, guard_queue_limits, quota_used
from farod.signals.prometheus import SIGNALS, JobSignals, PrometheusSignals, PrometheusUnavailable

LOGGED_HISTORY_STEPS = 120  # history steps a plan's log line carries (the forecasters' recent context)


class Controller:
    def __init__(
        self,
        *,
        jobs: Mapping[str, JobSpec],
        policy: Policy,
        signals: PrometheusSignals,
        actuator: Actuator,
        metrics: DaemonMetrics,
        quota: Callable[[], Mapping[str, float]],
        clock: Callable[[], float] = time.time,
        is_leader: Callable[[], bool] = lambda: True,
        safety: SafetyConfig = SafetyConfig(),
        history: ArrivalHistory | None = None,
        window_s: float = 30.0,
        tick_s: float = 10.0,
        max_backoff_s: float = 60.0,
        misses_before_unready: int = 3,
        logger: Any = None,
    ):
        self.jobs = dict(jobs)
        self.signals = signals
        self.actuator = actuator
        self.metrics = metrics
        self.quota = quota
        self.clock = clock
        self.is_leader = is_leader
        self.safety = safety
        self.history = history or ArrivalHistory(signals=signals, jobs=jobs)
        self.window_s = window_s
        self.tick_s = tick_s
        self.max_backoff_s = max_backoff_s
        self.misses_before_unready = misses_before_unready
        self.log = logger or structlog.get_logger("farod")
        self.listeners: list[Callable[[DecisionRecord], None]] = []  # called with every decision record
        self.misses = 0
        self.decisions = 0
        self._policy = policy
        self._next_policy: Policy | None = None
        self._desired: dict[str, int] = {}
        self._queue_limits: dict[str, int | None] = {}  # admission limits to re-assert (None: lifted)
        self._retry_at = -np.inf
        self._ids = itertools.count(1)
        self._lock = threading.Lock()  # one decision at a time, whatever calls it
        metrics.set_policy(policy.name)
        for job in self.jobs.values():
            metrics.set_slo(application=job.application, deployment=job.deployment, slo_ms=job.slo_ms)

    @property
    def policy(self) -> Policy:
        return self._policy

    @property
    def ready(self) -> bool:
        return self.misses < self.misses_before_unready

    def swap_policy(self, policy: Policy) -> None:
        """Use ``policy`` from the next decision on (after a validated config reload)."""
        self._next_policy = policy

    def decide(self, kind: str) -> DecisionRecord | None:
        """Run one ``"plan"`` or ``"react"`` decision; returns its log record, None when backing off."""
        with self._lock:
            now = self.clock()
            if now < self._retry_at:
                return None
            if self._next_policy is not None:
                self._policy, self._next_policy = self._next_policy, None
                self._queue_limits = dict.fromkeys(self._queue_limits)
                self.metrics.set_policy(self._policy.name)
            started = time.perf_counter()
            record = self._decide(kind, now=now, decision_id=f"{int(now)}-{next(self._ids)}")
            self.metrics.decision_duration.observe(time.perf_counter() - started)
            self.decisions += 1
            self._emit(record)
            return record

    # -- one decision -----------------------------------------------------------------------------

    def _decide(self, kind: str, *, now: float, decision_id: str) -> DecisionRecord:
        record: DecisionRecord = {"id": decision_id, "kind": kind, "now": now, "policy": self._policy.name,
                                  "policy_params": _params_of(self._policy), "actuator": self.actuator.name}
        try:
            quota = dict(self.quota())
            state = self.actuator.read(self.jobs)
        except (ActuationError, FarodError) as exc:
            error = getattr(exc, "reason", "quota")
            self.metrics.actuation_errors.labels(reason=error).inc()
            return self._miss(record, now=now, reason=str(exc), error=error)
        try:
            signals = self.signals.read(self.jobs, now=now)
            # Every decision, not only plans: an early replan (a tick) forecasts from the minutes up to
            # now. Between minutes this fetches nothing.
            self.history.refresh(now)
        except PrometheusUnavailable as exc:
            self._mark_prometheus_stale()
            return self._miss(record, now=now, reason=str(exc), error="prometheus_unavailable")
        self.misses = 0
        self._retry_at = -np.inf
        observation = self._observation(now, quota, state, signals)
        decision = self._ask_policy(kind, observation)
        # Every job the cluster has: the policy's ask, else what farod asked before, else what runs.
        previous = {key: self._desired.get(key, reading.target_replicas) for key, reading in state.items()}
        limits = ClusterLimits(max_added=self.safety.max_replicas_added, max_removed=self.safety.max_replicas_removed)
        targets = guard(decision.replicas, observation=observation, jobs=self.jobs, previous=previous,
                        cluster_limits=limits)
        self._queue_limits.update(guard_queue_limits(decision.queue_limits, observation=observation, jobs=self.jobs))
        leader = bool(self.is_leader())
        record.update(quota=quota, leader=leader, reason=decision.reason, objective=decision.objective,
                      jobs=self._job_records(kind, observation, state, signals, decision, targets))
        if decision.problem is not None:
            record["problem"] = problem_to_record(decision.problem)
        self._export_signals(state, signals)
        self.metrics.leader.set(1 if leader else 0)
        self._desired.update(targets)
        if leader and targets:
            try:
                self.actuator.apply(targets, {key: self.jobs[key] for key in targets},
                                    {key: limit for key, limit in self._queue_limits.items() if key in targets})
            except ActuationError as exc:
                self.metrics.actuation_errors.labels(reason=exc.reason).inc()
                record.update(applied=False, error=exc.reason, error_message=str(exc))
                self._export_targets(targets, quota, decision, applied=False)
                return record
        record.update(applied=leader, targets=targets)
        self._export_targets(targets, quota, decision, applied=True)
        return record

    def _ask_policy(self, kind: str, observation: Observation) -> Decision:
        """The policy's answer; a policy that raises holds this decision instead of stopping the daemon."""
        try:
            return self._policy.plan(observation) if kind == "plan" else self._policy.react(observation)
        except Exception as exc:  # noqa: BLE001 - a policy bug must not stop the loop or scale anything
            self.log.error("policy_failed", policy=self._policy.name, kind=kind, error=repr(exc)[:300])
            return Decision.hold(kind, reason=f"policy failed: {exc!r}"[:200])

    def _observation(self, now: float, quota: Mapping[str, float], state: Mapping[str, DeploymentState],
                     signals: Mapping[str, JobSignals]) -> Observation:
        jobs = {}
        for key in self.jobs:
            reading = signals[key]
            cluster = state.get(key)
            jobs[key] = JobObservation(
                history=self.history.series.get(key, np.zeros(0)),
                request_rate=reading.value("request_rate"),
                mean_latency_ms=reading.value("mean_latency_ms"),
                p99_latency_ms=reading.value("p99_latency_ms"),
                ongoing_requests=reading.value("ongoing_requests"),
                processing_time_ms=reading.value("processing_time_ms"),
                replicas=cluster.target_replicas if cluster else self._desired.get(key, 0),
                running_replicas=cluster.running_replicas if cluster else 0,
                stale=reading.stale or cluster is None,
            )
        return Observation(now=now, jobs=jobs, quota=quota, window_s=self.window_s)

    def _miss(self, record: DecisionRecord, *, now: float, reason: str, error: str) -> DecisionRecord:
        """The cluster or Prometheus could not be read: hold everything, back off, count towards unready."""
        self.misses += 1
        self._retry_at = now + min(self.tick_s * 2 ** (self.misses - 1), self.max_backoff_s) - self.tick_s / 2
        record.update(applied=False, held=True, error=error, error_message=reason, misses=self.misses)
        return record

    def _mark_prometheus_stale(self) -> None:
        for job in self.jobs.values():
            self.metrics.signal_stale.labels(application=job.application, deployment=job.deployment,
                                             signal="prometheus").set(1)

    # -- exports ----------------------------------------------------------------------------------

    def _export_signals(self, state: Mapping[str, DeploymentState], signals: Mapping[str, JobSignals]) -> None:
        for key, job in self.jobs.items():
            labels = {"application": job.application, "deployment": job.deployment}
            self.metrics.signal_stale.labels(**labels, signal="prometheus").set(0)
            self.metrics.signal_stale.labels(**labels, signal="deployment").set(0 if key in state else 1)
            for name in SIGNALS:
                self.metrics.signal_stale.labels(**labels, signal=name).set(0 if signals[key].readings[name].ok else 1)

    def _export_targets(self, targets: Mapping[str, int], quota: Mapping[str, float], decision: Decision, *,
                        applied: bool) -> None:
        for key, replicas in targets.items():
            job = self.jobs[key]
            labels = {"application": job.application, "deployment": job.deployment}
            if applied:
                self.metrics.target_replicas.labels(**labels).set(replicas)
                self._export_admission_limit(key, labels)
            plan = decision.plans.get(key)
            if plan is None:
                continue
            for quantile, rates in plan.forecast_rps.items():
                if rates:
                    self.metrics.forecast_rps.labels(**labels, quantile=f"{quantile:g}").set(rates[0])
            if plan.predicted_latency_ms:
                self.metrics.predicted_latency.labels(**labels).set(max(plan.predicted_latency_ms) / 1000)
            if plan.utility is not None:
                self.metrics.utility.labels(**labels).set(plan.utility)
        if applied:
            for resource, ratio in quota_used(targets, jobs=self.jobs, quota=quota).items():
                self.metrics.quota_used.labels(resource=resource).set(ratio)

    def _export_admission_limit(self, key: str, labels: Mapping[str, str]) -> None:
        """The limit in force as a gauge; a lifted (or never set) limit has no series, not a 0 (0 would
        read as "admit nothing")."""
        limit = self._queue_limits.get(key)
        if limit is None:
            self.metrics.admission_limit.remove(labels["application"], labels["deployment"])
        else:
            self.metrics.admission_limit.labels(**labels).set(limit)

    def _job_records(self, kind: str, observation: Observation, state: Mapping[str, DeploymentState],
                     signals: Mapping[str, JobSignals], decision: Decision, targets: Mapping[str, int],
                     ) -> dict[str, JobRecord]:
        records = {}
        for key, job in self.jobs.items():
            reading = observation.jobs[key]
            plan = decision.plans.get(key)
            entry: JobRecord = {
                "spec": {"slo_ms": job.slo_ms, "service_time_ms": job.service_time_ms,
                         "min_replicas": job.min_replicas, "max_replicas": job.max_replicas,
                         "weight": job.weight, "resources": dict(job.resources)},
                "signals": {name: {"value": r.value, "status": r.status} for name, r in signals[key].readings.items()},
                "signal_age_s": signals[key].age_s,
                "present": key in state,
                "replicas": reading.replicas,
                "running_replicas": reading.running_replicas,
                "stale": reading.stale,
                "asked": decision.replicas.get(key),
                "target": targets.get(key),
                "queue_limit": self._queue_limits.get(key),
                "service_time_ms_used": self._policy.service_time_ms(key),
            }
            if plan is not None:
                entry["plan"] = {"forecast_rps": {f"{q:g}": list(v) for q, v in plan.forecast_rps.items()},
                                 "predicted_latency_ms": list(plan.predicted_latency_ms),
                                 "utility": plan.utility, "accept_rate": plan.accept_rate,
                                 "replicas": plan.replicas}
            if kind == "plan":
                entry["history"] = [round(float(v), 3) if np.isfinite(v) else None
                                    for v in reading.history[-LOGGED_HISTORY_STEPS:]]
            records[key] = entry
        return records

    def _emit(self, record: DecisionRecord) -> None:
        self.log.info("decision", **record)
        for listener in self.listeners:
            try:
                listener(record)
            except Exception as exc:  # noqa: BLE001 - an event sink must not stop decisions
                self.log.warning("listener_failed", error=repr(exc)[:300])


def _params_of(policy: Policy) -> dict:
    """The policy's parameters (latency percentile, utilization cap, quantiles...), for the replay."""
    return dataclasses.asdict(policy.params) if dataclasses.is_dataclass(policy.params) else {}
