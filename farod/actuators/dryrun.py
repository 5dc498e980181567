"""Shadow mode: decide and export everything, change nothing.

Example::

    actuator = DryRunActuator()                     # no cluster: remembers its own targets
    actuator.apply({"a/m": 3}, jobs)
    actuator.read(jobs)["a/m"]
    # -> DeploymentState(target_replicas=3, running_replicas=3, autoscaling=False)
    DryRunActuator(reader=RayServeActuator(url=...))  # reads the real cluster, never writes it

Switching a new autoscaler on is a leap of faith; running it in dry-run next to the current one for
a few days first shows in ``farod_target_replicas`` and the decision log what it *would* have done.
With a ``reader`` the policy sees the real cluster (what actually runs); without one the actuator
plays a cluster that grants every target at once, starting each job at ``min_replicas``.
"""

from __future__ import annotations

from collections.abc import Mapping

from farod.actuators.base import Actuator, DeploymentState, wanted_queue_limits
from farod.jobs import JobSpec


class DryRunActuator(Actuator):
    name = "dry-run"

    def __init__(self, *, reader: Actuator | None = None):
        self.reader = reader
        self.applied: dict[str, int] = {}  # the last targets it was asked for, by job key
        self.queue_limits: dict[str, int | None] = {}  # the max_queued_requests it would have written

    def read(self, jobs: Mapping[str, JobSpec]) -> dict[str, DeploymentState]:
        if self.reader is not None:
            return dict(self.reader.read(jobs))
        return {key: DeploymentState(target_replicas=self.applied.get(key, job.min_replicas),
                                     running_replicas=self.applied.get(key, job.min_replicas))
                for key, job in jobs.items()}

    def apply(self, targets: Mapping[str, int], jobs: Mapping[str, JobSpec],
              queue_limits: Mapping[str, int | None] | None = None) -> None:
        self.applied.update(targets)
        self.queue_limits.update(wanted_queue_limits(queue_limits, targets, jobs))
