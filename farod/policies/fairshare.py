"""FairShare: a static, even split of the quota; what a cluster without an autoscaler runs.

Example::

    >>> from farod.jobs import JobSpec
    >>> from farod.policies.base import Observation
    >>> jobs = {f"app{i}/m": JobSpec(application=f"app{i}", deployment="m", slo_ms=720) for i in range(10)}
    >>> policy = FairShare(jobs=jobs, quota={"cpu": 32}, params=FairShareParams())
    >>> set(policy.react(Observation(now=0, jobs={}, quota={"cpu": 32})).replicas.values())
    {3}

Each job gets the replicas that fit in ``1/N`` of every quota resource (3 each for 10 one-CPU jobs at
32 CPUs; the remainder stays idle, as in the Faro paper). The share is asserted on every tick, so a
restarted cluster or a manual change converges back to it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from farod.errors import require
from farod.jobs import JobSpec, fitting_replicas
from farod.policies.base import Decision, Observation
from farod.policies.params import Configured


@dataclasses.dataclass(frozen=True, kw_only=True)
class FairShareParams:
    tick_interval_s: float = 60.0  # how often the share is re-asserted

    def __post_init__(self):
        require(self.tick_interval_s > 0, f"tick_interval_s must be > 0, got {self.tick_interval_s}")


class FairShare(Configured):
    name = "fairshare"
    Params = FairShareParams

    def __init__(self, *, jobs: Mapping[str, JobSpec], quota: Mapping[str, float], params: FairShareParams):
        super().__init__(jobs=jobs, params=params)

    def react(self, observation: Observation) -> Decision:
        share = {resource: amount / max(len(self.jobs), 1) for resource, amount in observation.quota.items()}
        replicas = {key: fitting_replicas(job, share) for key, job in self.jobs.items()}
        return Decision(replicas=replicas, kind="react", reason="static fair share")
