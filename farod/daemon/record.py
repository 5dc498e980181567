"""The decision record: one per decision, logged as a JSON line, passed to listeners, read by explain.

Example (a plan, abridged)::

    {"event": "decision", "id": "1795880612-7", "kind": "plan", "now": 1795880612.0, "policy": "faro-sum",
     "policy_params": {...}, "actuator": "rayserve", "quota": {"cpu": 32}, "leader": true,
     "reason": "sum at quantile 0.7", "objective": 9.93, "applied": true, "targets": {"a/m": 3},
     "jobs": {"a/m": {"spec": {...}, "signals": {...}, "replicas": 2, "asked": 3, "target": 3, ...}},
     "problem": {"quota": {"cpu": 30}, "objective": "sum", "jobs": [{"name": "a/m", "rates": [...], ...}]}}

The fields are documented in ``docs/metrics.md`` (decision log). ``problem`` is the plan problem the
policy solved last (Faro's policies), in the plan format of ``docs/plan.md`` plus the fields a policy
sets that a plan file need not (start-up warm-up, forecast scenarios); :func:`problem_from_record`
rebuilds it so ``farod explain`` evaluates exactly what was optimized.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypedDict

import numpy as np

from farod.model.problem import PlanJob, PlanProblem


class JobRecord(TypedDict, total=False):
    """One job in a decision record."""

    spec: dict[str, Any]  # slo_ms, service_time_ms, min_replicas, max_replicas, weight, resources
    signals: dict[str, dict[str, Any]]  # signal name -> {"value": float | None, "status": str}
    signal_age_s: float | None
    present: bool  # the cluster reports the deployment
    replicas: int  # the target the cluster had before the decision
    running_replicas: int
    stale: bool  # held by the guards: never scaled down on missing data
    asked: int | None  # what the policy asked for (after its own guards), None: nothing
    target: int | None  # what the decision applies, None: the cluster lacks the job
    queue_limit: int | None  # the admission limit (max_queued_requests) farod holds in force, None: none
    service_time_ms_used: float | None  # the service time the policy planned with
    plan: dict[str, Any]  # forecast_rps {quantile: [rps per step]}, predicted_latency_ms, utility, accept_rate
    history: list[float | None]  # plans only: the recent per-minute arrivals the forecasters saw


class DecisionRecord(TypedDict, total=False):
    """One decision of ``farod run`` (also a miss: then ``held`` and ``error`` say why nothing moved)."""

    id: str
    kind: str  # "plan" or "react"
    now: float  # seconds since the epoch (the injected clock)
    policy: str
    policy_params: dict[str, Any]
    actuator: str
    quota: dict[str, float]
    leader: bool
    reason: str
    objective: float | None
    jobs: dict[str, JobRecord]
    problem: dict[str, Any]  # plans of Faro's policies: the plan problem solved last
    applied: bool
    targets: dict[str, int]
    held: bool
    error: str
    error_message: str
    misses: int


_JOB_FIELDS = tuple(field.name for field in dataclasses.fields(PlanJob))
_PROBLEM_FIELDS = ("quota", "objective", "utility", "percentile", "max_rho", "change_cost", "reversal_cost")


def problem_to_record(problem: PlanProblem) -> dict[str, Any]:
    """``problem`` as JSON-ready data (every field, so it can be rebuilt exactly)."""
    data = {name: _plain(getattr(problem, name)) for name in _PROBLEM_FIELDS if hasattr(problem, name)}
    data["jobs"] = [{name: _plain(getattr(job, name)) for name in _JOB_FIELDS} for job in problem.jobs]
    return data


def problem_from_record(data: dict[str, Any]) -> PlanProblem:
    """The :class:`PlanProblem` :func:`problem_to_record` wrote."""
    jobs = []
    for job in data["jobs"]:
        fields = {name: job[name] for name in _JOB_FIELDS if name in job}
        fields["rates"] = np.asarray(fields["rates"], dtype=float)
        if fields.get("scenario_weights") is not None:
            fields["scenario_weights"] = tuple(fields["scenario_weights"])
        jobs.append(PlanJob(**fields))
    settings = {name: data[name] for name in _PROBLEM_FIELDS if name in data}
    return PlanProblem(jobs=tuple(jobs), **settings)


def _plain(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, dict) or hasattr(value, "items"):
        return dict(value)
    return value
