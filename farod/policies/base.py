"""What a policy sees and what it returns: the one contract shared by the simulator and the daemon.

A policy is pure. It receives an :class:`Observation` (everything a live deployment could observe at
``now``, read from Prometheus by the daemon or from the simulated cluster by the simulator) and returns
a :class:`Decision` (desired replicas per job). It has no clock of its own and does no I/O: windows,
delays and cooldowns are measured on ``Observation.now``, so the same object runs on a fake clock in
tests, on simulated time in :mod:`farod.sim` and on wall-clock time in :mod:`farod.daemon`.

Two entry points, because the two cadences are different by nature:

- :meth:`Policy.plan` -- the predictive decision (Faro: every 300 s, forecast, solve the allocation);
- :meth:`Policy.react` -- the reactive tick (every 10 s: hysteresis-based fallbacks, Ray Serve's
  queue-length rule, AIAD, ...).

The scheduler (simulator event loop or apscheduler in the daemon) owns the cadence and calls them at
``plan_interval_s`` and ``tick_interval_s``; a purely reactive policy has ``plan_interval_s = None``.

A policy *asks*; the cluster grants what fits. Bounds, the quota and safety limits are enforced by
shared guards (:mod:`farod.policies.guards`) and by the actuator, not re-implemented by each policy.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from farod.jobs import JobSpec
from farod.model.problem import PlanProblem


@dataclasses.dataclass(frozen=True, kw_only=True)
class JobObservation:
    """What can be observed of one job at ``Observation.now``; ``None`` means missing or stale.

    ``history`` holds per-minute arrival counts of *completed* minutes, oldest first (the forecasters'
    input). Latencies are end-to-end, in milliseconds, over the last ``window_s`` seconds.
    """

    history: np.ndarray
    request_rate: float | None = None  # requests/s over the last window
    mean_latency_ms: float | None = None  # mean end-to-end latency over the last window
    p99_latency_ms: float | None = None
    ongoing_requests: float | None = None  # mean requests queued or in service, whole deployment
    processing_time_ms: float | None = None  # mean service time per request (model execution)
    replicas: int = 0  # the target the cluster is currently asked for
    running_replicas: int = 0  # replicas ready and serving
    stale: bool = False  # signals missing or too old: guards hold this job's replicas


@dataclasses.dataclass(frozen=True, kw_only=True)
class Observation:
    """One snapshot of the cluster, as a live deployment could see it."""

    now: float  # seconds on the injected clock (simulated or wall)
    jobs: Mapping[str, JobObservation]  # by farod.jobs.JobSpec.key
    quota: Mapping[str, float]  # e.g. {"cpu": 32}
    window_s: float = 30.0  # the span the latency/rate readings cover


@dataclasses.dataclass(frozen=True, kw_only=True)
class JobPlan:
    """Why a job got its replicas: filled by predictive policies, exported as metrics and logs."""

    forecast_rps: Mapping[float, list[float]] = dataclasses.field(default_factory=dict)  # quantile -> per step
    predicted_latency_ms: list[float] = dataclasses.field(default_factory=list)
    utility: float | None = None
    accept_rate: float = 1.0
    replicas: int | None = None  # the count the plan chose (before the guards)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Decision:
    """Desired replicas per job; a job left out keeps what it has.

    ``queue_limits`` are admission limits (Ray Serve's ``max_queued_requests``, :mod:`farod.policies.admission`):
    a job with a number gets that limit, a job with ``None`` gets the deployment's own setting back
    (lifting a limit farod set), a job left out keeps whatever is in force.
    """

    replicas: Mapping[str, int]
    kind: str  # "plan" or "react"
    queue_limits: Mapping[str, int | None] = dataclasses.field(default_factory=dict)
    plans: Mapping[str, JobPlan] = dataclasses.field(default_factory=dict)
    objective: float | None = None
    reason: str = ""
    problem: PlanProblem | None = None  # the plan problem solved last, for `farod explain`

    @classmethod
    def hold(cls, kind: str, reason: str = "") -> "Decision":
        return cls(replicas={}, kind=kind, reason=reason)


class Policy(abc.ABC):
    """Base class of every policy. Subclasses keep their own state; time comes from observations."""

    name: ClassVar[str]
    tick_interval_s: float = 10.0
    plan_interval_s: float | None = None
    params: Any = None  # the policy's parameters dataclass (the decision log records it), if it has one

    def __init__(self, *, jobs: Mapping[str, JobSpec]):
        self.jobs = dict(jobs)

    def service_time_ms(self, key: str) -> float | None:
        """The service time the policy plans job ``key`` with (learned, calibrated or from its spec)."""
        return self.jobs[key].service_time_ms

    def plan(self, observation: Observation) -> Decision:
        """The predictive decision; reactive-only policies hold."""
        return Decision.hold("plan")

    @abc.abstractmethod
    def react(self, observation: Observation) -> Decision:
        """The reactive tick."""
