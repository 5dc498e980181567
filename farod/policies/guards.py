"""The guard pipeline: what every policy's answer passes before it becomes a target, in one place.

Example::

    >>> import numpy as np
    >>> from farod.policies import create
    >>> from farod.jobs import JobSpec
    >>> from farod.policies.base import JobObservation, Observation
    >>> jobs = {"a/m": JobSpec(application="a", deployment="m", slo_ms=720, max_replicas=8)}
    >>> policy = create("oneshot", jobs=jobs, quota={"cpu": 32}, params={"upscale_delay_s": 0, "max_scale_up": 2})
    >>> hot = JobObservation(history=np.zeros(0), mean_latency_ms=7200.0, replicas=1)
    >>> policy.react(Observation(now=0, jobs={"a/m": hot}, quota={"cpu": 32})).replicas  # Oneshot asked 10
    {'a/m': 3}
    >>> two = {"a/m": JobSpec(application="a", deployment="m", slo_ms=720),
    ...        "b/m": JobSpec(application="b", deployment="m", slo_ms=720)}
    >>> fit_quota({"a/m": 6, "b/m": 1}, current={"a/m": 2, "b/m": 3}, jobs=two, quota={"cpu": 5})
    {'a/m': 4, 'b/m': 1}

A policy computes what it wants; :func:`guard` turns that into targets, in this order:

1. **stale hold**: a job whose observation is missing or stale keeps its replicas (never scale down on
   no data: it keeps the larger of its previous target and what it has); a job the guard does not
   know is dropped; a job the policy left out keeps its previous target;
2. **job bounds**: an asked target is clamped to ``[min_replicas, max_replicas]`` of its job spec;
3. **step limits**: per job (the policy parameters ``max_scale_up`` / ``max_scale_down``, measured
   from the current target) and then over the whole cluster (the daemon's ``safety`` settings, shared
   one replica at a time, round robin, so one job cannot take all of it); 0 means no limit;
4. **quota fit** (:func:`fit_quota`): the targets are reduced until they fit ``Observation.quota``.

Admission limits (``Decision.queue_limits``) pass :func:`guard_queue_limits`: a job with stale or
missing signals, or one the guard does not know, gets no new limit (its limit in force holds: a
limit is never tightened on data that is not there); lifting one (``None``) always passes.

Every policy built by :func:`farod.policies.create` is :class:`Guarded`: its decisions have passed
steps 1-3 for the jobs it asked for. The daemon runs the whole pipeline over every job it manages
(its cluster limits and quota fit included) right before the actuator. The simulator stops before the
quota fit: its cluster grants what fits, as a real cluster's ResourceQuota does (an upscale that does
not fit waits there for room instead of being cut).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from farod.errors import require
from farod.jobs import JobSpec, remaining
from farod.policies.base import Decision, Observation, Policy


@dataclasses.dataclass(frozen=True, kw_only=True)
class StepLimits:
    """Safety limits every policy accepts as parameters; 0 means no limit."""

    max_scale_up: int = 0  # most replicas one decision may add to a job
    max_scale_down: int = 0  # most replicas one decision may remove from a job

    def __post_init__(self):
        require(self.max_scale_up >= 0, f"max_scale_up must be >= 0, got {self.max_scale_up}")
        require(self.max_scale_down >= 0, f"max_scale_down must be >= 0, got {self.max_scale_down}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ClusterLimits:
    """Whole-cluster limits per decision (the daemon's ``safety`` settings); 0 means no limit."""

    max_added: int = 0
    max_removed: int = 0


def guard(asked: Mapping[str, int], *, observation: Observation, jobs: Mapping[str, JobSpec],
          previous: Mapping[str, int], job_limits: StepLimits = StepLimits(),
          cluster_limits: ClusterLimits = ClusterLimits(), fit: bool = True) -> dict[str, int]:
    """The targets of every job in ``previous`` (the targets before this decision) after the pipeline."""
    targets = {}
    for key, before in previous.items():
        reading = observation.jobs.get(key)
        if key not in jobs:
            continue
        if reading is None or reading.stale:
            targets[key] = max(before, reading.replicas) if reading is not None else before
        elif key in asked:
            targets[key] = _step_limited(jobs[key].bounded(int(asked[key])), reading.replicas, job_limits)
        else:
            targets[key] = before
    current = {key: reading.replicas for key, reading in observation.jobs.items()}
    if cluster_limits != ClusterLimits():
        targets = limit_steps(targets, current=current, max_added=cluster_limits.max_added,
                              max_removed=cluster_limits.max_removed)
    return fit_quota(targets, current=current, jobs=jobs, quota=observation.quota) if fit else targets


def _step_limited(wanted: int, current: int, limits: StepLimits) -> int:
    if limits.max_scale_up:
        wanted = min(wanted, current + limits.max_scale_up)
    if limits.max_scale_down:
        wanted = max(wanted, current - limits.max_scale_down)
    return wanted


class Guarded(Policy):
    """A policy whose decisions have passed the guards (steps 1-3) for the jobs it asked for."""

    def __init__(self, inner: Policy, *, limits: StepLimits = StepLimits()):
        super().__init__(jobs=inner.jobs)
        self.inner = inner
        self.limits = limits
        self.name = inner.name
        self.tick_interval_s = inner.tick_interval_s
        self.plan_interval_s = inner.plan_interval_s
        self.params = inner.params

    def service_time_ms(self, key: str) -> float | None:
        return self.inner.service_time_ms(key)

    def plan(self, observation: Observation) -> Decision:
        return self._guard(self.inner.plan(observation), observation)

    def react(self, observation: Observation) -> Decision:
        return self._guard(self.inner.react(observation), observation)

    def _guard(self, decision: Decision, observation: Observation) -> Decision:
        asked = {key: replicas for key, replicas in decision.replicas.items() if key in observation.jobs}
        previous = {key: observation.jobs[key].replicas for key in asked}
        targets = guard(asked, observation=observation, jobs=self.jobs, previous=previous, job_limits=self.limits,
                        fit=False)
        held = {key for key in targets if observation.jobs[key].stale}
        return dataclasses.replace(decision, replicas={k: v for k, v in targets.items() if k not in held},
                                   queue_limits=guard_queue_limits(decision.queue_limits, observation=observation,
                                                                   jobs=self.jobs))


def guard_queue_limits(limits: Mapping[str, int | None], *, observation: Observation,
                       jobs: Mapping[str, JobSpec]) -> dict[str, int | None]:
    """``limits`` without new limits for unknown jobs or jobs whose signals are stale or missing."""
    def fresh(key: str) -> bool:
        reading = observation.jobs.get(key)
        return reading is not None and not reading.stale

    return {key: limit for key, limit in limits.items() if key in jobs and (limit is None or fresh(key))}


def fit_quota(targets: Mapping[str, int], *, current: Mapping[str, int], jobs: Mapping[str, JobSpec],
              quota: Mapping[str, float]) -> dict[str, int]:
    """``targets`` reduced until they fit ``quota``; jobs not in ``targets`` are not touched.

    Replicas go from upscales first (the largest increase first: those are the asks the cluster cannot
    grant), and only when the current allocation itself is over the quota (the quota shrank) from the
    jobs furthest above their minimum. Never below a job's ``min_replicas``: if the minimums alone
    exceed the quota, the minimums are what it returns.
    """
    fitted = dict(targets)

    def over() -> bool:
        left = remaining(quota, [(jobs[key], replicas) for key, replicas in fitted.items()])
        return any(amount < -1e-9 for amount in left.values())

    while over():
        growing = [key for key in fitted if fitted[key] > max(current.get(key, 0), jobs[key].min_replicas)]
        shrinkable = growing or [key for key in fitted if fitted[key] > jobs[key].min_replicas]
        if not shrinkable:
            break
        if growing:
            key = max(growing, key=lambda k: (fitted[k] - current.get(k, 0), k))
        else:
            key = max(shrinkable, key=lambda k: (fitted[k] - jobs[k].min_replicas, k))
        fitted[key] -= 1
    return fitted


def limit_steps(targets: Mapping[str, int], *, current: Mapping[str, int], max_added: int = 0,
                max_removed: int = 0) -> dict[str, int]:
    """At most ``max_added`` replicas added and ``max_removed`` removed over all jobs (0: no limit)."""
    limited = {key: current.get(key, wanted) for key, wanted in targets.items()}
    for sign, budget in ((1, max_added), (-1, max_removed)):
        wanting = [key for key in targets if (targets[key] - limited[key]) * sign > 0]
        budget = budget or sum(abs(targets[key] - limited[key]) for key in wanting)
        while budget > 0 and wanting:
            for key in list(wanting):
                if budget == 0:
                    break
                limited[key] += sign
                budget -= 1
                if limited[key] == targets[key]:
                    wanting.remove(key)
    return limited


def quota_used(targets: Mapping[str, int], *, jobs: Mapping[str, JobSpec], quota: Mapping[str, float],
               ) -> dict[str, float]:
    """Fraction of each quota resource ``targets`` use (farod_quota_used_ratio)."""
    left = remaining(quota, [(jobs[key], replicas) for key, replicas in targets.items()])
    return {resource: (amount - left[resource]) / amount if amount > 0 else 0.0
            for resource, amount in quota.items()}
