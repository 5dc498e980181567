"""One simulated run: a trace, a quota, a seed and a policy in; the §4 record and a timeline out.

Example::

    scenario = Scenario(trace=read_trace(path, minutes=30), quota={"cpu": 32}, seed=42)
    policy = farod.policies.create("aiad", jobs=scenario.jobs, quota=scenario.quota)
    run(scenario, policy).record["slo_violation_rate"]
    # -> 0.071...

The loop is the scheduler a live deployment has, on simulated time: ``policy.plan`` every
``plan_interval_s`` and ``policy.react`` every ``tick_interval_s``, both from t=0 (plan first). A live
daemon's plan clock has no fixed alignment with the traffic, so ``Scenario.plan_phase`` shifts every
scheduled plan after the first by that fraction of the interval (phase 0.2 of 300 s: plans at 0, 60,
360, 660 s ...); a comparison averaged over phases does not hinge on one lucky alignment. Between
two calls the compiled kernel (:mod:`farod.sim.kernel`) moves the requests; at each call the cluster
(:mod:`farod.sim.cluster`) turns targets into replicas. The cluster is also reconciled between calls
when it has something to do on its own: every ``reconcile_interval_s`` while replicas drain (their
pods free up for pending replicas), and when an idle pod is due to be reaped. An observation at ``t``
includes every event up to ``t``. The policy sees an :class:`Observation` built only from what a live
deployment can measure:

- ``history``: arrivals per completed trace unit (the requests that actually arrived, not the trace);
- ``request_rate``, ``ongoing_requests``: arrivals per second and time-averaged requests queued or in
  service at the deployment, over the last ``window_s`` (Ray Serve's autoscaling metric);
- ``mean_latency_ms``, ``p99_latency_ms``, ``processing_time_ms``: over requests completed in the
  window (``None`` when none did; rejected requests have no latency to observe);
- ``replicas`` = the current target, ``running_replicas`` = replicas ready and serving.

Start of the run: every job has ``min_replicas`` ready replicas; the targets the policy asks at t=0
(first plan, then first react) are placed ready at once, quota permitting, as if the deployment had
been running with them. From then on every change pays the start-up delays. After the trace ends no
request arrives and the policy is no longer called; requests in flight run to completion, so every
request of the trace gets a latency (or was rejected).

``avg_replicas`` counts replicas starting or ready (not draining), time-weighted over the trace's
span; ``avg_pods`` counts what the quota sees (busy and idle pods).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import time
from collections import deque
from collections.abc import Iterator, Mapping

import numpy as np

from farod.errors import FarodError
from farod.jobs import UNLIMITED, JobSpec, fitting_replicas, require_minimums_fit
from farod.policies.base import Decision, JobObservation, Observation, Policy
from farod.sim import kernel
from farod.sim.cluster import Cluster, Grants, Timing
from farod.sim.config import SimConfig
from farod.sim.metrics import request_metrics
from farod.trace import Trace


@dataclasses.dataclass(frozen=True, kw_only=True)
class Scenario:
    """Everything but the policy: the trace, the quota, the seed and the simulation parameters."""

    trace: Trace
    quota: Mapping[str, float]
    seed: int
    config: SimConfig = SimConfig()
    plan_phase: float = 0.0  # in [0, 1): where the plan clock stands against the trace (module docstring)

    def __post_init__(self):
        if not 0 <= self.plan_phase < 1:
            raise FarodError(f"plan phase must be in [0, 1), got {self.plan_phase}")

    @functools.cached_property
    def jobs(self) -> dict[str, JobSpec]:
        """The jobs' specs, in trace order, as the policy is built with them."""
        specs = {key: self.config.job(key).spec(key) for key in self.trace.keys}
        require_minimums_fit(specs.values(), self.quota)
        for key, spec in specs.items():
            if fitting_replicas(spec, self.quota) >= UNLIMITED:
                raise FarodError(f"quota: no quota resource limits the replicas of job {key}")
        return specs


@dataclasses.dataclass(frozen=True, kw_only=True)
class Timeline:
    """Per job and trace unit: what the figures plot."""

    keys: list[str]
    unit_s: float
    slo_ms: np.ndarray  # (jobs,)
    arrivals: np.ndarray  # (jobs, units) requests that arrived (a Poisson draw around the trace's counts)
    replicas: np.ndarray  # (jobs, units) time-averaged replicas starting or ready
    p99_ms: np.ndarray  # (jobs, units), NaN without arrivals, inf when the p99 request was rejected
    dropped: np.ndarray  # (jobs, units) requests rejected (queue full or an admission limit)


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunResult:
    record: dict
    timeline: Timeline


def run(scenario: Scenario, policy: Policy) -> RunResult:
    """Simulate the whole trace under ``policy``; deterministic for a given scenario and policy."""
    return _Run(scenario, policy).execute()


class _Run:
    def __init__(self, scenario: Scenario, policy: Policy):
        if not policy.tick_interval_s > 0 or not (policy.plan_interval_s is None or policy.plan_interval_s > 0):
            raise FarodError(f"policy {policy.name}: tick_interval_s and plan_interval_s must be > 0")
        self.scenario = scenario
        self.policy = policy
        self.config = config = scenario.config
        self.specs = list(scenario.jobs.values())
        trace = scenario.trace
        self.unit_s = trace.unit_s
        self.units = trace.counts.shape[1]
        job_configs = [config.job(key) for key in trace.keys]
        peak_rate = trace.counts.max(axis=1) / trace.unit_s
        slots = max(fitting_replicas(spec, scenario.quota) for spec in self.specs)
        queue_cap = config.queue_cap + (config.queue_reject == "above_cap")  # the artifact holds one more
        self.state = kernel.KernelState.allocate(
            rates=trace.counts / trace.unit_s,
            unit_s=trace.unit_s,
            seed=scenario.seed,
            service=np.array([job.service.seconds() for job in job_configs]),
            proxy=np.array([config.proxy.seconds()] * len(job_configs)),
            slots=slots,
            max_ongoing=config.max_ongoing,
            queue_cap=queue_cap,
            ring_size=_power_of_two(1.5 * peak_rate.max() * config.window_s + config.queue_cap + config.max_ongoing * slots),
            transit_size=_power_of_two(2 * peak_rate.max() * _far_tail_s(config.proxy)),
            expected_requests=int(trace.counts.sum() * 1.02) + 4096,
            observe_drops=config.drops_in_mean_latency,
            schedule=(
                kernel.exact_arrivals(trace.counts, trace.unit_s, scenario.seed) if config.arrivals == "exact" else None
            ),
        )
        timing = Timing(
            hot_start_s=config.hot_start_s,
            cold_start_s=config.cold_start_s,
            reap_idle_s=config.reap_idle_s,
            reconcile_interval_s=config.reconcile_interval_s,
        )
        grants = Grants(
            order=config.grant_order,
            ungranted=config.ungranted,
            retries=config.grant_retries,
            pod_scope=config.pod_scope,
            while_scaling=config.while_scaling,
        )
        self.cluster = Cluster(state=self.state, jobs=self.specs, quota=scenario.quota, timing=timing, grants=grants,
                               queue_cap=queue_cap)
        self.readings = _Readings(self.state, window_s=config.window_s)
        self.replica_seconds = np.zeros((len(self.specs), self.units))
        self.pod_seconds = 0.0
        self.max_replicas = 0
        self.scaling_actions = 0
        self.decision_ms: list[float] = []
        self.plan_ms: list[float] = []  # the predictive decisions alone: forecast + solve

    def execute(self) -> RunResult:
        started = time.perf_counter()
        end = self.units * self.unit_s
        plans = self._plan_times()
        next_plan = next(plans)
        next_react = 0.0
        self.cluster.place_ready(now=0.0)
        now = 0.0
        while now < end:
            if now >= next_plan:
                self.plan_ms.append(self._decide(self.policy.plan, now))
                next_plan = next(plans)
            if now >= next_react:
                self._decide(self.policy.react, now)
                next_react += self.policy.tick_interval_s
            if now == 0.0:
                self.cluster.place_ready(now=now)
            else:
                self.cluster.reconcile(now=now)
            until = min(next_plan, next_react, end, self.cluster.next_event(now))
            self._account(now, until)
            kernel.advance(self.state, until)
            self.readings.snapshot(until)
            now = until
        kernel.advance(self.state, math.inf)
        return self._result(wall_s=time.perf_counter() - started)

    def _plan_times(self) -> Iterator[float]:
        """t=0, then every plan interval from the scenario's phase on; for ever (no plans: never)."""
        every = self.policy.plan_interval_s
        if not every:
            yield math.inf
            return
        yield 0.0
        phase = self.scenario.plan_phase
        for k in itertools.count(0 if phase else 1):
            yield (k + phase) * every

    def _decide(self, method, now: float) -> float:
        """Ask the policy, hand its targets to the cluster; returns the policy's time in ms."""
        observation = self._observe(now)
        started = time.perf_counter()
        decision: Decision = method(observation)
        elapsed_ms = (time.perf_counter() - started) * 1000
        self.decision_ms.append(elapsed_ms)
        index = {key: j for j, key in enumerate(self.scenario.jobs)}
        # Bounds are the policy's guards' job (farod.policies.guards); the cluster only grants what fits.
        targets = {index[key]: max(0, int(wanted)) for key, wanted in decision.replicas.items() if key in index}
        self.scaling_actions += self.cluster.set_targets(targets)
        self.cluster.set_queue_limits({index[key]: limit for key, limit in decision.queue_limits.items() if key in index})
        return elapsed_ms

    def _observe(self, now: float) -> Observation:
        stats = kernel.window_stats(self.state, since=now - self.config.window_s)
        rates, ongoing = self.readings.rates(now)
        completed_units = int(now // self.unit_s)
        jobs = {}
        for j, key in enumerate(self.scenario.jobs):
            seen = stats[j, 0] > 0
            jobs[key] = JobObservation(
                history=self.state.arrays.arrivals[j, :completed_units].astype(float),
                request_rate=None if rates is None else float(rates[j]),
                mean_latency_ms=float(stats[j, 1] * 1000) if seen else None,
                p99_latency_ms=float(stats[j, 2] * 1000) if seen else None,
                ongoing_requests=None if ongoing is None else float(ongoing[j]),
                processing_time_ms=None if np.isnan(stats[j, 3]) else float(stats[j, 3] * 1000),
                replicas=self.cluster.targets[j],
                running_replicas=self.cluster.running(j),
            )
        return Observation(now=now, jobs=jobs, quota=dict(self.scenario.quota), window_s=self.config.window_s)

    def _account(self, start: float, stop: float) -> None:
        """Replica- and pod-seconds over [start, stop), spread over the trace units they fall in."""
        alive = np.array([self.cluster.alive(j) for j in range(len(self.specs))], dtype=float)
        self.max_replicas = max(self.max_replicas, int(alive.sum()))
        self.pod_seconds += len(self.cluster.pods) * (stop - start)
        while start < stop:
            unit = int(start // self.unit_s)
            unit_end = min(stop, (unit + 1) * self.unit_s)
            self.replica_seconds[:, unit] += alive * (unit_end - start)
            start = unit_end

    def _result(self, *, wall_s: float) -> RunResult:
        job, unit, latency = self.state.finished()
        slo_ms = np.array([spec.slo_ms for spec in self.specs])
        metrics = request_metrics(job=job, unit=unit, latency_s=latency, slo_s=slo_ms / 1000, units=self.units)
        span = self.units * self.unit_s
        record = {
            "policy": self.policy.name,
            "cpus": self.scenario.quota.get("cpu"),
            "seed": self.scenario.seed,
            "plan_phase": self.scenario.plan_phase,
            "jobs": len(self.specs),
            "minutes": self.units,
            "requests": metrics.requests,
            "slo_violation_rate": metrics.slo_violation_rate,
            "lost_utility": metrics.lost_utility,
            "request_slo_attainment": metrics.request_slo_attainment,
            "p99_ms": metrics.p99_ms,
            "dropped": metrics.dropped,
            "admission_dropped": self.cluster.admission_dropped(),
            "avg_replicas": float(self.replica_seconds.sum() / span),
            "max_replicas": self.max_replicas,
            "scaling_actions": self.scaling_actions,
            "decision_ms_p50": float(np.median(self.decision_ms)),
            "plan_ms_p50": float(np.median(self.plan_ms)) if self.plan_ms else None,
            "plan_ms_max": float(np.max(self.plan_ms)) if self.plan_ms else None,
            "wall_s": wall_s,
            "avg_pods": self.pod_seconds / span,
            "quota": dict(self.scenario.quota),
            "unit_s": self.unit_s,
        }
        timeline = Timeline(
            keys=list(self.scenario.jobs),
            unit_s=self.unit_s,
            slo_ms=slo_ms,
            arrivals=self.state.arrays.arrivals.copy(),
            replicas=self.replica_seconds / self.unit_s,
            p99_ms=metrics.job_unit_p99_s * 1000,
            dropped=metrics.job_unit_dropped,
        )
        return RunResult(record=record, timeline=timeline)


class _Readings:
    """Cumulative arrivals and queue integrals at every tick, to read rates over the last window."""

    def __init__(self, state: kernel.KernelState, *, window_s: float):
        self.state = state
        self.window_s = window_s
        self.snapshots: deque[tuple[float, np.ndarray, np.ndarray]] = deque()
        self.snapshot(0.0)

    def snapshot(self, now: float) -> None:
        arrived = self.state.arrays.job_i[:, kernel.ARRIVED].astype(float)
        integral = self.state.arrays.job_f[:, kernel.ONGOING_INTEGRAL].copy()
        self.snapshots.append((now, arrived, integral))
        # Keep one snapshot at or before the oldest window start still needed.
        while len(self.snapshots) > 2 and self.snapshots[1][0] <= now - self.window_s:
            self.snapshots.popleft()

    def rates(self, now: float) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(arrivals per second, mean requests at the deployment) over the window ending ``now``."""
        start = max(0.0, now - self.window_s)
        if now <= start:
            return None, None
        arrived_then, integral_then = self._at(start)
        _, arrived_now, integral_now = self.snapshots[-1]
        span = now - start
        return (arrived_now - arrived_then) / span, (integral_now - integral_then) / span

    def _at(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Values at ``t``, interpolated between the snapshots around it."""
        before = max((s for s in self.snapshots if s[0] <= t), key=lambda s: s[0])
        after = min((s for s in self.snapshots if s[0] >= t), key=lambda s: s[0])
        if after[0] == before[0]:
            return before[1], before[2]
        weight = (t - before[0]) / (after[0] - before[0])
        return (
            before[1] + weight * (after[1] - before[1]),
            before[2] + weight * (after[2] - before[2]),
        )


def _power_of_two(needed: float) -> int:
    """Room for ``needed`` entries and some margin: completions in a window, requests in transit."""
    return 1 << (int(needed) + 64).bit_length()


def _far_tail_s(distribution) -> float:
    """A delay the shifted lognormal exceeds with probability ~1e-9 (six standard normal deviations)."""
    shape, loc, scale = distribution.seconds()
    return loc + scale * math.exp(6 * shape)
