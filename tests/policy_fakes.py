"""Hand-built observations on a fake clock, shared by the tests/test_policies_*.py files."""

from __future__ import annotations

import numpy as np

from farod.jobs import JobSpec
from farod.policies.base import JobObservation, Observation


def spec(app: str = "a", **fields) -> JobSpec:
    fields.setdefault("slo_ms", 720.0)
    return JobSpec(application=app, deployment="m", **fields)


def specs(*apps: str, **fields) -> dict[str, JobSpec]:
    return {f"{app}/m": spec(app, **fields) for app in apps}


def reading(**fields) -> JobObservation:
    fields.setdefault("history", np.zeros(0))
    if "replicas" in fields:
        fields.setdefault("running_replicas", fields["replicas"])
    return JobObservation(**fields)


def observe(now: float, quota: float = 32, **readings: JobObservation) -> Observation:
    """``observe(10, a=reading(...))`` -> an Observation of job "a/m" at t = 10 s."""
    return Observation(now=float(now), quota={"cpu": quota}, jobs={f"{app}/m": r for app, r in readings.items()})


def ticks(policy, read, *, until: float, start: float = 0.0, step: float = 10.0,
          quota: float = 32) -> dict[float, dict[str, int]]:
    """Drive ``policy.react`` on a fake clock; ``read(t)`` gives the readings. Returns non-empty decisions."""
    decisions = {}
    t = start
    while t <= until:
        wanted = policy.react(observe(t, quota, **read(t))).replicas
        if wanted:
            decisions[t] = dict(wanted)
        t += step
    return decisions
