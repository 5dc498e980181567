"""Cilantro (OSDI'23): learn each job's performance from what it shows, allocate by optimism.

Example::

    >>> from farod.jobs import JobSpec
    >>> from farod.policies.base import JobObservation, Observation
    >>> jobs = {f"{app}/m": JobSpec(application=app, deployment="m", slo_ms=720) for app in "ab"}
    >>> policy = Cilantro(jobs=jobs, quota={"cpu": 8}, params=CilantroParams())
    >>> seen = {"a/m": JobObservation(history=np.zeros(0), request_rate=30.0, p99_latency_ms=400.0,
    ...                               replicas=4, running_replicas=4),
    ...         "b/m": JobObservation(history=np.zeros(0), request_rate=10.0, p99_latency_ms=400.0,
    ...                               replicas=4, running_replicas=4)}
    >>> policy.plan(Observation(now=60, jobs=seen, quota={"cpu": 8})).replicas  # nothing learnt yet
    {'a/m': 6, 'b/m': 2}

Cilantro, which the Faro paper compares against, has no model of a job's latency: for every job it
learns online, from the readings a live deployment has, how performance grows with resources, with a
confidence band around the estimate; every allocation round it gives the quota to the allocation that
maximizes the sum of the jobs' utilities, each job's utility taken at the *upper* end of its band
(optimism in the face of uncertainty), so allocations whose outcome is still uncertain get tried and
the band narrows where the policy actually operates. This is a re-implementation of that idea in
farod's terms, not of Cilantro's code:

- **what is learnt**: a job's SLO attainment -- 1 when the p99 latency of a 30-s window is within the
  SLO, else 0 -- as a function of its replicas per request per second (``replicas / rate``: load
  normalized away, as Cilantro normalizes resources by load). Every tick (``tick_interval_s``) adds
  one reading per job that is settled (all its replicas running) and has traffic and a latency.
- **the learner** (``learner: bins``): a monotone binned estimator. Replicas per req/s fall into
  ``bins`` log-spaced bins between ``min_replicas_per_rps`` and ``max_replicas_per_rps``; each bin
  keeps its readings' mean and count, and its band is the mean ± ``confidence`` · sqrt(log(1 + N) / n)
  (``n`` readings in the bin, ``N`` of the job), clipped to [0, 1]; an empty bin's band is [0, 1].
  Attainment never falls with more replicas per request, so the upper bound at ``x`` is the smallest
  upper bound at or above ``x``, and the lower bound the largest at or below (Cilantro's interval
  tree uses the same monotonicity to share evidence between neighbouring allocations).
- **the allocation round** (``plan_interval_s``, 60 s): each job's load is its last 30-s request rate;
  starting from every job's minimum, replicas go, a step at a time, to the job and step size whose
  upper bound gains the most per replica (weighted), while the quota has room and something gains
  (a step, as one replica more may gain nothing where the third gains all). When nothing gains -- every job's
  optimistic utility is already 1, as at the start, when nothing is known -- the rest of the quota is
  spread in proportion to the jobs' loads (a tie-break: all those allocations are optimal for the
  optimist). Between rounds nothing changes.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np

from farod.errors import require
from farod.jobs import JobSpec, fitting_replicas, remaining
from farod.policies.base import Decision, JobObservation, JobPlan, Observation
from farod.policies.params import Configured

LEARNERS = ("bins",)


@dataclasses.dataclass(frozen=True, kw_only=True)
class CilantroParams:
    plan_interval_s: float = 60.0  # the allocation round
    tick_interval_s: float = 10.0  # how often readings are learnt from
    learner: str = "bins"  # the monotone binned estimator (the only one so far)
    bins: int = 32  # log-spaced bins of replicas per request per second
    min_replicas_per_rps: float = 0.01  # the bins' range; readings outside go to the first / last bin
    max_replicas_per_rps: float = 10.0
    confidence: float = 1.0  # width of the bands: mean ± confidence · sqrt(log(1 + N) / n)

    def __post_init__(self):
        require(self.plan_interval_s > 0, f"plan_interval_s must be > 0, got {self.plan_interval_s}")
        require(self.tick_interval_s > 0, f"tick_interval_s must be > 0, got {self.tick_interval_s}")
        require(self.learner in LEARNERS, f"learner must be one of {', '.join(LEARNERS)}, got {self.learner!r}")
        require(self.bins >= 1, f"bins must be >= 1, got {self.bins}")
        require(
            0 < self.min_replicas_per_rps < self.max_replicas_per_rps,
            f"need 0 < min_replicas_per_rps < max_replicas_per_rps, got {self.min_replicas_per_rps}, "
            f"{self.max_replicas_per_rps}",
        )
        require(self.confidence >= 0, f"confidence must be >= 0, got {self.confidence}")


class MonotoneBins:
    """One job's SLO attainment against replicas per req/s: a binned mean with a monotone band."""

    def __init__(self, params: CilantroParams):
        self.params = params
        self.count = np.zeros(params.bins)
        self.total = np.zeros(params.bins)
        self._band: tuple[np.ndarray, np.ndarray] | None = None  # until the next reading

    def bin(self, replicas_per_rps: float) -> int:
        low, high = math.log(self.params.min_replicas_per_rps), math.log(self.params.max_replicas_per_rps)
        position = (math.log(max(replicas_per_rps, 1e-12)) - low) / (high - low)
        return min(max(int(position * self.params.bins), 0), self.params.bins - 1)

    def add(self, replicas_per_rps: float, attained: float) -> None:
        index = self.bin(replicas_per_rps)
        self.count[index] += 1
        self.total[index] += attained
        self._band = None

    def band(self) -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper) bound per bin, each monotone non-decreasing in the bin."""
        if self._band is None:
            self._band = self._bounds()
        return self._band

    def _bounds(self) -> tuple[np.ndarray, np.ndarray]:
        seen = self.count > 0
        mean = np.divide(self.total, self.count, out=np.zeros_like(self.total), where=seen)
        width = self.params.confidence * np.sqrt(math.log(1 + self.count.sum()) / np.maximum(self.count, 1))
        upper = np.where(seen, np.minimum(mean + width, 1.0), 1.0)
        lower = np.where(seen, np.maximum(mean - width, 0.0), 0.0)
        upper = np.minimum.accumulate(upper[::-1])[::-1]  # f(x) <= f(x') <= upper(x') for every x' >= x
        lower = np.maximum.accumulate(lower)
        return np.minimum(lower, upper), upper

    def optimistic(self, replicas_per_rps: float) -> float:
        return float(self.band()[1][self.bin(replicas_per_rps)])


class Cilantro(Configured):
    name = "cilantro"
    Params = CilantroParams

    def __init__(self, *, jobs: Mapping[str, JobSpec], quota: Mapping[str, float], params: CilantroParams):
        super().__init__(jobs=jobs, params=params)
        self.learners = {key: MonotoneBins(params) for key in self.jobs}

    def react(self, observation: Observation) -> Decision:
        self._learn(observation)
        return Decision.hold("react")

    def plan(self, observation: Observation) -> Decision:
        self._learn(observation)
        loads = {
            key: reading.request_rate
            for key, reading in observation.jobs.items()
            if key in self.jobs and not reading.stale and reading.request_rate is not None
        }
        if not loads:
            return Decision.hold("plan", "no job with a request rate")
        replicas = self._allocate(loads, observation.quota)
        plans = {key: JobPlan(utility=self._utility(key, count, loads[key])) for key, count in replicas.items()}
        return Decision(replicas=replicas, kind="plan", plans=plans, reason="optimistic utilitarian welfare")

    def _learn(self, observation: Observation) -> None:
        for key, reading in observation.jobs.items():
            if key in self.jobs and _settled(reading):
                attained = 1.0 if reading.p99_latency_ms <= self.jobs[key].slo_ms else 0.0
                self.learners[key].add(reading.running_replicas / reading.request_rate, attained)

    def _utility(self, key: str, replicas: int, load: float) -> float:
        if load <= 0:
            return 1.0  # an idle job misses nothing
        return self.learners[key].optimistic(replicas / load)

    def _allocate(self, loads: Mapping[str, float], quota: Mapping[str, float]) -> dict[str, int]:
        """Greedy on the optimistic utilities, then the rest in proportion to load."""
        replicas = {key: self.jobs[key].min_replicas for key in loads}
        free = remaining(quota, [(self.jobs[key], count) for key, count in replicas.items()])
        while (step := self._best_step(replicas, loads, free)) is not None:
            key, more = step
            replicas[key] += more
            free = remaining(free, [(self.jobs[key], more)])
        while True:  # the tie-break: fewest replicas per unit of load first
            growing = [key for key, count in replicas.items() if self._room(key, count, free) >= 1]
            if not growing:
                return replicas
            key = min(growing, key=lambda key: (replicas[key] + 1) / max(loads[key], 1e-9))
            replicas[key] += 1
            free = remaining(free, [(self.jobs[key], 1)])

    def _best_step(self, replicas, loads, free) -> tuple[str, int] | None:
        """The job and number of replicas with the largest gain per replica, if anything gains.

        Steps, not single replicas: the learnt utilities are step functions, where one more replica may
        gain nothing and the third one everything (the usual greedy for a knapsack of such items)."""
        best, best_rate = None, 0.0
        for key, count in replicas.items():
            now = self._utility(key, count, loads[key])
            for more in range(1, self._room(key, count, free) + 1):
                rate = self.jobs[key].weight * (self._utility(key, count + more, loads[key]) - now) / more
                if rate > best_rate + 1e-12:
                    best, best_rate = (key, more), rate
        return best

    def _room(self, key: str, count: int, free: Mapping[str, float]) -> int:
        """How many more replicas ``key`` may get: what fits in ``free``, up to its maximum."""
        job = self.jobs[key]
        room = fitting_replicas(job, free)
        return room if job.max_replicas is None else max(0, min(room, job.max_replicas - count))

def _settled(reading: JobObservation) -> bool:
    """A reading that says something about the replicas the job has: all running, traffic, a latency."""
    return (
        not reading.stale
        and reading.running_replicas > 0
        and reading.running_replicas == reading.replicas
        and (reading.request_rate or 0.0) > 0
        and reading.p99_latency_ms is not None
    )
