"""Why a job got its replicas: replay one logged decision.

Example::

    record = find_decision(read_decisions("farod.jsonl"), decision_id=None)  # the last plan
    rows = explain(record, spread=2)
    rows["serve-cluster0/classifier"][0]
    # -> {'replicas': 2, 'chosen': False, 'predicted_latency_ms': [2213.0, ...], 'utility': 0.41, 'objective': 8.9}

The daemon logs every input of a decision (``event="decision"`` lines of ``farod run``, the
:class:`~farod.daemon.record.DecisionRecord`). A plan of Faro's policies carries the plan problem it
solved last: this module rebuilds it and asks the solver's own evaluation
(:func:`farod.model.solver.evaluate`) what each job's utility, predicted latency and the objective
would have been at the chosen replica count and its neighbours, the other jobs kept at theirs -- so
the table shows exactly what was optimized, whatever the utility (relaxed or step), the start-up
warm-up and the objective (penaltysum's accept rates included). A job that stayed below what would
have met its SLO was held back by the quota or by the other jobs' needs; the table shows by how much.

Other decisions (reactive ticks, policies without a plan problem, held jobs) are replayed through
the latency model at what the decision saw -- the plan's forecast or the observed request rate -- with
the relaxed utility ``min(1, SLO / L)`` (``docs/plan.md``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

import numpy as np

from farod.daemon.record import DecisionRecord, JobRecord, problem_from_record
from farod.errors import FarodError
from farod.model import solver
from farod.model.problem import PlanProblem
from farod.model.queueing import DEFAULT_MAX_RHO, DEFAULT_PERCENTILE, latency
from farod.model.utility import relaxed_utility


def read_decisions(path: str | os.PathLike) -> list[DecisionRecord]:
    """The ``decision`` records of a ``farod run`` log; other lines are skipped."""
    try:
        handle = open(path, encoding="utf-8")
    except OSError as exc:
        raise FarodError(f"{path}: cannot read log: {exc.strerror}") from None
    decisions = []
    with handle:
        for line in handle:
            if not line.startswith("{"):
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if record.get("event") == "decision" and "jobs" in record:
                decisions.append(record)
    if not decisions:
        raise FarodError(f"{path}: no decision lines (a farod run log has one JSON line per decision)")
    return decisions


def find_decision(decisions: list[DecisionRecord], *, decision_id: str | None) -> DecisionRecord:
    """The decision ``decision_id``; without one the last plan (else the last decision)."""
    if decision_id is None:
        plans = [record for record in decisions if record.get("kind") == "plan"]
        return (plans or decisions)[-1]
    for record in decisions:
        if record.get("id") == decision_id:
            return record
    raise FarodError(f"--decision: no decision {decision_id!r} in the log")


def explain(record: DecisionRecord, *, spread: int = 2) -> dict[str, list[dict]]:
    """Per job: predicted latency (ms, per forecast step) and utility at the chosen count ± ``spread``."""
    planned = _planned(record)
    params = record.get("policy_params") or {}
    percentile = float(params.get("percentile", DEFAULT_PERCENTILE))
    max_rho = float(params.get("max_rho", DEFAULT_MAX_RHO))
    rows = {}
    for key, job in record["jobs"].items():
        if planned is not None and key in planned[1]:
            rows[key] = _solver_rows(*planned, key, spread)
        else:
            rows[key] = _latency_rows(job, spread, percentile, max_rho)
    return rows


def _planned(record: DecisionRecord) -> tuple[PlanProblem, dict[str, int], dict[str, float]] | None:
    """The plan problem of the record, the plan's allocation and accept rates; None without one."""
    if not record.get("problem"):
        return None
    problem = problem_from_record(record["problem"])
    plans = {job.name: (record["jobs"].get(job.name) or {}).get("plan") or {} for job in problem.jobs}
    if not all("replicas" in plan for plan in plans.values()):
        return None
    allocation = {name: int(plan["replicas"]) for name, plan in plans.items()}
    accept = {name: float(plan.get("accept_rate", 1.0)) for name, plan in plans.items()}
    return problem, allocation, accept


def _solver_rows(problem: PlanProblem, allocation: dict[str, int], accept: dict[str, float], key: str,
                 spread: int) -> list[dict]:
    job = next(job for job in problem.jobs if job.name == key)
    chosen = allocation[key]
    low = max(job.min_replicas, chosen - spread, 0)
    high = chosen + spread if job.max_replicas is None else min(job.max_replicas, chosen + spread)
    rows = []
    for count in range(low, max(high, low) + 1):
        trial = {**allocation, key: count}
        solution = solver.evaluate(problem, trial, accept)
        rows.append({"replicas": count, "chosen": count == chosen,
                     "predicted_latency_ms": [round(float(v), 1) for v in solution.predicted_latency_ms[key]],
                     "utility": round(float(solution.utility[key]), 4), "objective": round(solution.objective, 4),
                     "fits": problem.fits(trial)})
    return rows


def _latency_rows(job: JobRecord, spread: int, percentile: float, max_rho: float) -> list[dict]:
    chosen = job.get("target") if job.get("target") is not None else job.get("replicas")
    rates = _rates(job)
    service_ms = job.get("service_time_ms_used") or job["spec"].get("service_time_ms") or \
        (job["signals"].get("processing_time_ms") or {}).get("value")
    if chosen is None or rates is None or not service_ms:
        return []
    spec = job["spec"]
    low = max(1, spec.get("min_replicas") or 1, chosen - spread)
    high = chosen + spread if spec.get("max_replicas") is None else min(spec["max_replicas"], chosen + spread)
    return [_row(count, chosen, rates, service_ms, spec["slo_ms"], percentile, max_rho)
            for count in range(low, max(high, low) + 1)]


def _rates(job: JobRecord) -> list[float] | None:
    forecast = (job.get("plan") or {}).get("forecast_rps") or {}
    if forecast:
        return list(next(iter(forecast.values())))
    rate = (job["signals"].get("request_rate") or {}).get("value")
    return None if rate is None else [rate]


def _row(count: int, chosen: int, rates: Iterable[float], service_ms: float, slo_ms: float, percentile: float,
         max_rho: float) -> dict:
    predicted = latency(np.asarray(list(rates)), service_ms / 1000, count, percentile=percentile,
                        max_rho=max_rho) * 1000
    return {"replicas": count, "chosen": count == chosen,
            "predicted_latency_ms": [round(float(v), 1) for v in predicted],
            "utility": round(float(np.mean(relaxed_utility(predicted, slo_ms))), 4)}
