"""Leader election on a ``coordination.k8s.io/v1`` Lease: one farod replica actuates, the rest watch.

Example::

    elector = LeaderElector(api_client=api_client, namespace="farod", lease_name="farod",
                            identity=os.environ["POD_NAME"])
    elector.start()              # a thread: acquire or renew every retry_period_s
    elector.is_leader            # the daemon actuates only when True, else runs as dry-run
    elector.may_write(5.0)       # right before a write: still leader for the write's whole timeout
    elector.stop()               # releases the Lease: a successor takes over within seconds

Why not ``kubernetes.leaderelection``: it blocks its caller, has no release on stop and no
injectable clock. The algorithm is client-go's. A candidate never trusts another process's clock:
it records *when it saw* the Lease record change (on its own monotonic ``clock``) and considers the
holder gone when the record has not changed for the holder's ``leaseDurationSeconds``. Writes go
through ``replace`` with the ``resourceVersion`` read, so of two candidates racing for an expired
Lease exactly one wins (the other gets 409). A leader that cannot renew for ``renew_deadline_s``
steps down before its Lease can expire under it, so two leaders never overlap. Releasing empties
``holderIdentity`` (and shortens the duration to 1 s), which any candidate takes at its next try.

Leadership is a belief with an expiry on the local monotonic clock: a renewal *started* at ``t``
makes this process leader until ``t + renew_deadline_s``, whether or not the next call ever returns.
A candidate starts counting the holder's ``leaseDurationSeconds`` only when it *sees* that renewal,
which is after it started, so the old leader's belief ends ``lease_duration_s - renew_deadline_s``
before any candidate may take over -- even when a Lease call hangs. Every call carries a request
timeout (half the renew deadline at most, so one attempt of two calls ends within it), a writer asks
:meth:`LeaderElector.may_write` right before each write, and the retry period carries jitter so
candidates restarted together do not hit the API server in lockstep.
"""

from __future__ import annotations

import datetime
import math
import random
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
        request_timeout_s: float = 5.0,
        jitter: float = 0.2,
        rng: random.Random | None = None,
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
        self.request_timeout_s = min(request_timeout_s, renew_deadline_s / 2)
        self.jitter = jitter
        self._rng = rng or random.Random()
        self._clock, self._wall_clock, self._on_change = clock, wall_clock, on_change
        self._observed_record: tuple | None = None
        self._observed_at = 0.0
        self._leading_until = -math.inf  # local monotonic expiry of our leadership
        self._leader = False

    @property
    def is_leader(self) -> bool:
        """True only while the last renewal is younger than ``renew_deadline_s`` (on the local clock)."""
        return self._leader and self._clock() < self._leading_until

    @property
    def leading_until(self) -> float:
        """The local monotonic instant our leadership ends unless renewed (-inf when not leading)."""
        return self._leading_until if self._leader else -math.inf

    def may_write(self, within_s: float) -> bool:
        """Whether a write that may take up to ``within_s`` seconds ends while this process still leads."""
        return self.is_leader and self._clock() + within_s < self._leading_until

    def step(self) -> bool:
        """One attempt to acquire or renew; returns :attr:`is_leader`. Never raises."""
        now = self._clock()
        try:
            self._try_acquire_or_renew(now)
        except Exception as exc:  # noqa: BLE001 - API errors, timeouts, a malformed Lease: never kill the elector
            if getattr(exc, "status", None) != 409:  # 409: another candidate won the race, not an error
                log.warning("lease_error", lease=self.lease_name, error=str(getattr(exc, "reason", exc))[:200])
        if self._leader and not self.is_leader:
            self._set_leader(False)  # the renew deadline passed without a successful renewal
        return self.is_leader

    def _try_acquire_or_renew(self, now: float) -> None:
        timeout = self.request_timeout_s
        try:
            lease = self._api.read_namespaced_lease(self.lease_name, self.namespace, _request_timeout=timeout)
        except kubernetes.client.ApiException as exc:
            if exc.status != 404:
                raise
            body = kubernetes.client.V1Lease(
                metadata=kubernetes.client.V1ObjectMeta(name=self.lease_name, namespace=self.namespace),
                spec=self._spec(acquire_time=self._wall_clock(), transitions=0),
            )
            self._api.create_namespaced_lease(self.namespace, body, _request_timeout=timeout)
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
        self._api.replace_namespaced_lease(self.lease_name, self.namespace, lease, _request_timeout=timeout)
        self._renewed(now)

    def _spec(self, *, acquire_time: float, transitions: int) -> kubernetes.client.V1LeaseSpec:
        return kubernetes.client.V1LeaseSpec(
            holder_identity=self.identity,
            lease_duration_seconds=math.ceil(self.lease_duration_s),
            acquire_time=_micro_time(acquire_time),
            renew_time=_micro_time(self._wall_clock()),
            lease_transitions=transitions,
        )

    def _renewed(self, started: float) -> None:
        """A write that started at ``started`` succeeded: leader until ``started + renew_deadline_s``."""
        self._leading_until = started + self.renew_deadline_s
        self._observed_record = None  # our own write: re-observe from the next read
        self._observed_at = started
        self._set_leader(self._clock() < self._leading_until)

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
        timeout = self.request_timeout_s
        try:
            lease = self._api.read_namespaced_lease(self.lease_name, self.namespace, _request_timeout=timeout)
            if lease.spec is None or lease.spec.holder_identity != self.identity:
                return
            lease.spec.holder_identity = None
            lease.spec.lease_duration_seconds = 1
            lease.spec.renew_time = _micro_time(self._wall_clock())
            self._api.replace_namespaced_lease(self.lease_name, self.namespace, lease, _request_timeout=timeout)
        except API_ERRORS as exc:
            log.warning("lease_release_failed", lease=self.lease_name, error=str(exc))

    def run(self) -> None:
        """Acquire or renew every ``retry_period_s`` (jittered) until :meth:`stop`; release on the way out."""
        while not self.stopping.is_set():
            self.step()
            self.stopping.wait(self.next_wait_s())
        self.release()

    def next_wait_s(self) -> float:
        """The retry period shortened by up to ``jitter`` of itself, and never past the holder's expiry."""
        wait = self.retry_period_s * (1 - self.jitter * self._rng.random())
        if not self._leader and self._observed_record is not None:
            expiry = self._observed_at + (self._observed_record[2] or self.lease_duration_s)
            wait = min(wait, max(0.0, expiry - self._clock()) + 0.01)
        return wait

    def stop(self, timeout_s: float = 5.0) -> None:
        """End the renewal thread (if any) and release the Lease if this process holds it."""
        self.stop_thread(timeout_s)
        self.release()
