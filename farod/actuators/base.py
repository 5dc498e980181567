"""The actuator contract: read what the cluster runs, ask it for replica targets.

Every actuator (Ray Serve REST, KubeRay RayService, dry-run) implements :class:`Actuator`. ``apply``
is idempotent -- the daemon re-asserts its targets every tick -- and either applies the whole
allocation or raises :class:`ActuationError` having changed nothing it cannot stand behind (no
half-applied decision). The guard pipeline (:mod:`farod.policies.guards`) sits in front of every
actuator, so whatever a policy returns, what reaches the cluster fits the quota; actuators apply it
in :func:`ordered_changes` order, downscales first, so even the intermediate states of one decision fit.

A decision may also carry admission limits (``queue_limits``, :mod:`farod.policies.admission`): per
job, the ``max_queued_requests`` its deployment's config should hold, written in the same request(s)
as the replica counts and only where it differs from the config. A lifted limit (``None``) writes back
the job's own ``max_queued_requests`` (:func:`wanted_queue_limits`); without one the key is removed.

    >>> ordered_changes({"a/m": 4, "b/m": 1}, current={"a/m": 2, "b/m": 3})
    [('b/m', 1), ('a/m', 4)]
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Mapping

from farod.jobs import JobSpec


class ActuationError(Exception):
    """The cluster refused or could not be reached; ``reason`` labels farod_actuation_errors_total."""

    def __init__(self, message: str, *, reason: str):
        super().__init__(message)
        self.reason = reason


@dataclasses.dataclass(frozen=True, kw_only=True)
class DeploymentState:
    """What the cluster reports for one job."""

    target_replicas: int  # what it was last asked for
    running_replicas: int  # ready and serving
    autoscaling: bool = False  # the deployment has its own autoscaling_config (would fight farod)


# Asked right before every write: may this process still write for the next ``within_s`` seconds (the
# write's timeout)? With leader election, whether the Lease outlasts the write; without, always.
WriteGate = Callable[[float], bool]


def always_write(within_s: float) -> bool:
    return True


def check_may_write(may_write: WriteGate, within_s: float, what: str) -> None:
    """Raise ``not_leader`` unless ``may_write(within_s)``: the last check before ``what`` is sent."""
    if not may_write(within_s):
        raise ActuationError(f"{what}: no longer the leader; not written", reason="not_leader")


class Actuator(abc.ABC):
    name: str

    @abc.abstractmethod
    def read(self, jobs: Mapping[str, JobSpec]) -> Mapping[str, DeploymentState]:
        """Current state of every job that exists; a missing job is left out."""

    @abc.abstractmethod
    def apply(self, targets: Mapping[str, int], jobs: Mapping[str, JobSpec],
              queue_limits: Mapping[str, int | None] | None = None) -> None:
        """Ask the cluster for ``targets`` (job key -> replicas) and the admission limits of the jobs
        in ``queue_limits`` (None: lift farod's), all or nothing."""


def wanted_queue_limits(queue_limits: Mapping[str, int | None] | None, targets: Mapping[str, int],
                        jobs: Mapping[str, JobSpec]) -> dict[str, int | None]:
    """Per job of ``targets`` with a limit decision, the ``max_queued_requests`` its config should hold
    (None: the key absent, Serve's no limit): the decision's limit, else the job's own setting."""
    return {key: jobs[key].max_queued_requests if limit is None else int(limit)
            for key, limit in (queue_limits or {}).items() if key in targets}


def configured_limit(value) -> int | None:
    """A config's ``max_queued_requests`` as :func:`wanted_queue_limits` compares it (-1 and absent: None)."""
    return None if value is None or value == -1 else value


def ordered_changes(targets: Mapping[str, int], *, current: Mapping[str, int]) -> list[tuple[str, int]]:
    """``targets`` as an apply order: downscales, then upscales, then re-asserted unchanged targets."""
    def rank(key: str) -> int:
        change = targets[key] - current.get(key, targets[key])
        return 0 if change < 0 else 1 if change > 0 else 2

    return sorted(targets.items(), key=lambda item: (rank(item[0]), item[0]))
