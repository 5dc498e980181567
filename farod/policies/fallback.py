"""The reactive safety net under a predictive policy: one more replica for a job that misses its SLO.

Example::

    >>> import numpy as np
    >>> from farod.jobs import JobSpec
    >>> from farod.policies.base import JobObservation, Observation
    >>> fallback = ReactiveFallback(jobs={"a/m": JobSpec(application="a", deployment="m", slo_ms=720)})
    >>> hot = lambda t: Observation(now=t, quota={"cpu": 8}, jobs={"a/m": JobObservation(
    ...     history=np.zeros(0), mean_latency_ms=900.0, replicas=2, running_replicas=2)})
    >>> [fallback.react(hot(t)).replicas for t in (0, 10, 20)]
    [{}, {}, {'a/m': 3}]

A forecast is sometimes wrong, and a plan lasts 5 minutes. Between plans, Faro checks every 10 s whether
a job's 30-s mean latency is above its SLO; after 3 consecutive such checks it adds one replica, and it
never removes one (removing is the planner's call, made with all jobs in view). Faro's policies and
MArk share this object. "3 consecutive checks" is kept as a duration, ``checks · tick``, counted by
the one rule of :mod:`farod.policies.hysteresis`, so a delayed tick cannot make it fire early or late.

The fallback only spends what is there to spend, so it cannot undo the plan:

- a job whose replicas are still starting is not given more: help is already on its way (a cold
  replica needs 35 s, longer than the 20 s the checks take);
- a replica is added only where the quota has room for it, worst job first. On a full cluster an extra
  ask would only queue a pending replica that later grabs whatever capacity frees up, quietly
  overriding the planner's allocation.
"""

from __future__ import annotations

from collections.abc import Mapping

from farod.jobs import JobSpec, fitting_replicas, remaining
from farod.policies.base import Decision, Observation
from farod.policies.hysteresis import Hysteresis, latency_direction


class ReactiveFallback:
    """+1 replica after the mean latency stays above the SLO for ``checks`` ticks in a row."""

    def __init__(self, *, jobs: Mapping[str, JobSpec], checks: int = 3, tick_interval_s: float = 10.0):
        self.jobs = dict(jobs)
        self._above = Hysteresis(up_s=checks * tick_interval_s, tick_s=tick_interval_s)

    def react(self, observation: Observation) -> Decision:
        readings = {key: reading for key, reading in observation.jobs.items() if key in self.jobs}
        due = []
        for key, reading in readings.items():
            above = max(0, latency_direction(reading, self.jobs[key].slo_ms))
            if self._above.update(key, above, now=observation.now) and reading.running_replicas >= reading.replicas:
                due.append(key)
        free = remaining(observation.quota, [(self.jobs[key], reading.replicas) for key, reading in readings.items()])
        wanted = {}
        for key in sorted(due, key=lambda key: -readings[key].mean_latency_ms / self.jobs[key].slo_ms):
            if fitting_replicas(self.jobs[key], free) >= 1:
                wanted[key] = readings[key].replicas + 1
                free = remaining(free, [(self.jobs[key], 1)])
        reason = f"latency above SLO for {len(wanted)} job(s)" if wanted else ""
        return Decision(replicas=wanted, kind="react", reason=reason)
