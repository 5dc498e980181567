"""Leader election on a Lease: one leader, takeover after expiry, fast handover on release."""

from __future__ import annotations

import threading
import time

import pytest
from daemon_support import FakeClock
from fakekube import FakeKube
from fakekube.server import ApiError

from farod.kube.leader import LeaderElector


@pytest.fixture
def kube():
    with FakeKube() as server:
        yield server


def _elector(kube, identity, clock, **timings):
    timings = {"lease_duration_s": 15, "renew_deadline_s": 10, "retry_period_s": 2, **timings}
    return LeaderElector(api_client=kube.api_client(), namespace="default", lease_name="farod",
                         identity=identity, clock=clock, wall_clock=clock, **timings)


def _holder(kube):
    return kube.get_object("coordination.k8s.io", "v1", "leases", "default", "farod")["spec"].get("holderIdentity")


def test_two_candidates_elect_exactly_one_leader(kube):
    clock = FakeClock()
    a, b = _elector(kube, "farod-a", clock), _elector(kube, "farod-b", clock)
    for _ in range(5):
        a.step(), b.step()
        clock.now += 2
    assert (a.is_leader, b.is_leader) == (True, False)
    assert _holder(kube) == "farod-a"


def test_a_crashed_leader_is_replaced_after_the_lease_duration_and_not_before(kube):
    clock = FakeClock()
    a, b = _elector(kube, "farod-a", clock), _elector(kube, "farod-b", clock)
    assert a.step() and not b.step()
    # a stops renewing (crashed, no release); b keeps trying every retry period
    for _ in range(7):  # 14 s < 15 s lease duration
        clock.now += 2
        assert not b.step()
    clock.now += 2  # 16 s since b last saw the record change
    assert b.step()
    assert _holder(kube) == "farod-b"
    lease = kube.get_object("coordination.k8s.io", "v1", "leases", "default", "farod")
    assert lease["spec"]["leaseTransitions"] == 1
    # the old leader comes back: it must see b's fresh record and stand down
    assert not a.step()


def test_a_leader_that_cannot_renew_steps_down_before_its_lease_expires(kube):
    clock = FakeClock()
    a = _elector(kube, "farod-a", clock)
    assert a.step()

    def refuse(method, path, body):
        if "leases" in path:
            raise ApiError(503, "ServiceUnavailable", "etcd is down")

    kube.before(refuse)
    clock.now += 4
    assert a.step()  # within renew_deadline_s: still leading
    clock.now += 7  # 11 s since the last renewal > renew_deadline_s (10 s) < lease duration (15 s)
    assert not a.step()


def test_release_on_stop_hands_over_within_the_lease_duration(kube):
    """Real threads and a short real clock: the successor takes over long before the lease expires."""
    became_leader = {name: threading.Event() for name in ("farod-a", "farod-b")}
    timings = {"lease_duration_s": 5, "renew_deadline_s": 3, "retry_period_s": 0.1}

    def elector(identity):
        def on_change(leader):
            if leader:
                became_leader[identity].set()

        return LeaderElector(api_client=kube.api_client(), namespace="default", lease_name="farod",
                             identity=identity, on_change=on_change, clock=time.monotonic, **timings)

    a, b = elector("farod-a"), elector("farod-b")
    a.start()
    assert became_leader["farod-a"].wait(5)
    b.start()
    try:
        a.stop()  # SIGTERM path: releases the Lease
        assert not a.is_leader
        assert became_leader["farod-b"].wait(timings["lease_duration_s"])
        assert b.is_leader and _holder(kube) == "farod-b"
    finally:
        b.stop()
    assert _holder(kube) is None  # b released too


def test_bad_timings_are_refused():
    with pytest.raises(ValueError, match="retry_period_s < renew_deadline_s < lease_duration_s"):
        LeaderElector(api_client=None, namespace="d", lease_name="l", identity="x",
                      lease_duration_s=10, renew_deadline_s=10, retry_period_s=2)


def test_an_unreachable_api_server_makes_the_leader_step_down(kube):
    """Connection refused (urllib3 errors, not ApiException) must not kill the elector either."""
    clock = FakeClock()
    a = _elector(kube, "farod-a", clock)
    assert a.step()
    a._api.api_client.configuration.host = "http://127.0.0.1:9"  # discard port: refused
    a._api.api_client.configuration.retries = 0
    clock.now += 4
    assert a.step()  # still within the renew deadline
    clock.now += 7
    assert not a.step()
    assert not a.is_leader
