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
154 ms) and assumes a nearly constant service time. Two per-job corrections are learned from what every
deployment measures, on every tick (live from Prometheus, in simulation from the simulator's
observations; nothing else):

- **service time** ``s``, from the mean processing time per request: an exponentially weighted mean
  starting from the profiled value, ``s <- s + service_rate * (measured - s)`` per reading (0.02 per
  10-s tick: about nine minutes to move two thirds of the way), kept within ``bounds`` times the
  profiled value. At first it is the running mean of the readings with the profile counted as
  ``prior_readings`` (5) of them -- the rate is ``max(service_rate, 1 / (n + prior_readings))`` at
  the n-th reading -- so a wrong profile is corrected within the first minute instead of costing
  the first plans (measured: told 20% low, violation on day 10 at 32 CPUs 1.40x the true profile's
  at a constant 0.02, 1.28x with the prior);
- **tail** ``t``, one request's p99 latency without any wait (the latency model's ``tail``: the model
  predicts ``t + W_q/2``), from the measured end-to-end p99: each reading implies
  ``t = p99 - W_q/2``, with ``W_q`` the model's wait at the reading's load, service time and running
  replicas; ``t`` follows it at ``tail_rate`` per reading, starting from the job's profiled tail
  (``JobSpec.service_tail_ms``) or else ``s`` (the model's constant service time), and kept within
  ``TAIL_BOUNDS`` times ``s``. A heavier-tailed service distribution than
  the model's shows up here: it adds a nearly constant offset to the p99 at every utilization a plan
  runs at (measured in simulation: README), which a factor on the latency cannot describe (the ratio of
  measured to predicted p99 falls from 1.9 to 0.8 as utilization rises from 0.4 to 0.9).
  Readings with too few requests for a p99 (``min_requests`` in the window), with replicas still
  starting, or at or beyond the model's utilization cap (where it extrapolates linearly) teach nothing.

Both rates 0 turn calibration off (the profiled service time, ``t = s``). The Faro policies' defaults
(``FaroParams``: 0.02 and 0, the tail's 0.02 when turned on) and their measured effect are documented in docs/plan.md and the README.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from farod.jobs import TAIL_BOUNDS
from farod.model.queueing import wait_percentile
from farod.policies.base import JobObservation, Observation


class Calibration:
    def __init__(self, told_service_ms: Mapping[str, float | None], *, told_tail_ms: Mapping[str, float | None] | None = None,
                 service_rate: float = 0.1, tail_rate: float = 0.0, bounds: tuple[float, float] = (0.5, 2.0),
                 prior_readings: float = 5.0, min_requests: float = 200.0, percentile: float = 99.0,
                 max_rho: float = 0.95):
        self.told = dict(told_service_ms)
        self.service_rate = float(service_rate)
        self.tail_rate = float(tail_rate)
        self.bounds = bounds
        self.prior_readings = float(prior_readings)
        self.min_requests = float(min_requests)
        self.percentile = percentile
        self.max_rho = max_rho
        self._service = dict(self.told)
        self._readings: dict[str, int] = {}  # per job, processing-time readings learned from
        # t/s, profiled or learned; absent: the model's default (1)
        self._tail_over_service = {key: float(np.clip(tail / self.told[key], *TAIL_BOUNDS))
                                   for key, tail in (told_tail_ms or {}).items() if tail and self.told.get(key)}

    def service_time_ms(self, key: str) -> float | None:
        """The calibrated service time; None for a job without a profiled one."""
        return self._service.get(key)

    def tail_ms(self, key: str) -> float | None:
        """The calibrated tail; None until profiled or learned (the model's default: the service time)."""
        ratio, service = self._tail_over_service.get(key), self._service.get(key)
        return None if ratio is None or service is None else ratio * service

    def observe(self, observation: Observation) -> None:
        for key, reading in observation.jobs.items():
            if key not in self.told or reading.stale:
                continue
            if self.service_rate > 0:
                self._learn_service(key, reading)
            if self.tail_rate > 0:
                self._learn_tail(key, reading, observation.window_s)

    def _learn_service(self, key: str, reading: JobObservation) -> None:
        measured = reading.processing_time_ms
        if measured is None or not math.isfinite(measured) or measured <= 0:
            return
        told, now = self.told[key], self._service[key]
        if told is None:  # nothing profiled: the policy uses the measurement itself
            return
        seen = self._readings[key] = self._readings.get(key, 0) + 1
        rate = max(self.service_rate, 1.0 / (seen + self.prior_readings))  # a running mean at first
        learned = now + rate * (measured - now)
        self._service[key] = float(np.clip(learned, told * self.bounds[0], told * self.bounds[1]))

    def _learn_tail(self, key: str, reading: JobObservation, window_s: float) -> None:
        rate, p99, servers = reading.request_rate, reading.p99_latency_ms, reading.running_replicas
        service_ms = self._service[key]
        if (rate is None or p99 is None or service_ms is None or servers < 1 or servers < reading.replicas
                or not math.isfinite(p99) or p99 <= 0 or rate * window_s < self.min_requests
                or rate * service_ms / 1000.0 >= self.max_rho * servers):
            return
        wait_ms = float(wait_percentile(rate / 1000.0, service_ms, servers, percentile=self.percentile))
        implied = (p99 - wait_ms / 2.0) / service_ms
        now = self._tail_over_service.get(key, 1.0)
        self._tail_over_service[key] = float(np.clip(now + self.tail_rate * (implied - now), *TAIL_BOUNDS))
