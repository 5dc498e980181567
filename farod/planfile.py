"""The plan file's schema (``farod plan --input``): what a problem may hold, and its bounds.

Example::

    >>> plan = read_plan({"quota": {"cpu": 8}, "jobs": [{"name": "a", "service_time_ms": 180,
    ...                   "slo_ms": 720, "rates": [12.0, -1]}]})
    Traceback (most recent call last):
    farod.errors.FarodError: jobs[0].rates[1]: must be >= 0, got -1

The solver's own input types (:mod:`farod.model.problem`) stay plain dataclasses; this module checks a
document against the schema so that every problem with a file gets one error line naming its field.
Bounds keep the solver's arithmetic finite: at most 10 000 jobs and 1440 forecast steps, rates up to
1e6 requests/s, times up to an hour, at most 10 000 replicas per job (also when ``max_replicas`` is
not given), resources per replica of at least 0.001 and quotas up to 1e6 of each resource.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, model_validator

from farod.schema import Model, amounts, fail, first_duplicate, integer, number, text, validate

MAX_JOBS = 10_000
MAX_STEPS = 1440
MAX_REPLICAS = 10_000  # per job; also the default max_replicas, so the solver's tables stay bounded
HOUR_MS = 3_600_000.0
Replicas = integer(ge=0, le=MAX_REPLICAS, optional=True)


class PlanJobFile(Model):
    """One job: its forecast (requests/s per step), SLO, bounds and resources per replica."""

    name: text(max_length=512)
    service_time_ms: number(gt=0, le=HOUR_MS)
    service_tail_ms: number(gt=0, le=HOUR_MS, optional=True) = None
    slo_ms: number(gt=0, le=HOUR_MS)
    rates: Annotated[list[number(ge=0, le=1e6)], Field(min_length=1, max_length=MAX_STEPS)]
    current_replicas: Replicas = None
    min_replicas: Replicas = None
    max_replicas: integer(ge=0, le=MAX_REPLICAS) = MAX_REPLICAS
    resources: amounts(ge=0.001, le=1e6) = {"cpu": 1.0}
    weight: number(gt=0, le=1e6) = 1.0
    startup_steps: number(ge=0, le=MAX_STEPS) = 0.0

    @model_validator(mode="after")
    def _bounds_in_order(self):
        low = 1 if self.min_replicas is None else self.min_replicas
        if self.max_replicas < low:
            raise fail(f"must be an integer >= min_replicas ({low}), got {self.max_replicas}", field="max_replicas")
        return self


class LatencyModelFile(Model):
    """Absent fields take the model's defaults (:mod:`farod.model.queueing`)."""

    percentile: number(gt=0, lt=100, optional=True) = None
    max_rho: number(gt=0, lt=1, optional=True) = None


class PlanFile(Model):
    """A whole problem: jobs sharing a quota, and what to maximize."""

    quota: amounts(ge=0, le=1e6)
    jobs: Annotated[list[PlanJobFile], Field(min_length=1, max_length=MAX_JOBS)]
    objective: text(optional=True) = None  # absent: the solver's default, and so on
    utility: text(optional=True) = None
    latency_model: LatencyModelFile = LatencyModelFile()

    @model_validator(mode="after")
    def _names_unique_and_resources_limited(self):
        repeated = first_duplicate([job.name for job in self.jobs])
        if repeated:
            raise fail(f"{self.jobs[repeated[1]].name!r} is already jobs[{repeated[0]}]", field=("jobs", repeated[1]))
        for index, job in enumerate(self.jobs):
            for resource in sorted(set(job.resources) - set(self.quota)):
                raise fail(f"not in the quota ({', '.join(self.quota)}): a job cannot ask for what the "
                           f"quota does not name", field=("jobs", index, "resources", resource))
        return self


def read_plan(data: Any) -> PlanFile:
    """``data`` (parsed JSON) checked against the schema, or one FarodError line."""
    return validate(PlanFile, data)
