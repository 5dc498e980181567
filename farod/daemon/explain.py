"""Why a job got its replicas: replay one logged decision through the latency model.

Example::

    >>> record = find_decision(read_decisions("farod.jsonl"), decision_id=None)  # the last plan
    >>> rows = explain(record, spread=2)
    >>> rows["serve-cluster0/classifier"][0]
    {'replicas': 2, 'chosen': False, 'predicted_latency_ms': [2213.0, ...], 'utility': 0.41}

The daemon logs every input of a decision (``event="decision"`` lines of ``farod run``). For each job
this module takes what the decision sized it for -- the plan's forecast rates at the quantile it used,
or the observed request rate for a reactive tick -- and the service time the policy used, and evaluates
:func:`farod.model.queueing.latency` and the relaxed utility ``min(1, SLO / L)`` of CONTRACTS.md §1 at
the chosen replica count and its neighbours. A job that stayed below what would have met its SLO was
held back by the quota or by the other jobs' needs; the table shows by how much.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

import numpy as np

from farod.errors import FarodError
from farod.model.queueing import DEFAULT_MAX_RHO, DEFAULT_PERCENTILE, latency
from farod.model.utility import relaxed_utility


def read_decisions(path: str | os.PathLike) -> list[dict]:
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


def find_decision(decisions: list[dict], *, decision_id: str | None) -> dict:
    """The decision ``decision_id``; without one the last plan (else the last decision)."""
    if decision_id is None:
        plans = [record for record in decisions if record.get("kind") == "plan"]
        return (plans or decisions)[-1]
    for record in decisions:
        if record.get("id") == decision_id:
            return record
    raise FarodError(f"--decision: no decision {decision_id!r} in the log")


def explain(record: dict, *, spread: int = 2) -> dict[str, list[dict]]:
    """Per job: predicted latency (ms, per forecast step) and utility at the chosen count ± ``spread``."""
    params = record.get("policy_params") or {}
    percentile = float(params.get("percentile", DEFAULT_PERCENTILE))
    max_rho = float(params.get("max_rho", DEFAULT_MAX_RHO))
    rows = {}
    for key, job in record["jobs"].items():
        chosen = job.get("target") if job.get("target") is not None else job.get("replicas")
        rates = _rates(job)
        service_ms = job.get("service_time_ms_used") or job["spec"].get("service_time_ms") or \
            (job["signals"].get("processing_time_ms") or {}).get("value")
        if chosen is None or rates is None or not service_ms:
            rows[key] = []
            continue
        spec = job["spec"]
        low = max(1, spec.get("min_replicas") or 1, chosen - spread)
        high = chosen + spread if spec.get("max_replicas") is None else min(spec["max_replicas"], chosen + spread)
        rows[key] = [_row(count, chosen, rates, service_ms, spec["slo_ms"], percentile, max_rho)
                     for count in range(low, max(high, low) + 1)]
    return rows


def _rates(job: dict) -> list[float] | None:
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
