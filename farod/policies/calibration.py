"""Online calibration of the latency model: what each job's plans assume, corrected by what is measured.

Example::

    >>> from farod.policies.base import JobObservation, Observation
    >>> calibration = Calibration({"a/m": 180.0}, service_rate=0.5)
    >>> seen = Observation(now=10, quota={"cpu": 4}, jobs={"a/m": JobObservation(
    ...     history=np.zeros(0), processing_time_ms=150.0, replicas=2, running_replicas=2)})
    >>> calibration.observe(seen); calibration.observe(seen)
    >>> round(calibration.service_time_ms("a/m"), 1)
    157.5

A plan is only as good as its latency model, and the model starts from a profiled service time that a
live deployment rarely knows exactly (the Faro artifact told its policies 180 ms for replicas that took
154 ms) and from a queueing approximation that assumes nearly constant service times. Two per-job
corrections are learned from what every deployment measures, on every tick (live from Prometheus,
in simulation from the simulator's observations; nothing else):

- **service time**: an exponentially weighted mean of the measured processing time per request,
  starting from the profiled value: ``s <- s + service_rate * (measured - s)`` per reading
  (0.1 per 10-s tick: about two minutes to move two thirds of the way), kept within
  ``bounds`` times the profiled value;
- **latency factor** ``f``: the measured p99 latency over the model's prediction for the same load,
  service time and running replicas, as an exponentially weighted mean of the log ratio
  (``latency_rate`` per reading), within ``bounds``. It captures what the model leaves out (heavier
  service tails, proxy delays, routing). Readings with too few requests for a p99
  (``min_requests`` in the window), with replicas still starting, or beyond the model's utilization cap
  (where it extrapolates linearly) are skipped. Plans then see the SLO divided by ``f``.

Both rates 0 turn calibration off (the profiled service time, ``f = 1``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from farod.model.queueing import latency
from farod.policies.base import JobObservation, Observation


class Calibration:
    def __init__(self, told_service_ms: Mapping[str, float | None], *, service_rate: float = 0.1,
                 latency_rate: float = 0.0, bounds: tuple[float, float] = (0.5, 2.0), min_requests: float = 200.0,
                 percentile: float = 99.0, max_rho: float = 0.95):
        self.told = dict(told_service_ms)
        self.service_rate = float(service_rate)
        self.latency_rate = float(latency_rate)
        self.bounds = bounds
        self.min_requests = float(min_requests)
        self.percentile = percentile
        self.max_rho = max_rho
        self._service = dict(self.told)
        self._log_factor = {key: 0.0 for key in self.told}

    def service_time_ms(self, key: str) -> float | None:
        """The calibrated service time; None for a job without a profiled one."""
        return self._service.get(key)

    def latency_factor(self, key: str) -> float:
        return math.exp(self._log_factor.get(key, 0.0))

    def observe(self, observation: Observation) -> None:
        for key, reading in observation.jobs.items():
            if key not in self.told or reading.stale:
                continue
            if self.service_rate > 0:
                self._learn_service(key, reading)
            if self.latency_rate > 0:
                self._learn_factor(key, reading, observation.window_s)

    def _learn_service(self, key: str, reading: JobObservation) -> None:
        measured = reading.processing_time_ms
        if measured is None or not math.isfinite(measured) or measured <= 0:
            return
        told, now = self.told[key], self._service[key]
        if told is None:  # nothing profiled: the policy uses the measurement itself
            return
        learned = now + self.service_rate * (measured - now)
        self._service[key] = float(np.clip(learned, told * self.bounds[0], told * self.bounds[1]))

    def _learn_factor(self, key: str, reading: JobObservation, window_s: float) -> None:
        rate, p99, servers = reading.request_rate, reading.p99_latency_ms, reading.running_replicas
        service_ms = self._service[key] if self._service[key] is not None else reading.processing_time_ms
        if (rate is None or p99 is None or service_ms is None or servers < 1 or servers < reading.replicas
                or not math.isfinite(p99) or p99 <= 0 or rate * window_s < self.min_requests):
            return
        service_s = service_ms / 1000.0
        if rate * service_s >= self.max_rho * servers:
            return
        predicted_ms = 1000.0 * float(latency(rate, service_s, servers, percentile=self.percentile, max_rho=self.max_rho))
        low, high = (math.log(bound) for bound in self.bounds)
        now = self._log_factor[key]
        self._log_factor[key] = float(np.clip(now + self.latency_rate * (math.log(p99 / predicted_ms) - now), low, high))
