"""The vocabulary every layer shares: what a job is, and replica arithmetic against a quota.

Example::

    >>> job = JobSpec(application="a", deployment="m", slo_ms=720, resources={"cpu": 2, "gpu": 1})
    >>> fitting_replicas(job, {"cpu": 32, "gpu": 4})
    4
    >>> remaining({"cpu": 32, "gpu": 4}, [(job, 3)])
    {'cpu': 26.0, 'gpu': 1.0}
    >>> require_minimums_fit([JobSpec(application="a", deployment="m", slo_ms=720, min_replicas=5)], {"cpu": 4})
    Traceback (most recent call last):
    farod.errors.FarodError: quota.cpu: 4 is below the 5 the jobs' min_replicas need

Every job type has the fields of :class:`JobShape` (SLO, bounds, weight, resources per replica):
:class:`JobSpec` is a served model as the policies and the daemon know it, the plan problem's
``PlanJob`` adds a forecast, the simulator's ``JobConfig`` a service-time distribution. A replica of
a job uses ``resources`` of each resource; a resource the quota does not name is not limited. This
module imports nothing of farod but its errors, so every layer can use it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping

from farod.errors import FarodError

UNLIMITED = 10**9  # replicas, when no quota resource limits a job
TOLERANCE = 1e-9  # resource amounts closer than this are equal
# A tail (one request's p99 without waiting) over its service time: at least 1 (a request takes its
# service time), at most 5 (an exponential service time's p99 is 4.6 times its mean).
TAIL_BOUNDS = (1.0, 5.0)


def tail_problem(tail_ms: float, service_ms: float) -> str | None:
    """What is wrong with a profiled tail for this service time, or None.

    >>> tail_problem(400, 150), tail_problem(100, 150)
    (None, 'must be between 1 and 5 times the service time 150 ms, got 100 ms')
    """
    low, high = TAIL_BOUNDS
    if low * service_ms <= tail_ms <= high * service_ms:
        return None
    return f"must be between {low:g} and {high:g} times the service time {service_ms:g} ms, got {tail_ms:g} ms"


@dataclasses.dataclass(frozen=True, kw_only=True)
class JobShape:
    """What every job type has: its SLO, replica bounds, weight and resources per replica."""

    slo_ms: float
    min_replicas: int = 1
    max_replicas: int | None = None  # None: only the quota limits it
    weight: float = 1.0
    resources: Mapping[str, float] = dataclasses.field(default_factory=lambda: {"cpu": 1.0})

    def shape(self) -> dict:
        """These fields alone, to build another job type from this one."""
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(JobShape)}

    def bounded(self, replicas: int) -> int:
        """``replicas`` clamped to ``[min_replicas, max_replicas]``."""
        if self.max_replicas is not None:
            replicas = min(replicas, self.max_replicas)
        return max(replicas, self.min_replicas)


@dataclasses.dataclass(frozen=True, kw_only=True)
class JobSpec(JobShape):
    """A served model: one Ray Serve (application, deployment) pair with its SLO and resources."""

    application: str
    deployment: str
    service_time_ms: float | None = None  # None: learned from the observed processing latency
    # One request's p99 latency without waiting, where it was profiled (a heavier-tailed service than the
    # latency model's): the model's starting tail. None: the service time, until learned.
    service_tail_ms: float | None = None
    # The deployment's own max_queued_requests, what a lifted admission limit returns to (None: Serve's
    # default, no limit -- the key is left out of the deployment's config).
    max_queued_requests: int | None = None

    @property
    def key(self) -> str:
        """The job's name everywhere (records, metrics labels are the two parts)."""
        return f"{self.application}/{self.deployment}"


Placement = Iterable[tuple[JobShape, float]]  # (job, replicas) pairs


def usage(placement: Placement, resources: Iterable[str]) -> dict[str, float]:
    """What ``placement`` uses of each of ``resources``."""
    placement = list(placement)
    return {r: sum(replicas * job.resources.get(r, 0.0) for job, replicas in placement) for r in resources}


def remaining(quota: Mapping[str, float], placement: Placement) -> dict[str, float]:
    """``quota`` minus what ``placement`` uses (negative where it does not fit)."""
    left = {resource: float(amount) for resource, amount in quota.items()}
    for job, replicas in placement:
        for resource, amount in job.resources.items():
            if resource in left:
                left[resource] -= replicas * amount
    return left


def fits(quota: Mapping[str, float], placement: Placement) -> bool:
    """Does ``placement`` fit in ``quota``?"""
    used = usage(placement, quota)
    return all(used[r] <= quota[r] + TOLERANCE for r in quota)


def fitting_replicas(job: JobShape, budget: Mapping[str, float]) -> int:
    """How many replicas of ``job`` fit in ``budget``."""
    counts = [
        math.floor(budget[resource] / amount + TOLERANCE)
        for resource, amount in job.resources.items()
        if amount > 0 and resource in budget
    ]
    return max(0, min(counts, default=UNLIMITED))


def minimum_usage(jobs: Iterable[JobShape], resources: Iterable[str]) -> dict[str, float]:
    """What the jobs' minimum replicas use of each of ``resources``."""
    return usage(((job, job.min_replicas) for job in jobs), resources)


def require_minimums_fit(jobs: Iterable[JobShape], quota: Mapping[str, float]) -> None:
    """Raise a one-line :class:`FarodError` naming the first quota resource the minimums exceed."""
    for resource, needed in minimum_usage(jobs, quota).items():
        amount = quota[resource]
        if needed > amount + TOLERANCE:
            raise FarodError(f"quota.{resource}: {amount:g} is below the {needed:g} the jobs' min_replicas need")
