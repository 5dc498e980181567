"""What every forecast-driven policy shares: forecasters per job, service times, the reactive fallback.

Example (what the simulator and the daemon do with any predictive policy)::

    policy = create("faro-sum", jobs=jobs, quota={"cpu": 32}, train=earlier_days)
    policy.plan(observation)    # every plan_interval_s: forecast every job, then decide for all of them
    policy.react(observation)   # every tick_interval_s: +1 replica where the SLO keeps being missed

A predictive policy looks ahead ``horizon`` steps of ``step_s`` seconds (7 one-minute steps: the 5
minutes until the next plan plus the start-up of what it asks for). Each job has its own forecaster
(:mod:`farod.forecast`), fed the job's per-minute arrival history from the observation, so the same
object runs on a simulated trace and on Prometheus data. ``train`` optionally gives each job's earlier
days (days x minutes of the daily window, aligned with today's history): workloads repeat daily, and
the default forecaster learns from them (a live deployment has them in Prometheus; the simulator reads
them from the bundled CSV).

A job is *planned* only when the policy can reason about it: its observation is fresh, it has history
(or earlier days, or the future for the oracle), and its service time is known (its
:class:`JobSpec`'s, else the last observed processing time). Other jobs are *held*: they keep their
replicas, and those replicas stay reserved in the quota.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from farod import forecast
from farod.errors import FieldError, require
from farod.jobs import JobSpec
from farod.policies.base import Decision, JobObservation, Observation
from farod.policies.fallback import ReactiveFallback
from farod.policies.params import Configured


@dataclasses.dataclass(frozen=True, kw_only=True)
class ForecastParams:
    """Cadence, look-ahead and safety net of a predictive policy."""

    plan_interval_s: float = 300.0  # how often the predictive decision runs
    tick_interval_s: float = 10.0  # how often the reactive fallback checks latency
    fallback_checks: int = 3  # consecutive checks above the SLO before the fallback adds a replica
    horizon: int = 7  # forecast steps
    step_s: float = 60.0  # one forecast step (the history's resolution)
    quantile: float = 0.5  # the forecast quantile the decision is sized for
    forecaster: str = ""  # a farod.forecast model name; empty: farod.forecast.DEFAULT_MODEL
    forecaster_params: dict[str, Any] = dataclasses.field(default_factory=dict)  # its parameters, e.g. {window: 30}

    def __post_init__(self):
        require(self.plan_interval_s > 0, f"plan_interval_s must be > 0, got {self.plan_interval_s}")
        require(self.tick_interval_s > 0, f"tick_interval_s must be > 0, got {self.tick_interval_s}")
        require(self.fallback_checks >= 1, f"fallback_checks must be >= 1, got {self.fallback_checks}")
        require(self.horizon >= 1, f"horizon must be >= 1, got {self.horizon}")
        require(self.step_s > 0, f"step_s must be > 0, got {self.step_s}")
        require(0 < self.quantile < 1, f"quantile must be in (0, 1), got {self.quantile}")
        try:
            forecast.check(self.forecaster or forecast.DEFAULT_MODEL, self.forecaster_params)
        except FieldError as exc:  # on "name" or "params.<parameter>"
            raise FieldError("forecaster" if exc.field == "name" else f"forecaster_{exc.field}", exc.problem) from None


@dataclasses.dataclass(frozen=True)
class JobForecast:
    """Forecast arrival rates of one job, requests/s, one row per quantile."""

    quantiles: tuple[float, ...]
    rates: np.ndarray  # (len(quantiles), horizon)

    def at(self, quantile: float) -> np.ndarray:
        return self.rates[self.quantiles.index(quantile)]


class Predictive(Configured):
    """Base of Faro's policies and MArk: subclasses implement :meth:`decide`."""

    def __init__(
        self,
        *,
        jobs: Mapping[str, JobSpec],
        params: ForecastParams,
        future: Mapping[str, np.ndarray] | None = None,
        train: Mapping[str, np.ndarray] | None = None,
    ):
        super().__init__(jobs=jobs, params=params)
        self._fallback = ReactiveFallback(jobs=jobs, checks=params.fallback_checks,
                                          tick_interval_s=params.tick_interval_s)
        # Something to forecast from before today's first minute is complete: earlier days, or the future.
        self._foresight = {key: future is not None or (train is not None and key in train) for key in self.jobs}
        self._forecasters = {key: self._forecaster(key, future, (train or {}).get(key)) for key in self.jobs}
        self._service_time_ms = {key: job.service_time_ms for key, job in self.jobs.items()}

    def _forecaster(self, key: str, future: Mapping[str, np.ndarray] | None, train: np.ndarray | None):
        if future is not None:  # the oracle: the true counts, whatever forecaster was asked for
            return forecast.create("oracle", future=np.asarray(future[key], dtype=float))
        return forecast.create(self.params.forecaster or forecast.DEFAULT_MODEL, train=train,
                               **self.params.forecaster_params)

    def react(self, observation: Observation) -> Decision:
        self._learn_service_times(observation)
        return self._fallback.react(observation)

    def plan(self, observation: Observation) -> Decision:
        self._learn_service_times(observation)
        planned = {key: reading for key, reading in observation.jobs.items() if self._plannable(key, reading)}
        if not planned:
            return Decision.hold("plan", reason="no job can be planned yet")
        forecasts = {key: self._forecast(key, reading) for key, reading in planned.items()}
        return self.decide(observation, forecasts)

    def decide(self, observation: Observation, forecasts: Mapping[str, JobForecast]) -> Decision:
        raise NotImplementedError

    def service_time_ms(self, key: str) -> float:
        return self._service_time_ms[key]

    def quantiles(self) -> tuple[float, ...]:
        """The forecast quantiles :meth:`decide` needs, ascending."""
        return (self.params.quantile,)

    def _plannable(self, key: str, reading: JobObservation) -> bool:
        if key not in self.jobs or reading.stale or self._service_time_ms[key] is None:
            return False
        return len(reading.history) > 0 or self._foresight[key]

    def _forecast(self, key: str, reading: JobObservation) -> JobForecast:
        forecaster = self._forecasters[key]
        forecaster.update(np.asarray(reading.history, dtype=float))
        quantiles = self.quantiles()
        counts = forecaster.predict(self.params.horizon, quantiles)  # finite, >= 0, rows non-decreasing
        return JobForecast(quantiles=quantiles, rates=counts / self.params.step_s)

    def _learn_service_times(self, observation: Observation) -> None:
        for key, reading in observation.jobs.items():
            spec = self.jobs.get(key)
            measured = reading.processing_time_ms
            if spec is None or spec.service_time_ms is not None or reading.stale or measured is None:
                continue
            if math.isfinite(measured) and measured > 0:
                self._service_time_ms[key] = measured
