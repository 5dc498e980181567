"""Replica arithmetic against a multi-resource quota (``{"cpu": 32, "gpu": 4}``).

Example::

    >>> job = JobSpec(application="a", deployment="m", slo_ms=720, resources={"cpu": 2, "gpu": 1})
    >>> fitting_replicas(job, {"cpu": 32, "gpu": 4})
    4
    >>> remaining({"cpu": 32, "gpu": 4}, [(job, 3)])
    {'cpu': 26.0, 'gpu': 1.0}

A replica of a job uses ``JobSpec.resources`` of each resource; a resource the quota does not name is
not limited.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from farod.policies.base import JobSpec

UNLIMITED = 10**9  # replicas, when no quota resource limits a job


def fitting_replicas(job: JobSpec, budget: Mapping[str, float]) -> int:
    """How many replicas of ``job`` fit in ``budget``."""
    counts = [
        math.floor(budget[resource] / amount + 1e-9)
        for resource, amount in job.resources.items()
        if amount > 0 and resource in budget
    ]
    return max(0, min(counts, default=UNLIMITED))


def remaining(quota: Mapping[str, float], usage: Iterable[tuple[JobSpec, int]]) -> dict[str, float]:
    """``quota`` minus what ``replicas`` of each job use."""
    left = {resource: float(amount) for resource, amount in quota.items()}
    for job, replicas in usage:
        for resource, amount in job.resources.items():
            if resource in left:
                left[resource] -= replicas * amount
    return left
