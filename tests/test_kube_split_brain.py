"""No split brain: a Lease renewal that hangs must not leave two leaders actuating.

Two electors (real threads, a real clock bounded to seconds) each drive a RayService actuator
against the fake API server. The old leader's Lease PUTs then hang, unanswered. Every actuation is
recorded twice: by the writer's side (its belief: when each term began and, sampled every 5 ms,
whether ``is_leader`` -- what the daemon asks before it actuates -- still holds) and by the server
(when each write arrived and was answered). The
test asserts that the two leaders' belief windows never overlap, that every write the server
committed lies inside its writer's window, and that the successor took over within the lease
duration plus the retry period after the renewals started hanging.
"""

from __future__ import annotations

import itertools
import math
import threading
import time

from daemon_support import FakeClock, wait_until
from fakekube import FakeKube
from kube_support import put_rayservice

from farod.actuators.base import ActuationError
from farod.actuators.rayservice import RayServiceActuator
from farod.jobs import JobSpec
from farod.kube.leader import LeaderElector

LEASE_S, RENEW_DEADLINE_S, RETRY_S, REQUEST_TIMEOUT_S = 2.0, 1.2, 0.25, 0.4
WRITE_TIMEOUT_S = 0.3
SAMPLE_S = 0.005
SLOW_READ_S = 0.2  # every RayService read is slow: a decision spans a good part of the belief it started in
JOBS = {"a/m": JobSpec(application="a", deployment="m", slo_ms=500, service_time_ms=100, max_replicas=99)}


class Candidate:
    """One farod replica: an elector, and an actuating loop that writes only while it leads."""

    def __init__(self, kube: FakeKube, identity: str, values: itertools.count):
        self.identity, self.values = identity, values
        self.terms: list[float] = []  # when each term of leadership began
        self.believed: list[float] = []  # when is_leader was seen True (sampled every SAMPLE_S)
        api_client = kube.api_client()
        api_client.user_agent = identity
        self.elector = LeaderElector(api_client=api_client, namespace="ml", lease_name="farod", identity=identity,
                                     lease_duration_s=LEASE_S, renew_deadline_s=RENEW_DEADLINE_S,
                                     retry_period_s=RETRY_S, request_timeout_s=REQUEST_TIMEOUT_S,
                                     on_change=self._changed)
        self.actuator = RayServiceActuator(api_client=api_client, namespace="ml", name="serving",
                                           timeout_s=WRITE_TIMEOUT_S, may_write=self.elector.may_write)
        self.stopping, self.sampled = threading.Event(), threading.Event()
        self.threads = [threading.Thread(target=self._actuate, daemon=True),
                        threading.Thread(target=self._sample, daemon=True)]

    def _changed(self, leader: bool) -> None:
        if leader:
            self.terms.append(time.monotonic())

    def _sample(self) -> None:
        while not self.sampled.wait(SAMPLE_S):
            if self.elector.is_leader:
                self.believed.append(time.monotonic())

    def _actuate(self) -> None:
        while not self.stopping.wait(0.02):
            if self.elector.is_leader:  # as the controller asks at the start of a decision
                try:
                    self.actuator.apply({"a/m": next(self.values) % 50 + 2}, JOBS)
                except ActuationError:
                    pass

    def start(self) -> None:
        self.elector.start()
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()  # the writes end first, then the sampling of the belief they were made in
        self.threads[0].join(5)
        self.sampled.set()
        self.threads[1].join(5)
        self.elector.stop_thread()

    def windows(self) -> list[tuple[float, float]]:
        """Each term from its start to the last sample that still saw it (plus one sampling period)."""
        windows = []
        for index, start in enumerate(self.terms):
            end_of_term = self.terms[index + 1] if index + 1 < len(self.terms) else math.inf
            seen = [when for when in self.believed if start <= when < end_of_term]
            windows.append((start, max(seen, default=start) + SAMPLE_S))
        return windows


def _writes(kube: FakeKube, identity: str) -> int:
    return sum(1 for request in kube.requests if request.method == "PATCH" and request.user_agent == identity)


def _overlap(first: list[tuple[float, float]], second: list[tuple[float, float]]) -> float:
    return max([max(0.0, min(a_end, b_end) - max(a_start, b_start))
                for a_start, a_end in first for b_start, b_end in second], default=0.0)


def test_a_hung_lease_renewal_never_leaves_two_actuating_leaders(capsys):
    with FakeKube() as kube:
        put_rayservice(kube, ("a",))
        kube.before(lambda method, path, body: time.sleep(SLOW_READ_S) if method == "GET" and "rayservices" in path
                    else None)
        values = itertools.count()
        a, b = Candidate(kube, "farod-a", values), Candidate(kube, "farod-b", values)
        a.start()
        wait_until(lambda: a.elector.is_leader, timeout_s=5, every_s=0.02)
        b.start()
        wait_until(lambda: _writes(kube, "farod-a") >= 3, timeout_s=5, every_s=0.02)
        hung: list[float] = []

        def a_renews(method, path, body):
            if method == "PUT" and "leases" in path and body["spec"].get("holderIdentity") == "farod-a":
                hung.append(time.monotonic())
                return True
            return False

        release = kube.hang(a_renews)
        wait_until(lambda: b.elector.is_leader, timeout_s=10, every_s=0.02)
        wait_until(lambda: _writes(kube, "farod-b") >= 3, timeout_s=5, every_s=0.02)
        release.set()  # the held renewals go through now, with a stale resourceVersion
        time.sleep(3 * RETRY_S)
        assert b.elector.is_leader and not a.elector.is_leader
        a.stop(), b.stop()

    writes = [request for request in kube.requests if request.method == "PATCH" and request.status == 200]
    windows = {"farod-a": a.windows(), "farod-b": b.windows()}
    by_writer = {identity: [w for w in writes if w.user_agent == identity] for identity in windows}
    assert by_writer["farod-a"] and by_writer["farod-b"], "both replicas must have actuated in their turn"
    for identity, writes_of in by_writer.items():
        for write in writes_of:  # committed between arrival and answer, inside its writer's belief
            assert any(start <= write.arrived and write.answered < end for start, end in windows[identity]), \
                (identity, write, windows[identity])
    overlap = _overlap(windows["farod-a"], windows["farod-b"])
    assert overlap == 0.0
    handover_s = b.terms[0] - hung[0]
    assert 0 < handover_s <= LEASE_S + RETRY_S
    last_a_write = max(write.answered for write in by_writer["farod-a"])
    first_b_write = min(write.arrived for write in by_writer["farod-b"])
    belief_gap_s = b.terms[0] - max(end for _, end in windows["farod-a"] if end <= b.terms[0])
    with capsys.disabled():
        print(f"\nsplit brain: longest overlap {overlap:.3f} s; farod-b's belief began {belief_gap_s:.2f} s after "
              f"farod-a's ended; handover {handover_s:.2f} s after the first hung "
              f"renewal (bound {LEASE_S + RETRY_S:g} s); gap between the last write of farod-a and the first of "
              f"farod-b {first_b_write - last_a_write:.2f} s; writes {len(by_writer['farod-a'])} + "
              f"{len(by_writer['farod-b'])}")


def test_leadership_expires_on_the_local_clock_without_any_call_returning():
    """A renewal that never returns: is_leader turns False at the renew deadline all by itself."""
    clock = FakeClock()
    with FakeKube() as kube:
        elector = LeaderElector(api_client=kube.api_client(), namespace="ml", lease_name="farod",
                                identity="farod-a", clock=clock, wall_clock=clock)
        started = clock()
        assert elector.step()
        assert elector.leading_until == started + elector.renew_deadline_s
        clock.advance(elector.renew_deadline_s - 3)
        assert elector.is_leader and elector.may_write(2.9) and not elector.may_write(3.0)
        clock.advance(3)  # no step() in between: the elector thread could be stuck in a call
        assert not elector.is_leader and not elector.may_write(0.0)


def test_retries_carry_jitter_and_wake_at_the_holders_expiry():
    clock = FakeClock()
    with FakeKube() as kube:
        def elector(identity):
            return LeaderElector(api_client=kube.api_client(), namespace="ml", lease_name="farod",
                                 identity=identity, clock=clock, wall_clock=clock, retry_period_s=2.0)

        leader, candidate = elector("farod-a"), elector("farod-b")
        assert leader.step() and not candidate.step()
        waits = {round(leader.next_wait_s(), 6) for _ in range(20)}
        assert len(waits) > 10 and all(1.6 <= wait <= 2.0 for wait in waits)
        clock.advance(14.5)  # the holder's 15 s lease (as the candidate saw it) ends in 0.5 s
        assert candidate.next_wait_s() <= 0.52
