"""Leader election on a ``coordination.k8s.io/v1`` Lease: one farod replica actuates, the rest watch.

Example::

    >>> elector = LeaderElector(api_client=api_client, namespace="farod", lease_name="farod",
    ...                         identity=os.environ["POD_NAME"])
    >>> elector.start()              # a thread: acquire or renew every retry_period_s
    >>> elector.is_leader            # the daemon actuates only when True, else runs as dry-run
    >>> elector.stop()               # releases the Lease: a successor takes over within seconds

Why not ``kubernetes.leaderelection``: it blocks its caller, has no release on stop and no
injectable clock. The algorithm is client-go's. A candidate never trusts another process's clock:
it records *when it saw* the Lease record change (on its own monotonic ``clock``) and considers the
holder gone when the record has not changed for the holder's ``leaseDurationSeconds``. Writes go
through ``replace`` with the ``resourceVersion`` read, so of two candidates racing for an expired
Lease exactly one wins (the other gets 409). A leader that cannot renew for ``renew_deadline_s``
steps down before its Lease can expire under it, so two leaders never overlap. Releasing empties
``holderIdentity`` (and shortens the duration to 1 s), which any candidate takes at its next try.
"""

from __future__ import annotations

import datetime
import math
import time
from collections.abc import Callable

import kubernetes
import structlog

from farod.kube.background import Background
from farod.kube.client import API_ERRORS

log = structlog.get_logger(__name__)


def _micro_time(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)


class LeaderElector(Background):
    """Acquire and renew one Lease; :attr:`is_leader` says whether this process may actuate."""

    def __init__(
        self,
        *,
        api_client: kubernetes.client.ApiClient,
        namespace: str,
        lease_name: str,
        identity: str,
        lease_duration_s: float = 15.0,
        renew_deadline_s: float = 10.0,
        retry_period_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        on_change: Callable[[bool], None] | None = None,
    ):
        if not identity:
            raise ValueError("identity: must be a non-empty string (the pod name)")
        if not 0 < retry_period_s < renew_deadline_s < lease_duration_s:
            raise ValueError(
                "lease timings: need 0 < retry_period_s < renew_deadline_s < lease_duration_s, got "
                f"{retry_period_s}, {renew_deadline_s}, {lease_duration_s}"
            )
        super().__init__(thread_name=f"lease-{lease_name}")
        self._api = kubernetes.client.CoordinationV1Api(api_client)
        self.namespace, self.lease_name, self.identity = namespace, lease_name, identity
        self.lease_duration_s = lease_duration_s
        self.renew_deadline_s = renew_deadline_s
        self.retry_period_s = retry_period_s
        self._clock, self._wall_clock, self._on_change = clock, wall_clock, on_change
        self._observed_record: tuple | None = None
        self._observed_at = 0.0
        self._renewed_at = 0.0
        self._leader = False

    @property
    def is_leader(self) -> bool:
        return self._leader

    def step(self) -> bool:
        """One attempt to acquire or renew; returns :attr:`is_leader`. Never raises on API errors."""
        now = self._clock()
        try:
            self._try_acquire_or_renew(now)
        except API_ERRORS as exc:
            if getattr(exc, "status", None) != 409:  # 409: another candidate won the race, not an error
                log.warning("lease_error", lease=self.lease_name, error=str(getattr(exc, "reason", exc))[:200])
            if self._leader and now - self._renewed_at >= self.renew_deadline_s:
                self._set_leader(False)
        return self._leader

    def _try_acquire_or_renew(self, now: float) -> None:
        try:
            lease = self._api.read_namespaced_lease(self.lease_name, self.namespace)
        except kubernetes.client.ApiException as exc:
            if exc.status != 404:
                raise
            body = kubernetes.client.V1Lease(
                metadata=kubernetes.client.V1ObjectMeta(name=self.lease_name, namespace=self.namespace),
                spec=self._spec(acquire_time=self._wall_clock(), transitions=0),
            )
            self._api.create_namespaced_lease(self.namespace, body)
            self._renewed(now)
            return
        spec = lease.spec or kubernetes.client.V1LeaseSpec()
        record = (spec.holder_identity, spec.renew_time, spec.lease_duration_seconds, lease.metadata.resource_version)
        if record != self._observed_record:
            self._observed_record, self._observed_at = record, now
        holder = spec.holder_identity
        if holder and holder != self.identity:
            if now < self._observed_at + (spec.lease_duration_seconds or self.lease_duration_s):
                self._set_leader(False)
                return
        transitions = spec.lease_transitions or 0
        if holder == self.identity and spec.acquire_time:
            acquire_time = spec.acquire_time.timestamp()
        else:
            acquire_time, transitions = self._wall_clock(), transitions + (1 if holder else 0)
        lease.spec = self._spec(acquire_time=acquire_time, transitions=transitions)
        self._api.replace_namespaced_lease(self.lease_name, self.namespace, lease)
        self._renewed(now)

    def _spec(self, *, acquire_time: float, transitions: int) -> kubernetes.client.V1LeaseSpec:
        return kubernetes.client.V1LeaseSpec(
            holder_identity=self.identity,
            lease_duration_seconds=math.ceil(self.lease_duration_s),
            acquire_time=_micro_time(acquire_time),
            renew_time=_micro_time(self._wall_clock()),
            lease_transitions=transitions,
        )

    def _renewed(self, now: float) -> None:
        self._renewed_at = now
        self._observed_record = None  # our own write: re-observe from the next read
        self._observed_at = now
        self._set_leader(True)

    def _set_leader(self, leader: bool) -> None:
        if leader != self._leader:
            self._leader = leader
            log.info("leadership", lease=self.lease_name, identity=self.identity, leader=leader)
            if self._on_change:
                self._on_change(leader)

    def release(self) -> None:
        """Give the Lease up if we hold it, so a successor need not wait for it to expire."""
        if not self._leader:
            return
        self._set_leader(False)
        try:
            lease = self._api.read_namespaced_lease(self.lease_name, self.namespace)
            if lease.spec is None or lease.spec.holder_identity != self.identity:
                return
            lease.spec.holder_identity = None
            lease.spec.lease_duration_seconds = 1
            lease.spec.renew_time = _micro_time(self._wall_clock())
            self._api.replace_namespaced_lease(self.lease_name, self.namespace, lease)
        except API_ERRORS as exc:
            log.warning("lease_release_failed", lease=self.lease_name, error=str(exc))

    def run(self) -> None:
        """Acquire or renew every ``retry_period_s`` until :meth:`stop`; release on the way out."""
        while not self.stopping.is_set():
            self.step()
            self.stopping.wait(self.retry_period_s)
        self.release()

    def stop(self, timeout_s: float = 5.0) -> None:
        """End the renewal thread (if any) and release the Lease if this process holds it."""
        self.stop_thread(timeout_s)
        self.release()
