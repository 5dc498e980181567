"""Latency-threshold autoscalers: AIAD and Oneshot, the reactive baselines of the Faro paper.

Example::

    >>> policy = Aiad(jobs={"a/m": JobSpec(application="a", deployment="m", slo_ms=720)},
    ...               quota={"cpu": 32}, params=ThresholdParams())
    >>> # mean latency above 720 ms on 3 consecutive 10-s ticks -> {"a/m": replicas + 1}

Both read each job's 30-s mean latency every 10 s and compare it with the SLO. A wish to scale up must
hold for ``upscale_delay_s`` (30 s: the 3rd consecutive reading), a wish to scale down for
``downscale_delay_s`` (600 s: the 60th; counted as :mod:`farod.policies.hysteresis` says): the
asymmetry keeps them from flapping and from giving capacity back during a short lull. They differ in
the step:

- **AIAD** adds or removes one replica (additive increase, additive decrease). It adds one to what the
  job *has* (running replicas): asking again while a replica is still starting, or pending on a full
  quota, would pile up a backlog that later grabs whatever capacity frees up and hoards it for the
  600 s per step a downscale takes (on day 10 at 32 CPUs: violation 0.18 counting from the target,
  0.076 from the running replicas);
- **Oneshot** jumps straight to ``ceil(replicas · latency / SLO)``, like Kubernetes' HPA with latency as
  the metric: fast, but the latency of an overloaded queue says little about the capacity it needs.

Neither knows about the other jobs or the quota; the cluster grants what fits.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

from farod.errors import require
from farod.jobs import JobSpec, fitting_replicas
from farod.policies.base import Decision, JobObservation, Observation
from farod.policies.hysteresis import Hysteresis, latency_direction
from farod.policies.params import Configured


@dataclasses.dataclass(frozen=True, kw_only=True)
class ThresholdParams:
    tick_interval_s: float = 10.0  # how often the latency is checked
    upscale_delay_s: float = 30.0  # latency above the SLO this long -> scale up
    downscale_delay_s: float = 600.0  # latency below the SLO this long -> scale down

    def __post_init__(self):
        require(self.tick_interval_s > 0, f"tick_interval_s must be > 0, got {self.tick_interval_s}")
        require(self.upscale_delay_s >= 0, f"upscale_delay_s must be >= 0, got {self.upscale_delay_s}")
        require(self.downscale_delay_s >= 0, f"downscale_delay_s must be >= 0, got {self.downscale_delay_s}")


class _LatencyThreshold(Configured):
    """Scale a job when its latency has been on one side of the SLO for the side's delay."""

    Params = ThresholdParams

    def __init__(self, *, jobs: Mapping[str, JobSpec], quota: Mapping[str, float], params: ThresholdParams):
        super().__init__(jobs=jobs, params=params)
        self._window = Hysteresis(
            up_s=params.upscale_delay_s, down_s=params.downscale_delay_s, tick_s=params.tick_interval_s
        )

    def react(self, observation: Observation) -> Decision:
        wanted = {}
        for key, reading in observation.jobs.items():
            if key not in self.jobs:
                continue
            direction = latency_direction(reading, self.jobs[key].slo_ms)
            if self._window.update(key, direction, now=observation.now):
                wanted[key] = self._step(key, reading, direction, observation.quota)
        return Decision(replicas=wanted, kind="react")

    def _step(self, key: str, reading: JobObservation, direction: int, quota: Mapping[str, float]) -> int:
        raise NotImplementedError


class Aiad(_LatencyThreshold):
    name = "aiad"

    def _step(self, key: str, reading: JobObservation, direction: int, quota: Mapping[str, float]) -> int:
        if direction > 0:  # one more than it *has*: a replica still starting or pending is already asked for
            return max(reading.replicas, reading.running_replicas + 1)
        return reading.replicas - 1


class Oneshot(_LatencyThreshold):
    name = "oneshot"

    def _step(self, key: str, reading: JobObservation, direction: int, quota: Mapping[str, float]) -> int:
        # An idle job has no latency: it needs nothing (the guards keep its minimum). Rejected requests
        # make the latency infinite: then ask for all the quota holds, as HPA asks its max.
        most = fitting_replicas(self.jobs[key], quota)
        wanted = reading.replicas * (reading.mean_latency_ms or 0.0) / self.jobs[key].slo_ms
        return min(math.ceil(wanted), most) if math.isfinite(wanted) else most
