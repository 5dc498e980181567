"""Guards every policy gets: bounds, holding what cannot be seen, and optional step limits.

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

A policy computes what it wants; the rules below are the same for all of them, so they live here
once instead of in every policy:

- **bounds**: a job's target is clamped to ``[min_replicas, max_replicas]`` of its :class:`JobSpec`;
- **hold when blind**: a job whose observation is missing or stale keeps its replicas, whatever the
  policy said (never scale down on no data); an unknown job is dropped;
- **step limits** (optional): at most ``max_scale_up`` replicas added and ``max_scale_down`` removed
  per job and decision, measured from the current target.

The quota is not a guard here: the cluster (the actuator's quota guard, the simulated cluster)
grants what fits, exactly as a real cluster does.
"""

from __future__ import annotations

import dataclasses

from farod.errors import require
from farod.jobs import JobSpec
from farod.policies.base import Decision, Observation, Policy


@dataclasses.dataclass(frozen=True, kw_only=True)
class StepLimits:
    """Safety limits every policy accepts as parameters; 0 means no limit."""

    max_scale_up: int = 0  # most replicas one decision may add to a job
    max_scale_down: int = 0  # most replicas one decision may remove from a job

    def __post_init__(self):
        require(self.max_scale_up >= 0, f"max_scale_up must be >= 0, got {self.max_scale_up}")
        require(self.max_scale_down >= 0, f"max_scale_down must be >= 0, got {self.max_scale_down}")


class Guarded(Policy):
    """Wraps a policy; what it returns has passed the guards. Attributes read through to the inner one."""

    def __init__(self, inner: Policy, *, limits: StepLimits = StepLimits()):
        super().__init__(jobs=inner.jobs)
        self.inner = inner
        self.limits = limits
        self.name = inner.name
        self.tick_interval_s = inner.tick_interval_s
        self.plan_interval_s = inner.plan_interval_s

    def plan(self, observation: Observation) -> Decision:
        return self._guard(self.inner.plan(observation), observation)

    def react(self, observation: Observation) -> Decision:
        return self._guard(self.inner.react(observation), observation)

    def _guard(self, decision: Decision, observation: Observation) -> Decision:
        replicas = {}
        for key, wanted in decision.replicas.items():
            reading = observation.jobs.get(key)
            if key not in self.jobs or reading is None or reading.stale:
                continue
            replicas[key] = self._limit(self.jobs[key], int(wanted), reading.replicas)
        return dataclasses.replace(decision, replicas=replicas)

    def _limit(self, job: JobSpec, wanted: int, current: int) -> int:
        if self.limits.max_scale_up:
            wanted = min(wanted, current + self.limits.max_scale_up)
        if self.limits.max_scale_down:
            wanted = max(wanted, current - self.limits.max_scale_down)
        return job.bounded(wanted)
