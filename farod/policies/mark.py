"""MArk: forecast each job alone and size it for its peak at a safe utilization.

Example::

    >>> from farod.jobs import JobSpec
    >>> from farod.policies.base import JobObservation, Observation
    >>> jobs = {"a/m": JobSpec(application="a", deployment="m", slo_ms=720, service_time_ms=180)}
    >>> policy = Mark(jobs=jobs, quota={"cpu": 32}, params=MarkParams(forecaster="last"))
    >>> seen = JobObservation(history=np.full(30, 1200.0), replicas=1)  # 20 req/s
    >>> policy.plan(Observation(now=1800, jobs={"a/m": seen}, quota={"cpu": 32})).replicas  # 20 · 0.18 / 0.72
    {'a/m': 5}

MArk (ATC'19) provisions every model for the peak of its forecast over the look-ahead window at a
target utilization (0.72), then relies on a reactive rule for what the forecast missed (here the same
fallback as Faro's). It has no notion of the other jobs or of the quota: when the cluster cannot grant
every request, whoever asked first wins. That is the gap Faro's quota-aware solver closes.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np

from farod.errors import require
from farod.jobs import JobSpec
from farod.policies.base import Decision, JobPlan, Observation
from farod.policies.predictive import ForecastParams, JobForecast, Predictive


@dataclasses.dataclass(frozen=True, kw_only=True)
class MarkParams(ForecastParams):
    max_utilization: float = 0.72  # size each job so its peak load keeps replicas this busy at most

    def __post_init__(self):
        super().__post_init__()
        require(0 < self.max_utilization <= 1, f"max_utilization must be in (0, 1], got {self.max_utilization}")


class Mark(Predictive):
    name = "mark"
    Params = MarkParams

    def __init__(self, *, jobs: Mapping[str, JobSpec], quota: Mapping[str, float], params: MarkParams,
                 train: Mapping[str, np.ndarray] | None = None):
        super().__init__(jobs=jobs, params=params, train=train)

    def decide(self, observation: Observation, forecasts: Mapping[str, JobForecast]) -> Decision:
        replicas, plans = {}, {}
        for key, forecast in forecasts.items():
            rates = forecast.at(self.params.quantile)
            busy = float(rates.max()) * self.service_time_ms(key) / 1000.0  # replicas' worth of work at the peak
            replicas[key] = math.ceil(busy / self.params.max_utilization)
            plans[key] = JobPlan(forecast_rps={self.params.quantile: rates.round(3).tolist()})
        return Decision(replicas=replicas, kind="plan", plans=plans, reason="peak forecast at utilization cap")
