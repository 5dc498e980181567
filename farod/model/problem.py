"""An allocation problem: jobs with forecast load, a quota, an objective -- validated at the boundary.

Example::

    >>> problem = problem_from_dict({
    ...     "quota": {"cpu": 8}, "objective": "sum",
    ...     "jobs": [{"name": "a", "service_time_ms": 180, "slo_ms": 720, "rates": [12.0, 14.0]}]})
    >>> problem.jobs[0].max_replicas, problem.jobs[0].current_replicas   # at most 10 000 unless given
    (10000, 1)

:func:`problem_from_dict` is the one place where a plan file is checked (against the schema in
:mod:`farod.planfile`); every error names the field (``jobs[2].rates[4]: must be >= 0, got -1``) so the
CLI can print one line.
Policies build :class:`PlanJob` objects directly and get the same checks from ``__post_init__``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping

import numpy as np

from farod.errors import FarodError, require
from farod.jobs import JobShape, fits, minimum_usage, require_minimums_fit, usage
from farod.model.queueing import DEFAULT_MAX_RHO, DEFAULT_PERCENTILE
from farod.model.utility import OBJECTIVES, UTILITIES
from farod.planfile import read_plan


@dataclasses.dataclass(frozen=True, kw_only=True)
class PlanJob(JobShape):
    """One job of a plan: a :class:`~farod.jobs.JobShape` with its load forecast (requests/s per step).

    ``startup_steps`` is how many forecast steps new replicas need before they serve: in step ``t`` a
    fraction ``clip(startup_steps - t, 0, 1)`` of the step runs with only ``min(c, current_replicas)``.

    ``rates`` may also be 2-D, one row per forecast scenario (e.g. quantile levels), with
    ``scenario_weights`` (default: equal) summing to 1: the job's utility is then the expected one.

    ``service_tail_ms`` is one request's latency at the plan's percentile without any wait (the
    latency model's ``tail``); default ``service_time_ms``, a nearly constant service time.

    ``last_move`` is the way the job's replicas moved last, if recently (+1 up, -1 down, 0 not): a
    replica moved against it costs the problem's ``reversal_cost``.
    """

    name: str
    service_time_ms: float
    service_tail_ms: float | None = None
    rates: np.ndarray
    current_replicas: int | None = None
    startup_steps: float = 0.0
    scenario_weights: tuple[float, ...] | None = None
    last_move: int = 0

    def __post_init__(self):
        where = f"job {self.name!r}"
        rates = np.asarray(self.rates, dtype=float)
        rates = rates.reshape(-1) if rates.ndim < 2 else rates
        require(rates.ndim <= 2 and rates.size > 0, f"{where}: rates: must hold at least one step")
        require(bool(np.all(np.isfinite(rates)) and np.all(rates >= 0)), f"{where}: rates: must be finite numbers >= 0")
        object.__setattr__(self, "rates", rates)
        if self.scenario_weights is not None:
            weights = np.asarray(self.scenario_weights, dtype=float)
            require(rates.ndim == 2 and weights.shape == rates.shape[:1] and bool(np.all(weights >= 0))
                    and abs(weights.sum() - 1.0) < 1e-6,
                    f"{where}: scenario_weights: must be one weight >= 0 per rates row, summing to 1")
        require(_positive(self.service_time_ms), f"{where}: service_time_ms: must be a number > 0")
        require(self.service_tail_ms is None or _positive(self.service_tail_ms),
                f"{where}: service_tail_ms: must be a number > 0")
        require(_positive(self.slo_ms), f"{where}: slo_ms: must be a number > 0")
        require(_whole(self.min_replicas) and self.min_replicas >= 0, f"{where}: min_replicas: must be an integer >= 0")
        if self.max_replicas is not None:
            require(_whole(self.max_replicas) and self.max_replicas >= self.min_replicas,
                     f"{where}: max_replicas: must be an integer >= min_replicas ({self.min_replicas})")
        if self.current_replicas is None:
            object.__setattr__(self, "current_replicas", self.min_replicas)
        require(_whole(self.current_replicas) and self.current_replicas >= 0,
                 f"{where}: current_replicas: must be an integer >= 0")
        require(bool(self.resources), f"{where}: resources: must name at least one resource")
        for resource, amount in self.resources.items():
            require(_positive(amount), f"{where}: resources.{resource}: must be a number > 0")
        require(_positive(self.weight), f"{where}: weight: must be a number > 0")
        require(_number(self.startup_steps) and self.startup_steps >= 0, f"{where}: startup_steps: must be >= 0")
        require(self.last_move in (-1, 0, 1), f"{where}: last_move: must be -1, 0 or 1")

    @property
    def steps(self) -> int:
        return self.rates.shape[-1]

    @property
    def scenarios(self) -> tuple[np.ndarray, np.ndarray]:
        """(rates as scenarios × steps, each scenario's weight)."""
        rows = self.rates.reshape(-1, self.steps)
        if self.scenario_weights is None:
            return rows, np.full(rows.shape[0], 1.0 / rows.shape[0])
        return rows, np.asarray(self.scenario_weights, dtype=float)

    @property
    def expected_rates(self) -> np.ndarray:
        """The scenario-weighted mean rate per step."""
        rows, weights = self.scenarios
        return weights @ rows


@dataclasses.dataclass(frozen=True, kw_only=True)
class PlanProblem:
    """Jobs sharing a quota, and what to maximize (docs/plan.md)."""

    jobs: tuple[PlanJob, ...]
    quota: Mapping[str, float]
    objective: str = "sum"
    utility: str = "relaxed"
    percentile: float = DEFAULT_PERCENTILE
    max_rho: float = DEFAULT_MAX_RHO
    change_cost: float = 0.0  # utility given up per replica moved away from current_replicas
    reversal_cost: float = 0.0  # and more per replica moved against a job's last_move

    def __post_init__(self):
        require(_number(self.change_cost) and self.change_cost >= 0, "change_cost: must be a number >= 0")
        require(_number(self.reversal_cost) and self.reversal_cost >= 0, "reversal_cost: must be a number >= 0")
        require(self.objective in OBJECTIVES, f"objective: must be one of {', '.join(OBJECTIVES)}, not {self.objective!r}")
        require(self.utility in UTILITIES, f"utility: must be one of {', '.join(UTILITIES)}, not {self.utility!r}")
        require(_number(self.percentile) and 0 < self.percentile < 100, "latency_model.percentile: must be in (0, 100)")
        require(_number(self.max_rho) and 0 < self.max_rho < 1, "latency_model.max_rho: must be in (0, 1)")
        require(bool(self.quota), "quota: must name at least one resource")
        for resource, amount in self.quota.items():
            require(_number(amount) and amount >= 0, f"quota.{resource}: must be a number >= 0")
        names = [job.name for job in self.jobs]
        require(len(set(names)) == len(names), "jobs: names must be unique")
        for job in self.jobs:
            for resource in sorted(set(job.resources) - set(self.quota)):
                raise FarodError(f"job {job.name!r}: resources.{resource}: not in the quota")
        require_minimums_fit(self.jobs, self.quota)

    @functools.cached_property
    def minimum_usage(self) -> dict[str, float]:
        """Resources the jobs' minimum replicas need, per quota resource."""
        return minimum_usage(self.jobs, self.quota)

    @property
    def resources(self) -> tuple[str, ...]:
        return tuple(self.quota)

    def placement(self, allocation: Mapping[str, int]) -> list[tuple[PlanJob, int]]:
        return [(job, allocation[job.name]) for job in self.jobs]

    def usage(self, allocation: Mapping[str, int]) -> dict[str, float]:
        """Resources an allocation uses, per quota resource."""
        return usage(self.placement(allocation), self.quota)

    def fits(self, allocation: Mapping[str, int]) -> bool:
        return fits(self.quota, self.placement(allocation))


def problem_from_dict(data) -> PlanProblem:
    """Build and validate a problem from a plan file's parsed JSON (schema: :mod:`farod.planfile`)."""
    plan = read_plan(data)
    jobs = tuple(PlanJob(**{**job.model_dump(exclude_none=True), "rates": np.asarray(job.rates, dtype=float)})
                 for job in plan.jobs)
    options = plan.model_dump(include={"objective", "utility"}, exclude_none=True)
    return PlanProblem(jobs=jobs, quota=plan.quota, **options, **plan.latency_model.model_dump(exclude_none=True))


def _number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _positive(value) -> bool:
    return _number(value) and math.isfinite(value) and value > 0


def _whole(value) -> bool:
    return _number(value) and float(value).is_integer()
