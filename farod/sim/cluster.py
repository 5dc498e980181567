"""The simulated cluster: worker pods under a quota, replicas on pods, and what a scaling request becomes.

Example::

    cluster = Cluster(state=state, jobs=[job_spec], quota={"cpu": 4}, timing=Timing())
    cluster.set_targets({0: 6})            # job 0 asks 6; the quota holds 4 one-CPU pods
    cluster.reconcile(now=0.0); cluster.alive(0), len(cluster.pods)
    # -> (4, 4)

It models Ray Serve on a KubeRay cluster limited by a Kubernetes ResourceQuota, because that is where
an autoscaler's decision meets reality:

- A replica lives on a worker pod shaped like the replica's resources (one KubeRay worker group per
  shape). Every pod, busy or idle, counts against the quota.
- Removing a replica leaves its pod idle; an idle pod is reaped ``reap_idle_s`` after it became idle.
- A new replica goes onto an idle pod of its shape if there is one (ready ``hot_start_s`` later, or
  that long after the pod itself finished starting); otherwise a new pod is created if the quota has
  room for it, and the replica is ready ``cold_start_s`` later. Replicas that fit nowhere stay pending
  and are retried at every reconcile, as the Ray autoscaler retries a pending actor.
- Targets are applied downscales first, so capacity a job gives up can go to another job in the same
  decision; pending replicas are placed round-robin over jobs, so one job's big upscale does not
  starve the others.

:class:`Grants` switches these rules to the Faro artifact's (:mod:`farod.sim.fidelity`): jobs served
in job order (the first takes all it asks for), an ungranted upscale dropped -- the target lowered to
what the job has -- when it still does not fit after ``retries`` more decisions, and pods owned by one
job (an idle pod is reused only by its job; for another it must be reaped first, then a new pod
cold-starts), and a job whose upscale is under way (replicas starting or not yet placed) ignoring new
targets, as the artifact's per-job executor does until its replicas are up.
- Admission limits (Ray Serve's ``max_queued_requests``, a decision's ``queue_limits``) take effect
  at once: the job's deployment queue rejects arrivals beyond the limit from the next request on
  (requests already waiting stay), also when it is longer than the run's ``queue_cap``; ``None``
  gives the job ``queue_cap`` back. Requests rejected while a job's limit is below ``queue_cap`` are
  counted as ``admission_dropped``.
- Scale-down picks starting replicas first (newest first: they serve nobody yet), then ready replicas
  with the fewest requests in flight (newest first on ties). A removed replica with requests in flight
  drains them: it gets no new request and its pod stays busy until the last one completes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from farod.jobs import JobSpec
from farod.sim import kernel
from farod.sim.kernel import KernelState


@dataclasses.dataclass(frozen=True, kw_only=True)
class Timing:
    hot_start_s: float = 3.0
    cold_start_s: float = 35.0
    reap_idle_s: float = 30.0
    reconcile_interval_s: float = 1.0  # how often to look again while replicas drain


@dataclasses.dataclass(frozen=True, kw_only=True)
class Grants:
    """How the cluster grants what policies ask for: farod's defaults, or the artifact's settings."""

    order: str = "round_robin"  # or "job_order"
    ungranted: str = "pending"  # or "drop" after `retries` more decisions
    retries: int = 4
    pod_scope: str = "shared"  # or "job"
    while_scaling: str = "accept"  # or "ignore": a new target for a job whose upscale is under way


@dataclasses.dataclass(kw_only=True)
class Pod:
    shape: tuple[tuple[str, float], ...]
    job: int  # the job it was started for (it serves only that job when pods are per job)
    usable_at: float  # when the pod finished starting and can host a replica
    idle_since: float | None = None  # None while it hosts a replica


@dataclasses.dataclass(kw_only=True)
class Replica:
    slot: int
    pod: Pod
    created: float
    draining: bool = False


def shape_of(job: JobSpec) -> tuple[tuple[str, float], ...]:
    return tuple(sorted((name, float(amount)) for name, amount in job.resources.items()))


class Cluster:
    """Pods, replicas and targets of every job; the kernel state holds the requests."""

    def __init__(
        self,
        *,
        state: KernelState,
        jobs: Sequence[JobSpec],
        quota: Mapping[str, float],
        timing: Timing,
        grants: Grants = Grants(),
        queue_cap: int = 50,
    ):
        self.state = state
        self.jobs = list(jobs)
        self.quota = dict(quota)
        self.timing = timing
        self.grants = grants
        self.pods: list[Pod] = []
        self.replicas: list[list[Replica]] = [[] for _ in self.jobs]
        self.targets = [job.min_replicas for job in self.jobs]
        self._retries_left = [grants.retries for _ in self.jobs]
        self.queue_cap = queue_cap  # every job's, unless an admission limit is in force
        self._limited = [False for _ in self.jobs]
        self._rejected = [0 for _ in self.jobs]  # the kernel's count when the job's limit last changed
        self._admission_dropped = 0

    # --- what the engine reads -----------------------------------------------------------------

    def alive(self, job: int) -> int:
        """Replicas starting or ready (not draining): what the job's target is compared with."""
        return sum(not replica.draining for replica in self.replicas[job])

    def running(self, job: int) -> int:
        return int(self.state.arrays.job_i[job, kernel.READY_COUNT])

    def usage(self) -> dict[str, float]:
        used = dict.fromkeys(self.quota, 0.0)
        for pod in self.pods:
            for name, amount in pod.shape:
                if name in used:
                    used[name] += amount
        return used

    def next_event(self, now: float) -> float:
        """When the cluster needs to be reconciled again without any new target."""
        reaps = [pod.idle_since + self.timing.reap_idle_s for pod in self.pods if pod.idle_since is not None]
        draining = any(replica.draining for replicas in self.replicas for replica in replicas)
        candidates = [t for t in reaps if t > now]
        if draining:
            candidates.append(now + self.timing.reconcile_interval_s)
        return min(candidates, default=float("inf"))

    # --- what the engine asks -------------------------------------------------------------------

    def set_targets(self, targets: Mapping[int, int]) -> int:
        """Record one decision's new targets (already within bounds); returns how many jobs changed."""
        changed = {
            job for job, target in targets.items() if target != self.targets[job] and not self._ignores_targets(job)
        }
        for job in changed:
            self.targets[job] = targets[job]
            self._retries_left[job] = self.grants.retries
        if self.grants.ungranted == "drop":
            self._drop_ungranted(unchanged=set(range(len(self.jobs))) - changed)
        return len(changed)

    def set_queue_limits(self, limits: Mapping[int, int | None]) -> None:
        """Admission limits per job (None: the run's ``queue_cap`` back); jobs left out keep theirs."""
        for job, limit in limits.items():
            cap = self.queue_cap if limit is None else int(limit)
            self._settle_admission_drops(job)
            self._limited[job] = cap < self.queue_cap
            self.state.set_queue_cap(job, cap)

    def admission_dropped(self) -> int:
        """Requests rejected so far while their job's admission limit was below ``queue_cap``."""
        for job in range(len(self.jobs)):
            self._settle_admission_drops(job)
        return self._admission_dropped

    def _settle_admission_drops(self, job: int) -> None:
        rejected = int(self.state.arrays.job_i[job, kernel.REJECTED])
        if self._limited[job]:
            self._admission_dropped += rejected - self._rejected[job]
        self._rejected[job] = rejected

    def _ignores_targets(self, job: int) -> bool:
        """With ``while_scaling: ignore``, a job busy starting or placing replicas takes no new target."""
        if self.grants.while_scaling == "accept":
            return False
        return self.alive(job) > self.running(job) or self.alive(job) < self.targets[job]

    def _drop_ungranted(self, *, unchanged: set[int]) -> None:
        """An upscale still short after its retries is dropped: the target becomes what the job has."""
        for job in unchanged:
            if self.alive(job) >= self.targets[job]:
                continue
            if self._retries_left[job] == 0:
                self.targets[job] = self.alive(job)
            else:
                self._retries_left[job] -= 1

    def place_ready(self, *, now: float) -> None:
        """Start of the run: place every job's target at once, ready now (pods already there)."""
        self._place_pending(now=now, ready_now=True)

    def reconcile(self, *, now: float) -> None:
        """Collect drained replicas, reap idle pods, then apply targets: downscales, then upscales."""
        self._collect_drained()
        self._reap(now)
        for job in range(len(self.jobs)):
            excess = self.alive(job) - self.targets[job]
            if excess > 0:
                for replica in self._removal_order(job)[:excess]:
                    self._remove(job, replica, now)
        self._place_pending(now=now, ready_now=False)

    # --- internals ------------------------------------------------------------------------------

    def _place_pending(self, *, now: float, ready_now: bool) -> None:
        """One replica per job and round (or each job in turn, all it asks), until nothing more fits."""
        wanting = [job for job in range(len(self.jobs)) if self.alive(job) < self.targets[job]]
        if self.grants.order == "job_order":
            for job in wanting:
                while self.alive(job) < self.targets[job] and self._place(job, now=now, ready_now=ready_now):
                    pass
            return
        while wanting:
            wanting = [
                job
                for job in wanting
                if self._place(job, now=now, ready_now=ready_now) and self.alive(job) < self.targets[job]
            ]

    def _place(self, job: int, *, now: float, ready_now: bool) -> bool:
        shape = shape_of(self.jobs[job])
        pod = self._idle_pod(shape, job)
        if pod is not None:
            pod.idle_since = None
            ready_at = max(now, pod.usable_at) + self.timing.hot_start_s
        elif self._fits(shape):
            pod = Pod(shape=shape, job=job, usable_at=now + self.timing.cold_start_s - self.timing.hot_start_s)
            self.pods.append(pod)
            ready_at = now + self.timing.cold_start_s
        else:
            return False
        if ready_now:
            pod.usable_at = ready_at = now
        slot = kernel.start_replica(self.state, job=job, ready_at=ready_at, now=now)
        self.replicas[job].append(Replica(slot=slot, pod=pod, created=now))
        return True

    def _idle_pod(self, shape, job: int) -> Pod | None:
        idle = [
            pod
            for pod in self.pods
            if pod.idle_since is not None
            and pod.shape == shape
            and (self.grants.pod_scope == "shared" or pod.job == job)
        ]
        return min(idle, key=lambda pod: pod.usable_at, default=None)

    def _fits(self, shape) -> bool:
        used = self.usage()
        return all(used[name] + amount <= self.quota[name] + 1e-9 for name, amount in shape if name in self.quota)

    def _removal_order(self, job: int) -> list[Replica]:
        replica_i = self.state.arrays.replica_i[job]

        def key(replica: Replica):
            starting = replica_i[replica.slot, kernel.STATE] == kernel.STARTING
            return (not starting, int(replica_i[replica.slot, kernel.LENGTH]), -replica.created)

        return sorted((replica for replica in self.replicas[job] if not replica.draining), key=key)

    def _remove(self, job: int, replica: Replica, now: float) -> None:
        if kernel.remove_replica(self.state, job=job, slot=replica.slot):
            replica.draining = True
            return
        replica.pod.idle_since = max(now, replica.pod.usable_at)
        self.replicas[job].remove(replica)

    def _collect_drained(self) -> None:
        for job, replicas in enumerate(self.replicas):
            for replica in [r for r in replicas if r.draining]:
                if self.state.arrays.replica_i[job, replica.slot, kernel.STATE] == kernel.DRAINED:
                    self.state.arrays.replica_i[job, replica.slot, kernel.STATE] = kernel.FREE
                    replica.pod.idle_since = float(self.state.arrays.replica_f[job, replica.slot, kernel.DRAINED_AT])
                    replicas.remove(replica)

    def _reap(self, now: float) -> None:
        self.pods = [
            pod
            for pod in self.pods
            if pod.idle_since is None or pod.idle_since + self.timing.reap_idle_s > now
        ]
