"""Ray Serve's built-in autoscaler with its default ``autoscaling_config``: the baseline users run today.

Example::

    >>> import numpy as np
    >>> from farod.jobs import JobSpec
    >>> from farod.policies.base import JobObservation, Observation
    >>> jobs = {"a/m": JobSpec(application="a", deployment="m", slo_ms=720)}
    >>> policy = RayServe(jobs=jobs, quota={"cpu": 32}, params=RayServeParams(upscale_delay_s=0))
    >>> busy = JobObservation(history=np.zeros(0), ongoing_requests=9.0, replicas=3, running_replicas=3)
    >>> policy.react(Observation(now=0, jobs={"a/m": busy}, quota={"cpu": 32})).replicas  # ceil(9 / 2)
    {'a/m': 5}

The rule, as Ray Serve 2.x applies it to each deployment (``replica_queue_length_autoscaling_policy``
with the delay logic of ``ray.serve.autoscaling_policy``), restated from its documented behaviour:

1. ``ongoing`` = requests queued at the handles plus running on replicas, averaged over the
   ``look_back_period_s`` window (30 s): :attr:`JobObservation.ongoing_requests` over ``window_s``;
2. ``desired = running · ongoing / (target_ongoing_requests · running) = ongoing / target``; with no
   running replica, keep the current target;
3. smoothing: ``ceil(running + factor · (desired − running))`` with ``upscaling_factor`` when growing
   and ``downscaling_factor`` when shrinking (both 1 by default), and a shrink stuck by the factor is
   forced down by one;
4. delays against the current *target*: a scale-up is applied once the wish to go up has held for
   ``upscale_delay_s`` (30 s), a scale-down once the wish to go down has held for ``downscale_delay_s``
   (600 s), both measured in time, restarted by a change of direction or by acting;
5. bounds ``[min_replicas, max_replicas]`` last; here ``max_replicas`` defaults to what the quota holds.

Ray evaluates this every 0.1 s on metrics pushed every 10 s; a 10-s tick sees the same averages.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

from farod.errors import require
from farod.jobs import JobSpec, fitting_replicas
from farod.policies.base import Decision, JobObservation, Observation
from farod.policies.hysteresis import Hysteresis
from farod.policies.params import Configured


@dataclasses.dataclass(frozen=True, kw_only=True)
class RayServeParams:
    """Ray Serve's ``autoscaling_config`` defaults (``num_replicas="auto"``)."""

    target_ongoing_requests: float = 2.0
    upscale_delay_s: float = 30.0
    downscale_delay_s: float = 600.0
    upscaling_factor: float = 1.0
    downscaling_factor: float = 1.0
    tick_interval_s: float = 10.0  # how often the rule is evaluated

    def __post_init__(self):
        for name in ("target_ongoing_requests", "upscaling_factor", "downscaling_factor", "tick_interval_s"):
            value = getattr(self, name)
            require(value > 0, f"{name} must be > 0, got {value}")
        require(self.upscale_delay_s >= 0, f"upscale_delay_s must be >= 0, got {self.upscale_delay_s}")
        require(self.downscale_delay_s >= 0, f"downscale_delay_s must be >= 0, got {self.downscale_delay_s}")


class RayServe(Configured):
    name = "rayserve"
    Params = RayServeParams

    def __init__(self, *, jobs: Mapping[str, JobSpec], quota: Mapping[str, float], params: RayServeParams):
        super().__init__(jobs=jobs, params=params)
        self._delay = Hysteresis(
            up_s=params.upscale_delay_s, down_s=params.downscale_delay_s, tick_s=params.tick_interval_s
        )

    def react(self, observation: Observation) -> Decision:
        wanted = {}
        for key, reading in observation.jobs.items():
            if key not in self.jobs or reading.stale or reading.ongoing_requests is None:
                continue
            desired = self._desired(reading)
            direction = (desired > reading.replicas) - (desired < reading.replicas)
            if self._delay.update(key, direction, now=observation.now):
                # max_replicas = the quota: as many replicas as the whole quota holds for this job alone.
                wanted[key] = min(desired, fitting_replicas(self.jobs[key], observation.quota))
        return Decision(replicas=wanted, kind="react")

    def _desired(self, reading: JobObservation) -> int:
        running = reading.running_replicas
        if running == 0:
            return reading.replicas
        desired = reading.ongoing_requests / self.params.target_ongoing_requests
        growing = desired > running
        factor = self.params.upscaling_factor if growing else self.params.downscaling_factor
        smoothed = math.ceil(running + factor * (desired - running))
        if math.ceil(desired) < running and smoothed == running:
            smoothed -= 1
        return max(smoothed, 0)

